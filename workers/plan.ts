import { move } from 'piscina';
import { generateTokens } from '../src/sim/text.js';

export interface PlanTask {
  seed: number;
  count: number;
}

/** piscina task: the token sequence of a long completion, moved (not copied) back to the caller. */
export default function plan(task: PlanTask): Uint16Array {
  return move(generateTokens(task.seed, task.count)) as unknown as Uint16Array;
}
