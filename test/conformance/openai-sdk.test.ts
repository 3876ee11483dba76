import OpenAI from 'openai';
import t from 'tap';
import { startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${srv.url}/v1`, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Say something about rivers.' }];

t.test('chat.completions.create (non-stream)', async (t) => {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 8 });
  t.equal(res.object, 'chat.completion');
  t.equal(res.choices[0]!.message.role, 'assistant');
  t.equal(res.choices[0]!.finish_reason, 'length');
  t.equal(res.usage!.completion_tokens, 8);
  t.match(res._request_id, /^req_/);
});

t.test('chat.completions.create (stream) yields one chunk per token', async (t) => {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let contentChunks = 0;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice?.delta.content) {
      text += choice.delta.content;
      contentChunks++;
    }
    if (choice?.finish_reason) finish = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  t.equal(contentChunks, 5);
  t.equal(finish, 'length');
  t.equal(usage!.completion_tokens, 5);
  const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 });
  t.equal(text, whole.choices[0]!.message.content, 'stream and non-stream say the same');
});

t.test('chat.completions.stream().finalChatCompletion()', async (t) => {
  const runner = client.chat.completions.stream({ model: 'gpt-4o', messages, max_tokens: 12 });
  const deltas: string[] = [];
  runner.on('content', (delta) => deltas.push(delta));
  const final = await runner.finalChatCompletion();
  t.equal(final.choices[0]!.message.content, deltas.join(''));
  t.equal(final.choices[0]!.finish_reason, 'length');
  t.equal(deltas.length, 12);
});

t.test('models.list and models.retrieve', async (t) => {
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  t.ok(ids.includes('gpt-4o-mini'));
  const m = await client.models.retrieve('gpt-4.1');
  t.equal(m.id, 'gpt-4.1');
  t.equal(m.owned_by, 'system');
});

t.test('errors become the SDK error classes with the wire fields', async (t) => {
  const notFound = await client.chat.completions.create({ model: 'gpt-nope', messages }).catch((e: unknown) => e);
  t.ok(notFound instanceof OpenAI.NotFoundError);
  t.equal((notFound as InstanceType<typeof OpenAI.NotFoundError>).code, 'model_not_found');
  t.equal((notFound as InstanceType<typeof OpenAI.NotFoundError>).param, 'model');
  t.match((notFound as Error).message, /^404 The model `gpt-nope` does not exist/);
  const bad = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch((e: unknown) => e);
  t.ok(bad instanceof OpenAI.BadRequestError);
  t.match((bad as InstanceType<typeof OpenAI.BadRequestError>).requestID, /^req_/);
});
