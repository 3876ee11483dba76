import t from 'tap';
import type { TapTest } from '../helpers/tap.js';
import { checkedFetch, sseEvents, violations } from '../helpers/contracts.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

/**
 * Every response body and stream event the simulator produces for these requests is validated
 * against the matching schema of the vendor's OpenAPI document (../shared/contracts).
 */
const srv = await startServer({ response: { minTokens: 6, maxTokens: 12 } });
t.teardown(() => srv.close());

const conforms = (t: TapTest, vendor: 'openai' | 'anthropic', schema: string, value: unknown, what: string) => t.same(violations(vendor, schema, value), [], `${what} conforms to ${schema}`);

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] };
const msg = { model: 'claude-sonnet-4-5', max_tokens: 50, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] };

t.test('OpenAI chat completions', async (t) => {
  for (const extra of [{}, { max_tokens: 3 }, { stop: ' the' }]) {
    const res = await post(`${srv.url}/v1/chat/completions`, { ...chat, ...extra });
    conforms(t, 'openai', 'CreateChatCompletionResponse', res.json, `chat ${JSON.stringify(extra)}`);
  }
  for (const extra of [{}, { stream_options: { include_usage: true } }, { logprobs: true, top_logprobs: 2 }, { n: 2, stream_options: { include_usage: true } }]) {
    const res = await post(`${srv.url}/v1/chat/completions`, { ...chat, ...extra, stream: true });
    const events = sseEvents(res.text);
    t.equal(events.at(-1)!.data, '[DONE]');
    for (const e of events.slice(0, -1)) conforms(t, 'openai', 'CreateChatCompletionStreamResponse', JSON.parse(e.data), 'chunk');
  }
});

t.test('OpenAI legacy completions', async (t) => {
  const res = await post(`${srv.url}/v1/completions`, { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', echo: true });
  conforms(t, 'openai', 'CreateCompletionResponse', res.json, 'completion');
  const stream = await post(`${srv.url}/v1/completions`, { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', stream: true });
  // The spec has no chunk schema for legacy completions; WIRE A4: chunks have the object's shape,
  // with finish_reason null until the last one.
  const chunks = sseEvents(stream.text).slice(0, -1);
  for (const [i, e] of chunks.entries()) {
    const chunk = JSON.parse(e.data);
    t.equal(chunk.choices[0].finish_reason === null, i < chunks.length - 1, 'finish_reason null but on the last chunk');
    chunk.choices[0].finish_reason ??= 'stop';
    conforms(t, 'openai', 'CreateCompletionResponse', chunk, 'chunk');
  }
});

t.test('OpenAI embeddings, float and base64', async (t) => {
  for (const encoding_format of ['float', 'base64']) {
    const res = await post(`${srv.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format });
    // The spec knows only float arrays; WIRE A5: base64 is packed little-endian float32.
    for (const d of res.json.data) if (typeof d.embedding === 'string') d.embedding = Array.from(new Float32Array(new Uint8Array(Buffer.from(d.embedding, 'base64')).buffer));
    t.equal(res.json.data[0].embedding.length, 1536);
    conforms(t, 'openai', 'CreateEmbeddingResponse', res.json, encoding_format);
  }
});

t.test('OpenAI models', async (t) => {
  conforms(t, 'openai', 'ListModelsResponse', await (await checkedFetch(`${srv.url}/v1/models`)).json(), 'list');
  conforms(t, 'openai', 'Model', await (await checkedFetch(`${srv.url}/v1/models/gpt-4o`)).json(), 'retrieve');
});

t.test('OpenAI responses', async (t) => {
  for (const extra of [{}, { max_output_tokens: 2 }]) {
    const res = await post(`${srv.url}/v1/responses`, { model: 'gpt-4o', input: 'hi', instructions: 'Be brief.', ...extra });
    conforms(t, 'openai', 'Response', res.json, `response ${JSON.stringify(extra)}`);
    const stream = await post(`${srv.url}/v1/responses`, { model: 'gpt-4o', input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true, ...extra });
    const events = sseEvents(stream.text);
    events.forEach((e, i) => {
      const data = JSON.parse(e.data);
      t.equal(data.type, e.event, 'event name is the type');
      t.equal(data.sequence_number, i, 'sequence numbers count up');
      conforms(t, 'openai', 'ResponseStreamEvent', data, e.event!);
    });
  }
});

t.test('OpenAI errors', async (t) => {
  for (const res of [await post(`${srv.url}/v1/chat/completions`, { model: 'nope', messages: chat.messages }), await post(`${srv.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: '' })]) {
    conforms(t, 'openai', 'ErrorResponse', res.json, `${res.status} error`);
  }
});

t.test('Anthropic messages', async (t) => {
  for (const extra of [{}, { max_tokens: 2 }, { stop_sequences: ['.'] }]) {
    const res = await post(`${srv.url}/v1/messages`, { ...msg, ...extra }, ANTHROPIC_HEADERS);
    conforms(t, 'anthropic', 'Message', res.json, `message ${JSON.stringify(extra)}`);
    const stream = await post(`${srv.url}/v1/messages`, { ...msg, ...extra, stream: true }, ANTHROPIC_HEADERS);
    for (const e of sseEvents(stream.text)) {
      const data = JSON.parse(e.data);
      t.equal(data.type, e.event);
      conforms(t, 'anthropic', 'MessageStreamEvent', data, e.event!);
    }
  }
});

t.test('Anthropic count_tokens, models, complete, errors', async (t) => {
  conforms(t, 'anthropic', 'CountMessageTokensResponse', (await post(`${srv.url}/v1/messages/count_tokens`, msg, ANTHROPIC_HEADERS)).json, 'count');
  const list = await (await checkedFetch(`${srv.url}/v1/models?limit=3`, { headers: ANTHROPIC_HEADERS })).json();
  conforms(t, 'anthropic', 'ListResponse_ModelInfo_', list, 'models page');
  conforms(t, 'anthropic', 'ModelInfo', await (await checkedFetch(`${srv.url}/v1/models/claude-haiku-4-5`, { headers: ANTHROPIC_HEADERS })).json(), 'model');
  const completion = await post(`${srv.url}/v1/complete`, { model: 'claude-haiku-4-5', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 20 }, ANTHROPIC_HEADERS);
  conforms(t, 'anthropic', 'CompletionResponse', completion.json, 'complete');
  const stream = await post(`${srv.url}/v1/complete`, { model: 'claude-haiku-4-5', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 20, stream: true }, ANTHROPIC_HEADERS);
  for (const e of sseEvents(stream.text)) conforms(t, 'anthropic', 'CompletionResponse', JSON.parse(e.data), 'complete chunk');
  for (const res of [await post(`${srv.url}/v1/messages`, { ...msg, model: 'nope' }, ANTHROPIC_HEADERS), await post(`${srv.url}/v1/messages`, { ...msg, max_tokens: 'x' }, ANTHROPIC_HEADERS)]) {
    conforms(t, 'anthropic', 'ErrorResponse', res.json, `${res.status} error`);
  }
});

t.test('the schema check can fail: bodies the vendors would not send are caught', async (t) => {
  const good = (await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })).json;
  t.same(violations('openai', 'CreateChatCompletionResponse', good), []);
  for (const [what, bad] of [
    ['no choices', { ...good, choices: undefined }],
    ['a wrong object', { ...good, object: 'chat.completion.chunk' }],
    ['a numeric id', { ...good, id: 7 }],
    ['a finish reason the API does not have', { ...good, choices: [{ ...good.choices[0], finish_reason: 'done' }] }],
  ] as const) {
    t.not(violations('openai', 'CreateChatCompletionResponse', bad).length, 0, `${what} is a violation`);
  }
  const message = (await post(`${srv.url}/v1/messages`, msg, ANTHROPIC_HEADERS)).json;
  t.same(violations('anthropic', 'Message', message), []);
  t.not(violations('anthropic', 'Message', { ...message, stop_reason: 'finished' }).length, 0, 'an unknown stop_reason is a violation');
  t.not(violations('anthropic', 'ErrorResponse', { type: 'error', error: { message: 'x' } }).length, 0, 'an error without a type is a violation');
});
