import type { Completion } from './request.js';

/** The token index where call k's arguments start. */
export const callStart = (c: Completion, k: number): number => (k === 0 ? 0 : c.toolCalls[k - 1]!.end);

/** The call whose arguments token i belongs to. */
export function callAt(c: Completion, i: number): number {
  let k = 0;
  while (k < c.toolCalls.length - 1 && i >= c.toolCalls[k]!.end) k++;
  return k;
}

/** Call k's JSON arguments as plain text (cut short if max tokens cut them). */
export const callArguments = (c: Completion, k: number): string => c.text.plain(c.toolCalls[k]!.end).slice(c.text.plain(callStart(c, k)).length);
