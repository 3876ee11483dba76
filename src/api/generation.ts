import type { Model } from '../sim/catalogue.js';
import { planCompletion } from '../sim/plan.js';
import { capOf, reservedBy, type Completion, type Content, type SimRequest, type ToolChoice, type ToolSpec } from '../sim/request.js';
import type { Generation } from '../sim/stream.js';
import { PROFILE_HEADER, requestTiming, scheduleSeed, type CompiledProfile } from '../sim/latency.js';
import { overloadedError } from '../faults/render.js';
import { SimError } from '../errors.js';
import { hashString } from '../sim/rng.js';
import { tokenizerOf } from '../sim/catalogue.js';
import { countTextsBounded, promptTotal } from '../sim/tokens.js';
import type { RouteContext } from './context.js';
import type { ValidationWording } from './validate.js';

export interface GenerationInput {
  readonly model: Model;
  /** The prompt's texts in order (system first), for token counting and the text seed. */
  readonly texts: readonly string[];
  /** NO_CAP for none. */
  readonly maxTokens: number;
  readonly seed: number | null;
  readonly stream: boolean;
  readonly stop: readonly string[];
  /** The last user message: what echo mode answers with. */
  readonly lastUserText: string;
  /** Structured output requested by the caller (JSON), if any. */
  readonly json?: { readonly schema: unknown; readonly param: string };
  /** Tools offered, and how they may be used. */
  readonly tools?: readonly ToolSpec[];
  readonly toolChoice?: ToolChoice;
  /** The conversation ends with a tool's result: an `auto` model answers it in text. */
  readonly afterToolResult?: boolean;
  /** False when the caller forbids several calls in one answer. */
  readonly parallelToolCalls?: boolean;
  /** Anthropic extended thinking: the most tokens the model may think before answering. */
  readonly thinkingBudget?: number;
  /** The dialect's wording, for the context-window error. */
  readonly wording: ValidationWording;
  /** Answers one request asks for (chat `n`; legacy prompts × `n`), 1 when absent, and the field that sets it. */
  readonly choices?: { readonly count: number; readonly param: string };
  /** Logprob alternatives per token (`top_logprobs`, legacy `logprobs`), 0 when absent. */
  readonly alternatives?: number;
}

/**
 * The most output one request may cause, in tokens × (1 + logprob alternatives) summed over its
 * answers: building it costs ~1 µs a unit on the event loop (n 128 × 128 tokens × 21 logprobs
 * took 350 ms), so this keeps one request's answer under ~150 ms of work. Past it the request is
 * refused with a 400 naming the field.
 */
export const MAX_OUTPUT_UNITS = 131_072;

/** Refuses a request whose answers could exceed MAX_OUTPUT_UNITS, before anything is generated. */
function checkOutputBound(input: GenerationInput, ctx: RouteContext): void {
  const choices = input.choices?.count ?? 1;
  if (choices === 1 && (input.alternatives ?? 0) === 0) return;
  const cap = Math.min(capOf(input.maxTokens), input.model.maxOutputTokens);
  // Generated answers end at their natural length (at most response.maxTokens) unless capped sooner.
  const perChoice = input.json === undefined && (input.tools ?? []).length === 0 ? Math.min(cap, ctx.config.response.maxTokens) : cap;
  const units = choices * perChoice * (1 + (input.alternatives ?? 0));
  if (units > MAX_OUTPUT_UNITS) {
    const param = input.choices?.param ?? 'n';
    throw new SimError('invalid_value', `Invalid value for '${param}': this request could produce ${units} tokens of output (answers × tokens each × (1 + logprob alternatives)); one request may produce at most ${MAX_OUTPUT_UNITS}.`, param);
  }
}

/**
 * The dialect-neutral part of every generation route: normalise into a SimRequest, plan the
 * completion (inline or in the pool), then let the dialect wrap it. Delays, token counts and text
 * are decided here once, never per dialect.
 */
export function simulate(input: GenerationInput, ctx: RouteContext, wrap: (sim: SimRequest, completion: Completion) => Generation): Generation | Promise<Generation> {
  checkOutputBound(input, ctx);
  const profile = profileOf(input.model, ctx);
  // The overload refusal belongs to admission: before any token is counted or planned.
  if (ctx.capacity.refuses(input.model.id, profile)) throw overloadedError(input.wording.dialect);
  const tokens = promptTokens(ctx, input.model, input.texts);
  return typeof tokens === 'number' ? plan(input, ctx, wrap, tokens, profile) : tokens.then((n) => plan(input, ctx, wrap, n, profile));
}

/** The request's latency profile: `x-sim-profile`, else the model's. */
function profileOf(model: Model, ctx: RouteContext): CompiledProfile {
  const name = ctx.headers.profile !== '' ? ctx.headers.profile : model.profile;
  const profile = ctx.profiles.get(name);
  if (profile === undefined) throw new SimError('invalid_value', `Header ${PROFILE_HEADER}: unknown profile "${name}".`, PROFILE_HEADER);
  return profile;
}

export const MODE_HEADER = 'x-sim-mode';

function contentOf(input: GenerationInput, ctx: RouteContext): Content {
  const { scripted } = ctx;
  if (scripted !== null) {
    if (scripted.toolCall !== undefined) return { kind: 'tool', calls: [{ name: scripted.toolCall.name, schema: null, param: 'reply.toolCall', arguments: JSON.stringify(scripted.toolCall.arguments) }] };
    return { kind: 'echo', text: scripted.text ?? JSON.stringify(scripted.json) };
  }
  const mode = ctx.headers.mode !== '' ? ctx.headers.mode : ctx.config.response.mode;
  if (mode === 'echo') return { kind: 'echo', text: input.lastUserText };
  if (mode !== 'generate') throw new SimError('invalid_value', `Header ${MODE_HEADER} must be "generate" or "echo", got "${mode}".`, MODE_HEADER);
  const calls = chooseTools(input);
  if (calls.length > 0) return { kind: 'tool', calls };
  if (input.json !== undefined) return { kind: 'json', schema: input.json.schema, param: input.json.param };
  return { kind: 'generate', thinkingBudget: input.thinkingBudget ?? 0 };
}

/** The most calls one answer makes in parallel. */
const MAX_PARALLEL_CALLS = 4;

/**
 * Which tools the model calls: `auto` calls the first tool when the user has just spoken and
 * answers in text after a tool result, so an agent's loop (call, result, answer) runs to its
 * end; `required` calls every tool offered (up to four) at once when parallel calls are allowed,
 * the first otherwise; a named tool is called alone.
 */
function chooseTools(input: GenerationInput): ToolSpec[] {
  const tools = input.tools ?? [];
  const choice = input.toolChoice ?? { type: 'auto' };
  if (tools.length === 0 && (choice.type === 'required' || choice.type === 'named')) {
    throw new SimError('invalid_value', 'A tool_choice that requires a tool is only allowed when tools are specified.', 'tool_choice');
  }
  if (tools.length === 0 || choice.type === 'none') return [];
  if (choice.type === 'named') {
    const named = tools.find((t) => t.name === choice.name);
    if (named === undefined) throw new SimError('invalid_value', `Tool choice names "${choice.name}", which is not among the tools offered.`, 'tool_choice');
    return [named];
  }
  if (choice.type === 'auto') return input.afterToolResult === true ? [] : [tools[0]!];
  return input.parallelToolCalls === false ? [tools[0]!] : tools.slice(0, MAX_PARALLEL_CALLS);
}

/** A prompt's token count: inline, or in the thread pool for costly prompts (src/sim/tokens.ts). */
export function promptTokens(ctx: RouteContext, model: Model, texts: readonly string[]): number | Promise<number> {
  const counts = countTextsBounded(tokenizerOf(model), texts, ctx.pool);
  return counts instanceof Promise ? counts.then(promptTotal) : promptTotal(counts);
}

function plan(input: GenerationInput, ctx: RouteContext, wrap: (sim: SimRequest, completion: Completion) => Generation, promptTokens: number, profile: CompiledProfile): Generation | Promise<Generation> {
  const { model } = input;
  const { config, headers } = ctx;
  let textSeed = hashString(model.id, ((config.seed ?? 0) ^ (input.seed ?? 0)) >>> 0);
  for (const text of input.texts) textSeed = hashString(text, textSeed);
  const reserved = reservedBy(input.maxTokens);
  if (promptTokens + reserved > model.contextWindow) {
    throw new SimError('context_length_exceeded', input.wording.contextTooLong(promptTokens, reserved, model.contextWindow), 'messages');
  }
  const timing = requestTiming({
    profile,
    promptTokens,
    ttftHeader: headers.ttftMs,
    itlHeader: headers.itlMs,
    seed: scheduleSeed(config.seed, input.seed, textSeed),
  });
  const sim: SimRequest = { model, promptTokens, maxTokens: input.maxTokens, textSeed, stream: input.stream, stop: input.stop, content: contentOf(input, ctx), timing };
  const completion = planCompletion(sim, ctx.config, ctx.pool);
  return completion instanceof Promise ? completion.then((c) => wrap(sim, c)) : wrap(sim, completion);
}

/** The text of a message's content: a string, or the `text` of its text parts. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') text += (part as { text: string }).text;
  }
  return text;
}

/**
 * The last user message of any generation route's raw body (chat and Anthropic `messages`,
 * Responses `input`, legacy `prompt`), for `match.prompt`: read before validation, so anything
 * unexpected is ''.
 */
export function lastPrompt(body: unknown): string {
  if (body === null || typeof body !== 'object') return '';
  const { messages, input, prompt } = body as { messages?: unknown; input?: unknown; prompt?: unknown };
  const list = Array.isArray(messages) ? messages : Array.isArray(input) ? input : null;
  if (list !== null) return lastUserText(list.filter((m): m is { role?: unknown; content?: unknown } => m !== null && typeof m === 'object'));
  if (typeof input === 'string') return input;
  return typeof prompt === 'string' ? prompt : '';
}

/** The text of the last message from the user (echo mode's answer). */
export function lastUserText(messages: readonly { role?: unknown; content?: unknown }[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === 'user') return textOf(messages[i]!.content);
  return '';
}
