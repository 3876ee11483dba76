import OpenAI from 'openai';
import t from 'tap';
import { checkedFetch } from '../helpers/contracts.js';
import { startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${srv.url}/v1`, maxRetries: 0, fetch: checkedFetch });
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

t.test('embeddings.create with the SDK default (base64 on the wire)', async (t) => {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['rivers', 'mountains'] });
  t.equal(res.data.length, 2);
  const [a, b] = res.data.map((d) => d.embedding);
  t.equal(a!.length, 1536);
  const norm = Math.sqrt(a!.reduce((s, x) => s + x * x, 0));
  t.ok(Math.abs(norm - 1) < 1e-5, `unit length (${norm})`);
  t.notSame(a, b, 'different texts, different vectors');
  const again = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'rivers', encoding_format: 'float' });
  t.same(again.data[0]!.embedding.map((x) => Math.fround(x)), a, 'float and base64 carry the same vector, and it is deterministic');
  const short = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'rivers', dimensions: 256 });
  t.equal(short.data[0]!.embedding.length, 256);
  t.equal(res.usage.prompt_tokens, res.usage.total_tokens);
});

t.test('completions.create, plain and streamed', async (t) => {
  const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time' });
  t.equal(res.object, 'text_completion');
  t.equal(res.usage!.completion_tokens, 16, 'max_tokens defaults to 16');
  t.equal(res.choices[0]!.finish_reason, 'length');
  const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  t.equal(text, res.choices[0]!.text);
  const echoed = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', echo: true, max_tokens: 3 });
  t.ok(echoed.choices[0]!.text.startsWith('Once upon a time'));
});

t.test('responses.create and responses.stream()', async (t) => {
  const res = await client.responses.create({ model: 'gpt-4o', input: 'Tell me about rivers', instructions: 'Be brief.' });
  t.equal(res.status, 'completed');
  t.ok(res.output_text.length > 0);
  const stream = client.responses.stream({ model: 'gpt-4o', input: 'Tell me about rivers', instructions: 'Be brief.' });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => (deltas += e.delta));
  const final = await stream.finalResponse();
  t.equal(final.output_text, deltas);
  t.equal(final.output_text, res.output_text, 'stream and non-stream say the same');
  t.equal(final.usage!.output_tokens, res.usage!.output_tokens);
  const cut = await client.responses.create({ model: 'gpt-4o', input: 'Tell me about rivers', max_output_tokens: 16 });
  t.equal(cut.status, 'incomplete');
  t.equal(cut.incomplete_details!.reason, 'max_output_tokens');
});

t.test('stop sequences and context window', async (t) => {
  const full = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 60 });
  const text = full.choices[0]!.message.content!;
  const stop = text.split(' ').slice(3, 5).join(' ');
  const cut = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 60, stop: [stop] });
  t.equal(cut.choices[0]!.finish_reason, 'stop');
  t.ok(text.startsWith(cut.choices[0]!.message.content!), 'the cut text is a prefix of the uncut one');
  t.notMatch(cut.choices[0]!.message.content!, stop);
  const tooLong = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 200_000 }).catch((e: unknown) => e);
  t.ok(tooLong instanceof OpenAI.BadRequestError);
  t.equal((tooLong as InstanceType<typeof OpenAI.BadRequestError>).code, 'context_length_exceeded');
});

t.test('logprobs and top_logprobs, streamed and not', async (t) => {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 6, logprobs: true, top_logprobs: 3 });
  const content = res.choices[0]!.logprobs!.content!;
  t.equal(content.length, 6, 'one entry per token');
  t.equal(content.map((c) => c.token).join(''), res.choices[0]!.message.content);
  for (const c of content) {
    t.ok(c.logprob <= 0 && c.logprob > -3.01);
    t.equal(c.top_logprobs.length, 3);
    t.equal(c.top_logprobs[0]!.token, c.token);
    t.same(c.bytes, Array.from(Buffer.from(c.token)));
  }
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 6, logprobs: true, top_logprobs: 3, stream: true });
  const streamed: unknown[] = [];
  for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  t.same(streamed, content, 'the same logprobs, one per chunk');
  const { violations } = await import('../helpers/contracts.js');
  t.same(violations('openai', 'CreateChatCompletionResponse', res), []);
  const bad = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, top_logprobs: 2 }).catch((e: unknown) => e);
  t.ok(bad instanceof OpenAI.BadRequestError, 'top_logprobs needs logprobs');
});

t.test('a large batch (256 inputs × 3072 dimensions) through the thread pool', async (t) => {
  const pooled = await startServer({}, { pool: true });
  t.teardown(() => pooled.close());
  const big = new OpenAI({ apiKey: 'sk-test', baseURL: `${pooled.url}/v1`, maxRetries: 0, fetch: checkedFetch });
  const input = Array.from({ length: 256 }, (_, i) => `document ${i}`);
  const res = await big.embeddings.create({ model: 'text-embedding-3-large', input });
  t.equal(res.data.length, 256);
  t.ok(res.data.every((d, i) => d.index === i && d.embedding.length === 3072));
  const inline = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'document 17' });
  t.same(res.data[17]!.embedding, inline.data[0]!.embedding, 'the pool computes the same vector as the inline path');
});

t.test('n > 1: distinct choices, interleaved in the stream, each finished once', async (t) => {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 3, max_tokens: 30 });
  t.same(res.choices.map((c) => c.index), [0, 1, 2]);
  t.equal(new Set(res.choices.map((c) => c.message.content)).size, 3, 'three different answers');
  const sum = res.choices.reduce((s, c) => s + (c.message.content!.match(/ ?[A-Za-z]+|[.,]/g) ?? []).length, 0);
  t.equal(res.usage!.completion_tokens, sum, 'usage counts every choice');
  const single = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 30 });
  t.equal(res.choices[0]!.message.content, single.choices[0]!.message.content, 'choice 0 is the n = 1 answer');

  const final = await client.chat.completions.stream({ model: 'gpt-4o-mini', messages, n: 3, max_tokens: 30 }).finalChatCompletion();
  t.same(final.choices.map((c) => c.message.content), res.choices.map((c) => c.message.content), 'the stream helper rebuilds every choice');
  t.same(final.choices.map((c) => c.finish_reason), res.choices.map((c) => c.finish_reason));

  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 3, max_tokens: 30, stream: true, stream_options: { include_usage: true } });
  const finishes: number[] = [];
  const order: number[] = [];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      if (c.delta.content) order.push(c.index);
      if (c.finish_reason) finishes.push(c.index);
    }
    if (chunk.usage) t.equal(chunk.usage.completion_tokens, sum);
  }
  t.same([...finishes].sort(), [0, 1, 2], 'one finish_reason per choice');
  t.same(order.slice(0, 3), [0, 1, 2], 'choices interleave token by token');
  const withLogprobs = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 2, max_tokens: 8, logprobs: true, top_logprobs: 1 });
  const streamed = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 2, max_tokens: 8, logprobs: true, top_logprobs: 1, stream: true });
  const perChoice: unknown[][] = [[], []];
  for await (const chunk of streamed) for (const c of chunk.choices) perChoice[c.index]!.push(...(c.logprobs?.content ?? []));
  t.same(perChoice, withLogprobs.choices.map((c) => c.logprobs!.content), 'each choice streams its own logprobs');
  t.notSame(perChoice[0], perChoice[1]);
});

t.test('completions: a batch of prompts, n per prompt, integer logprobs', async (t) => {
  const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['First prompt', 'Second prompt'], n: 2, max_tokens: 5, logprobs: 2, echo: true });
  t.equal(res.choices.length, 4);
  t.same(res.choices.map((c) => c.index), [0, 1, 2, 3]);
  t.ok(res.choices[0]!.text.startsWith('First prompt') && res.choices[2]!.text.startsWith('Second prompt'), 'ordered by prompt, then n');
  t.equal(new Set(res.choices.map((c) => c.text)).size, 4);
  for (const c of res.choices) {
    const lp = c.logprobs!;
    t.equal(lp.tokens!.length, 5);
    t.equal(lp.tokens!.join(''), c.text.slice(c.text.startsWith('First') ? 'First prompt'.length : 'Second prompt'.length));
    t.ok(lp.token_logprobs!.every((x) => x <= 0));
    t.ok(lp.top_logprobs!.every((o) => Object.keys(o).length === 2));
    t.equal(lp.text_offset![0], c.text.startsWith('First') ? 'First prompt'.length : 'Second prompt'.length);
  }
  t.equal(res.usage!.completion_tokens, 20);
  const { violations } = await import('../helpers/contracts.js');
  t.same(violations('openai', 'CreateCompletionResponse', res), []);
  const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['First prompt', 'Second prompt'], n: 2, max_tokens: 5, stream: true });
  const texts = ['', '', '', ''];
  const finished: number[] = [];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      texts[c.index] += c.text;
      if (c.finish_reason) finished.push(c.index);
    }
  }
  t.same(texts, res.choices.map((c) => c.text.replace(/^(First|Second) prompt/, '')));
  t.same(finished.sort(), [0, 1, 2, 3]);
});
