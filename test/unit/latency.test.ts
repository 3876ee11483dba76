import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { requestTiming, scheduleSeed, sumRawGaps } from '../../src/sim/latency.js';
import { Profiles } from '../../src/sim/profiles.js';

const profiles = new Profiles(validateConfig({ profiles: { j: { prefillOverheadMs: { type: 'uniform', min: 10, max: 100 }, prefillPerTokenMs: 0.5, itlMs: { type: 'exponential', mean: 5 }, stall: { probability: 0.1, durationMs: 50 } } } }));
const j = profiles.get('j')!;
const timing = (seed: number | null, ttft = '', itl = '', promptTokens = 100) => requestTiming({ profile: j, promptTokens, ttftHeader: ttft, itlHeader: itl, seed });

t.test('a seed fixes time to first token and every gap', async (t) => {
  const a = timing(42);
  const b = timing(42);
  t.equal(a.rawTtftMs, b.rawTtftMs);
  const gapsA = Array.from({ length: 200 }, () => a.rawGap());
  const gapsB = Array.from({ length: 200 }, () => b.rawGap());
  t.same(gapsA, gapsB);
  t.ok(gapsA.some((g) => g >= 50), 'stalls happen');
  t.not(timing(43).rawTtftMs, a.rawTtftMs);
});

t.test('without a seed, timing is random', async (t) => {
  const ttfts = new Set(Array.from({ length: 20 }, () => timing(null).rawTtftMs));
  t.ok(ttfts.size > 15);
});

t.test('schedule seed: only when the config or the request asks', async (t) => {
  t.equal(scheduleSeed(null, null, 123), null);
  t.equal(scheduleSeed(1, null, 123), scheduleSeed(1, null, 123));
  t.not(scheduleSeed(1, null, 123), scheduleSeed(1, null, 124));
  t.type(scheduleSeed(null, 5, 123), 'number');
});

t.test('prefill time grows with the prompt', async (t) => {
  t.equal(timing(1, '', '', 1000).rawTtftMs - timing(1, '', '', 0).rawTtftMs, 500);
});

t.test('override headers are constants; an ITL override turns stalls off', async (t) => {
  const o = timing(1, '250', '7');
  t.equal(o.rawTtftMs, 250);
  t.same(new Set(Array.from({ length: 100 }, () => o.rawGap())), new Set([7]));
});

t.test('the non-stream gap sum follows the stream schedule', async (t) => {
  const a = timing(9);
  const state = a.rng.state;
  let sum = 0;
  for (let i = 0; i < 500; i++) sum += a.rawGap();
  t.equal(sumRawGaps(j, null, state, 500), sum);
});

t.test('admission applies slowdown and time scale', async (t) => {
  const a = timing(5, '100', '10');
  a.admit(2, 1.5, 0.5);
  t.equal(a.ttftMs, 100);
  t.equal(a.gapScale, 0.75);
});
