import t from 'tap';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

// What a response tells about its own timing: OpenAI's openai-processing-ms, and server-timing
// with the simulated queue, prefill and total.

const timing = (header: string | null): Record<string, number> =>
  Object.fromEntries((header ?? '').split(', ').map((part) => [part.slice(0, part.indexOf(';')), Number(part.slice(part.indexOf('dur=') + 4))]));

t.test('openai-processing-ms and server-timing', async (t) => {
  const s = await startServer({ timeScale: 1 });
  t.teardown(() => s.close());
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'time me' }], max_tokens: 5 };
  const sim = { 'x-sim-ttft-ms': '60', 'x-sim-itl-ms': '10' };

  const whole = await post(`${s.url}/v1/chat/completions`, chat, { ...OPENAI_HEADERS, ...sim });
  const processing = Number(whole.headers.get('openai-processing-ms'));
  t.ok(Number.isInteger(processing) && processing >= 60 + 4 * 10, `a completion's openai-processing-ms: ${processing} (at least its 60 ms + four 10 ms gaps)`);
  const st = timing(whole.headers.get('server-timing'));
  t.same(Object.keys(st), ['queue', 'prefill', 'total'], `server-timing: ${whole.headers.get('server-timing')}`);
  t.equal(st.prefill, 60, 'prefill is the simulated time to first token');
  t.ok(st.queue! >= 0 && st.queue! < 50, 'queue: nothing waited');
  t.ok(st.total! >= st.prefill! + 40 && st.total! <= processing + 1, 'total covers prefill and the gaps, as far as the response');

  const stream = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { ...OPENAI_HEADERS, ...sim }, body: JSON.stringify({ ...chat, stream: true }) });
  const early = Number(stream.headers.get('openai-processing-ms'));
  t.ok(early < 60, `a stream's headers leave at admission: openai-processing-ms ${early}, before its first token`);
  t.same(Object.keys(timing(stream.headers.get('server-timing'))), ['queue', 'prefill'], 'and its server-timing has no total (it is not known yet)');
  await stream.text();

  const message = await post(`${s.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'time me' }] }, { ...ANTHROPIC_HEADERS, ...sim });
  t.equal(message.headers.get('openai-processing-ms'), null, 'Anthropic sends no openai-processing-ms');
  t.equal(timing(message.headers.get('server-timing')).prefill, 60, 'but server-timing, as every generation');

  const error = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini' });
  t.equal(error.status, 400);
  t.ok(error.headers.get('openai-processing-ms') !== null, 'OpenAI errors carry openai-processing-ms too');
  t.equal(error.headers.get('server-timing'), null, 'but no server-timing: nothing was simulated');
});
