import { z } from '#zod';
import type { ErrorCode } from '../errors.js';
import { MAX_DELAY_MS } from '../sim/distributions.js';

/**
 * The fault catalogue: every failure the simulator can inject, dialect-neutral. An error fault
 * names the internal error code that renders it (src/errors.ts and each dialect's WIRE table), a
 * transport fault what happens to the connection, a stream fault what happens at a token of the
 * answer. The README's fault table is checked against FAULTS by test/unit/readme.test.ts.
 */
export type FaultKind = 'error' | 'transport' | 'stream';

export interface FaultEntry {
  readonly kind: FaultKind;
  /** Error faults: the code the dialects render. */
  readonly code?: ErrorCode;
  /** Error faults: the `retry-after` seconds the vendor sends with it by default, if any. */
  readonly retryAfter?: number;
  /** One line for the README. */
  readonly does: string;
  /** Stream faults: what a non-stream request gets instead. */
  readonly nonStream?: string;
}

export const FAULTS = {
  rate_limit: { kind: 'error', code: 'rate_limit_requests', retryAfter: 1, does: '429 rate limit; `limit: tokens` words it as a TPM limit (OpenAI `type: tokens`)' },
  quota_exceeded: { kind: 'error', code: 'quota_exceeded', does: 'OpenAI 429 `insufficient_quota`; Anthropic 400 credit balance too low' },
  invalid_api_key: { kind: 'error', code: 'invalid_api_key', does: '401 wrong API key' },
  permission_denied: { kind: 'error', code: 'permission_denied', does: '403 the key may not use this model' },
  model_not_found: { kind: 'error', code: 'model_not_found', does: '404 unknown model' },
  context_length_exceeded: { kind: 'error', code: 'context_length_exceeded', does: '400 prompt longer than the context window' },
  server_error: { kind: 'error', code: 'internal_error', does: '500 internal error' },
  bad_gateway: { kind: 'error', code: 'bad_gateway', does: "502 with the HTML page a provider's CDN sends (`text/html`)" },
  overloaded: { kind: 'error', code: 'model_overloaded', does: 'OpenAI 503 / Anthropic 529 `overloaded_error`' },
  service_unavailable: { kind: 'error', code: 'service_unavailable', does: '503 service unavailable' },
  gateway_timeout: { kind: 'error', code: 'gateway_timeout', does: '504 gateway timeout (Anthropic `timeout_error`)' },
  request_too_large: { kind: 'error', code: 'body_too_large', does: '413 request too large' },
  reset: { kind: 'transport', does: 'closes the connection as soon as the request is read, no byte sent' },
  close: { kind: 'transport', does: 'closes the connection without a response when the answer would have started (after the TTFT)' },
  hang: { kind: 'transport', does: 'never answers, until the client leaves or `ms` passes (then closes)' },
  delay: { kind: 'transport', does: 'waits `ms` more before the status line, then answers normally' },
  throttle: { kind: 'transport', does: 'sends the whole response (a stream: every event at once) at `bytesPerSecond`' },
  empty_body: { kind: 'transport', does: '200 with an empty body' },
  invalid_json: { kind: 'transport', does: '200 with the body cut in half (invalid JSON; a stream: its first event cut)' },
  wrong_content_type: { kind: 'transport', does: 'the right body under `text/html; charset=utf-8`' },
  cut: { kind: 'stream', does: 'closes the connection mid-stream, no terminator', nonStream: 'status, headers and half the body, then the connection closes' },
  error_event: { kind: 'stream', does: "the dialect's in-band error (`error`: an error fault's name, default `overloaded`)", nonStream: 'that error fault' },
  stall: { kind: 'stream', does: 'pauses `ms`, then goes on', nonStream: 'the reply comes `ms` later' },
  malformed_chunk: { kind: 'stream', does: 'one event whose JSON is cut short, then the stream goes on', nonStream: '`invalid_json`' },
  no_terminator: { kind: 'stream', does: 'ends without `[DONE]` / `message_stop` (the connection closes cleanly)', nonStream: '`cut`' },
  slow: { kind: 'stream', does: 'inter-token gaps × `factor` from that token on', nonStream: 'the generation time after that token × `factor`' },
} as const satisfies Record<string, FaultEntry>;

export type FaultType = keyof typeof FAULTS;
/** The faults answered with an error response (the others act on the connection or the stream). */
export type ErrorFault = { [K in FaultType]: (typeof FAULTS)[K]['kind'] extends 'error' ? K : never }[FaultType];
export const FAULT_TYPES = Object.keys(FAULTS) as FaultType[];
export const isErrorFault = (type: FaultType): type is ErrorFault => FAULTS[type].kind === 'error';
const ERROR_FAULTS = FAULT_TYPES.filter(isErrorFault) as [ErrorFault, ...ErrorFault[]];

/**
 * `30s`, `1.5m`, `250ms`, `2h`, or a number of milliseconds, at most `maxMs` written either way
 * (a reload validates the parsed config again, where the text has become its number).
 */
const durationUpTo = (maxMs: number) =>
  z.union([
    z.number().min(0).max(maxMs),
    z
      .string()
      .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'a duration such as 250ms, 30s, 2m or 1h')
      .transform((s) => {
        const [, n, unit] = s.match(/^([\d.]+)(ms|s|m|h)$/)!;
        return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
      })
      .pipe(z.number().max(maxMs)),
  ]);

/** A delay a fault adds (`ms`). */
export const duration = durationUpTo(MAX_DELAY_MS);

/** The longest stretch of a timeline (scenario phases, rule windows and periods). */
export const MAX_SPAN_MS = 7 * 24 * 3_600_000;

/** A stretch of a timeline: up to a week. */
export const span = durationUpTo(MAX_SPAN_MS);

/**
 * One fault with its parameters. `after` (a token index) or `at` (a fraction of the answer) place
 * a stream fault, default the middle of the answer; `retryAfter` / `retryAfterMs` override the
 * headers an error fault sends.
 */
export const faultSpecSchema = z
  .object({
    type: z.enum(FAULT_TYPES as [FaultType, ...FaultType[]]),
    retryAfter: z.number().min(0).max(86_400).optional(),
    retryAfterMs: z.number().min(0).max(86_400_000).optional(),
    /** rate_limit: which limit the message and OpenAI's `type` name. */
    limit: z.enum(['requests', 'tokens']).optional(),
    /** error_event: the error fault reported in-band. */
    error: z.enum(ERROR_FAULTS).optional(),
    after: z.number().int().min(0).optional(),
    at: z.number().min(0).max(1).optional(),
    ms: duration.optional(),
    factor: z.number().min(0).max(1000).optional(),
    bytesPerSecond: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const need = (key: 'ms' | 'factor' | 'bytesPerSecond', when: boolean) => {
      if (when && f[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${f.type} needs ${key}` });
    };
    need('ms', f.type === 'delay' || f.type === 'stall');
    need('factor', f.type === 'slow');
    need('bytesPerSecond', f.type === 'throttle');
    if (f.after !== undefined && f.at !== undefined) ctx.addIssue({ code: 'custom', path: ['at'], message: 'give after or at, not both' });
  });

export type FaultSpec = z.infer<typeof faultSpecSchema>;

/** The token index a stream fault fires at, for an answer of `tokens` tokens. */
export function faultToken(fault: FaultSpec, tokens: number): number {
  if (fault.after !== undefined) return Math.min(fault.after, tokens);
  return Math.floor((fault.at ?? 0.5) * tokens);
}
