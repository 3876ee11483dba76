/**
 * Internal error codes, dialect-neutral. Each maps to an HTTP status here and to wire values in
 * src/api/openai/errors.ts and src/api/anthropic/errors.ts; test/unit/errors.test.ts checks that
 * every code is mapped by both dialects and listed in the README's error catalogue.
 */
export const ERROR_STATUS = {
  invalid_json: 400,
  missing_required_parameter: 400,
  invalid_type: 400,
  invalid_value: 400,
  missing_api_version: 400,
  context_length_exceeded: 400,
  /** 401: no key where one is required. */
  missing_api_key: 401,
  /** 401: the key is wrong (OpenAI `invalid_api_key`, Anthropic `authentication_error`). */
  invalid_api_key: 401,
  /** 403: the key may not use this model or resource. */
  permission_denied: 403,
  model_not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  /** 408: a request body that did not arrive within `timeouts.bodyMs` (the connection then closes). */
  request_timeout: 408,
  body_too_large: 413,
  /** 429 for a requests-per-minute limit (OpenAI `type: requests`). */
  rate_limit_requests: 429,
  /** 429 for a tokens-per-minute limit (OpenAI `type: tokens`). */
  rate_limit_tokens: 429,
  /** 429 `insufficient_quota` on OpenAI; Anthropic's credit-balance refusal is a 400. */
  quota_exceeded: 429,
  internal_error: 500,
  /** 502 from the provider's edge (the fault engine sends its HTML page instead of JSON). */
  bad_gateway: 502,
  /** 529 on Anthropic routes (see src/api/anthropic/errors.ts). */
  model_overloaded: 503,
  /** A request still running when the drain deadline passed. */
  shutting_down: 503,
  service_unavailable: 503,
  gateway_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error bound for the wire. Crosses IPC and thread boundaries as `{code, message, param}`. */
export class SimError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}
