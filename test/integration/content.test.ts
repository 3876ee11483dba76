import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const ECHO = { ...OPENAI_HEADERS, 'x-sim-mode': 'echo' };
const message = 'Echo this back, please: "quotes", ünïcödé 🚀 and numbers 12345.';

t.test('echo mode answers with the last user message, in every route', async (t) => {
  const chat = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'x' }, { role: 'user', content: message }] }, ECHO);
  t.equal(chat.json.choices[0].message.content, message);
  t.equal(chat.json.choices[0].finish_reason, 'stop');
  const stream = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: message }], stream: true, stream_options: { include_usage: true } }, ECHO);
  const chunks = [...stream.text.matchAll(/"delta":\{"content":("(?:[^"\\]|\\.)*")\}/g)].map((m) => JSON.parse(m[1]!));
  t.equal(chunks.join(''), message);
  const usage = JSON.parse(stream.text.split('\n\n').at(-3)!.slice(6)).usage;
  t.equal(usage.completion_tokens, chunks.length, 'one chunk per completion token');
  const msg = await post(`${srv.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: [{ type: 'text', text: message }] }] }, { ...ANTHROPIC_HEADERS, 'x-sim-mode': 'echo' });
  t.equal(msg.json.content[0].text, message);
  const capped = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: message }], max_tokens: 3 }, ECHO);
  t.equal(capped.json.choices[0].finish_reason, 'length');
  t.ok(message.startsWith(capped.json.choices[0].message.content));
  const bad = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: message }] }, { ...OPENAI_HEADERS, 'x-sim-mode': 'parrot' });
  t.equal(bad.status, 400);
  t.equal(bad.json.error.param, 'x-sim-mode');
});

t.test('response.mode echo in the config', async (t) => {
  const echo = await startServer({ response: { mode: 'echo' } });
  t.teardown(() => echo.close());
  const res = await post(`${echo.url}/v1/responses`, { model: 'gpt-4o', input: message });
  t.equal(res.json.output[0].content[0].text, message);
});

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature: { type: 'number', minimum: -40, maximum: 50 }, conditions: { enum: ['sunny', 'rain', 'snow'] }, hourly: { type: 'array', items: { type: 'integer' }, minItems: 3 } },
  required: ['city', 'temperature', 'conditions', 'hourly'],
  additionalProperties: false,
};
const validate = new Ajv2020({ strict: false }).compile(schema);

t.test('response_format json_schema: content validates against the schema, streamed or not', async (t) => {
  const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }], response_format: { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } } };
  const res = await post(`${srv.url}/v1/chat/completions`, body);
  const value = JSON.parse(res.json.choices[0].message.content);
  t.ok(validate(value), JSON.stringify(value));
  const stream = await post(`${srv.url}/v1/chat/completions`, { ...body, stream: true });
  const text = [...stream.text.matchAll(/"delta":\{"content":("(?:[^"\\]|\\.)*")\}/g)].map((m) => JSON.parse(m[1]!)).join('');
  t.equal(text, res.json.choices[0].message.content, 'the same JSON, streamed in pieces');
  const other = await post(`${srv.url}/v1/chat/completions`, { ...body, messages: [{ role: 'user', content: 'Weather elsewhere?' }] });
  t.ok(validate(JSON.parse(other.json.choices[0].message.content)));
});

t.test('response_format json_object and the Responses API text.format', async (t) => {
  const obj = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o', messages: [{ role: 'user', content: 'JSON please' }], response_format: { type: 'json_object' } });
  t.type(JSON.parse(obj.json.choices[0].message.content), 'object');
  const r = await post(`${srv.url}/v1/responses`, { model: 'gpt-4o', input: 'Weather?', text: { format: { type: 'json_schema', name: 'weather', schema } } });
  t.ok(validate(JSON.parse(r.json.output[0].content[0].text)));
  t.same(r.json.text.format.name, 'weather', 'the format is echoed in the response');
});
