import t from 'tap';
import { MessageStreamEncoder } from '../../src/api/anthropic/encoder.js';
import { ChatStreamEncoder } from '../../src/api/openai/encoder.js';
import { CpuPool } from '../../src/sim/pool.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

/**
 * Work that runs after the request handler returned (a scheduled token, a stream's first event,
 * a thread-pool result) contains its own failures: the exchange ends with the dialect's 500, or
 * in-band once the stream has begun, and the server goes on serving. The failures are injected
 * by making real encoders and the real pool throw, on a real server.
 */

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };

t.test('an encoder that throws at a stream\'s first deadline ends that stream in-band (OpenAI and Anthropic)', async (t) => {
  const server = await startServer({ timeScale: 1 });
  t.teardown(() => server.close());
  // `open` writes a stream's first events at its first deadline (a plain answer's tokens are framed by the stream itself).
  const openaiOpen = ChatStreamEncoder.prototype.open;
  const anthropicOpen = MessageStreamEncoder.prototype.open;
  ChatStreamEncoder.prototype.open = () => {
    throw new RangeError('injected: encoder failed');
  };
  MessageStreamEncoder.prototype.open = () => {
    throw new RangeError('injected: encoder failed');
  };
  t.teardown(() => {
    ChatStreamEncoder.prototype.open = openaiOpen;
    MessageStreamEncoder.prototype.open = anthropicOpen;
  });
  const timing = { 'x-sim-ttft-ms': '30', 'x-sim-itl-ms': '5' };
  const a = await post(`${server.url}/v1/chat/completions`, { ...chat, stream: true }, { ...OPENAI_HEADERS, ...timing });
  t.equal(a.status, 200, 'the 200 had left at admission');
  t.match(a.text, /data: \{"error":\{"message":"The server had an error while processing your request\. Sorry about that!","type":"server_error"/);
  const b = await post(`${server.url}/v1/messages`, { model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], stream: true }, { ...ANTHROPIC_HEADERS, ...timing });
  t.equal(b.status, 200);
  t.match(b.text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
  ChatStreamEncoder.prototype.open = openaiOpen;
  MessageStreamEncoder.prototype.open = anthropicOpen;
  const again = await post(`${server.url}/v1/chat/completions`, { ...chat, stream: true }, { ...OPENAI_HEADERS, ...timing });
  t.match(again.text, /data: \[DONE\]\n\n$/, 'the server serves on');
  t.equal(server.server.services.active, 0, 'nothing left in flight');
});

t.test('a pool task that fails ends its request with a 500; the pool serves on', async (t) => {
  const server = await startServer({ timeScale: 1 }, { pool: true });
  t.teardown(() => server.close());
  const pool = (server.server as unknown as { options: { pool: CpuPool } }).options.pool;
  const countTexts = pool.countTexts;
  pool.countTexts = () => Promise.reject(new Error('injected: pool task failed'));
  t.teardown(() => void (pool.countTexts = countTexts));
  const big = await post(`${server.url}/v1/chat/completions`, { ...chat, messages: [{ role: 'user', content: 'hello world '.repeat(25_000) }] });
  t.equal(big.status, 500);
  t.match(big.json.error, { type: 'server_error', message: /Sorry about that/ });
  pool.countTexts = countTexts;
  const ok = await post(`${server.url}/v1/chat/completions`, { ...chat, messages: [{ role: 'user', content: 'hello world '.repeat(25_000) }] }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '0' });
  t.equal(ok.status, 200, 'the pool serves on');
  t.equal(server.server.services.active, 0);
});
