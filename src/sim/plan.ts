import type { Config } from '../config/schema.js';
import { sumRawGaps } from './latency.js';
import type { CpuPool } from './pool.js';
import { capOf, type Completion, type FinishReason, type SimRequest, type ToolCall, type ToolSpec } from './request.js';
import { uniqueBase62 } from './ids.js';
import { sampleJson, SchemaError } from './json-schema.js';
import { SimError } from '../errors.js';
import { hashString, Rng } from './rng.js';
import { answerText, generateTokens, naturalLength, PieceText, renderText, splitPieces, VocabularyText, type TokenText } from './text.js';

/**
 * Decides what the model says: its natural answer length (fixed by the text seed), cut by the
 * caller's cap and stop sequences; and for a non-stream answer, how long its tokens take. Long
 * answers are planned in the thread pool, short ones inline, where it is cheaper (bench/micro/plan.ts).
 */
export function planCompletion(sim: SimRequest, config: Readonly<Config>, pool: CpuPool | null): Completion | Promise<Completion> {
  const natural = naturalLength(sim.textSeed, config.response.minTokens, config.response.maxTokens);
  const cap = Math.min(capOf(sim.maxTokens), sim.model.maxOutputTokens);
  // At time scale 0 every delay is 0: non-stream gaps need not be drawn (streams draw theirs as they go).
  const needGaps = !sim.stream && config.timeScale > 0;
  if (sim.content.kind === 'tool') return planToolCalls(sim, sim.content.calls, cap, needGaps);
  if (sim.content.kind !== 'generate') {
    const pieces = new PieceText(splitPieces(authoredText(sim, natural)));
    const cut = pieces.length > cap;
    return cutAtStop(sim, cut ? pieces.slice(cap) : pieces, cut ? 'length' : 'stop', needGaps, NaN);
  }
  const thinking = thinkingLength(sim.textSeed, sim.content.thinkingBudget);
  if (thinking > 0) {
    // Thinking counts into the cap (max_tokens > budget_tokens, checked by the route).
    const answer = Math.min(natural, cap - thinking);
    const tokens = new Uint16Array(thinking + answer);
    tokens.set(generateTokens(sim.textSeed ^ THINKING_SEED, thinking));
    tokens.set(generateTokens(sim.textSeed, answer), thinking);
    return cutAtStop(sim, new VocabularyText(tokens), natural > answer ? 'length' : 'stop', needGaps, NaN, thinking);
  }
  const count = Math.min(natural, cap);
  const finish = natural > cap ? 'length' : 'stop';
  const { timing } = sim;
  if (pool !== null && count > config.pool.offloadTokens) {
    const gaps = !needGaps ? null : { profile: timing.profile.spec, itlOverride: timing.itlOverride, rngState: timing.rng.state, count: Math.max(0, count - 1) };
    return pool.plan({ seed: sim.textSeed, count, gaps }).then((r) => cutAtStop(sim, new VocabularyText(r.tokens), finish, needGaps, r.rawGapSum));
  }
  return cutAtStop(sim, answerText(sim.textSeed, count), finish, needGaps, NaN);
}

/**
 * Ends the text before the earliest stop sequence. The cut is at a token boundary: a token the
 * stop sequence starts inside is dropped whole (tokens are words, so this rarely differs from a
 * character-exact cut). The gap sum of a non-stream answer is drawn for the tokens kept.
 */
export function cutAtStop(sim: SimRequest, tokens: TokenText, finish: FinishReason, needGaps: boolean, pooledGapSum: number, thinking = 0): Completion {
  let kept = tokens;
  let stopSequence: string | null = null;
  if (sim.stop.length > 0) {
    const text = tokens.plain();
    const ends = new Uint32Array(tokens.length);
    for (let i = 0, at = 0; i < tokens.length; i++) ends[i] = at += tokens.piece(i).length;
    // Stop sequences end the answer, not the thinking before it.
    const from = thinking === 0 ? 0 : ends[thinking - 1]!;
    let at = Infinity;
    for (const stop of sim.stop) {
      const i = stop === '' ? -1 : text.indexOf(stop, from);
      if (i !== -1 && i < at) [at, stopSequence] = [i, stop];
    }
    if (stopSequence !== null) {
      let n = 0;
      while (n < tokens.length && ends[n]! <= at) n++;
      kept = tokens.slice(n);
      finish = 'stop_sequence';
    }
  }
  const { timing } = sim;
  const gaps = Math.max(0, kept.length - 1);
  let rawGapSum = sim.stream ? NaN : 0;
  if (needGaps) rawGapSum = kept === tokens && !Number.isNaN(pooledGapSum) ? pooledGapSum : sumRawGaps(timing.profile, timing.itlOverride, timing.rng.state, gaps);
  return { text: kept, finish, thinking, toolCalls: [], stopSequence, rawGapSum };
}

/** The text of an echo or structured-output answer (fixed by the text seed, like generated text). */
function authoredText(sim: SimRequest, natural: number): string {
  const { content } = sim;
  if (content.kind === 'echo') return content.text;
  if (content.kind === 'json') {
    if (content.schema === null) return JSON.stringify({ answer: renderText(generateTokens(sim.textSeed, natural)) });
    return JSON.stringify(schemaValue(sim, content.schema, content.param, sim.textSeed));
  }
  return '';
}

/**
 * Characters of JSON one token stands for at most, for the bound on a structured answer: a value
 * longer than the model's output limit could hold is refused, not generated (README "Limits").
 */
const MAX_CHARS_PER_TOKEN = 8;

/** A value for `schema` (structured output or tool arguments), or the dialect's 400 naming `param`. */
function schemaValue(sim: SimRequest, schema: unknown, param: string, seed: number): unknown {
  try {
    return sampleJson(schema, new Rng(seed), sim.model.maxOutputTokens * MAX_CHARS_PER_TOKEN);
  } catch (err) {
    if (!(err instanceof SchemaError)) throw err;
    throw new SimError('invalid_value', `Invalid schema for '${param}': ${err.message}${err.pointer === '' ? '' : ` (at ${err.pointer})`}.`, param);
  }
}

const THINKING_SEED = 0x7417;

/** How long the model thinks: fixed by the text seed, between a quarter of the budget and the budget (at most 256 tokens). */
function thinkingLength(seed: number, budget: number): number {
  if (budget <= 0) return 0;
  const most = Math.min(budget, 256);
  return naturalLength(seed ^ THINKING_SEED, Math.max(1, Math.floor(most / 4)), most);
}

/**
 * Tool calls: each call's JSON arguments drawn from its schema (seeded by the text seed and the
 * call's position), their pieces one after the other; the cap cuts the last call short (finish
 * 'length') and drops the calls after it. Stop sequences do not apply to arguments.
 */
function planToolCalls(sim: SimRequest, calls: readonly ToolSpec[], cap: number, needGaps: boolean): Completion {
  const pieces: string[] = [];
  const toolCalls: ToolCall[] = [];
  calls.forEach((tool, k) => {
    if (pieces.length >= cap) return;
    const args = tool.arguments ?? JSON.stringify(schemaValue(sim, tool.schema, tool.param, k === 0 ? sim.textSeed : hashString(`call ${k}`, sim.textSeed)));
    pieces.push(...splitPieces(args));
    toolCalls.push({ id: uniqueBase62(), name: tool.name, end: Math.min(pieces.length, cap) });
  });
  const cut = pieces.length > cap;
  const text = new PieceText(cut ? pieces.slice(0, cap) : pieces);
  const { timing } = sim;
  const rawGapSum = sim.stream ? NaN : needGaps ? sumRawGaps(timing.profile, timing.itlOverride, timing.rng.state, Math.max(0, text.length - 1)) : 0;
  return { text, finish: cut ? 'length' : 'tool_call', thinking: 0, toolCalls, stopSequence: null, rawGapSum };
}
