import { SimError } from '../errors.js';
import { FAULTS, type ErrorFault, type FaultSpec } from './catalogue.js';

type DialectName = 'openai' | 'anthropic';
type Words = (model: string, retryAfter: number | undefined) => string;

/**
 * What each vendor says for each error fault (WIRE A8, B7, and the vendors' published error
 * texts). The status, `type` and `code` come from the error code's row in each dialect's table.
 */
const MESSAGES: Record<ErrorFault, Record<DialectName, Words>> = {
  rate_limit: {
    openai: (model, wait) => `Rate limit reached for ${model} in organization org-llmsim on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in ${wait ?? 1}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    anthropic: () => "This request would exceed your organization's rate limit of 60 requests per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
  },
  quota_exceeded: {
    openai: () => 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
    anthropic: () => 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
  },
  invalid_api_key: {
    openai: () => 'Incorrect API key provided: sk-llmsi**********ault. You can find your API key at https://platform.openai.com/account/api-keys.',
    anthropic: () => 'invalid x-api-key',
  },
  permission_denied: {
    openai: (model) => `Project \`proj_llmsim\` does not have access to model \`${model}\``,
    anthropic: () => 'Your API key does not have permission to use the specified resource.',
  },
  model_not_found: {
    openai: (model) => `The model \`${model}\` does not exist or you do not have access to it.`,
    anthropic: (model) => `model: ${model}`,
  },
  context_length_exceeded: {
    openai: () => "This model's maximum context length is 128000 tokens. However, your messages resulted in 128001 tokens. Please reduce the length of the messages.",
    anthropic: () => 'prompt is too long: 200001 tokens > 200000 maximum',
  },
  server_error: {
    openai: () => 'The server had an error while processing your request. Sorry about that!',
    anthropic: () => 'Internal server error',
  },
  bad_gateway: { openai: () => 'Bad gateway.', anthropic: () => 'Bad gateway.' },
  overloaded: {
    openai: () => 'That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists.',
    anthropic: () => 'Overloaded',
  },
  service_unavailable: {
    openai: () => 'The server is overloaded or not ready yet.',
    anthropic: () => 'Service unavailable',
  },
  gateway_timeout: {
    openai: () => 'Request timed out.',
    anthropic: () => 'Request timed out',
  },
  request_too_large: {
    openai: () => 'Request body too large.',
    anthropic: () => 'Request exceeds the maximum allowed number of bytes.',
  },
};


/** A model's queue is full (the capacity limit, or the `overloaded` fault): the dialect's own overload error. */
export const overloadedError = (dialect: DialectName): SimError => new SimError('model_overloaded', MESSAGES.overloaded[dialect]('', undefined));

/** The page a provider's CDN answers a 502 with: HTML, whatever the client asked for. */
export const BAD_GATEWAY_HTML = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n';

/**
 * An error fault as the dialect's error: the SimError its error body renders, and the headers
 * the vendor sends with it (`retry-after` by default where the vendor sends one; the fault's
 * `retryAfter` / `retryAfterMs` override).
 */
export function faultError(type: ErrorFault, fault: FaultSpec, dialect: DialectName, model: string): { err: SimError; headers: [string, string][] } {
  const entry: { code?: SimError['code']; retryAfter?: number } = FAULTS[type];
  const retryAfter = fault.retryAfter ?? entry.retryAfter;
  const code = type === 'rate_limit' && fault.limit === 'tokens' ? 'rate_limit_tokens' : entry.code!;
  let message = MESSAGES[type][dialect](model === '' ? 'the model' : model, retryAfter);
  if (code === 'rate_limit_tokens') message = message.replace('requests per min (RPM): Limit 60, Used 60, Requested 1', 'tokens per min (TPM): Limit 30000, Used 30000, Requested 1000').replace('60 requests per minute', '30,000 input tokens per minute');
  const headers: [string, string][] = [];
  if (retryAfter !== undefined) headers.push(['retry-after', String(retryAfter)]);
  if (fault.retryAfterMs !== undefined) headers.push(['retry-after-ms', String(fault.retryAfterMs)]);
  return { err: new SimError(code, message, code === 'context_length_exceeded' ? 'messages' : null), headers };
}
