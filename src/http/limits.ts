import { SimError } from '../errors.js';
import type { Config } from '../config/schema.js';
import { amountOf, slotOf, type BucketState, type Cost, type Dimension, type Limiter, type Plan, type Refusal } from '../edge/limits.js';
import { rateLimitMessage } from '../faults/render.js';
import type { FaultRoute } from '../faults/rules.js';
import { textOf } from '../api/generation.js';
import type { Exchange } from './exchange.js';

/**
 * What a request costs against the limits, reserved at admission the way the vendors count it:
 * one request; OpenAI's TPM and Anthropic's ITPM take the prompt's estimated tokens (4
 * characters a token, before the real count exists), TPM and OTPM take `max_tokens` (or
 * `response.maxTokens` when the request sets none). The answer settles the reservation to what
 * was really counted and sent (`settle` below).
 */
export function costOf(body: unknown, config: Readonly<Config>): Cost & { readonly maxTokens: number } {
  const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  let chars = 0;
  for (const field of ['messages', 'input'] as const) {
    const list = b[field];
    if (typeof list === 'string') chars += list.length;
    else if (Array.isArray(list)) {
      for (const m of list) if (m !== null && typeof m === 'object') chars += textOf((m as { content?: unknown }).content).length;
    }
  }
  for (const field of ['system', 'prompt'] as const) chars += typeof b[field] === 'string' ? (b[field] as string).length : textOf(b[field]).length;
  const cap = [b.max_tokens, b.max_completion_tokens, b.max_output_tokens, b.max_tokens_to_sample].find((v) => typeof v === 'number' && Number.isFinite(v) && v > 0) as number | undefined;
  const maxTokens = Math.min(cap ?? config.response.maxTokens, 1_000_000);
  const input = Math.ceil(chars / 4);
  return { requests: 1, tokens: input + maxTokens, inputTokens: input, outputTokens: maxTokens, maxTokens };
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

const rfc3339 = (msFromNow: number): string => new Date(Date.now() + msFromNow).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Header names by dialect, in DIMENSIONS order (`slotOf`), made once (building them per response was most of the headers' cost). */
const OPENAI_NAMES: readonly (readonly [string, string, string] | undefined)[] = [
  ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
  undefined,
  undefined,
];
const anthropicNames = (n: string): readonly [string, string, string] => [`anthropic-ratelimit-${n}-limit`, `anthropic-ratelimit-${n}-remaining`, `anthropic-ratelimit-${n}-reset`];
const ANTHROPIC_NAMES: readonly (readonly [string, string, string])[] = [anthropicNames('requests'), anthropicNames('tokens'), anthropicNames('input-tokens'), anthropicNames('output-tokens')];

/** Adds the dialect's rate-limit headers (WIRE A9, B8) of one dimension to the exchange's. */
export function addLimitHeaders(ex: Exchange, dimension: Dimension, limit: number, remaining: number, resetMs: number): void {
  if (ex.dialect.name === 'openai') {
    const names = OPENAI_NAMES[slotOf(dimension)];
    if (names !== undefined) ex.headers.push([names[0], String(limit)], [names[1], String(remaining)], [names[2], goDuration(resetMs)]);
    return;
  }
  const names = ANTHROPIC_NAMES[slotOf(dimension)]!;
  ex.headers.push([names[0], String(limit)], [names[1], String(remaining)], [names[2], rfc3339(resetMs)]);
}

const addStateHeaders = (ex: Exchange, state: readonly BucketState[]): void => {
  for (const s of state) addLimitHeaders(ex, s.dimension, s.limit, s.remaining, s.resetMs);
};

/**
 * Runs the limits for an exchange: `next` goes on with the request when every bucket admits it
 * (its headers added, its reservation settled when the answer is done); otherwise the dialect's
 * 429 with `retry-after` in whole seconds (at least 1) and the same headers. The admitted path
 * allocates only the cost and the headers (it runs for every request while limits are on).
 */
export function limitRequest(ex: Exchange, limiter: Limiter, route: FaultRoute, model: string, modelId: string, body: unknown, config: Readonly<Config>, next: () => void): void {
  // Without a key, the client is its address: the raw 16 bytes as an id (formatting it as text cost ~1 µs a request).
  const client = ex.key?.name ?? `ip:${Buffer.from(ex.res.getRemoteAddress()).toString('latin1')}`;
  const plan = limiter.plan(client, ex.key?.limits ?? null, model, route);
  if (plan.buckets.length === 0) return next();
  const told = limiter.early(client);
  if (told !== null) {
    ex.services.metrics.retryAfterViolated(ex.key?.name ?? 'ip');
    if (limiter.penalizes) return refuse(ex, limiter, client, route, model, modelId, { refused: told.refused, retryAfterMs: told.until - Date.now(), state: [told.refused] }, told.requested);
  }
  const cost = costOf(body, config);
  const decision = limiter.admit(plan, cost);
  if (decision === true) return admitted(ex, limiter, plan, cost, next);
  if (!(decision instanceof Promise)) return refuse(ex, limiter, client, route, model, modelId, decision, amountOf(cost, decision.refused.dimension));
  decision.then(
    (d) => ex.later(() => (d === true ? admitted(ex, limiter, plan, cost, next) : refuse(ex, limiter, client, route, model, modelId, d, amountOf(cost, d.refused.dimension)))),
    (err: unknown) => {
      // The primary's budget did not answer: the request goes on unlimited rather than hang.
      ex.services.log.warn({ err, requestId: ex.requestId }, 'rate-limit budget unavailable; request admitted');
      ex.later(next);
    },
  );
}

function admitted(ex: Exchange, limiter: Limiter, plan: Plan, cost: ReturnType<typeof costOf>, next: () => void): void {
  limiter.tightest(plan, ex, addLimitHeaders);
  if (plan.settles) {
    ex.settle = (prompt, completion) => {
      limiter.settle(plan, 'tokens', cost.tokens - prompt - completion);
      limiter.settle(plan, 'inputTokens', cost.inputTokens - prompt);
      limiter.settle(plan, 'outputTokens', cost.outputTokens - completion);
    };
  }
  next();
}

function refuse(ex: Exchange, limiter: Limiter, client: string, route: FaultRoute, model: string, modelId: string, r: Refusal, requested: number): void {
  const { refused, retryAfterMs } = r;
  addStateHeaders(ex, r.state);
  ex.services.metrics.rateLimited(refused.dimension, ex.key?.name ?? 'ip', modelId);
  const used = refused.limit - refused.remaining;
  const err = new SimError(refused.dimension === 'requests' ? 'rate_limit_requests' : 'rate_limit_tokens', rateLimitMessage(ex.dialect.name, model || 'the model', refused.dimension, refused.limit, used, requested, retryAfterMs));
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  ex.headers.push(['retry-after', String(seconds)]);
  limiter.tell(client, { until: Date.now() + seconds * 1000, refused, requested });
  ex.services.admission.journal.record({ time: Date.now(), requestId: ex.requestId, source: 'limits', fault: err.code, route, model: modelId });
  ex.replyError(err);
}
