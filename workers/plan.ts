import { move, transferableSymbol, valueSymbol } from 'piscina';
import { CompiledProfile, sumRawGaps, type GapTask } from '../src/sim/latency.js';
import { generateTokens } from '../src/sim/text.js';

export interface PlanTask {
  seed: number;
  count: number;
  /** Non-stream answers also need the sum of their inter-token gaps. */
  gaps: GapTask | null;
}

export interface PlanResult {
  tokens: Uint16Array;
  rawGapSum: number;
}

/** piscina's protocol for a result whose buffer is moved to the caller rather than copied. */
class Moved {
  constructor(private readonly result: PlanResult) {}
  get [transferableSymbol](): ArrayBufferLike {
    return this.result.tokens.buffer;
  }
  get [valueSymbol](): PlanResult {
    return this.result;
  }
}

/** piscina task: the tokens of a long answer and, for a non-stream answer, its gap sum. */
export default function plan(task: PlanTask): PlanResult {
  const tokens = generateTokens(task.seed, task.count);
  const { gaps } = task;
  const rawGapSum = gaps === null ? NaN : sumRawGaps(new CompiledProfile('task', gaps.profile), gaps.itlOverride, gaps.rngState, gaps.count);
  return move(new Moved({ tokens, rawGapSum }) as never) as unknown as PlanResult;
}
