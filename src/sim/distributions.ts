import { z } from 'zod';
import type { Rng } from './rng.js';

/**
 * Every simulated delay is drawn from one of these distributions (milliseconds). A spec is plain
 * JSON (it crosses into the thread pool and comes from config files); `compile` turns it into a
 * sampler object once, and sampling costs a few arithmetic operations and one or two draws.
 */

/**
 * The longest delay anything may ask for: a distribution's parameters in config, a request's
 * override headers, and every value drawn (heavy tails are cut here), so every deadline stays a
 * finite number a timer can hold. Ten minutes, the official SDKs' own request timeout.
 */
export const MAX_DELAY_MS = 600_000;

const nonNegative = z.number().min(0).max(MAX_DELAY_MS);
const positive = z.number().positive().max(MAX_DELAY_MS);

const constant = z.object({ type: z.literal('constant'), value: nonNegative }).strict();
const uniform = z
  .object({ type: z.literal('uniform'), min: nonNegative, max: nonNegative })
  .strict()
  .refine((d) => d.min <= d.max, { message: 'min must not exceed max', path: ['min'] });
const normal = z.object({ type: z.literal('normal'), mean: z.number(), stddev: nonNegative }).strict();
const lognormal = z.union([
  z.object({ type: z.literal('lognormal'), mu: z.number(), sigma: nonNegative }).strict(),
  z
    .object({ type: z.literal('lognormal'), median: positive, p99: positive })
    .strict()
    .refine((d) => d.p99 >= d.median, { message: 'p99 must be at least the median', path: ['p99'] }),
]);
const exponential = z.object({ type: z.literal('exponential'), mean: positive }).strict();
const pareto = z.object({ type: z.literal('pareto'), scale: positive, shape: positive }).strict();
const empirical = z
  .object({ type: z.literal('empirical'), min: nonNegative.optional(), p50: nonNegative, p90: nonNegative, p99: nonNegative, p999: nonNegative })
  .strict()
  .refine((d) => (d.min ?? 0) <= d.p50 && d.p50 <= d.p90 && d.p90 <= d.p99 && d.p99 <= d.p999, { message: 'percentiles must not decrease (min ≤ p50 ≤ p90 ≤ p99 ≤ p999)' });

export type DistributionSpec =
  | number
  | z.infer<typeof constant>
  | z.infer<typeof uniform>
  | z.infer<typeof normal>
  | z.infer<typeof lognormal>
  | z.infer<typeof exponential>
  | z.infer<typeof pareto>
  | z.infer<typeof empirical>
  | { type: 'mixture'; components: { weight: number; dist: DistributionSpec }[] };

/** A distribution in config: a plain number is a constant. */
export const distributionSchema: z.ZodType<DistributionSpec> = z.lazy(() =>
  z.union([
    nonNegative,
    constant,
    uniform,
    normal,
    lognormal,
    exponential,
    pareto,
    empirical,
    z.object({ type: z.literal('mixture'), components: z.array(z.object({ weight: positive, dist: distributionSchema }).strict()).min(1) }).strict(),
  ]),
);

export interface Sampler {
  sample(rng: Rng): number;
  /** The distribution's mean, where it is finite (used for documentation and tests). */
  readonly mean: number;
}

/** The standard normal quantile at 0.99: a lognormal's sigma from its median and p99. */
const Z99 = 2.3263478740408408;

/** One standard normal draw (Box–Muller). */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next(); // (0, 1]: log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

class Constant implements Sampler {
  constructor(readonly mean: number) {}
  sample(): number {
    return this.mean;
  }
}

class Uniform implements Sampler {
  readonly mean: number;
  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.mean = (min + max) / 2;
  }
  sample(rng: Rng): number {
    return this.min + (this.max - this.min) * rng.next();
  }
}

/** Normal truncated at 0: redrawn while negative (up to 16 times, then 0). */
class TruncatedNormal implements Sampler {
  constructor(
    readonly mean: number,
    private readonly stddev: number,
  ) {}
  sample(rng: Rng): number {
    for (let i = 0; i < 16; i++) {
      const v = this.mean + this.stddev * gaussian(rng);
      if (v >= 0) return v;
    }
    return 0;
  }
}

class LogNormal implements Sampler {
  readonly mean: number;
  constructor(
    private readonly mu: number,
    private readonly sigma: number,
  ) {
    this.mean = Math.exp(mu + (sigma * sigma) / 2);
  }
  sample(rng: Rng): number {
    return Math.exp(this.mu + this.sigma * gaussian(rng));
  }
}

class Exponential implements Sampler {
  constructor(readonly mean: number) {}
  sample(rng: Rng): number {
    return -this.mean * Math.log(1 - rng.next());
  }
}

class Pareto implements Sampler {
  readonly mean: number;
  constructor(
    private readonly scale: number,
    private readonly shape: number,
  ) {
    this.mean = shape > 1 ? (shape * scale) / (shape - 1) : Infinity;
  }
  sample(rng: Rng): number {
    return this.scale / Math.pow(1 - rng.next(), 1 / this.shape);
  }
}

/**
 * Piecewise-linear inverse CDF through (0, min), (0.5, p50), (0.9, p90), (0.99, p99),
 * (0.999, p999), (1, p999 + (p999 − p99)): every given percentile is reproduced exactly, and the
 * tail beyond p999 is as wide as the step from p99 to p999.
 */
class Empirical implements Sampler {
  private readonly qs = [0, 0.5, 0.9, 0.99, 0.999, 1];
  private readonly vs: number[];
  readonly mean: number;
  constructor(min: number, p50: number, p90: number, p99: number, p999: number) {
    this.vs = [min, p50, p90, p99, p999, p999 + (p999 - p99)];
    let mean = 0;
    for (let i = 1; i < this.qs.length; i++) mean += ((this.qs[i]! - this.qs[i - 1]!) * (this.vs[i]! + this.vs[i - 1]!)) / 2;
    this.mean = mean;
  }
  sample(rng: Rng): number {
    const u = rng.next();
    const { qs, vs } = this;
    let i = 1;
    while (u > qs[i]!) i++;
    const q0 = qs[i - 1]!;
    return vs[i - 1]! + ((u - q0) / (qs[i]! - q0)) * (vs[i]! - vs[i - 1]!);
  }
}

class Mixture implements Sampler {
  private readonly cumulative: number[];
  readonly mean: number;
  constructor(private readonly parts: Sampler[], weights: number[]) {
    const total = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.cumulative = weights.map((w) => (acc += w / total));
    this.mean = parts.reduce((m, p, i) => m + (p.mean * weights[i]!) / total, 0);
  }
  sample(rng: Rng): number {
    const u = rng.next();
    let i = 0;
    while (i < this.cumulative.length - 1 && u > this.cumulative[i]!) i++;
    return this.parts[i]!.sample(rng);
  }
}

export function compile(spec: DistributionSpec): Sampler {
  if (typeof spec === 'number') return new Constant(spec);
  switch (spec.type) {
    case 'constant':
      return new Constant(spec.value);
    case 'uniform':
      return new Uniform(spec.min, spec.max);
    case 'normal':
      return new TruncatedNormal(spec.mean, spec.stddev);
    case 'lognormal':
      if ('median' in spec) {
        const mu = Math.log(spec.median);
        return new LogNormal(mu, (Math.log(spec.p99) - mu) / Z99);
      }
      return new LogNormal(spec.mu, spec.sigma);
    case 'exponential':
      return new Exponential(spec.mean);
    case 'pareto':
      return new Pareto(spec.scale, spec.shape);
    case 'empirical':
      return new Empirical(spec.min ?? 0, spec.p50, spec.p90, spec.p99, spec.p999);
    case 'mixture':
      return new Mixture(
        spec.components.map((c) => compile(c.dist)),
        spec.components.map((c) => c.weight),
      );
  }
}

/** A constant sampler, for per-request overrides. */
export const constantSampler = (ms: number): Sampler => new Constant(ms);
