import t from 'tap';
import { OPENAI_HEADERS, post, splitTokens, startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const url = `${srv.url}/v1/chat/completions`;
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me about rivers.' }], max_tokens: 7, seed: 42 };

t.test('non-stream response has the documented shape', async (t) => {
  const res = await post(url, body);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.match(res.headers.get('x-request-id'), /^req_[0-9a-f]{32}$/);
  const json = res.json;
  t.match(json.id, /^chatcmpl-/);
  t.equal(json.object, 'chat.completion');
  t.equal(json.model, 'gpt-4o-mini');
  t.ok(Number.isInteger(json.created) && json.created > 1.7e9 && json.created < 1e10, 'created is unix seconds');
  t.match(json.system_fingerprint, /^fp_[0-9a-f]{10}$/);
  t.equal(json.choices.length, 1);
  t.equal(json.choices[0].finish_reason, 'length', 'cap of 7 cuts the natural answer (16+ tokens)');
  t.equal(splitTokens(json.choices[0].message.content).length, 7);
  t.same(json.choices[0].message, { role: 'assistant', content: json.choices[0].message.content, refusal: null, annotations: [] });
  t.equal(json.usage.completion_tokens, 7);
  t.equal(json.usage.total_tokens, json.usage.prompt_tokens + 7);
});

t.test('text is deterministic for a request and seed, and differs with the seed', async (t) => {
  const a = (await post(url, body)).json.choices[0].message.content;
  const b = (await post(url, body)).json.choices[0].message.content;
  const c = (await post(url, { ...body, seed: 43 })).json.choices[0].message.content;
  t.equal(a, b);
  t.not(a, c);
});

t.test('a request sent again gets the same body but for id and created; each thing it is made of still shows', async (t) => {
  // The body after `"model":` is kept from the last answer (src/api/openai/chat-completions.ts LastBody).
  const rest = (text: string): string => text.slice(text.indexOf('"model":'));
  const first = await post(url, body);
  const again = await post(url, body);
  t.equal(rest(again.text), rest(first.text), 'the same bytes after the id and created');
  t.not(again.json.id, first.json.id, 'a new id each time');
  const alias = (await post(url, { ...body, model: 'gpt-4o-mini-2024-07-18' })).json;
  t.equal(alias.model, 'gpt-4o-mini-2024-07-18', 'an alias of the same model answers with the name asked for');
  t.equal(alias.choices[0].message.content, first.json.choices[0].message.content, 'and the same text');
  t.equal((await post(url, body)).json.model, 'gpt-4o-mini', 'the canonical name again after the alias');
  const longerPrompt = (await post(url, { ...body, messages: [{ role: 'system', content: 'Be brief.' }, ...body.messages] })).json;
  t.ok(longerPrompt.usage.prompt_tokens > first.json.usage.prompt_tokens, 'another prompt counts its own tokens');
  const shorter = (await post(url, { ...body, max_tokens: 3 })).json;
  t.equal(shorter.usage.completion_tokens, 3, 'another cap cuts its own answer');
  t.equal(splitTokens(shorter.choices[0].message.content).length, 3);
  const logprobs = (await post(url, { ...body, logprobs: true })).json;
  t.equal(logprobs.choices[0].logprobs.content.length, 7, 'logprobs asked for after a kept answer are given');
  t.equal((await post(url, body)).json.choices[0].logprobs, null, 'and not given once no longer asked for');
});

t.test('an uncapped answer ends naturally with finish_reason stop', async (t) => {
  const res = await post(url, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(res.json.choices[0].finish_reason, 'stop');
  const n = res.json.usage.completion_tokens;
  t.ok(n >= 16 && n <= 128, `natural length ${n} within response.minTokens..maxTokens`);
  t.equal(splitTokens(res.json.choices[0].message.content).length, n);
});

t.test('max_completion_tokens wins over max_tokens', async (t) => {
  const res = await post(url, { ...body, max_tokens: 9, max_completion_tokens: 3 });
  t.equal(res.json.usage.completion_tokens, 3);
});

/** The exact bytes a stream of these tokens must have (WIRE A3), ids and timestamps normalised. */
function expectedStream(tokens: string[], finish: string, usage: object | null): string {
  const head = '{"id":"ID","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"FP","choices":[';
  const tail = usage ? '],"usage":null}' : ']}';
  const frames = [
    `${head}{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}${tail}`,
    ...tokens.map((tok) => `${head}{"index":0,"delta":{"content":${JSON.stringify(tok)}},"logprobs":null,"finish_reason":null}${tail}`),
    `${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}${tail}`,
  ];
  if (usage) frames.push(`${head}],"usage":${JSON.stringify(usage)}}`);
  frames.push('[DONE]');
  return frames.map((f) => `data: ${f}\n\n`).join('');
}

const normalise = (s: string): string => s.replace(/"id":"chatcmpl-[^"]+"/g, '"id":"ID"').replace(/"created":\d+/g, '"created":0').replace(/"system_fingerprint":"fp_[0-9a-f]+"/g, '"system_fingerprint":"FP"');

t.test('stream bytes are exact, with include_usage', async (t) => {
  const full = (await post(url, body)).json;
  const res = await post(url, { ...body, stream: true, stream_options: { include_usage: true } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.equal(res.headers.get('cache-control'), 'no-cache');
  t.equal(normalise(res.text), expectedStream(splitTokens(full.choices[0].message.content), 'length', full.usage));
});

t.test('stream bytes are exact, without include_usage (no usage key at all)', async (t) => {
  const full = (await post(url, body)).json;
  const res = await post(url, { ...body, stream: true });
  t.equal(normalise(res.text), expectedStream(splitTokens(full.choices[0].message.content), 'length', null));
  t.notMatch(res.text, /usage/);
});

t.test('chunks of one stream share id and created', async (t) => {
  const res = await post(url, { ...body, stream: true });
  const ids = new Set([...res.text.matchAll(/"id":"([^"]+)"/g)].map((m) => m[1]));
  t.equal(ids.size, 1);
});

t.test('same request and seed: the same bytes but for ids and timestamps, streamed or not', async (t) => {
  const req = { ...body, max_tokens: 40, logprobs: true, top_logprobs: 2 };
  const a = await post(url, req);
  const b = await post(url, req);
  t.equal(normalise(a.text), normalise(b.text));
  const sa = await post(url, { ...req, stream: true, stream_options: { include_usage: true } });
  const sb = await post(url, { ...req, stream: true, stream_options: { include_usage: true } });
  t.equal(normalise(sa.text), normalise(sb.text));
  const other = await post(url, { ...req, seed: 7 });
  t.not(normalise(other.text), normalise(a.text), 'another seed, another answer');
});
