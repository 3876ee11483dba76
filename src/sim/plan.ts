import type { Config } from '../config/schema.js';
import type { CpuPool } from './pool.js';
import type { Completion, SimRequest } from './request.js';
import { generateTokens, naturalLength } from './text.js';

/**
 * Decides what the model says: its natural answer length (fixed by the text seed), cut by the
 * caller's cap. Long answers are generated in the thread pool; short ones inline, where it is cheaper.
 */
export function planCompletion(sim: SimRequest, config: Readonly<Config>, pool: CpuPool | null): Completion | Promise<Completion> {
  const natural = naturalLength(sim.textSeed, config.response.minTokens, config.response.maxTokens);
  const cap = Math.min(sim.maxTokens ?? Infinity, sim.model.maxOutputTokens);
  const count = Math.min(natural, cap);
  const finish = natural > cap ? 'length' : 'stop';
  if (pool !== null && count > config.pool.offloadTokens) {
    return pool.plan({ seed: sim.textSeed, count }).then((tokens) => ({ tokens, finish }));
  }
  return { tokens: generateTokens(sim.textSeed, count), finish };
}
