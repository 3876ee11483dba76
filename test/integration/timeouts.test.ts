import { connect } from 'node:net';
import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

// `timeouts` on real sockets: a body that does not arrive (slowloris), and a request that runs too long.

t.test('a body not all arrived within timeouts.bodyMs: 408 and the connection closes; others are served', async (t) => {
  const s = await startServer({ timeouts: { bodyMs: 300 } });
  t.teardown(() => s.close());
  const started = Date.now();
  const { text, closedAfterMs } = await new Promise<{ text: string; closedAfterMs: number }>((resolve, reject) => {
    const socket = connect(s.port, '127.0.0.1', () => {
      socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":');
    });
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
  });
  t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/, '408');
  t.match(text, /The request body did not arrive within 300 ms\./);
  t.ok(closedAfterMs >= 300 && closedAfterMs < 1500, `closed after ${closedAfterMs} ms`);
  t.equal((await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).status, 200, 'a whole body is served as usual');
});

t.test('a request longer than timeouts.requestMs: the 504, in-band once its stream has begun', async (t) => {
  const s = await startServer({ timeScale: 1, timeouts: { requestMs: 400 } });
  t.teardown(() => s.close());
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'take your time' }], max_tokens: 50 };
  let started = Date.now();
  const slow = await post(`${s.url}/v1/chat/completions`, body, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '3000' });
  const waited = Date.now() - started;
  t.equal(slow.status, 504);
  t.equal(slow.json.error.type, 'server_error');
  t.match(slow.json.error.message, 'The request did not complete within 400 ms.');
  t.ok(waited >= 400 && waited < 1200, `answered after ${waited} ms`);

  started = Date.now();
  const stream = await post(`${s.url}/v1/chat/completions`, { ...body, stream: true }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '100' });
  t.equal(stream.status, 200, 'the stream had begun');
  const events = stream.text.split('\n\n').filter(Boolean);
  t.ok(events.length > 2 && events.length < 20, `some tokens came (${events.length} events)`);
  t.match(events.at(-1), /^data: \{"error":\{"message":"The request did not complete within 400 ms\.","type":"server_error"/, 'then the error, in-band');
  t.ok(Date.now() - started < 1500, 'ended at the deadline, not after 50 tokens');

  const messages = await post(`${s.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 50, messages: body.messages, stream: true }, { ...ANTHROPIC_HEADERS, 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '100' });
  t.equal(messages.status, 200);
  t.match(messages.text.split('\n\n').filter(Boolean).at(-1), /^event: error\ndata: \{"type":"error","error":\{"type":"timeout_error","message":"The request did not complete within 400 ms\."/, 'Anthropic: its event: error, timeout_error');
});

t.test('bad timeouts name the option', async (t) => {
  t.throws(() => validateConfig({ timeouts: { requestMs: -1 } }), /config: timeouts\.requestMs/);
  t.throws(() => validateConfig({ timeouts: { bodyMs: 0 } }), /config: timeouts\.bodyMs/);
});
