import type { Model } from './catalogue.js';
import type { Timing } from './latency.js';
import type { TokenText } from './text.js';

/**
 * What the answer consists of: generated sentences, the caller's last message echoed back
 * (`x-sim-mode: echo` or `response.mode`), or JSON valid against a schema (structured output;
 * a null schema means any JSON object).
 */
export type Content =
  /** Generated sentences, after `thinkingBudget` tokens of thinking at most (0: no thinking). */
  | { readonly kind: 'generate'; readonly thinkingBudget: number }
  | { readonly kind: 'echo'; readonly text: string }
  | { readonly kind: 'json'; readonly schema: unknown; readonly param: string }
  /** Calls of the caller's tools (several: parallel calls); arguments validate against each tool's schema. */
  | { readonly kind: 'tool'; readonly calls: readonly ToolSpec[] };

/** One tool call of an answer: its arguments are the answer's tokens up to `end` (from the previous call's end). */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly end: number;
}

/** A tool the caller offers: its name and the JSON Schema of its arguments. */
export interface ToolSpec {
  readonly name: string;
  readonly schema: unknown;
  /** Where the schema sits in the request, for a refusal that names it. */
  readonly param: string;
  /** Arguments given in advance (a scripted reply's tool call), as JSON: used instead of sampling the schema. */
  readonly arguments?: string;
}

/** How the caller lets the model use tools (normalised across dialects). */
export type ToolChoice = { readonly type: 'auto' | 'none' | 'required' } | { readonly type: 'named'; readonly name: string };

/**
 * `maxTokens` of a request that sets no cap: a number, not null. The request objects' field held
 * small integers, and the first request without a cap changed its representation, which
 * deoptimised the request's path (`chatCompletions`: `not a Smi`) and, when it happened in the
 * start-up warm-up, `flush` for requests still in flight (`wrong map`). Not 0: Anthropic takes
 * `max_tokens: 0` (an empty answer).
 */
export const NO_CAP = -1;

/** The cap in tokens, Infinity for NO_CAP. */
export const capOf = (maxTokens: number): number => (maxTokens === NO_CAP ? Infinity : maxTokens);

/** The tokens a cap reserves beside the prompt (the context-window check), 0 for NO_CAP. */
export const reservedBy = (maxTokens: number): number => (maxTokens === NO_CAP ? 0 : maxTokens);

/** One generation request, dialect-neutral: everything the simulation core needs and nothing more. */
export interface SimRequest {
  readonly model: Model;
  readonly promptTokens: number;
  /** The caller's cap on generated tokens, NO_CAP for none. */
  readonly maxTokens: number;
  /** Fixes the generated text: derived from the prompt, the model, the request's seed and the config seed. */
  readonly textSeed: number;
  readonly stream: boolean;
  /** Stop sequences: they cut the generated text, never change it. */
  readonly stop: readonly string[];
  readonly content: Content;
  readonly timing: Timing;
}

/** Why generation ended: its natural end, the token cap, or one of the caller's stop sequences. */
export type FinishReason = 'stop' | 'length' | 'stop_sequence' | 'tool_call';

/** What the model "says", token by token, and why it stopped. */
export interface Completion {
  readonly text: TokenText;
  readonly finish: FinishReason;
  /** The first `thinking` tokens of `text` are the model's thinking (Anthropic extended thinking), 0 without. */
  readonly thinking: number;
  /** The tools this answer calls, in order (its text is then their JSON arguments, one after the other); empty for none. */
  readonly toolCalls: readonly ToolCall[];
  /** The stop sequence that ended the text (finish = 'stop_sequence'), else null. */
  readonly stopSequence: string | null;
  /**
   * Non-stream only: the sum of the raw gaps between its tokens, so the reply waits
   * ttft + sum × gapScale with one timer. Streams draw their gaps as they go (NaN here).
   */
  readonly rawGapSum: number;
}
