import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { checkedFetch } from '../helpers/contracts.js';
import { startServer } from '../helpers/server.js';

// Scripted replies: the rule engine answering a known prompt with a known answer, streamed token by
// token in either dialect with its real usage.

const srv = await startServer({
  faults: [
    { name: 'greeting', match: { prompt: '^hello' }, reply: { text: 'Hi there, I am scripted.' } },
    { name: 'weather', match: { prompt: 'weather', route: ['chat.completions', 'messages'] }, reply: { toolCall: { name: 'get_weather', arguments: { city: 'Paris', unit: 'c' } } } },
    { name: 'structured', match: { prompt: 'json please' }, reply: { json: { answer: 42, ok: true } } },
  ],
});
t.teardown(() => srv.close());
const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${srv.url}/v1`, maxRetries: 0, fetch: checkedFetch });
const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: srv.url, maxRetries: 0, fetch: checkedFetch });

t.test('text, in both dialects, stream and non-stream, with real usage', async (t) => {
  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello, who are you?' }] });
  t.equal(chat.choices[0]!.message.content, 'Hi there, I am scripted.');
  t.equal(chat.choices[0]!.finish_reason, 'stop');
  const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello again' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const c of stream) {
    if (c.choices[0]?.delta.content) (text += c.choices[0].delta.content), chunks++;
    if (c.usage) usage = c.usage;
  }
  t.equal(text, 'Hi there, I am scripted.');
  t.ok(chunks > 3, `streamed token by token (${chunks} chunks)`);
  t.equal(usage!.completion_tokens, chunks, 'usage counts the scripted tokens');
  const msg = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hello from anthropic' }] });
  t.same(msg.content.map((b) => (b.type === 'text' ? b.text : b.type)), ['Hi there, I am scripted.']);
  t.equal(msg.stop_reason, 'end_turn');
  const events = await anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hello streaming' }] }).finalMessage();
  t.equal((events.content[0] as Anthropic.TextBlock).text, 'Hi there, I am scripted.');
  t.equal(events.usage.output_tokens, msg.usage.output_tokens);
});

t.test('a tool call with the given arguments, through both SDKs', async (t) => {
  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'what is the weather?' }] });
  const call = chat.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
  t.equal(call.function.name, 'get_weather');
  t.same(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'c' });
  t.equal(chat.choices[0]!.finish_reason, 'tool_calls');
  const msg = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'the weather, please' }] });
  const use = msg.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
  t.same([use.name, use.input], ['get_weather', { city: 'Paris', unit: 'c' }]);
  t.equal(msg.stop_reason, 'tool_use');
});

t.test('json, and prompts no rule matches are generated as usual', async (t) => {
  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'json please' }] });
  t.same(JSON.parse(chat.choices[0]!.message.content!), { answer: 42, ok: true });
  const legacy = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hello legacy', max_tokens: 30 });
  t.equal(legacy.choices[0]!.text, 'Hi there, I am scripted.', 'the legacy prompt is matched too');
  const responses = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hello responses' });
  t.equal(responses.output_text, 'Hi there, I am scripted.');
  const other = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'something else' }], max_tokens: 5 });
  t.not(other.choices[0]!.message.content, 'Hi there, I am scripted.');
  const journal = srv.server.services.admission.journal.read();
  t.ok(journal.some((e) => e.source === 'greeting' && e.fault === 'reply'), 'replies are journaled');
});

t.test('faults.file: rules from a YAML or JSONL fixture, appended and validated like the rest', async (t) => {
  const jsonl = join(tmpdir(), `llmsim-rules-${process.pid}.jsonl`);
  writeFileSync(jsonl, `${JSON.stringify({ name: 'from-file', match: { prompt: 'fixture' }, reply: { text: 'From the fixture.' } })}\n\n${JSON.stringify({ fault: { type: 'server_error' }, when: { first: 1 } })}\n`);
  const config = loadConfig(['--faults.file', jsonl], {});
  t.equal(config.faults.rules.length, 2);
  t.equal(config.faults.rules[0]!.name, 'from-file');
  const yaml = join(tmpdir(), `llmsim-rules-${process.pid}.yaml`);
  writeFileSync(yaml, '- { match: { prompt: "(" }, reply: { text: x } }\n');
  t.throws(() => loadConfig(['--faults.file', yaml], {}), /faults\.rules\.0\.match\.prompt: not a valid regular expression/);
  writeFileSync(yaml, '- { reply: { text: x }, fault: { type: cut } }\n');
  t.throws(() => loadConfig(['--faults.file', yaml], {}), /give fault or reply/);
  t.throws(() => loadConfig(['--faults.file', '/nonexistent/rules.yaml'], {}), /faults\.file: cannot read/);
  const s = await startServer({ faults: { rules: config.faults.rules } });
  t.teardown(() => s.close());
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${s.url}/v1`, maxRetries: 0, fetch: checkedFetch });
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a fixture prompt' }] });
  t.equal(r.choices[0]!.message.content, 'From the fixture.');
});
