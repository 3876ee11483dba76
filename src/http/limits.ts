import { SimError } from '../errors.js';
import type { Config } from '../config/schema.js';
import { amountOf, ANTHROPIC_LIMIT_HEADERS, OPENAI_LIMIT_HEADERS, remainingOf, resetMsOf, tightestOf, type Cost, type Limiter, type Plan, type Refusal, type Tightest } from '../edge/limits.js';
import { rateLimitMessage } from '../faults/render.js';
import { flatLatin1 } from '../json.js';
import type { FaultRoute } from '../faults/rules.js';
import { textOf } from '../api/generation.js';
import type { Exchange } from './exchange.js';

/**
 * What a request costs against the limits, reserved at admission the way the vendors count it:
 * one request; OpenAI's TPM and Anthropic's ITPM take the prompt's estimated tokens (4
 * characters a token, before the real count exists), TPM and OTPM take `max_tokens` (or
 * `response.maxTokens` when the request sets none). Embeddings take their inputs only;
 * Anthropic's token counting takes a request and no tokens, as the vendor counts it. The
 * answer settles the reservation to what was really counted and sent (`settle` below).
 */
export function costOf(route: FaultRoute, body: unknown, config: Readonly<Config>): Cost & { readonly maxTokens: number } {
  const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  // Each route reads its own fields, at load sites of its own: one set of loads shared by every
  // route met bodies of seven shapes and went through V8's megamorphic stub cache (~400
  // instructions a request once the warm-up had run every route). Named fields, not a loop over
  // field names: `body[field]` was a megamorphic keyed load per field per request.
  let chars: number;
  let cap: number | undefined;
  switch (route) {
    case 'chat.completions':
      chars = listChars(b.messages);
      cap = positive(b.max_tokens) ?? positive(b.max_completion_tokens);
      break;
    case 'messages':
      chars = listChars(b.messages) + textChars(b.system);
      cap = positive(b.max_tokens);
      break;
    case 'messages.count_tokens':
      // Free of tokens at Anthropic, limited by requests only (and it has no answer to settle).
      chars = 0;
      cap = 0;
      break;
    case 'responses':
      chars = listChars(b.input);
      cap = positive(b.max_output_tokens);
      break;
    case 'embeddings':
      // Its inputs only: no answer tokens (nor a generation that would settle a reservation of them).
      chars = listChars(b.input);
      cap = 0;
      break;
    case 'completions':
      chars = textChars(b.prompt);
      cap = positive(b.max_tokens);
      break;
    case 'complete':
      chars = textChars(b.prompt);
      cap = positive(b.max_tokens_to_sample);
      break;
  }
  const maxTokens = Math.min(cap ?? config.response.maxTokens, 1_000_000);
  const input = Math.ceil(chars / 4);
  return { requests: 1, tokens: input + maxTokens, inputTokens: input, outputTokens: maxTokens, maxTokens };
}

/** The answer's cap a body asks for, under whichever name its route uses; undefined for none. */
export function requestedMaxTokens(b: Record<string, unknown>): number | undefined {
  return positive(b.max_tokens) ?? positive(b.max_completion_tokens) ?? positive(b.max_output_tokens) ?? positive(b.max_tokens_to_sample);
}

const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
const textChars = (v: unknown): number => (typeof v === 'string' ? v.length : v === undefined ? 0 : textOf(v).length);

/** The characters of `messages` / `input`: a string, or a list of strings (embeddings' inputs) or of messages with content. */
function listChars(list: unknown): number {
  if (typeof list === 'string') return list.length;
  if (!Array.isArray(list)) return 0;
  let chars = 0;
  for (const m of list) {
    if (typeof m === 'string') chars += m.length;
    else if (m !== null && typeof m === 'object') chars += textChars((m as { content?: unknown }).content);
  }
  return chars;
}

/** Go-duration style, as OpenAI's reset headers: `12ms`, `1s`, `6m0s`, `1m30.5s` (whole milliseconds; integer arithmetic, since `toFixed` cost more than the rest of the headers). */
export function goDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const rest = whole - minutes * 60_000;
  const s = Math.floor(rest / 1000);
  const milli = rest - s * 1000;
  // Go prints the fraction without trailing zeros: 1.5s, 1.05s, 1.005s.
  const fraction = milli === 0 ? '' : milli % 100 === 0 ? `.${milli / 100}` : milli % 10 === 0 ? `.${milli < 100 ? '0' : ''}${milli / 10}` : `.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}`;
  return minutes > 0 ? `${minutes}m${s}${fraction}s` : `${s}${fraction}s`;
}

/** RFC 3339 to the second, as Anthropic's reset headers: the last one made is kept, since requests in the same second share it. */
let lastSecond = -1;
let lastRfc3339 = '';
function rfc3339(msFromNow: number): string {
  const second = Math.floor((Date.now() + msFromNow) / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastRfc3339 = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastRfc3339;
}

/** One dimension's header lines as text before its limit, remaining count and reset. */
interface Lines {
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
}
const linesOf = (names: readonly string[]): Lines => ({ limit: `\r\n${names[0]}: `, remaining: `\r\n${names[1]}: `, reset: `\r\n${names[2]}: ` });
const OPENAI_LINES: readonly (Lines | undefined)[] = OPENAI_LIMIT_HEADERS.map((names) => names && linesOf(names));
const ANTHROPIC_LINES: readonly Lines[] = ANTHROPIC_LIMIT_HEADERS.map(linesOf);

/** OpenAI's reset line (Go duration). */
const resetLine = (lines: Lines, ms: number): string => lines.reset + goDuration(ms);

/**
 * OpenAI's reset lines of every dimension, as one piece of text: made once for each combination
 * of resets under a second (a bucket far from empty resets in a few milliseconds, request after
 * request), by the dimensions' places and milliseconds.
 */
function resetLines(t: Tightest): string {
  let key = 0;
  for (let d = 0; d < t.count; d++) {
    if (OPENAI_LINES[t.slots[d]!] === undefined) continue;
    const whole = Math.max(0, Math.ceil(t.resetMs[d]!));
    if (whole >= 1000) return joinedResets(t);
    key = resetKey(key, t.slots[d]!, whole);
  }
  let text = subsecondResets.get(key);
  if (text === undefined) {
    if (subsecondResets.size >= MAX_SUBSECOND_RESETS) subsecondResets.clear();
    subsecondResets.set(key, (text = flatLatin1(joinedResets(t))));
  }
  return text;
}

/** The key of `subsecondResets` so far, with one more dimension's reset (under a second). */
const resetKey = (key: number, slot: number, wholeMs: number): number => key * 4096 + (slot << 10) + wholeMs;

function joinedResets(t: Tightest): string {
  let text = '';
  for (let d = 0; d < t.count; d++) {
    const lines = OPENAI_LINES[t.slots[d]!];
    if (lines !== undefined) text += resetLine(lines, t.resetMs[d]!);
  }
  return text;
}

const subsecondResets = new Map<number, string>();
const MAX_SUBSECOND_RESETS = 10_000;

/**
 * The dialect's rate-limit headers (WIRE A9, B8) as joined lines (src/http/uws.ts), in the
 * vendor's order: OpenAI every limit, then every remaining count, then every reset; Anthropic
 * each dimension's limit, remaining count and reset together. A plan whose limits never change
 * (one bucket a dimension) keeps its limit lines, with the name of the first remaining count
 * after them: the fewer the pieces, the less V8 walks when the head is flattened for uWS.
 */
export function limitLines(dialect: 'openai' | 'anthropic', t: Tightest): string {
  const fixed = t.plan?.sole ?? null;
  if (dialect === 'openai') {
    let text = fixed?.openai ?? null;
    if (text === null) {
      text = '';
      for (let d = 0; d < t.count; d++) {
        const lines = OPENAI_LINES[t.slots[d]!];
        if (lines !== undefined) text += lines.limit + t.limits[d]!;
      }
      const first = firstOpenAiLines(t);
      if (first !== undefined) text += first.remaining;
      if (fixed !== null) fixed.openai = text = flatLatin1(text);
    }
    let named = false;
    for (let d = 0; d < t.count; d++) {
      const lines = OPENAI_LINES[t.slots[d]!];
      if (lines === undefined) continue;
      text = named ? text + lines.remaining + t.remaining[d]! : text + t.remaining[d]!;
      named = true;
    }
    return text + resetLines(t);
  }
  if (fixed !== null) fixed.anthropic ??= Array.from({ length: t.count }, (_, d) => flatLatin1(anthropicLimitLine(t, d)));
  let text = '';
  for (let d = 0; d < t.count; d++) {
    const lines = ANTHROPIC_LINES[t.slots[d]!]!;
    text += (fixed !== null ? fixed.anthropic![d]! : anthropicLimitLine(t, d)) + lines.remaining + t.remaining[d]! + lines.reset + rfc3339(t.resetMs[d]!);
  }
  return text;
}

/**
 * OpenAI's lines of a plan with one bucket a dimension (`Plan.sole`, the common case:
 * `limits.default` alone) read straight off its leases: the same text `limitLines` makes, without
 * filling the limiter's Tightest and reading it back (~300 instructions a request). Null when
 * the general path must make it: the limit text not kept yet, a reset of a second or more, or
 * resets not met before.
 */
function soleOpenAiLines(plan: Plan): string | null {
  const { sole, buckets, leases } = plan;
  if (sole === null || sole.openai === null) return null;
  const { at } = sole;
  let text = sole.openai;
  let key = 0;
  let named = false;
  for (let d = 0; d < at.length; d++) {
    const bucket = buckets[at[d]!]!;
    const lines = OPENAI_LINES[bucket.slot];
    if (lines === undefined) continue;
    const remaining = remainingOf(leases[at[d]!]!);
    const whole = Math.max(0, Math.ceil(resetMsOf(bucket, remaining)));
    if (whole >= 1000) return null;
    text = named ? text + lines.remaining + remaining : text + remaining;
    named = true;
    key = resetKey(key, bucket.slot, whole);
  }
  const resets = subsecondResets.get(key);
  return resets === undefined ? null : text + resets;
}

/** The lines of the first dimension OpenAI reports, if any. */
function firstOpenAiLines(t: Tightest): Lines | undefined {
  for (let d = 0; d < t.count; d++) if (OPENAI_LINES[t.slots[d]!] !== undefined) return OPENAI_LINES[t.slots[d]!];
  return undefined;
}

/** Entry d's Anthropic limit line (a function, not a closure made per request). */
const anthropicLimitLine = (t: Tightest, d: number): string => ANTHROPIC_LINES[t.slots[d]!]!.limit + t.limits[d]!;

/**
 * Runs the limits for an exchange: true when every bucket admits it now (its headers added, its
 * reservation settled when the answer is done), false when it was refused (answered with the
 * dialect's 429, `retry-after` in whole seconds, at least 1, and the same headers), or a promise
 * of either when the store is asked first (a refusal then answered inside the exchange's cork,
 * by `later`; the caller resumes an admitted one the same way). The caller goes
 * on itself, so the admitted path allocates only the cost, the reservation and the headers: it
 * runs for every request while limits are on.
 */
export function limitRequest(ex: Exchange, limiter: Limiter, route: FaultRoute, model: string, modelId: string, body: unknown, config: Readonly<Config>): boolean | Promise<boolean> {
  const client = ex.key?.name ?? addressClient(ex.res.getRemoteAddress());
  const plan = limiter.plan(client, ex.key?.limits ?? null, model, route);
  if (plan.buckets.length === 0) return true;
  const told = limiter.early(client);
  if (told !== null) {
    ex.services.metrics.retryAfterViolated(ex.key?.name ?? 'ip');
    if (limiter.penalizes) return refuse(ex, limiter, client, route, model, modelId, { refused: told.refused, retryAfterMs: told.until - Date.now(), state: [told.refused] }, told.requested);
  }
  const cost = costOf(route, body, config);
  const decision = limiter.admit(plan, cost);
  if (decision === true) return admitted(ex, limiter, plan, cost);
  if (!(decision instanceof Promise)) return refuse(ex, limiter, client, route, model, modelId, decision, amountOf(cost, decision.refused.dimension));
  return decision.then(
    (d) => {
      if (d === true) return admitted(ex, limiter, plan, cost);
      ex.later(() => refuse(ex, limiter, client, route, model, modelId, d, amountOf(cost, d.refused.dimension)));
      return false;
    },
    (err: unknown) => {
      // The primary's budget did not answer: the request goes on unlimited rather than hang.
      ex.services.log.warn({ err, requestId: ex.requestId }, 'rate-limit budget unavailable; request admitted');
      return true;
    },
  );
}

/** The last address a request without a key came from, and its client id (`addressClient`). */
let lastAddress = new Uint8Array(0);
let lastAddressClient = 'ip:'; // the id of the empty address it starts as

/**
 * Without a key, the client is its address: the raw 16 bytes as an id (formatting it as text cost
 * ~1 µs a request). A gateway sends from one address, request after request, so the last one's
 * id is kept: comparing 16 bytes costs less than making the id (~1k instructions a request).
 */
export function addressClient(address: ArrayBuffer): string {
  const bytes = new Uint8Array(address);
  let same = bytes.length === lastAddress.length;
  for (let i = 0; same && i < bytes.length; i++) same = bytes[i] === lastAddress[i];
  if (same) return lastAddressClient;
  lastAddress = bytes;
  lastAddressClient = `ip:${Buffer.from(address).toString('latin1')}`;
  return lastAddressClient;
}

/** What an admitted request reserved, given back in part when its answer turns out shorter (`Exchange.reservation`). */
export class Reservation {
  constructor(
    private readonly limiter: Limiter,
    private readonly plan: Plan,
    private readonly cost: Cost,
  ) {}

  settle(promptTokens: number, completionTokens: number): void {
    const { limiter, plan, cost } = this;
    limiter.settle(plan, cost.tokens - promptTokens - completionTokens, cost.inputTokens - promptTokens, cost.outputTokens - completionTokens);
  }
}

function admitted(ex: Exchange, limiter: Limiter, plan: Plan, cost: Cost): true {
  const dialect = ex.dialect.name;
  ex.headerLines += (dialect === 'openai' ? soleOpenAiLines(plan) : null) ?? limitLines(dialect, limiter.tightest(plan));
  if (plan.settles) ex.reservation = new Reservation(limiter, plan, cost);
  return true;
}

function refuse(ex: Exchange, limiter: Limiter, client: string, route: FaultRoute, model: string, modelId: string, r: Refusal, requested: number): false {
  const { refused, retryAfterMs } = r;
  ex.headerLines += limitLines(ex.dialect.name, tightestOf(r.state));
  ex.services.metrics.rateLimited(refused.dimension, ex.key?.name ?? 'ip', modelId);
  const used = refused.limit - refused.remaining;
  const err = new SimError(refused.dimension === 'requests' ? 'rate_limit_requests' : 'rate_limit_tokens', rateLimitMessage(ex.dialect.name, model || 'the model', refused.dimension, refused.limit, used, requested, retryAfterMs));
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  ex.headers.push(['retry-after', String(seconds)]);
  limiter.tell(client, { until: Date.now() + seconds * 1000, refused, requested });
  ex.services.admission.journal.record({ time: Date.now(), requestId: ex.requestId, source: 'limits', fault: err.code, route, model: modelId });
  ex.replyError(err);
  return false;
}
