import { connect } from 'node:net';
import t from 'tap';
import type { TapTest } from '../helpers/tap.js';
import { checkedFetch } from '../helpers/contracts.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

const srv = await startServer({ bodyLimitBytes: 4096 });
t.teardown(() => srv.close());
const chat = `${srv.url}/v1/chat/completions`;
const messages = `${srv.url}/v1/messages`;
const okChat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const okMsg = { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };

function isOpenAIError(t: TapTest, json: any): void {
  t.same(Object.keys(json), ['error']);
  t.same(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  t.type(json.error.message, 'string');
}
function isAnthropicError(t: TapTest, json: any, type: string): void {
  t.equal(json.type, 'error');
  t.equal(json.error.type, type);
  t.type(json.error.message, 'string');
  t.match(json.request_id, /^req_/);
}

// [name, body, status, param, message pattern, code]
const openaiCases: [string, unknown, number, string | null, RegExp, string | null][] = [
  ['malformed JSON', '{"model":', 400, null, /not valid JSON/, null],
  ['not an object', '[1,2]', 400, null, /^The request body must be a JSON object, but got array instead\.$/, 'invalid_type'],
  ['missing messages', { model: 'gpt-4o-mini' }, 400, 'messages', /^Missing required parameter: 'messages'\.$/, 'missing_required_parameter'],
  ['missing model', { messages: okChat.messages }, 400, 'model', /Missing required parameter: 'model'/, 'missing_required_parameter'],
  ['wrong type max_tokens', { ...okChat, max_tokens: 'ten' }, 400, 'max_tokens', /^Invalid type for 'max_tokens': expected number, but got string instead\.$/, 'invalid_type'],
  ['fractional max_tokens', { ...okChat, max_tokens: 1.5 }, 400, 'max_tokens', /max_tokens/, 'invalid_type'],
  ['empty messages', { ...okChat, messages: [] }, 400, 'messages', /messages/, 'invalid_value'],
  ['bad role', { ...okChat, messages: [{ role: 'robot', content: 'x' }] }, 400, 'messages[0].role', /messages\[0\]\.role/, 'invalid_value'],
  ['temperature out of range', { ...okChat, temperature: 3 }, 400, 'temperature', /temperature/, 'invalid_value'],
  ['unknown model', { ...okChat, model: 'gpt-nope' }, 404, 'model', /The model `gpt-nope` does not exist/, 'model_not_found'],
  ['embedding model', { ...okChat, model: 'text-embedding-3-small' }, 400, 'model', /embedding model/, 'invalid_value'],
];
for (const [name, body, status, param, message, code] of openaiCases) {
  t.test(`chat: ${name} → ${status}`, async (t) => {
    const res = await post(chat, body);
    t.equal(res.status, status);
    isOpenAIError(t, res.json);
    t.equal(res.json.error.type, 'invalid_request_error');
    t.equal(res.json.error.param, param);
    t.equal(res.json.error.code, code);
    t.match(res.json.error.message, message);
    t.match(res.headers.get('x-request-id'), /^req_/);
  });
}

const anthropicCases: [string, unknown, number, string, RegExp][] = [
  ['malformed JSON', '{', 400, 'invalid_request_error', /not valid JSON/],
  ['missing max_tokens', { model: okMsg.model, messages: okMsg.messages }, 400, 'invalid_request_error', /^max_tokens: Field required$/],
  ['negative max_tokens', { ...okMsg, max_tokens: -1 }, 400, 'invalid_request_error', /^max_tokens: /],
  ['system role in messages', { ...okMsg, messages: [{ role: 'system', content: 'x' }] }, 400, 'invalid_request_error', /^messages\[0\]\.role: /],
  ['temperature above 1', { ...okMsg, temperature: 1.5 }, 400, 'invalid_request_error', /^temperature: /],
  ['unknown model', { ...okMsg, model: 'claude-nope' }, 404, 'not_found_error', /^model: claude-nope$/],
];
for (const [name, body, status, type, message] of anthropicCases) {
  t.test(`messages: ${name} → ${status}`, async (t) => {
    const res = await post(messages, body, ANTHROPIC_HEADERS);
    t.equal(res.status, status);
    isAnthropicError(t, res.json, type);
    t.match(res.json.error.message, message);
    t.equal(res.headers.get('request-id'), res.json.request_id);
  });
}

t.test('unknown route → 404 in the dialect the headers suggest', async (t) => {
  const o = await checkedFetch(`${srv.url}/v1/nope`, { headers: OPENAI_HEADERS });
  t.equal(o.status, 404);
  const oj = await o.json();
  isOpenAIError(t, oj);
  t.equal(oj.error.message, 'Invalid URL (GET /v1/nope)');
  const a = await checkedFetch(`${srv.url}/v1/nope`, { headers: ANTHROPIC_HEADERS });
  t.equal(a.status, 404);
  isAnthropicError(t, await a.json(), 'not_found_error');
});

t.test('wrong method → 405', async (t) => {
  const o = await checkedFetch(chat, { headers: OPENAI_HEADERS });
  t.equal(o.status, 405);
  t.equal(o.headers.get('allow'), 'POST', 'the methods it takes (RFC 9110)');
  t.equal((await o.json()).error.message, 'Invalid method for URL (GET /v1/chat/completions)');
  const a = await checkedFetch(messages, { method: 'DELETE', headers: ANTHROPIC_HEADERS });
  t.equal(a.status, 405);
  t.equal(a.headers.get('allow'), 'POST');
  isAnthropicError(t, await a.json(), 'invalid_request_error');
});

t.test('body over the limit → 413, by content-length and while streaming in', async (t) => {
  const big = JSON.stringify({ ...okChat, messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
  const res = await post(chat, big);
  t.equal(res.status, 413);
  isOpenAIError(t, res.json);
  const a = await post(messages, JSON.stringify({ ...okMsg, messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), ANTHROPIC_HEADERS);
  t.equal(a.status, 413);
  isAnthropicError(t, a.json, 'request_too_large');
  // Chunked upload: no content-length, the limit trips mid-body.
  const chunked = await rawRequest(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${(3000).toString(16)}\r\n${'x'.repeat(3000)}\r\n${(3000).toString(16)}\r\n${'x'.repeat(3000)}\r\n0\r\n\r\n`,
  );
  t.match(chunked, /^HTTP\/1\.1 413 /);
});

t.test('echoes the caller x-request-id', async (t) => {
  const o = await post(chat, okChat, { ...OPENAI_HEADERS, 'x-request-id': 'caller-123' });
  t.equal(o.headers.get('x-request-id'), 'caller-123');
  const a = await post(messages, okMsg, { ...ANTHROPIC_HEADERS, 'x-request-id': 'caller-456' });
  t.equal(a.headers.get('request-id'), 'caller-456');
  t.equal(a.headers.get('x-request-id'), 'caller-456');
});

t.test('invalid timing override header → 400', async (t) => {
  const res = await post(chat, okChat, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': 'soon' });
  t.equal(res.status, 400);
  t.equal(res.json.error.param, 'x-sim-ttft-ms');
});

function rawRequest(bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(srv.port, '127.0.0.1');
    let out = '';
    // A server may rightly wait for bytes that never come: give up after a second.
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.on('connect', () => socket.write(bytes));
  });
}

t.test('garbage on the socket never takes the server down', async (t) => {
  const junk = [
    Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]),
    'GET / HTTP/9.9\r\n\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n\xff\xfe\xfd',
    'POST /v1/messages HTTP/1.1\r\nHost: x\r\nanthropic-version: 2023-06-01\r\nContent-Length: 4\r\nConnection: close\r\n\r\n\u0000\u0001{[',
    `GET /${'a'.repeat(20000)} HTTP/1.1\r\n\r\n`,
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"a":1e999',
  ];
  await Promise.all(junk.map(rawRequest));
  const invalidUtf8 = await rawRequest(Buffer.concat([Buffer.from('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1])]));
  t.match(invalidUtf8, /^HTTP\/1\.1 400 /);
  const after = await post(chat, okChat);
  t.equal(after.status, 200, 'still serving after the junk');
});

// [path, body, status, param or Anthropic type, message pattern] for the other endpoints.
const moreOpenAI: [string, unknown, number, string | null, RegExp][] = [
  ['/v1/embeddings', { model: 'text-embedding-3-small' }, 400, 'input', /Missing required parameter: 'input'/],
  ['/v1/embeddings', { model: 'text-embedding-3-small', input: '' }, 400, 'input', /input/],
  ['/v1/embeddings', { model: 'text-embedding-3-small', input: [] }, 400, 'input', /input/],
  ['/v1/embeddings', { model: 'text-embedding-3-small', input: 'x', encoding_format: 'hex' }, 400, 'encoding_format', /encoding_format/],
  ['/v1/embeddings', { model: 'text-embedding-3-small', input: 'x', dimensions: 5000 }, 400, 'dimensions', /greater than the model's 1536/],
  ['/v1/embeddings', { model: 'gpt-4o', input: 'x' }, 400, 'model', /does not support embeddings/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct' }, 400, 'prompt', /Missing required parameter: 'prompt'/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', logprobs: 9 }, 400, 'logprobs', /logprobs/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', n: 3, best_of: 2 }, 400, 'best_of', /greater than or equal to n/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', best_of: 3, stream: true }, 400, 'best_of', /not simulated/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: [] }, 400, 'prompt', /prompt/],
  ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 5000 }, 400, 'messages', /maximum context length is 4096/],
  ['/v1/responses', { model: 'gpt-4o', input: 'x', max_output_tokens: 0 }, 400, 'max_output_tokens', /max_output_tokens/],
  ['/v1/responses', { model: 'gpt-4o', input: 'x', text: { format: { type: 'json_schema' } } }, 400, 'text.format.name', /^Missing required parameter: 'text.format.name'\.$/],
  ['/v1/chat/completions', { ...okChat, response_format: { type: 'xml' } }, 400, 'response_format', /response_format/],
  ['/v1/responses', { input: 'x' }, 400, 'model', /Missing required parameter: 'model'/],
  ['/v1/chat/completions', { ...okChat, n: 129 }, 400, 'n', /n/],
  ['/v1/chat/completions', { ...okChat, stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop', /stop/],
  ['/v1/chat/completions', { ...okChat, tool_choice: 'required', tools: [] }, 400, 'tool_choice', /only allowed when tools are specified/],
  ['/v1/chat/completions', { ...okChat, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 400, 'tools[0].function.name', /tools\[0\]\.function\.name/],
  ['/v1/chat/completions', { ...okChat, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 400, 'tool_choice', /"g", which is not among the tools/],
];
for (const [path, body, status, param, message] of moreOpenAI) {
  t.test(`${path}: ${JSON.stringify(body).slice(0, 70)} → ${status}`, async (t) => {
    const res = await post(`${srv.url}${path}`, body);
    t.equal(res.status, status);
    isOpenAIError(t, res.json);
    t.equal(res.json.error.param, param);
    t.match(res.json.error.message, message);
  });
}

const moreAnthropic: [string, unknown, number, string, RegExp][] = [
  ['/v1/messages/count_tokens', { model: okMsg.model }, 400, 'invalid_request_error', /^messages: Field required$/],
  ['/v1/messages/count_tokens', { model: 'claude-nope', messages: okMsg.messages }, 404, 'not_found_error', /claude-nope/],
  ['/v1/complete', { model: okMsg.model, prompt: 'hi', max_tokens_to_sample: 5 }, 400, 'invalid_request_error', /must start with "\\n\\nHuman:"/],
  ['/v1/complete', { model: okMsg.model, prompt: '\n\nHuman: hi', max_tokens_to_sample: 5 }, 400, 'invalid_request_error', /must end with "\\n\\nAssistant:"/],
  ['/v1/complete', { model: okMsg.model, prompt: '\n\nHuman: hi\n\nAssistant:' }, 400, 'invalid_request_error', /^max_tokens_to_sample: Field required$/],
  ['/v1/messages', { ...okMsg, thinking: { type: 'enabled', budget_tokens: 2000 } }, 400, 'invalid_request_error', /thinking/],
  ['/v1/messages', { ...okMsg, messages: [{ role: 'user', content: 'x'.repeat(3000) }], max_tokens: 199_990 }, 400, 'invalid_request_error', /^prompt is too long/],
];
for (const [path, body, status, type, message] of moreAnthropic) {
  t.test(`${path}: ${JSON.stringify(body).slice(0, 70)} → ${status}`, async (t) => {
    const res = await post(`${srv.url}${path}`, body, ANTHROPIC_HEADERS);
    t.equal(res.status, status);
    isAnthropicError(t, res.json, type);
    t.match(res.json.error.message, message);
  });
}

t.test('an embeddings input over 8192 tokens → 400 context_length_exceeded', async (t) => {
  const big = await startServer();
  t.teardown(() => big.close());
  const res = await post(`${big.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: ['ok', ' word'.repeat(9000)] });
  t.equal(res.status, 400);
  t.equal(res.json.error.code, 'context_length_exceeded');
  t.match(res.json.error.message, /maximum context length is 8192/);
});

t.test('Anthropic models paging parameters are checked', async (t) => {
  for (const q of ['limit=0', 'limit=1001', 'limit=x', 'after_id=nope']) {
    const res = await checkedFetch(`${srv.url}/v1/models?${q}`, { headers: ANTHROPIC_HEADERS });
    t.equal(res.status, 400, q);
    isAnthropicError(t, await res.json(), 'invalid_request_error');
  }
  const unknown = await checkedFetch(`${srv.url}/v1/models/gpt-4o`, { headers: ANTHROPIC_HEADERS });
  t.equal(unknown.status, 404, 'an OpenAI model is not an Anthropic model');
});

t.test('a body\'s bytes are decoded as UTF-8 the way Buffer#toString decodes them: a BOM kept (so not JSON), bad sequences as U+FFFD', async (t) => {
  const raw = (bytes: Buffer, headers: Record<string, string> = OPENAI_HEADERS): Promise<Response> => fetch(chat, { method: 'POST', headers, body: new Uint8Array(bytes) });
  const json = Buffer.from(JSON.stringify({ ...okChat, messages: [{ role: 'user', content: 'AB' }] }));
  const withBom = await raw(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json]));
  t.equal(withBom.status, 400, 'a leading BOM is text before the JSON');
  t.match((await withBom.json()).error.message, /not valid JSON/);
  // "A\xff\xfeB": each bad byte becomes one U+FFFD, as node's Buffer and V8 decode it.
  const bad = Buffer.from(json.toString().replace('AB', 'A__B'));
  bad[bad.indexOf('A__B') + 1] = 0xff;
  bad[bad.indexOf(0xff) + 1] = 0xfe;
  const echoed = await raw(bad, { ...OPENAI_HEADERS, 'x-sim-mode': 'echo' });
  t.equal(echoed.status, 200);
  t.equal((await echoed.json()).choices[0].message.content, 'A\ufffd\ufffdB');
});
