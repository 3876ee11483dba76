import { performance } from 'node:perf_hooks';
import t from 'tap';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer, type TestServer } from '../helpers/server.js';

/**
 * Every route that answers with one JSON body after simulated work (non-stream generations and
 * embeddings), at a time scale above 0: the body waits its simulated time and no longer, the
 * `x-sim-profile` header picks the profile that sets it, and a client that leaves while it waits
 * frees everything.
 */
const WAIT_MS = 150;
const profiles = { wait: { prefillOverheadMs: WAIT_MS, itlMs: 0, embedding: { baseMs: WAIT_MS } } };

let srv: TestServer;
t.before(async () => {
  srv = await startServer({ timeScale: 1, profiles });
});
t.teardown(() => srv.close());

const routes: [string, string, object, Record<string, string>][] = [
  ['chat', '/v1/chat/completions', { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }, OPENAI_HEADERS],
  ['legacy completions', '/v1/completions', { model: 'gpt-4.1', prompt: 'hi', max_tokens: 3 }, OPENAI_HEADERS],
  ['responses', '/v1/responses', { model: 'gpt-4.1', input: 'hi', max_output_tokens: 3 }, OPENAI_HEADERS],
  ['embeddings', '/v1/embeddings', { model: 'text-embedding-3-small', input: 'hi' }, OPENAI_HEADERS],
  ['messages', '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] }, ANTHROPIC_HEADERS],
  ['legacy complete', '/v1/complete', { model: 'claude-sonnet-4-5', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 3 }, ANTHROPIC_HEADERS],
];

async function timed(path: string, body: object, headers: Record<string, string>): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await post(`${srv.url}${path}`, body, headers);
  return { status: res.status, ms: performance.now() - started };
}

for (const [name, path, body, headers] of routes) {
  t.test(`${name}: the reply waits the profile's time (x-sim-profile), and the instant profile does not`, async (t) => {
    // Unmeasured first: the route's first request compiles its response schema in the test's checker.
    t.equal((await timed(path, body, { ...headers, 'x-sim-profile': 'instant' })).status, 200);
    const slow = await timed(path, body, { ...headers, 'x-sim-profile': 'wait' });
    t.equal(slow.status, 200);
    // Never early; late by at most a timer tick plus a loaded machine's scheduling noise.
    t.ok(slow.ms >= WAIT_MS - 1 && slow.ms < WAIT_MS + 400, `answered after ${slow.ms.toFixed(1)} ms (profile: ${WAIT_MS} ms)`);
    const instant = await timed(path, body, { ...headers, 'x-sim-profile': 'instant' });
    t.equal(instant.status, 200);
    t.ok(instant.ms < WAIT_MS - 1, `instant profile: ${instant.ms.toFixed(1)} ms`);
    const unknown = await post(`${srv.url}${path}`, body, { ...headers, 'x-sim-profile': 'nope' });
    t.equal(unknown.status, 400);
    t.match(unknown.json.error.message, /x-sim-profile: unknown profile "nope"/);
  });
}

t.test('count_tokens answers without waiting', async (t) => {
  const r = await timed('/v1/messages/count_tokens', { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] }, { ...ANTHROPIC_HEADERS, 'x-sim-profile': 'wait' });
  t.equal(r.status, 200);
  t.ok(r.ms < WAIT_MS - 1);
});

t.test('a client that leaves while its reply waits frees its slot and timer; the server answers on', async (t) => {
  const { services } = srv.server;
  for (const [name, path, body, headers] of routes) {
    const gone = fetch(`${srv.url}${path}`, { method: 'POST', headers: { ...headers, 'x-sim-profile': 'wait' }, body: JSON.stringify(body), signal: AbortSignal.timeout(40) });
    await t.rejects(gone, `${name}: the client gave up`);
    const deadline = performance.now() + 2000;
    while ((services.active > 0 || services.scheduler.size > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    t.equal(services.active, 0, `${name}: nothing in flight`);
    t.equal(services.scheduler.size, 0, `${name}: no timer left`);
  }
  const metrics = await services.metrics.text();
  t.match(metrics, /http_requests_total\{method="POST",path="\/v1\/embeddings",status="499"\} 1/);
  t.equal((await post(`${srv.url}/v1/embeddings`, routes[3]![2], OPENAI_HEADERS)).status, 200);
});
