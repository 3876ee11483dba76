import { SimError } from '../errors.js';
import { FAULTS, type ErrorFault, type FaultSpec } from './catalogue.js';
import type { Dimension } from '../edge/limits.js';

type DialectName = 'openai' | 'anthropic';
type Words = (model: string, retryAfter: number | undefined) => string;

/**
 * What each vendor says for each error fault (WIRE A8, B7, and the vendors' published error
 * texts). The status, `type` and `code` come from the error code's row in each dialect's table.
 */
const MESSAGES: Record<ErrorFault, Record<DialectName, Words>> = {
  rate_limit: {
    openai: (model, wait) => rateLimitMessage('openai', model, 'requests', 60, 60, 1, (wait ?? 1) * 1000),
    anthropic: (model, wait) => rateLimitMessage('anthropic', model, 'requests', 60, 60, 1, (wait ?? 1) * 1000),
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


const OPENAI_LIMIT_NAME: Record<Dimension, string> = { requests: 'requests per min (RPM)', tokens: 'tokens per min (TPM)', inputTokens: 'input tokens per min (ITPM)', outputTokens: 'output tokens per min (OTPM)' };
const ANTHROPIC_LIMIT_NAME: Record<Dimension, string> = { requests: 'requests', tokens: 'tokens', inputTokens: 'input tokens', outputTokens: 'output tokens' };

/** OpenAI's "Please try again in 800ms" / "in 6s" / "in 1.5s". */
const waitText = (ms: number): string => (ms < 1000 ? `${Math.ceil(ms)}ms` : `${Number((ms / 1000).toFixed(3))}s`);

/** Each vendor's 429 wording, for a configured limit and for the rate_limit fault alike (WIRE A8, B7). */
export function rateLimitMessage(dialect: DialectName, model: string, dimension: Dimension, limit: number, used: number, requested: number, waitMs: number): string {
  if (dialect === 'openai') {
    return `Rate limit reached for ${model} in organization org-llmsim on ${OPENAI_LIMIT_NAME[dimension]}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${waitText(waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
  }
  return `This request would exceed your organization's rate limit of ${limit.toLocaleString('en-US')} ${ANTHROPIC_LIMIT_NAME[dimension]} per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`;
}

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
  const named = model === '' ? 'the model' : model;
  const message = code === 'rate_limit_tokens' ? rateLimitMessage(dialect, named, 'tokens', 30000, 30000, 1000, (retryAfter ?? 1) * 1000) : MESSAGES[type][dialect](named, retryAfter);
  const headers: [string, string][] = [];
  if (retryAfter !== undefined) headers.push(['retry-after', String(retryAfter)]);
  if (fault.retryAfterMs !== undefined) headers.push(['retry-after-ms', String(fault.retryAfterMs)]);
  return { err: new SimError(code, message, code === 'context_length_exceeded' ? 'messages' : null), headers };
}
