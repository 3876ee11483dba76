import type { ErrorCode, SimError } from '../../errors.js';
import type { Dialect } from '../dialect.js';
import { uniqueHex } from '../../sim/ids.js';
import type { ValidationWording } from '../validate.js';

/** WIRE A8: every 4xx is `invalid_request_error`; `code` is null unless a specific one is known. */
const WIRE: Record<ErrorCode, { type: string; code: string | null }> = {
  invalid_json: { type: 'invalid_request_error', code: null },
  missing_required_parameter: { type: 'invalid_request_error', code: 'missing_required_parameter' },
  invalid_type: { type: 'invalid_request_error', code: 'invalid_type' },
  invalid_value: { type: 'invalid_request_error', code: 'invalid_value' },
  missing_api_version: { type: 'invalid_request_error', code: null },
  context_length_exceeded: { type: 'invalid_request_error', code: 'context_length_exceeded' },
  missing_api_key: { type: 'invalid_request_error', code: null },
  // WIRE A8: a wrong key is an invalid_request_error, not authentication_error.
  invalid_api_key: { type: 'invalid_request_error', code: 'invalid_api_key' },
  permission_denied: { type: 'invalid_request_error', code: null },
  model_not_found: { type: 'invalid_request_error', code: 'model_not_found' },
  route_not_found: { type: 'invalid_request_error', code: null },
  method_not_allowed: { type: 'invalid_request_error', code: null },
  request_timeout: { type: 'invalid_request_error', code: null },
  body_too_large: { type: 'invalid_request_error', code: null },
  // WIRE A8: the 429's type is the kind of limit.
  rate_limit_requests: { type: 'requests', code: 'rate_limit_exceeded' },
  rate_limit_tokens: { type: 'tokens', code: 'rate_limit_exceeded' },
  quota_exceeded: { type: 'insufficient_quota', code: 'insufficient_quota' },
  bad_gateway: { type: 'server_error', code: null },
  service_unavailable: { type: 'server_error', code: null },
  gateway_timeout: { type: 'server_error', code: null },
  internal_error: { type: 'server_error', code: null },
  model_overloaded: { type: 'server_error', code: null },
  shutting_down: { type: 'server_error', code: null },
};

export const openaiWording: ValidationWording = {
  dialect: 'openai',
  missing: (param) => `Missing required parameter: '${param}'.`,
  wrongType: (param, expected, got) => `Invalid type for '${param}': expected ${expected}, but got ${got} instead.`,
  badValue: (param, problem) => `Invalid value for '${param}': ${problem}`,
  tooMany: (param, max, got) => `Invalid '${param}': array too long. Expected an array with maximum length ${max}, but got an array with length ${got} instead.`,
  contextTooLong: (prompt, max, limit) =>
    `This model's maximum context length is ${limit} tokens. However, you requested ${prompt + max} tokens (${prompt} in the messages, ${max} in the completion). Please reduce the length of the messages or completion.`,
};

export const openai: Dialect = {
  name: 'openai',
  requestIdHeader: 'x-request-id',
  status: (err: SimError) => err.status,
  newRequestId: () => `req_${uniqueHex()}`,
  errorBody(err: SimError): string {
    const wire = WIRE[err.code];
    return JSON.stringify({ error: { message: err.message, type: wire.type, param: err.param, code: wire.code } });
  },
  // WIRE A3/C7: a data payload with an `error` key; the SDK throws an APIError.
  streamErrorFrame(err: SimError, requestId: string): string {
    return `data: ${this.errorBody(err, requestId)}\n\n`;
  },
  staticLines: '\r\nopenai-version: 2020-10-01',
  exposeLines: '\r\naccess-control-expose-headers: X-Request-ID',
};
