import type { Model } from './catalogue.js';

/** One generation request, dialect-neutral: everything the simulation core needs and nothing more. */
export interface SimRequest {
  readonly model: Model;
  readonly promptTokens: number;
  /** The caller's cap on generated tokens, or null for none. */
  readonly maxTokens: number | null;
  /** Fixes the generated text: derived from the prompt, the model, the request's seed and the config seed. */
  readonly textSeed: number;
  readonly stream: boolean;
  /** Simulated delays in milliseconds, already multiplied by the time scale. */
  readonly ttftMs: number;
  readonly itlMs: number;
}

export type FinishReason = 'stop' | 'length';

/** What the model "says": token indices into the vocabulary of src/sim/text.ts, and why it stopped. */
export interface Completion {
  readonly tokens: Uint16Array;
  readonly finish: FinishReason;
}
