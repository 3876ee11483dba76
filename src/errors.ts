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
  model_not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  internal_error: 500,
  /** 529 on Anthropic routes (see src/api/anthropic/errors.ts). */
  model_overloaded: 503,
  /** A request still running when the drain deadline passed. */
  shutting_down: 503,
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
