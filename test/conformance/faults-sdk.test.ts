import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { FAULT_TYPES, isErrorFault, type ErrorFault } from '../../src/faults/catalogue.js';
import { checkedFetch } from '../helpers/contracts.js';
import { startServer } from '../helpers/server.js';

// Every fault through the official clients: the error class each SDK raises, how many attempts
// it made (counted at the server, in the fault journal) and the waits it honoured.

const srv = await startServer({ timeScale: 1 });
t.teardown(() => srv.close());
const journal = () => srv.server.services.admission.journal.read();

/** The SDKs retry 408, 409, 429 and every 5xx (WIRE A10, B9): maxRetries 2 means 3 attempts. */
const CLASS: Record<ErrorFault, { openai: unknown; anthropic: unknown; retried: boolean }> = {
  rate_limit: { openai: OpenAI.RateLimitError, anthropic: Anthropic.RateLimitError, retried: true },
  quota_exceeded: { openai: OpenAI.RateLimitError, anthropic: Anthropic.BadRequestError, retried: true },
  invalid_api_key: { openai: OpenAI.AuthenticationError, anthropic: Anthropic.AuthenticationError, retried: false },
  permission_denied: { openai: OpenAI.PermissionDeniedError, anthropic: Anthropic.PermissionDeniedError, retried: false },
  model_not_found: { openai: OpenAI.NotFoundError, anthropic: Anthropic.NotFoundError, retried: false },
  context_length_exceeded: { openai: OpenAI.BadRequestError, anthropic: Anthropic.BadRequestError, retried: false },
  server_error: { openai: OpenAI.InternalServerError, anthropic: Anthropic.InternalServerError, retried: true },
  bad_gateway: { openai: OpenAI.InternalServerError, anthropic: Anthropic.InternalServerError, retried: true },
  // The Anthropic SDK has subclasses of its own for 529, 503, 504 and 413.
  overloaded: { openai: OpenAI.InternalServerError, anthropic: Anthropic.OverloadedError, retried: true },
  service_unavailable: { openai: OpenAI.InternalServerError, anthropic: Anthropic.ServiceUnavailableError, retried: true },
  gateway_timeout: { openai: OpenAI.InternalServerError, anthropic: Anthropic.GatewayTimeoutError, retried: true },
  request_too_large: { openai: OpenAI.APIError, anthropic: Anthropic.ContentTooLargeError, retried: false },
};

const openaiClient = (fault: string, maxRetries = 2, timeout?: number) =>
  new OpenAI({ apiKey: 'sk-test', baseURL: `${srv.url}/v1`, maxRetries, timeout, fetch: checkedFetch, defaultHeaders: { 'x-sim-fault': fault, 'x-sim-ttft-ms': '5', 'x-sim-itl-ms': '2' } });
const anthropicClient = (fault: string, maxRetries = 2, timeout?: number) =>
  new Anthropic({ apiKey: 'sk-ant-test', baseURL: srv.url, maxRetries, timeout, fetch: checkedFetch, defaultHeaders: { 'x-sim-fault': fault, 'x-sim-ttft-ms': '5', 'x-sim-itl-ms': '2' } });
const messages = [{ role: 'user' as const, content: 'fail please' }];
const chat = (c: OpenAI, stream = false) => c.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 8, stream } as OpenAI.ChatCompletionCreateParamsNonStreaming);
const message = (c: Anthropic) => c.messages.create({ model: 'claude-haiku-4-5', max_tokens: 8, messages });

/** Runs `call`, returning what it threw and how many attempts reached the server. */
async function attempts(call: () => Promise<unknown>): Promise<{ error: unknown; count: number; times: number[] }> {
  const before = journal().length;
  let error: unknown = null;
  try {
    await call();
  } catch (err) {
    error = err;
  }
  const made = journal().slice(before);
  return { error, count: made.length, times: made.map((e) => e.time) };
}

t.test('each error fault raises its documented class, and is retried as documented', async (t) => {
  t.same(FAULT_TYPES.filter(isErrorFault).sort(), Object.keys(CLASS).sort(), 'the test knows every error fault');
  for (const type of FAULT_TYPES.filter(isErrorFault)) {
    const want = CLASS[type];
    // retry-after-ms keeps the retries quick; both SDKs read it before retry-after.
    const spec = `${type};retry-after-ms=5`;
    const o = await attempts(() => chat(openaiClient(spec)));
    t.ok(o.error instanceof (want.openai as typeof OpenAI.APIError), `${type}: openai raises ${(want.openai as { name: string }).name} (got ${(o.error as Error)?.constructor?.name})`);
    t.equal(o.count, want.retried ? 3 : 1, `${type}: openai made ${want.retried ? 3 : 1} attempts`);
    const a = await attempts(() => message(anthropicClient(spec)));
    t.ok(a.error instanceof (want.anthropic as typeof Anthropic.APIError), `${type}: anthropic raises ${(want.anthropic as { name: string }).name} (got ${(a.error as Error)?.constructor?.name})`);
    // Anthropic's quota refusal is a 400: not retried there.
    const anthropicRetried = want.retried && type !== 'quota_exceeded';
    t.equal(a.count, anthropicRetried ? 3 : 1, `${type}: anthropic made ${anthropicRetried ? 3 : 1} attempts`);
  }
});

t.test('the SDKs wait as retry-after-ms and retry-after say', async (t) => {
  const ms = await attempts(() => chat(openaiClient('rate_limit;retry-after-ms=250', 1)));
  t.equal(ms.count, 2);
  t.ok(ms.times[1]! - ms.times[0]! >= 240, `openai waited ${ms.times[1]! - ms.times[0]!} ms for retry-after-ms 250`);
  const seconds = await attempts(() => message(anthropicClient('overloaded;retry-after=1', 1)));
  t.equal(seconds.count, 2);
  t.ok(seconds.times[1]! - seconds.times[0]! >= 950, `anthropic waited ${seconds.times[1]! - seconds.times[0]!} ms for retry-after 1`);
  // The default rate_limit sends retry-after: 1, as the vendors do.
  const byDefault = await attempts(() => chat(openaiClient('rate_limit', 1)));
  t.ok(byDefault.times[1]! - byDefault.times[0]! >= 950, `default rate_limit: waited ${byDefault.times[1]! - byDefault.times[0]!} ms`);
});

t.test('connection faults are APIConnectionError, retried; hang is a timeout', async (t) => {
  for (const type of ['reset', 'close'] as const) {
    const o = await attempts(() => chat(openaiClient(type)));
    t.ok(o.error instanceof OpenAI.APIConnectionError, `${type}: openai APIConnectionError (got ${(o.error as Error)?.constructor?.name})`);
    t.equal(o.count, 3, `${type}: connection errors are retried`);
    const a = await attempts(() => message(anthropicClient(type)));
    t.ok(a.error instanceof Anthropic.APIConnectionError, `${type}: anthropic APIConnectionError`);
    t.equal(a.count, 3);
  }
  const o = await attempts(() => chat(openaiClient('hang', 0, 200)));
  t.ok(o.error instanceof OpenAI.APIConnectionTimeoutError, 'hang: openai times out');
  const a = await attempts(() => message(anthropicClient('hang', 0, 200)));
  t.ok(a.error instanceof Anthropic.APIConnectionTimeoutError, 'hang: anthropic times out');
  const bad = await attempts(() => chat(openaiClient('invalid_json', 0)));
  t.ok(bad.error instanceof Error, 'invalid_json: the openai client cannot parse the body');
});

t.test('mid-stream faults: the stream iterator throws, and nothing is retried', async (t) => {
  for (const spec of ['cut;after=2', 'error_event;after=2', 'malformed_chunk;after=1']) {
    let tokens = 0;
    const o = await attempts(async () => {
      const stream = await chat(openaiClient(spec), true);
      for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) if (chunk.choices[0]?.delta.content) tokens++;
    });
    t.ok(o.error instanceof Error, `${spec}: openai's iterator throws (${(o.error as Error)?.constructor?.name})`);
    if (spec.startsWith('error_event')) t.ok(o.error instanceof OpenAI.APIError, 'an in-band error is an APIError');
    t.equal(o.count, 1, `${spec}: a stream is never retried`);
    t.ok(tokens >= 1, 'tokens came before the fault');
    const a = await attempts(async () => {
      const stream = await anthropicClient(spec).messages.create({ model: 'claude-haiku-4-5', max_tokens: 8, messages, stream: true });
      for await (const event of stream) void event;
    });
    t.ok(a.error instanceof Error, `${spec}: anthropic's iterator throws (${(a.error as Error)?.constructor?.name})`);
    if (spec.startsWith('error_event')) t.ok(a.error instanceof Anthropic.APIError, 'an Anthropic error event is an APIError');
    t.equal(a.count, 1);
  }
});
