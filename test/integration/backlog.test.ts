import { connect } from 'node:net';
import t from 'tap';
import { OPENAI_HEADERS, post, startServer, until } from '../helpers/server.js';

// The server's own time-to-first-token starts when the request's handler is entered, before its
// body is read and before it waits for a slot: a backlog shows in the server's metric, as the
// client sees it, instead of hiding in time the server never counted.

const profiles = { single: { prefillOverheadMs: 100, itlMs: 0, maxConcurrent: 1, queueLimit: 10 } };
const models = [
  { id: 'one-slot', provider: 'openai', kind: 'chat', displayName: 'one-slot', created: 1, contextWindow: 100000, maxOutputTokens: 1000, profile: 'single' },
  { id: 'slow-body', provider: 'openai', kind: 'chat', displayName: 'slow-body', created: 1, contextWindow: 100000, maxOutputTokens: 1000, profile: 'single' },
];

const seriesValue = (text: string, name: string, model: string): number => Number(text.match(new RegExp(`^${name}\\{model="${model}"\\} ([\\d.e+-]+)$`, 'm'))?.[1] ?? NaN);

t.test('a burst that queues for a slot shows in llm_time_to_first_token_seconds', async (t) => {
  const s = await startServer({ timeScale: 1, profiles, models });
  t.teardown(() => s.close());
  const body = { model: 'one-slot', messages: [{ role: 'user', content: 'queue me' }], max_tokens: 1, stream: true };
  // Four streams at once on one slot of 100 ms each: they start at ~0, 100, 200 and 300 ms.
  const answers = await Promise.all(Array.from({ length: 4 }, () => post(`${s.url}/v1/chat/completions`, body)));
  t.same(answers.map((a) => a.status), [200, 200, 200, 200]);
  const metrics = await s.server.services.metrics.text();
  const count = seriesValue(metrics, 'llm_time_to_first_token_seconds_count', 'one-slot');
  const sum = seriesValue(metrics, 'llm_time_to_first_token_seconds_sum', 'one-slot');
  const queued = seriesValue(metrics, 'llm_queue_time_seconds_sum', 'one-slot');
  t.equal(count, 4);
  // Without the queue the four would sum to 0.4 s; with it, 0.1 + 0.2 + 0.3 + 0.4 = 1.0 s.
  t.ok(sum >= 0.98, `server TTFT sum ${sum.toFixed(3)} s includes the queue`);
  t.ok(queued >= 0.58, `queue time sum ${queued.toFixed(3)} s (0 + 0.1 + 0.2 + 0.3 expected)`);
  const slowest = Number(metrics.match(/llm_time_to_first_token_seconds_bucket\{le="0.25",model="one-slot"\} (\d+)/)?.[1]);
  t.equal(slowest, 2, 'two of the four waited past 250 ms, and the server says so');
});

t.test('a body that arrives late counts in the server TTFT (the clock starts at the handler)', async (t) => {
  const s = await startServer({ timeScale: 1, profiles, models });
  t.teardown(() => s.close());
  const body = JSON.stringify({ model: 'slow-body', messages: [{ role: 'user', content: 'late body' }], max_tokens: 1, stream: true });
  const socket = connect(s.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: ${OPENAI_HEADERS.authorization}\r\nx-sim-ttft-ms: 10\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  socket.write(head);
  // The stimulus, not a wait for the server: the body follows the headers 300 ms later.
  const bodySent = new Promise<void>((resolve) => setTimeout(() => socket.write(body, () => resolve()), 300));
  await bodySent;
  t.ok(await until(() => received.includes('data: [DONE]'), 5000), 'the stream completes');
  const metrics = await s.server.services.metrics.text();
  const sum = seriesValue(metrics, 'llm_time_to_first_token_seconds_sum', 'slow-body');
  t.equal(seriesValue(metrics, 'llm_time_to_first_token_seconds_count', 'slow-body'), 1);
  t.ok(sum >= 0.3, `server TTFT ${sum.toFixed(3)} s covers the 300 ms the body took, then its 10 ms`);
});
