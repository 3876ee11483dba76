import t from 'tap';
import type { TapTest } from '../helpers/tap.js';
import { compile, constantSampler } from '../../src/sim/distributions.js';
import { distributionSchema, type DistributionSpec } from '../../src/sim/profiles.js';
import { Rng } from '../../src/sim/rng.js';

const N = 100_000;

function draw(spec: DistributionSpec, seed = 1): number[] {
  const sampler = compile(distributionSchema.parse(spec));
  const rng = new Rng(seed);
  return Array.from({ length: N }, () => sampler.sample(rng));
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stddev = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
/** |actual − expected| ≤ tol × expected. */
const near = (t: TapTest, actual: number, expected: number, tol: number, what: string) =>
  t.ok(Math.abs(actual - expected) <= tol * Math.abs(expected), `${what}: ${actual.toFixed(3)} within ${tol * 100}% of ${expected}`);

// Tolerances: with 100k draws the standard error of a mean is ≤ 0.5% of σ; 2% leaves room for
// the heavier tails (lognormal, pareto) and the coarser estimate of far percentiles.

t.test('constant (and a plain number)', async (t) => {
  t.same(new Set(draw(7)), new Set([7]));
  t.same(new Set(draw({ type: 'constant', value: 3 })), new Set([3]));
});

t.test('uniform', async (t) => {
  const xs = draw({ type: 'uniform', min: 10, max: 30 });
  near(t, mean(xs), 20, 0.01, 'mean');
  near(t, stddev(xs), 20 / Math.sqrt(12), 0.02, 'stddev');
  t.ok(Math.min(...xs) >= 10 && Math.max(...xs) < 30, 'within [min, max)');
});

t.test('normal, truncated at 0', async (t) => {
  const xs = draw({ type: 'normal', mean: 50, stddev: 10 });
  near(t, mean(xs), 50, 0.01, 'mean');
  near(t, stddev(xs), 10, 0.02, 'stddev');
  const truncated = draw({ type: 'normal', mean: 1, stddev: 5 });
  t.ok(Math.min(...truncated) >= 0, 'never negative');
});

t.test('lognormal by mu/sigma and by median/p99', async (t) => {
  const a = draw({ type: 'lognormal', mu: Math.log(100), sigma: 0.5 });
  near(t, quantile(a, 0.5), 100, 0.02, 'median');
  near(t, mean(a), 100 * Math.exp(0.125), 0.02, 'mean');
  const b = draw({ type: 'lognormal', median: 40, p99: 200 });
  near(t, quantile(b, 0.5), 40, 0.02, 'median');
  near(t, quantile(b, 0.99), 200, 0.03, 'p99');
});

t.test('exponential', async (t) => {
  const xs = draw({ type: 'exponential', mean: 25 });
  near(t, mean(xs), 25, 0.02, 'mean');
  near(t, quantile(xs, 0.5), 25 * Math.LN2, 0.02, 'median');
});

t.test('pareto', async (t) => {
  const xs = draw({ type: 'pareto', scale: 10, shape: 3 });
  t.ok(Math.min(...xs) >= 10, 'never below scale');
  near(t, quantile(xs, 0.5), 10 * 2 ** (1 / 3), 0.02, 'median');
  near(t, quantile(xs, 0.9), 10 * 10 ** (1 / 3), 0.02, 'p90');
  near(t, mean(xs), 15, 0.03, 'mean');
});

t.test('mixture (bimodal)', async (t) => {
  const xs = draw({ type: 'mixture', components: [{ weight: 3, dist: 10 }, { weight: 1, dist: { type: 'uniform', min: 100, max: 200 } }] });
  near(t, xs.filter((x) => x === 10).length / N, 0.75, 0.02, 'weight of the first mode');
  near(t, mean(xs), 0.75 * 10 + 0.25 * 150, 0.02, 'mean');
  t.equal(compile({ type: 'mixture', components: [{ weight: 1, dist: 10 }, { weight: 1, dist: 30 }] }).mean, 20);
});

t.test('empirical reproduces its percentiles within 2%', async (t) => {
  const spec = { type: 'empirical' as const, p50: 200, p90: 450, p99: 1200, p999: 3000 };
  const xs = draw(spec);
  near(t, quantile(xs, 0.5), 200, 0.02, 'p50');
  near(t, quantile(xs, 0.9), 450, 0.02, 'p90');
  near(t, quantile(xs, 0.99), 1200, 0.02, 'p99');
  near(t, quantile(xs, 0.999), 3000, 0.02, 'p999');
  near(t, mean(xs), compile(spec).mean, 0.02, 'mean agrees with the analytic mean');
});

t.test('same seed, same draws', async (t) => {
  t.same(draw({ type: 'lognormal', median: 10, p99: 50 }, 9).slice(0, 100), draw({ type: 'lognormal', median: 10, p99: 50 }, 9).slice(0, 100));
});

t.test('invalid specs are rejected with the field named', async (t) => {
  for (const bad of [-1, { type: 'uniform', min: 3, max: 1 }, { type: 'normal', mean: 1 }, { type: 'lognormal', median: 10, p99: 5 }, { type: 'pareto', scale: 0, shape: 1 }, { type: 'mixture', components: [] }, { type: 'weibull' }]) {
    t.notOk(distributionSchema.safeParse(bad).success, JSON.stringify(bad));
  }
});

t.test('a constant override is one shared sampler per value, and the kept values are bounded', async (t) => {
  const rng = new Rng(1);
  t.equal(constantSampler(20), constantSampler(20), 'the same object for the same value');
  t.not(constantSampler(20), constantSampler(21));
  t.equal(constantSampler(20).sample(rng), 20);
  // Past the bound the kept values start over; every sampler still gives its own value.
  const wrong: number[] = [];
  for (let ms = 0; ms < 3000; ms++) if (constantSampler(ms).sample(rng) !== ms) wrong.push(ms);
  t.same(wrong, [], 'every value of 3,000 (past the bound of 1,024)');
  t.equal(constantSampler(2999), constantSampler(2999));
});
