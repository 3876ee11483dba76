import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { PRESETS } from '../../src/faults/scenarios.js';
import { OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'which phase?' }], max_tokens: 2 };

/** Polls until the answer's status is `want`; resolves with the Unix ms of the first such answer's request. */
async function firstStatus(url: string, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sent = Date.now();
    if ((await post(`${url}/v1/chat/completions`, chat, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0' })).status === want) return sent;
  }
  throw new Error(`no ${want} within ${timeoutMs} ms`);
}

t.test('a timeline switches phase within 50 ms of its planned time', async (t) => {
  const s = await startServer({
    timeScale: 1,
    scenarios: { blip: { loop: true, phases: [{ for: '400ms' }, { for: '300ms', faults: [{ name: 'blip', fault: { type: 'server_error' } }] }] } },
    scenario: 'blip',
  });
  t.teardown(() => s.close());
  const { startMs } = s.server.services.admission.running()!;
  const cycle = 700;
  // Two cycles of back-to-back requests, each with its send and receive time.
  const seen: { sent: number; received: number; faulted: boolean }[] = [];
  const until = Date.now() + 2 * cycle;
  while (Date.now() < until) {
    const sent = Date.now();
    const r = await post(`${s.url}/v1/chat/completions`, chat, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0' });
    seen.push({ sent, received: Date.now(), faulted: r.status === 500 });
  }
  /** Whether the phase planned for the moment `at` is the faulty one. */
  const planned = (at: number): boolean => (at - startMs) % cycle >= 400;
  // A request answered before a switch was decided in the phase before it; one sent 50 ms after a
  // switch must see the new phase. Only requests that straddle a switch (or its 50 ms) may go either way.
  const wrong = seen.filter((r) => planned(r.sent) === planned(r.received) && planned(r.sent - 50) === planned(r.sent) && r.faulted !== planned(r.sent));
  t.same(wrong, [], `every request outside the 50 ms after a switch saw its planned phase (${seen.length} requests)`);
  t.ok(seen.some((r) => r.faulted) && seen.some((r) => !r.faulted), 'both phases were seen');
});

t.test('a phase scales latency', async (t) => {
  const s = await startServer({ timeScale: 1, scenarios: { slow: { phases: [{ for: '1h', latency: { factor: 3 } }] } }, scenario: 'slow' });
  t.teardown(() => s.close());
  const start = performance.now();
  const r = await post(`${s.url}/v1/chat/completions`, chat, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '60', 'x-sim-itl-ms': '0' });
  t.equal(r.status, 200);
  t.ok(performance.now() - start >= 180, `TTFT 60 ms × 3: took ${(performance.now() - start).toFixed(0)} ms`);
});

t.test('a scenario without loop ends, and its faults with it', async (t) => {
  const s = await startServer({ scenarios: { once: { phases: [{ for: '200ms', faults: [{ fault: { type: 'overloaded' } }] }] } }, scenario: 'once' });
  t.teardown(() => s.close());
  const back = await firstStatus(s.url, 200, 3000);
  t.ok(back > 0, 'healthy after the last phase');
  t.equal((await post(`${s.url}/v1/chat/completions`, chat)).status, 200, 'and stays healthy');
});

t.test('every preset is a valid scenario; unknown names and bad phases are config errors', async (t) => {
  for (const name of Object.keys(PRESETS)) t.doesNotThrow(() => validateConfig({ scenario: name }), name);
  t.throws(() => validateConfig({ scenario: 'apocalypse' }), /scenario: unknown scenario "apocalypse"/);
  t.throws(() => validateConfig({ scenarios: { x: { phases: [{ for: 0 }] } } }), /scenarios\.x\.phases\.0\.for/);
  t.throws(() => validateConfig({ scenarios: { x: { phases: [{ for: '1s', faults: [{ fault: { type: 'cut' }, when: { probability: 2 } }] }] } } }), /scenarios\.x\.phases\.0\.faults\.0\.when\.probability/);
});
