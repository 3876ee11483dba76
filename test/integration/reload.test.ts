import t from 'tap';
import { OPENAI_HEADERS, startServer, until } from '../helpers/server.js';

// The runtime snapshot: a reload reaches the next request at once, while a stream that began
// before it finishes on the profile it started with (single process: the admin API applies here).

const ADMIN = { 'x-admin-key': 'admin-secret-1234', 'content-type': 'application/merge-patch+json' };

/** Opens a stream and resolves with the arrival time (ms) of each SSE event, once the first has arrived. */
async function stream(url: string): Promise<{ first: Promise<void>; times: Promise<number[]> }> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: OPENAI_HEADERS, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true }) });
  const reader = res.body!.getReader();
  const times: number[] = [];
  let firstSeen!: () => void;
  const first = new Promise<void>((r) => (firstSeen = r));
  const all = (async () => {
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return times;
      const events = decoder.decode(value).split('\n\n').filter((e) => e.startsWith('data: {'));
      for (let i = 0; i < events.length; i++) times.push(performance.now());
      if (times.length > 0) firstSeen();
    }
  })();
  return { first, times: all };
}

const medianGap = (times: number[]): number => {
  const gaps = times.slice(2, -1).map((x, i) => x - times[i + 1]!).sort((a, b) => a - b); // after the role chunk and first token
  return gaps[Math.floor(gaps.length / 2)]!;
};

t.test('a reload reaches new requests at once; a stream begun before keeps its old gaps', async (t) => {
  const s = await startServer({ timeScale: 1, admin: { key: 'admin-secret-1234' }, response: { minTokens: 10, maxTokens: 10 }, profiles: { 'openai-mini': { prefillOverheadMs: 5, itlMs: 20 } } });
  t.teardown(() => s.close());
  const before = await stream(s.url);
  await before.first;
  const applied = await fetch(`${s.url}/admin/config`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ profiles: { 'openai-mini': { itlMs: 80 } } }) });
  t.same(await applied.json(), { version: 2, workers: 1 });
  const after = await stream(s.url);
  const [old, fresh] = await Promise.all([before.times, after.times]);
  t.ok(medianGap(old) < 45, `the stream begun before the reload keeps 20 ms gaps (median ${medianGap(old).toFixed(1)} ms)`);
  t.ok(medianGap(fresh) > 60, `the next stream has the new 80 ms gaps (median ${medianGap(fresh).toFixed(1)} ms)`);
  t.equal(s.server.version, 2);
});

t.test("a rule's window and period run from when that rule became active: start-up, or the reload that added or changed it", async (t) => {
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 };
  const status = async (url: string): Promise<number> => (await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: OPENAI_HEADERS, body: JSON.stringify(chat) })).status;
  const admin = (url: string, method: string, path: string, body?: unknown) => fetch(`${url}${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
  const early = { name: 'early', when: { window: { until: '300ms' } }, fault: { type: 'server_error' } };
  const s = await startServer({ timeScale: 0, admin: { key: 'admin-secret-1234' }, faults: [early] });
  t.teardown(() => s.close());
  const started = performance.now();
  // The config's rule fires for its first 300 ms, then never again.
  t.ok(await until(async () => (await status(s.url)) === 200, 3000), 'the start-up rule stops when its window ends');
  // Past any window of 300 ms from start-up (a wait for the clock, not for an event).
  await new Promise((r) => setTimeout(r, Math.max(0, 400 - (performance.now() - started))));
  // A reload of something else: the unchanged rule keeps its clock (still past its window).
  t.equal((await admin(s.url, 'POST', '/admin/config', { seed: 7 })).status, 200);
  t.equal(await status(s.url), 200, 'an unchanged rule keeps the clock it started with');
  // A rule added now: its window counts from now, not from start-up.
  const added = performance.now();
  t.equal((await admin(s.url, 'POST', '/admin/faults', { name: 'late', when: { window: { until: '300ms' } }, fault: { type: 'bad_gateway' } })).status, 200);
  const first = await status(s.url);
  if (performance.now() - added < 250) t.equal(first, 502, 'a rule added at runtime fires from its own start');
  t.ok(await until(async () => (await status(s.url)) === 200, 3000), 'and stops when its own window ends');
  // A changed rule starts over too: the start-up rule, given another fault, fires again.
  const changed = performance.now();
  t.equal((await admin(s.url, 'POST', '/admin/faults', { ...early, fault: { type: 'overloaded' } })).status, 200);
  const again = await status(s.url);
  if (performance.now() - changed < 250) t.equal(again, 503, 'a changed rule fires from the reload that changed it');
});

t.test('the admin API answers bad input with a clear 4xx and changes nothing', async (t) => {
  const s = await startServer({ timeScale: 0, admin: { key: 'admin-secret-1234' } });
  t.teardown(() => s.close());
  const call = async (method: string, path: string, body?: string) => {
    const r = await fetch(`${s.url}${path}`, { method, headers: ADMIN, body });
    return { status: r.status, error: ((await r.json()) as { error?: { code: string; message: string } }).error };
  };
  const version = s.server.version;
  const cases: [string, string, string | undefined, number, string][] = [
    ['POST', '/admin/faults', '{bad', 400, 'invalid_json'],
    ['POST', '/admin/faults', '{"fault":{"type":"bad_gateway"}}', 400, 'invalid_config'],
    ['POST', '/admin/faults', '{"name":"x","fault":{"type":"nope"}}', 400, 'invalid_config'],
    ['DELETE', '/admin/faults/none', undefined, 404, 'unknown_rule'],
    ['GET', '/admin/journal?limit=abc', undefined, 400, 'invalid_request'],
    ['GET', '/admin/journal?limit=0', undefined, 400, 'invalid_request'],
    ['POST', '/admin/scenarios/outage/activate?loop=maybe', undefined, 400, 'invalid_request'],
    ['POST', '/admin/config', '[1,2]', 400, 'invalid_config'],
    ['PUT', '/admin/config', undefined, 405, 'method_not_allowed'],
    ['GET', '/admin/scenarios/outage/activate', undefined, 405, 'method_not_allowed'],
    ['GET', '/admin/nothing', undefined, 404, 'not_found'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const r = await call(method, path, body);
    t.same([r.status, r.error?.code], [status, code], `${method} ${path}: ${r.status} ${r.error?.message}`);
  }
  t.equal(s.server.version, version, 'no config version was made');
  t.equal((await call('GET', '/admin/journal?limit=20')).status, 200, 'a good limit is still taken');
  const wrong = await fetch(`${s.url}/admin/config`, { method: 'PUT', headers: ADMIN });
  t.equal(wrong.headers.get('allow'), 'GET, POST', 'a 405 lists the methods the path takes (RFC 9110)');
});
