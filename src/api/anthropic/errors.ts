import type { ErrorCode, SimError } from '../../errors.js';
import type { Dialect } from '../dialect.js';
import { uniqueBase62 } from '../../sim/ids.js';
import type { ValidationWording } from '../validate.js';

/** WIRE B7: the error type follows the status. */
const WIRE: Record<ErrorCode, string> = {
  invalid_json: 'invalid_request_error',
  missing_required_parameter: 'invalid_request_error',
  invalid_type: 'invalid_request_error',
  invalid_value: 'invalid_request_error',
  missing_api_version: 'invalid_request_error',
  context_length_exceeded: 'invalid_request_error',
  missing_api_key: 'authentication_error',
  invalid_api_key: 'authentication_error',
  permission_denied: 'permission_error',
  model_not_found: 'not_found_error',
  route_not_found: 'not_found_error',
  method_not_allowed: 'invalid_request_error',
  request_timeout: 'timeout_error',
  body_too_large: 'request_too_large',
  rate_limit_requests: 'rate_limit_error',
  rate_limit_tokens: 'rate_limit_error',
  // The credit-balance refusal is a 400 invalid_request_error (status below).
  quota_exceeded: 'invalid_request_error',
  bad_gateway: 'api_error',
  service_unavailable: 'api_error',
  gateway_timeout: 'timeout_error',
  internal_error: 'api_error',
  model_overloaded: 'overloaded_error',
  shutting_down: 'overloaded_error',
};

/** Where Anthropic's status differs from ERROR_STATUS: its own 529 for overload, a 400 for an exhausted credit balance. */
const ANTHROPIC_STATUS: Partial<Record<ErrorCode, number>> = { model_overloaded: 529, quota_exceeded: 400 };

/** The API's own wording: `<field path>: <problem>`. */
export const anthropicWording: ValidationWording = {
  dialect: 'anthropic',
  missing: (param) => `${param}: Field required`,
  wrongType: (param, expected) => `${param}: Input should be a valid ${expected}`,
  badValue: (param, problem) => `${param}: ${problem}`,
  tooMany: (param, max, got) => `${param}: List should have at most ${max} items after validation, not ${got}`,
  contextTooLong: (prompt, max, limit) => `prompt is too long: ${prompt} tokens + ${max} max_tokens > ${limit} maximum`,
};

export const anthropic: Dialect = {
  name: 'anthropic',
  requestIdHeader: 'request-id',
  status: (err: SimError) => ANTHROPIC_STATUS[err.code] ?? err.status,
  newRequestId: () => `req_011C${uniqueBase62()}`,
  errorBody(err: SimError, requestId: string): string {
    return JSON.stringify({ type: 'error', error: { type: WIRE[err.code], message: err.message }, request_id: requestId });
  },
  // WIRE B3: `event: error` after the 200, with the body an error response has; the SDK throws an APIError of that type.
  streamErrorFrame(err: SimError, requestId: string): string {
    return `event: error\ndata: ${this.errorBody(err, requestId)}\n\n`;
  },
  staticLines: '',
  exposeLines: '',
};
