import { SimError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { BucketState, Cost, Dimension, LimitDecision, Limiter } from '../edge/limits.js';
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

/** Go-duration style, as OpenAI's reset headers: `12ms`, `1s`, `6m0s`, `1m30.5s`. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Number(((ms - minutes * 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

const rfc3339 = (msFromNow: number): string => new Date(Date.now() + msFromNow).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Header names by dialect and dimension, made once (building them per response was most of the headers' cost). */
const OPENAI_NAMES: Partial<Record<Dimension, readonly [string, string, string]>> = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
};
const anthropicNames = (n: string): readonly [string, string, string] => [`anthropic-ratelimit-${n}-limit`, `anthropic-ratelimit-${n}-remaining`, `anthropic-ratelimit-${n}-reset`];
const ANTHROPIC_NAMES: Record<Dimension, readonly [string, string, string]> = {
  requests: anthropicNames('requests'),
  tokens: anthropicNames('tokens'),
  inputTokens: anthropicNames('input-tokens'),
  outputTokens: anthropicNames('output-tokens'),
};

/** The dialect's rate-limit headers (WIRE A9, B8) for the tightest bucket of each dimension, appended to `out`. */
export function limitHeaders(state: readonly BucketState[], dialect: 'openai' | 'anthropic', out: (readonly [string, string])[] = []): (readonly [string, string])[] {
  for (const s of state) {
    const names = dialect === 'openai' ? OPENAI_NAMES[s.dimension] : ANTHROPIC_NAMES[s.dimension];
    if (names === undefined) continue;
    out.push([names[0], String(s.limit)], [names[1], String(s.remaining)], [names[2], dialect === 'openai' ? goDuration(s.resetMs) : rfc3339(s.resetMs)]);
  }
  return out;
}

/**
 * Runs the limits for an exchange: `next` goes on with the request when every bucket admits it
 * (its headers added, its reservation settled when the answer is done); otherwise the dialect's
 * 429 with `retry-after` in whole seconds (at least 1) and the same headers.
 */
export function limitRequest(ex: Exchange, limiter: Limiter, route: FaultRoute, model: string, modelId: string, body: unknown, config: Readonly<Config>, next: () => void): void {
  // Without a key, the client is its address: the raw 16 bytes as an id (formatting it as text cost ~1 µs a request).
  const client = ex.key?.name ?? `ip:${Buffer.from(ex.res.getRemoteAddress()).toString('latin1')}`;
  const buckets = limiter.buckets(client, ex.key?.limits ?? null, model, route);
  if (buckets.length === 0) return next();
  const keyLabel = ex.key?.name ?? 'ip';
  const refuse = (refused: BucketState, retryAfterMs: number, requested: number, state: readonly BucketState[]): void => {
    limitHeaders(state, ex.dialect.name, ex.headers);
    ex.services.metrics.rateLimited(refused.dimension, keyLabel, modelId);
    const used = refused.limit - refused.remaining;
    const err = new SimError(refused.dimension === 'requests' ? 'rate_limit_requests' : 'rate_limit_tokens', rateLimitMessage(ex.dialect.name, model || 'the model', refused.dimension, refused.limit, used, requested, retryAfterMs));
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    ex.headers.push(['retry-after', String(seconds)]);
    limiter.tell(client, { until: Date.now() + seconds * 1000, refused, requested });
    ex.services.admission.journal.record({ time: Date.now(), requestId: ex.requestId, source: 'limits', fault: err.code, route, model: modelId });
    ex.replyError(err);
  };
  const told = limiter.early(client);
  if (told !== null) {
    ex.services.metrics.retryAfterViolated(keyLabel);
    if (limiter.penalizes) return refuse(told.refused, told.until - Date.now(), told.requested, [told.refused]);
  }
  const cost = costOf(body, config);
  const decided = (d: LimitDecision): void => {
    if (!d.ok) return refuse(d.refused, d.retryAfterMs, cost[d.refused.dimension], d.state);
    limitHeaders(d.state, ex.dialect.name, ex.headers);
    // Only token buckets have anything to settle.
    if (buckets.some((b) => b.dimension !== 'requests')) {
      ex.settle = (prompt, completion) => {
        limiter.settle(buckets, 'tokens', cost.tokens - prompt - completion);
        limiter.settle(buckets, 'inputTokens', cost.inputTokens - prompt);
        limiter.settle(buckets, 'outputTokens', cost.outputTokens - completion);
      };
    }
    next();
  };
  const decision = limiter.admit(buckets, cost);
  if (!(decision instanceof Promise)) return decided(decision);
  decision.then(
    (d) => ex.later(() => decided(d)),
    (err: unknown) => {
      // The primary's budget did not answer: the request goes on unlimited rather than hang.
      ex.services.log.warn({ err, requestId: ex.requestId }, 'rate-limit budget unavailable; request admitted');
      ex.later(next);
    },
  );
}
