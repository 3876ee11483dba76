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
  /** How long after the planned switch at `offset` (ms into each cycle) `seen` was, in (-cycle/2, cycle/2]. */
  const lateness = (seen: number, offset: number): number => {
    const d = (((seen - startMs - offset) % cycle) + cycle) % cycle;
    return d > cycle / 2 ? d - cycle : d;
  };
  for (let round = 0; round < 2; round++) {
    const on = lateness(await firstStatus(s.url, 500, 3000), 400);
    const off = lateness(await firstStatus(s.url, 200, 3000), 0);
    // The time reported is the send time of the first answer of the new phase: a request sent
    // just before the switch may be decided just after it, hence a few ms of slack below 0.
    t.ok(on >= -5 && on <= 50, `round ${round + 1}: the faulty phase was first seen ${on} ms after its planned start`);
    t.ok(off >= -5 && off <= 50, `round ${round + 1}: the healthy phase was first seen ${off} ms after its planned return`);
  }
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
