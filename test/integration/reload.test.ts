import t from 'tap';
import { OPENAI_HEADERS, startServer } from '../helpers/server.js';

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
