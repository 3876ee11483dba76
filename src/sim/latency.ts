import { SimError } from '../errors.js';
import { compile, constantSampler, MAX_DELAY_MS, type Sampler } from './distributions.js';
import type { Profile } from './profiles.js';
import { hashString, Rng } from './rng.js';

/** Per-request override headers, for tests and clients that need fixed timing. */
export const TTFT_HEADER = 'x-sim-ttft-ms';
export const ITL_HEADER = 'x-sim-itl-ms';
export const PROFILE_HEADER = 'x-sim-profile';

type Curve = Profile['slowdown']['ttft'];

/** A profile with its distributions compiled once per process. */
export class CompiledProfile {
  readonly overhead: Sampler;
  readonly itl: Sampler;
  readonly stallProbability: number;
  readonly stall: Sampler | null;
  readonly embeddingBase: Sampler;
  /**
   * The spec's fields that the request path reads, copied here: every CompiledProfile has one
   * hidden class, where specs differ in theirs (a distribution given as a number or an object,
   * a stall or none). Read through `spec`, a configured profile's first request met code compiled
   * for the built-in profiles' specs and deoptimised the capacity's `pump` (`wrong map`).
   */
  readonly maxConcurrent: number | null;
  readonly queueLimit: number;
  readonly kvCacheTokens: number;
  readonly embeddingPerTokenMs: number;
  private readonly ttftSlowdown: Curve;
  private readonly itlSlowdown: Curve;

  constructor(
    readonly name: string,
    readonly spec: Profile,
  ) {
    this.overhead = compile(spec.prefillOverheadMs);
    this.itl = compile(spec.itlMs);
    this.stallProbability = spec.stall?.probability ?? 0;
    this.stall = spec.stall === null ? null : compile(spec.stall.durationMs);
    this.embeddingBase = compile(spec.embedding.baseMs);
    this.maxConcurrent = spec.maxConcurrent;
    this.queueLimit = spec.queueLimit;
    this.kvCacheTokens = spec.kvCacheTokens;
    this.embeddingPerTokenMs = spec.embedding.perTokenMs;
    this.ttftSlowdown = spec.slowdown.ttft;
    this.itlSlowdown = spec.slowdown.itl;
  }

  /** Slowdown factors for a sequence admitted at this utilisation (running ÷ maxConcurrent). */
  ttftFactor(utilisation: number): number {
    return slowdown(this.ttftSlowdown, utilisation);
  }
  itlFactor(utilisation: number): number {
    return slowdown(this.itlSlowdown, utilisation);
  }
}

/** A number is the factor at capacity, reached linearly from 1 at idle; points are joined by straight lines and held flat past their ends. */
export function slowdown(curve: Curve, utilisation: number): number {
  if (typeof curve === 'number') return 1 + (curve - 1) * Math.min(utilisation, 1);
  const points = curve;
  if (utilisation <= points[0]![0]) return points[0]![1];
  for (let i = 1; i < points.length; i++) {
    const [u1, f1] = points[i]!;
    if (utilisation <= u1) {
      const [u0, f0] = points[i - 1]!;
      return u1 === u0 ? f1 : f0 + ((utilisation - u0) / (u1 - u0)) * (f1 - f0);
    }
  }
  return points[points.length - 1]![1];
}

/**
 * The schedule of one request. Time to first token is drawn when the request arrives; the gap
 * before each further token is drawn when it is needed, from the same seeded generator, so a
 * stream holds O(1) state however long it is, and the stream and non-stream renderings of a
 * request follow one schedule. Gaps are "raw" (profile units); `gapScale` (slowdown × time
 * scale) is applied once the sequence is admitted.
 */
export class Timing {
  /** Set at admission. */
  ttftMs = 0;
  gapScale = 1;
  private readonly itl: Sampler;
  private readonly stallProbability: number;

  constructor(
    readonly rng: Rng,
    readonly profile: CompiledProfile,
    /** Constant inter-token gap from the request's header; it also turns stalls off. */
    readonly itlOverride: number | null,
    /** Time to first token before slowdown and time scale, ms. */
    readonly rawTtftMs: number,
  ) {
    this.itl = itlOverride === null ? profile.itl : constantSampler(itlOverride);
    this.stallProbability = itlOverride === null ? profile.stallProbability : 0;
  }

  /** The next inter-token gap before scaling, ms. */
  rawGap(): number {
    let gap = this.itl.sample(this.rng);
    if (this.stallProbability > 0 && this.rng.next() < this.stallProbability) gap += this.profile.stall!.sample(this.rng);
    return gap < MAX_DELAY_MS ? gap : MAX_DELAY_MS;
  }

  /** Fixes the scaled schedule once the sequence starts running. */
  admit(ttftFactor: number, itlFactor: number, timeScale: number): void {
    this.ttftMs = this.rawTtftMs * ttftFactor * timeScale;
    this.gapScale = itlFactor * timeScale;
  }
}

/**
 * What the thread pool needs to draw the same gaps as the request's own Timing would. The
 * profile travels as its spec (compiled in the thread: a few samplers, next to thousands of
 * gaps), so a task planned after a reload still draws from the profile its request started with.
 */
export interface GapTask {
  readonly profile: Profile;
  readonly itlOverride: number | null;
  readonly rngState: number;
  readonly count: number;
}

/** Sum of `count` raw gaps drawn from a generator in this state: the non-stream wait, computed inline or in the pool. */
export function sumRawGaps(profile: CompiledProfile, itlOverride: number | null, rngState: number, count: number): number {
  const rng = new Rng(0);
  rng.state = rngState;
  const timing = new Timing(rng, profile, itlOverride, 0);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += timing.rawGap();
  return sum;
}

function override(raw: string, header: string): number | null {
  if (raw === '') return null;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > MAX_DELAY_MS) {
    throw new SimError('invalid_value', `Header ${header} must be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got "${raw}".`, header);
  }
  return value;
}

export interface TimingInput {
  readonly profile: CompiledProfile;
  readonly promptTokens: number;
  readonly ttftHeader: string;
  readonly itlHeader: string;
  /** Present when the configuration or the request asked for reproducible timing. */
  readonly seed: number | null;
}

/**
 * The timing of one request: the profile's distributions, or the override headers as constants
 * (an ITL override also turns stalls off). Seeded when a seed is given, truly random otherwise.
 */
export function requestTiming(input: TimingInput): Timing {
  const { profile } = input;
  const rng = new Rng(input.seed ?? (Math.random() * 0x100000000) | 0);
  const ttftOverride = override(input.ttftHeader, TTFT_HEADER);
  const itlOverride = override(input.itlHeader, ITL_HEADER);
  const ttft = ttftOverride ?? Math.min(profile.overhead.sample(rng) + input.promptTokens * profile.spec.prefillPerTokenMs, MAX_DELAY_MS);
  return new Timing(rng, profile, itlOverride, ttft);
}

/** The schedule seed: fixed by the config seed or the request's own seed, null (random) otherwise. */
export function scheduleSeed(configSeed: number | null, requestSeed: number | null, textSeed: number): number | null {
  if (configSeed === null && requestSeed === null) return null;
  return hashString('schedule', textSeed ^ (configSeed ?? 0)) | 0;
}
