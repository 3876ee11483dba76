import fc from 'fast-check';
import t from 'tap';
import { ANTHROPIC, send, startHostile, type Hostile } from '../helpers/hostile.js';

/**
 * A bounded fuzz run against a real 2-worker cluster: request bodies built from each endpoint's
 * own fields (valid values mixed with wrong types, extremes and arbitrary JSON), a few hundred
 * per endpoint, time-boxed. Every answer must be a dialect-correct 4xx or a success, never a
 * 5xx (contained internal errors would be 500 with the dialect's body: none are expected), never
 * slower than FUZZ_BOUND_MS at time scale 0, and no worker may die.
 */
const CASES_PER_ENDPOINT = 400;
const TIME_BOX_MS = 20_000;
const FUZZ_BOUND_MS = 5_000;

let h: Hostile;
t.before(async () => {
  h = await startHostile(['--time-scale', '0']);
});
t.teardown(() => h.close());

/** A field's value: usually one the endpoint documents, sometimes anything at all. */
const field = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 15, arbitrary: valid }, { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) });
const model = (ids: string[]): fc.Arbitrary<unknown> => field(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ids) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }));
const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 50 }), fc.constant('word '.repeat(300)));
const smallInt = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.constantFrom(0, 1, 128, 129, 2 ** 31, -1, 1e9), fc.double()) });
const schema = fc.oneof(
  fc.constant({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }),
  fc.constant({ type: 'array', minItems: 1e7 }),
  fc.constant({ $ref: '#' }),
  fc.constant({ type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] }),
  fc.constant({ type: 'integer', minimum: 3, maximum: 2 }),
  fc.anything({ maxDepth: 3 }),
);
const content = fc.oneof(text, fc.array(fc.record({ type: fc.constantFrom('text', 'image_url', 'x'), text: field(text) }), { maxLength: 3 }), fc.constant(null));
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

interface Endpoint {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: fc.Arbitrary<unknown>;
}

const OPENAI_CHAT = ['gpt-4.1', 'gpt-4o-mini', 'text-embedding-3-small'];
const CLAUDE = ['claude-sonnet-4-5', 'claude-3-5-haiku-latest', 'gpt-4.1'];

const endpoints: Endpoint[] = [
  {
    path: '/v1/chat/completions',
    headers: {},
    body: fc.record(
      {
        model: model(OPENAI_CHAT),
        messages: field(fc.array(fc.record({ role: field(fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer')), content: field(content) }), { minLength: 1, maxLength: 4 })),
        max_tokens: optional(field(smallInt)),
        n: optional(field(smallInt)),
        stream: optional(field(fc.boolean())),
        stream_options: optional(field(fc.record({ include_usage: field(fc.boolean()) }))),
        logprobs: optional(field(fc.boolean())),
        top_logprobs: optional(field(smallInt)),
        stop: optional(field(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 6 })))),
        seed: optional(field(smallInt)),
        response_format: optional(field(fc.oneof(fc.constant({ type: 'json_object' }), schema.map((s) => ({ type: 'json_schema', json_schema: { name: 'x', schema: s } }))))),
        tools: optional(field(fc.array(schema.map((s) => ({ type: 'function', function: { name: 'f', parameters: s } })), { maxLength: 2 }))),
        tool_choice: optional(field(fc.oneof(fc.constantFrom('auto', 'none', 'required'), fc.constant({ type: 'function', function: { name: 'f' } })))),
      },
      { requiredKeys: ['model'] },
    ),
  },
  {
    path: '/v1/completions',
    headers: {},
    body: fc.record(
      {
        model: model(OPENAI_CHAT),
        prompt: field(fc.oneof(text, fc.array(text, { maxLength: 4 }), fc.array(fc.nat(200_000), { maxLength: 20 }), fc.array(fc.array(fc.nat(), { maxLength: 5 }), { maxLength: 3 }))),
        max_tokens: optional(field(smallInt)),
        n: optional(field(smallInt)),
        best_of: optional(field(smallInt)),
        logprobs: optional(field(smallInt)),
        echo: optional(field(fc.boolean())),
        stream: optional(field(fc.boolean())),
        stop: optional(field(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 6 })))),
      },
      { requiredKeys: ['model'] },
    ),
  },
  {
    path: '/v1/embeddings',
    headers: {},
    body: fc.record(
      {
        model: model(['text-embedding-3-small', 'text-embedding-3-large', 'gpt-4.1']),
        input: field(fc.oneof(text, fc.array(text, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), { maxLength: 3 }))),
        encoding_format: optional(field(fc.constantFrom('float', 'base64'))),
        dimensions: optional(field(smallInt)),
      },
      { requiredKeys: ['model'] },
    ),
  },
  {
    path: '/v1/responses',
    headers: {},
    body: fc.record(
      {
        model: model(OPENAI_CHAT),
        input: optional(field(fc.oneof(text, fc.array(fc.record({ role: field(fc.constantFrom('user', 'assistant')), content: field(content), type: optional(fc.constantFrom('message', 'function_call_output')) }), { maxLength: 3 })))),
        instructions: optional(field(text)),
        max_output_tokens: optional(field(smallInt)),
        stream: optional(field(fc.boolean())),
        metadata: optional(field(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })))),
        text: optional(field(fc.record({ format: field(fc.oneof(fc.constant({ type: 'text' }), schema.map((s) => ({ type: 'json_schema', name: 'x', schema: s })))) }))),
        tools: optional(field(fc.array(fc.oneof(fc.constant({ type: 'web_search' }), schema.map((s) => ({ type: 'function', name: 'f', parameters: s }))), { maxLength: 2 }))),
      },
      { requiredKeys: ['model'] },
    ),
  },
  {
    path: '/v1/messages',
    headers: ANTHROPIC,
    body: fc.record(
      {
        model: model(CLAUDE),
        max_tokens: field(smallInt),
        messages: field(fc.array(fc.record({ role: field(fc.constantFrom('user', 'assistant')), content: field(content) }), { minLength: 1, maxLength: 4 })),
        system: optional(field(fc.oneof(text, fc.array(fc.record({ type: fc.constant('text'), text: field(text) }), { maxLength: 2 })))),
        stream: optional(field(fc.boolean())),
        stop_sequences: optional(field(fc.array(fc.string(), { maxLength: 3 }))),
        tools: optional(field(fc.array(schema.map((s) => ({ name: 't', input_schema: s })), { maxLength: 2 }))),
        tool_choice: optional(field(fc.oneof(fc.constant({ type: 'any' }), fc.constant({ type: 'auto' }), fc.constant({ type: 'tool', name: 't' })))),
        thinking: optional(field(fc.oneof(fc.constant({ type: 'enabled', budget_tokens: 1024 }), fc.constant({ type: 'disabled' }), fc.record({ type: fc.constant('enabled'), budget_tokens: field(smallInt) })))),
      },
      { requiredKeys: ['model'] },
    ),
  },
  {
    path: '/v1/messages/count_tokens',
    headers: ANTHROPIC,
    body: fc.record({ model: model(CLAUDE), messages: field(fc.array(fc.record({ role: field(fc.constantFrom('user', 'assistant')), content: field(content) }), { maxLength: 4 })), system: optional(field(text)) }, { requiredKeys: ['model'] }),
  },
  {
    path: '/v1/complete',
    headers: ANTHROPIC,
    body: fc.record(
      {
        model: model(CLAUDE),
        prompt: field(fc.oneof(text, text.map((s) => `\n\nHuman: ${s}\n\nAssistant:`))),
        max_tokens_to_sample: field(smallInt),
        stream: optional(field(fc.boolean())),
        stop_sequences: optional(field(fc.array(fc.string(), { maxLength: 3 }))),
      },
      { requiredKeys: ['model'] },
    ),
  },
];

/** The dialect's error shape, or null when the body is one. */
function errorShapeProblem(path: string, text: string): string | null {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const anthropicRoute = path.startsWith('/v1/messages') || path === '/v1/complete';
  if (anthropicRoute) return body?.type === 'error' && typeof body.error?.type === 'string' && typeof body.error?.message === 'string' ? null : 'not an Anthropic error';
  return typeof body?.error?.message === 'string' && typeof body.error.type === 'string' && 'param' in body.error && 'code' in body.error ? null : 'not an OpenAI error';
}

for (const endpoint of endpoints) {
  t.test(`fuzz ${endpoint.path}`, async (t) => {
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(endpoint.body, async (body) => {
        const r = await send(`${h.c.url}${endpoint.path}`, body, endpoint.headers, FUZZ_BOUND_MS * 2);
        if (r.status === 0) {
          problems.push(`no answer in ${FUZZ_BOUND_MS * 2} ms for ${JSON.stringify(body).slice(0, 400)}`);
          return false;
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        slowest = Math.max(slowest, r.ms);
        if (r.status >= 500) problems.push(`${r.status} for ${JSON.stringify(body).slice(0, 300)}: ${r.text.slice(0, 200)}`);
        else if (r.status >= 400) {
          const problem = errorShapeProblem(endpoint.path, r.text);
          if (problem !== null) problems.push(`${r.status} ${problem}: ${r.text.slice(0, 200)}`);
        }
        if (r.ms > FUZZ_BOUND_MS) problems.push(`${r.ms.toFixed(0)} ms for ${JSON.stringify(body).slice(0, 300)}`);
        return problems.length === 0;
      }),
      { numRuns: CASES_PER_ENDPOINT, seed: 4242, interruptAfterTimeLimit: TIME_BOX_MS, endOnFailure: true },
    ).catch((err: Error) => problems.push(err.message.split('\n')[0]!));
    t.same(problems, [], `${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')}; slowest ${slowest.toFixed(0)} ms`);
    t.ok((statuses.get(200) ?? 0) > 0, 'some bodies were valid');
    t.ok([...statuses.keys()].some((s) => s >= 400 && s < 500), 'some were refused');
    t.same(h.deaths(), [], 'no worker died');
    t.same(h.strays(), [], 'nothing reached the last net or became a 500');
  });
}
