import Anthropic from '@anthropic-ai/sdk';
import { Ajv2020 } from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import t from 'tap';
import { checkedFetch } from '../helpers/contracts.js';
import { sseEvents, violations } from '../helpers/contracts.js';
import { ANTHROPIC_HEADERS, post, startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${srv.url}/v1`, maxRetries: 0, fetch: checkedFetch });
const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: srv.url, maxRetries: 0, fetch: checkedFetch });

const weather = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const validWeather = new Ajv2020({ strict: false }).compile(weather);
const openaiTools = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'Weather by city', parameters: weather } },
  { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] } } },
];
const ask = [{ role: 'user' as const, content: 'Weather in Oslo?' }];

t.test('OpenAI: auto calls a tool with schema-valid arguments, stream helper included', async (t) => {
  const res = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools });
  const choice = res.choices[0]!;
  t.equal(choice.finish_reason, 'tool_calls');
  t.equal(choice.message.content, null);
  const call = choice.message.tool_calls![0]!;
  t.match(call.id, /^call_/);
  t.equal(call.type === 'function' && call.function.name, 'get_weather');
  const args = JSON.parse(call.type === 'function' ? call.function.arguments : '');
  t.ok(validWeather(args), `arguments ${JSON.stringify(args)} validate against the tool's parameters`);
  t.same(violations('openai', 'CreateChatCompletionResponse', res), []);

  const final = await openai.chat.completions.stream({ model: 'gpt-4o', messages: ask, tools: openaiTools }).finalChatCompletion();
  const streamed = final.choices[0]!.message.tool_calls![0]!;
  t.equal(final.choices[0]!.finish_reason, 'tool_calls');
  t.same(streamed.type === 'function' && JSON.parse(streamed.function.arguments), args, 'streamed argument deltas add up to the same call');

  const raw = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o', messages: ask, tools: openaiTools, stream: true });
  const chunks = sseEvents(raw.text).slice(0, -1).map((e) => JSON.parse(e.data));
  for (const c of chunks) t.same(violations('openai', 'CreateChatCompletionStreamResponse', c), []);
  t.same(Object.keys(chunks[0].choices[0].delta.tool_calls[0].function), ['name', 'arguments'], 'the first delta names the function with arguments ""');
});

t.test('OpenAI: a tool result gets a text answer; named and none choices are obeyed', async (t) => {
  const first = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools });
  const call = first.choices[0]!.message.tool_calls![0]!;
  const answer = await openai.chat.completions.create({
    model: 'gpt-4o',
    tools: openaiTools,
    messages: [...ask, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '4°C, rain' }],
  });
  t.equal(answer.choices[0]!.finish_reason, 'stop');
  t.type(answer.choices[0]!.message.content, 'string');
  const named = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: { type: 'function', function: { name: 'get_time' } } });
  const namedCall = named.choices[0]!.message.tool_calls![0]!;
  t.equal(namedCall.type === 'function' && namedCall.function.name, 'get_time');
  const none = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: 'none' });
  t.equal(none.choices[0]!.finish_reason, 'stop');
});

const anthropicTools = [{ name: 'get_weather', description: 'Weather by city', input_schema: weather as Anthropic.Tool.InputSchema }];

t.test('Anthropic: tool_use blocks with schema-valid input, streamed as input_json_delta', async (t) => {
  const msg = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: anthropicTools });
  t.equal(msg.stop_reason, 'tool_use');
  const block = msg.content[0]!;
  t.equal(block.type, 'tool_use');
  t.ok(block.type === 'tool_use' && block.id.startsWith('toolu_'));
  t.ok(block.type === 'tool_use' && validWeather(block.input), JSON.stringify(block.type === 'tool_use' && block.input));
  t.same(violations('anthropic', 'Message', msg), []);

  const final = await anthropic.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: anthropicTools }).finalMessage();
  t.equal(final.stop_reason, 'tool_use');
  t.same(final.content[0]!.type === 'tool_use' && final.content[0]!.input, block.type === 'tool_use' && block.input, 'input_json_delta fragments add up to the same input');

  const raw = await post(`${srv.url}/v1/messages`, { model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: anthropicTools, stream: true }, ANTHROPIC_HEADERS);
  const events = sseEvents(raw.text);
  for (const e of events) t.same(violations('anthropic', 'MessageStreamEvent', JSON.parse(e.data)), [], e.event!);
  t.match(JSON.parse(events[1]!.data).content_block, { type: 'tool_use', input: {} });

  const reply = await anthropic.messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 500,
    tools: anthropicTools,
    messages: [...ask, { role: 'assistant', content: msg.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.type === 'tool_use' ? block.id : '', content: '4°C, rain' }] }],
  });
  t.equal(reply.stop_reason, 'end_turn', 'after the tool result, a text answer');
  const forced = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: anthropicTools, tool_choice: { type: 'any' } });
  t.equal(forced.stop_reason, 'tool_use');
});

t.test('Responses API: function_call items, streamed as function_call_arguments deltas', async (t) => {
  const tools = [{ type: 'function' as const, name: 'get_weather', parameters: weather, strict: true }];
  const res = await openai.responses.create({ model: 'gpt-4o', input: 'Weather in Oslo?', tools });
  const item = res.output[0]!;
  t.equal(item.type, 'function_call');
  const args = item.type === 'function_call' ? JSON.parse(item.arguments) : null;
  t.ok(validWeather(args), JSON.stringify(args));
  t.same(violations('openai', 'Response', res), []);

  const final = await openai.responses.stream({ model: 'gpt-4o', input: 'Weather in Oslo?', tools }).finalResponse();
  t.same(final.output[0]!.type === 'function_call' && JSON.parse(final.output[0]!.arguments), args);
  const raw = await post(`${srv.url}/v1/responses`, { model: 'gpt-4o', input: 'Weather in Oslo?', tools, stream: true });
  const events = sseEvents(raw.text);
  t.ok(events.some((e) => e.event === 'response.function_call_arguments.delta'));
  for (const e of events) t.same(violations('openai', 'ResponseStreamEvent', JSON.parse(e.data)), [], e.event!);

  const call = item.type === 'function_call' ? item : null;
  const answer = await openai.responses.create({ model: 'gpt-4o', tools, input: [{ role: 'user', content: 'Weather in Oslo?' }, call!, { type: 'function_call_output', call_id: call!.call_id, output: '4°C, rain' }] });
  t.equal(answer.output[0]!.type, 'message', 'after the function output, a text answer');
});

t.test('OpenAI: n = 2 with tools, through finalChatCompletion()', async (t) => {
  const final = await openai.chat.completions.stream({ model: 'gpt-4o', messages: ask, tools: openaiTools, n: 2 }).finalChatCompletion();
  t.equal(final.choices.length, 2);
  const ids = new Set<string>();
  for (const choice of final.choices) {
    t.equal(choice.finish_reason, 'tool_calls');
    const call = choice.message.tool_calls![0]!;
    ids.add(call.id);
    t.ok(call.type === 'function' && validWeather(JSON.parse(call.function.arguments)));
  }
  t.equal(ids.size, 2, 'each choice has its own call id');
  const raw = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o', messages: ask, tools: openaiTools, n: 2, stream: true });
  for (const e of sseEvents(raw.text).slice(0, -1)) t.same(violations('openai', 'CreateChatCompletionStreamResponse', JSON.parse(e.data)), []);
  const whole = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools, n: 2 });
  t.same(violations('openai', 'CreateChatCompletionResponse', whole), []);
});

t.test('parallel tool calls: required/any call every tool offered, one after the other in the stream', async (t) => {
  const res = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: 'required' });
  const calls = res.choices[0]!.message.tool_calls!;
  t.same(calls.map((c) => c.type === 'function' && c.function.name), ['get_weather', 'get_time']);
  t.ok(calls[0]!.type === 'function' && validWeather(JSON.parse(calls[0]!.function.arguments)));
  t.ok(calls[1]!.type === 'function' && typeof JSON.parse(calls[1]!.function.arguments).zone === 'string');
  const final = await openai.chat.completions.stream({ model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: 'required' }).finalChatCompletion();
  t.same(
    final.choices[0]!.message.tool_calls!.map((c) => c.type === 'function' && [c.function.name, JSON.parse(c.function.arguments)]),
    calls.map((c) => c.type === 'function' && [c.function.name, JSON.parse(c.function.arguments)]),
    'the stream helper rebuilds both calls',
  );
  const raw = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: 'required', stream: true });
  t.equal((raw.text.match(/"type":"function","function":\{"name"/g) ?? []).length, 2, 'a header delta per call');
  const single = await openai.chat.completions.create({ model: 'gpt-4o', messages: ask, tools: openaiTools, tool_choice: 'required', parallel_tool_calls: false });
  t.equal(single.choices[0]!.message.tool_calls!.length, 1, 'parallel_tool_calls: false → one call');

  const twoTools = [...anthropicTools, { name: 'get_time', input_schema: { type: 'object' as const, properties: { zone: { type: 'string' } }, required: ['zone'] } }];
  const msg = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: twoTools, tool_choice: { type: 'any' } });
  t.same(msg.content.map((b) => b.type === 'tool_use' && b.name), ['get_weather', 'get_time']);
  const streamed = await anthropic.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: twoTools, tool_choice: { type: 'any' } }).finalMessage();
  t.same(
    streamed.content.map((b) => b.type === 'tool_use' && [b.name, b.input]),
    msg.content.map((b) => b.type === 'tool_use' && [b.name, b.input]),
    'two tool_use blocks, streamed one after the other',
  );
  const one = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, messages: ask, tools: twoTools, tool_choice: { type: 'any', disable_parallel_tool_use: true } });
  t.equal(one.content.length, 1, 'disable_parallel_tool_use → one call');
});
