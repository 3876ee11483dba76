import type { Model } from './catalogue.js';
import type { Timing } from './latency.js';

/** One generation request, dialect-neutral: everything the simulation core needs and nothing more. */
export interface SimRequest {
  readonly model: Model;
  readonly promptTokens: number;
  /** The caller's cap on generated tokens, or null for none. */
  readonly maxTokens: number | null;
  /** Fixes the generated text: derived from the prompt, the model, the request's seed and the config seed. */
  readonly textSeed: number;
  readonly stream: boolean;
  readonly timing: Timing;
}

export type FinishReason = 'stop' | 'length';

/** What the model "says": token indices into the vocabulary of src/sim/text.ts, and why it stopped. */
export interface Completion {
  readonly tokens: Uint16Array;
  readonly finish: FinishReason;
  /**
   * Non-stream only: the sum of the raw gaps between its tokens, so the reply waits
   * ttft + sum × gapScale with one timer. Streams draw their gaps as they go (NaN here).
   */
  readonly rawGapSum: number;
}
