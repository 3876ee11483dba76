import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { shareOf } from '../../src/http/concurrency.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

// maxConcurrentRequests: beyond it a request waits in the bounded queue or is refused in its dialect's overload form.

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one at a time' }], max_tokens: 2 };
const slow = { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '400' };
const metric = async (url: string, name: string) => Number((await (await fetch(`${url}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? NaN);

t.test('mode reject: the limit runs, the rest get the overload error at once', async (t) => {
  const s = await startServer({ timeScale: 1, maxConcurrentRequests: 3, concurrency: { mode: 'reject' } });
  t.teardown(() => s.close());
  const results = await Promise.all(Array.from({ length: 10 }, () => post(`${s.url}/v1/chat/completions`, chat, slow)));
  const statuses = results.map((r) => r.status).sort();
  t.same(statuses, [200, 200, 200, 503, 503, 503, 503, 503, 503, 503]);
  const refused = results.find((r) => r.status === 503)!;
  t.same(refused.json.error.type, 'server_error');
  t.match(refused.json.error.message, 'The server is handling its maximum of 3 concurrent requests');
  t.equal(await metric(s.url, 'llm_concurrency_rejected_total'), 7);
  t.equal(await metric(s.url, 'llm_concurrent_requests'), 0, 'every place given back');
  // Anthropic's overload form.
  const busy = [post(`${s.url}/v1/chat/completions`, chat, slow), post(`${s.url}/v1/chat/completions`, chat, slow), post(`${s.url}/v1/chat/completions`, chat, slow)];
  const anthropic = await post(`${s.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 2, messages: chat.messages }, ANTHROPIC_HEADERS);
  await Promise.all(busy);
  t.equal(anthropic.status, 529);
  t.equal(anthropic.json.error.type, 'overloaded_error');
});

t.test('mode queue: the next requests wait their turn (FIFO), beyond the queue they are refused', async (t) => {
  const s = await startServer({ timeScale: 1, maxConcurrentRequests: 3, concurrency: { mode: 'queue', queueSize: 4 } });
  t.teardown(() => s.close());
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 10 }, () => post(`${s.url}/v1/chat/completions`, chat, slow).then((r) => ({ status: r.status, ms: Date.now() - started }))));
  t.equal(results.filter((r) => r.status === 200).length, 7, '3 ran, 4 waited and ran');
  t.equal(results.filter((r) => r.status === 503).length, 3, 'the queue held 4');
  const served = results.filter((r) => r.status === 200).map((r) => r.ms).sort((a, b) => a - b);
  t.ok(served[2]! < 700 && served[3]! >= 750, `a second wave after the first (${served.join(', ')} ms)`);
  t.equal(await metric(s.url, 'llm_concurrency_queued_requests'), 0);
});

t.test('a cluster-wide limit is shared out over the workers', async (t) => {
  t.same([0, 1, 2].map((w) => shareOf(10, 3, w)), [4, 3, 3], 'the first workers take the remainder');
  t.equal([0, 1].map((w) => shareOf(10_000, 2, w)).reduce((a, b) => a + b), 10_000);
  t.equal(shareOf(5, 0, 0), 5, 'a single process holds it all');
  t.throws(() => validateConfig({ maxConcurrentRequests: 0 }), /config: maxConcurrentRequests/);
  t.throws(() => validateConfig({ concurrency: { mode: 'drop' } }), /config: concurrency\.mode/);
});
