import Anthropic from '@anthropic-ai/sdk';
import t from 'tap';
import { checkedFetch } from '../helpers/contracts.js';
import { startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: srv.url, maxRetries: 0, fetch: checkedFetch });
const messages = [{ role: 'user' as const, content: 'Say something about rivers.' }];

t.test('messages.create (non-stream)', async (t) => {
  const msg = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 9, system: 'Be brief.', messages });
  t.equal(msg.type, 'message');
  t.equal(msg.stop_reason, 'max_tokens');
  t.equal(msg.usage.output_tokens, 9);
  t.equal(msg.content[0]!.type, 'text');
  t.match(msg._request_id, /^req_011C/);
});

t.test('messages.create (stream) yields the full event order', async (t) => {
  const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 4, messages, stream: true });
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  t.same(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
});

t.test('messages.stream().finalMessage()', async (t) => {
  const stream = client.messages.stream({ model: 'claude-opus-4-1', max_tokens: 4096, messages });
  let text = '';
  stream.on('text', (delta) => (text += delta));
  const final = await stream.finalMessage();
  t.equal(final.stop_reason, 'end_turn');
  t.equal(final.content[0]!.type === 'text' && final.content[0]!.text, text);
  t.ok(final.usage.output_tokens >= 16);
  const again = await client.messages.create({ model: 'claude-opus-4-1', max_tokens: 4096, messages });
  t.equal(again.content[0]!.type === 'text' && again.content[0]!.text, text, 'stream and non-stream say the same');
});

t.test('errors become the SDK error classes', async (t) => {
  const notFound = await client.messages.create({ model: 'claude-nope', max_tokens: 5, messages }).catch((e: unknown) => e);
  t.ok(notFound instanceof Anthropic.NotFoundError);
  t.equal((notFound as InstanceType<typeof Anthropic.NotFoundError>).type, 'not_found_error');
  const bad = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: -1, messages }).catch((e: unknown) => e);
  t.ok(bad instanceof Anthropic.BadRequestError);
  t.match((bad as InstanceType<typeof Anthropic.BadRequestError>).requestID, /^req_011C/);
});

t.test('messages.countTokens agrees with messages.create', async (t) => {
  const body = { model: 'claude-sonnet-4-5', system: 'Be brief.', messages: [{ role: 'user' as const, content: 'Count me, please: one two three.' }] };
  const counted = await client.messages.countTokens(body);
  const msg = await client.messages.create({ ...body, max_tokens: 5 });
  t.equal(counted.input_tokens, msg.usage.input_tokens);
});

t.test('models.list auto-pagination walks the whole catalogue and stops', async (t) => {
  const ids: string[] = [];
  for await (const m of client.models.list({ limit: 2 })) ids.push(m.id);
  t.equal(ids.length, new Set(ids).size, 'no model twice');
  t.ok(ids.includes('claude-sonnet-4-5-20250929') && ids.includes('claude-3-5-haiku-20241022'));
  t.ok(ids.every((id) => id.startsWith('claude-')), 'Claude models only');
  const one = await client.models.retrieve('claude-haiku-4-5');
  t.equal(one.display_name, 'Claude Haiku 4.5');
});

t.test('a newer Claude answers with its own window: 1M tokens where Sonnet 4.5 has 200K', async (t) => {
  const info = await client.models.retrieve('claude-sonnet-5-5');
  t.equal(info.max_input_tokens, 1_000_000);
  t.equal(info.max_tokens, 128_000);
  t.equal(info.created_at, '2026-09-28T00:00:00Z');
  // max_tokens past the old window: over Sonnet 4.5's context, within Sonnet 5.5's (over HTTP:
  // the SDK itself refuses a non-streamed request this large).
  const ask = (model: string) =>
    fetch(`${srv.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model, max_tokens: 300_000, messages }) });
  const wide = await ask('claude-sonnet-5-5');
  t.equal(wide.status, 200);
  t.equal(((await wide.json()) as { model: string }).model, 'claude-sonnet-5-5');
  const narrow = await ask('claude-sonnet-4-5');
  t.equal(narrow.status, 400, 'the 200K window refuses it');
  t.match(await narrow.json(), { type: 'error', error: { type: 'invalid_request_error' } });
  // Both SDKs know these names: the OpenAI dialect serves the newer GPT-5.x too.
  const gpt = await fetch(`${srv.url}/v1/models/gpt-5.1`);
  t.match(await gpt.json(), { id: 'gpt-5.1', object: 'model', created: 1762992000 });
  t.equal((await fetch(`${srv.url}/v1/models/gpt-5.2-2025-12-11`)).status, 200, 'a snapshot name is known too');
});

t.test('stop_sequences end the message with the matched sequence', async (t) => {
  const msg = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 200, messages, stop_sequences: ['.'] });
  t.equal(msg.stop_reason, 'stop_sequence');
  t.equal(msg.stop_sequence, '.');
  const streamed = await client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 200, messages, stop_sequences: ['.'] }).finalMessage();
  t.equal(streamed.stop_sequence, '.');
  t.same(streamed.content, msg.content);
});

t.test('extended thinking: a signed thinking block before the answer, streamed and not', async (t) => {
  const body = { model: 'claude-sonnet-4-5', max_tokens: 3000, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages };
  const msg = await client.messages.create(body);
  t.same(msg.content.map((b) => b.type), ['thinking', 'text']);
  const [thinking, text] = msg.content;
  t.ok(thinking!.type === 'thinking' && thinking!.thinking.length > 0 && thinking!.signature.length > 0);
  t.equal(msg.stop_reason, 'end_turn');
  const { violations } = await import('../helpers/contracts.js');
  t.same(violations('anthropic', 'Message', msg), []);

  const stream = client.messages.stream(body);
  const kinds = new Set<string>();
  stream.on('streamEvent', (e) => {
    if (e.type === 'content_block_delta') kinds.add(e.delta.type);
    t.same(violations('anthropic', 'MessageStreamEvent', e), [], e.type);
  });
  const final = await stream.finalMessage();
  t.same([...kinds].sort(), ['signature_delta', 'text_delta', 'thinking_delta']);
  t.same(final.content, msg.content, 'stream and non-stream say the same');
  t.equal(final.usage.output_tokens, msg.usage.output_tokens);
  t.ok(text!.type === 'text');

  const tooSmall = await client.messages.create({ ...body, max_tokens: 1024 }).catch((e: unknown) => e);
  t.ok(tooSmall instanceof Anthropic.BadRequestError, 'max_tokens must exceed budget_tokens');
  const stopped = await client.messages.create({ ...body, stop_sequences: ['.'] });
  t.equal(stopped.stop_reason, 'stop_sequence', 'stop sequences end the answer, not the thinking');
  t.same(stopped.content[0], msg.content[0]);
});
