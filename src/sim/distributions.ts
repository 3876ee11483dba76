import type { DistributionSpec } from './profiles.js';
import type { Rng } from './rng.js';

/**
 * Every simulated delay is drawn from one of these distributions (milliseconds). A spec is plain
 * JSON (it crosses into the thread pool and comes from config files, validated by
 * `distributionSchema` in profiles.ts); `compile` turns it into a sampler object once, and
 * sampling costs a few arithmetic operations and one or two draws. No schema here: the thread
 * pool's tasks load this module, and zod cost every pool thread ~0.1 s of its start.
 */

/**
 * The longest delay anything may ask for: a distribution's parameters in config, a request's
 * override headers, and every value drawn (heavy tails are cut here), so every deadline stays a
 * finite number a timer can hold. Ten minutes, the official SDKs' own request timeout.
 */
export const MAX_DELAY_MS = 600_000;

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

/**
 * A constant sampler, for per-request overrides (`x-sim-itl-ms`): one per value, shared by every
 * request that names it. A stream draws each gap from it, and an object of the request's own was
 * one more cache miss a token at 200 streams; a load tool sends the same value every time. At
 * most CONSTANT_SAMPLERS values are kept (a client could name a new one each request).
 */
export function constantSampler(ms: number): Sampler {
  let sampler = constantSamplers.get(ms);
  if (sampler === undefined) {
    if (constantSamplers.size >= CONSTANT_SAMPLERS) constantSamplers.clear();
    constantSamplers.set(ms, (sampler = new Constant(ms)));
  }
  return sampler;
}
const constantSamplers = new Map<number, Sampler>();
const CONSTANT_SAMPLERS = 1024;
