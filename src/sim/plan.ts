import type { Config } from '../config/schema.js';
import { sumRawGaps } from './latency.js';
import type { CpuPool } from './pool.js';
import type { Completion, SimRequest } from './request.js';
import { generateTokens, naturalLength } from './text.js';

/**
 * Decides what the model says: its natural answer length (fixed by the text seed), cut by the
 * caller's cap; and for a non-stream answer, how long its tokens take. Long answers are planned in
 * the thread pool, short ones inline, where it is cheaper (bench/micro/plan.ts).
 */
export function planCompletion(sim: SimRequest, config: Readonly<Config>, pool: CpuPool | null): Completion | Promise<Completion> {
  const natural = naturalLength(sim.textSeed, config.response.minTokens, config.response.maxTokens);
  const cap = Math.min(sim.maxTokens ?? Infinity, sim.model.maxOutputTokens);
  const count = Math.min(natural, cap);
  const finish = natural > cap ? 'length' : 'stop';
  const { timing } = sim;
  const gapCount = sim.stream ? 0 : Math.max(0, count - 1);
  if (pool !== null && count > config.pool.offloadTokens) {
    const gaps = sim.stream ? null : { profile: timing.profile.name, itlOverride: timing.itlOverride, rngState: timing.rng.state, count: gapCount };
    return pool.plan({ seed: sim.textSeed, count, gaps }).then((r) => ({ tokens: r.tokens, finish, rawGapSum: r.rawGapSum }));
  }
  const rawGapSum = sim.stream ? NaN : sumRawGaps(timing.profile, timing.itlOverride, timing.rng.state, gapCount);
  return { tokens: generateTokens(sim.textSeed, count), finish, rawGapSum };
}
