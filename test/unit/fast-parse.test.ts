import t from 'tap';
import type { z } from '#zod';
import { compile, INVALID } from '../../src/api/fast-parse.js';
import { chatRequest } from '../../src/api/openai/chat-completions.js';
import { completionsRequest } from '../../src/api/openai/completions.js';
import { responsesRequest } from '../../src/api/openai/responses.js';
import { embeddingsRequest } from '../../src/api/openai/embeddings.js';
import { messagesRequest } from '../../src/api/anthropic/messages.js';
import { countRequest } from '../../src/api/anthropic/count-tokens.js';
import { completeRequest } from '../../src/api/anthropic/complete.js';

/**
 * The compiled parsers against zod itself: for every request below and thousands of mutations of
 * it (each field of each body, and each field the schema knows, replaced by values of every JSON
 * type, out of range, or removed), the compiled parser must refuse exactly what zod refuses and
 * give zod's output byte for byte (key order included: answers echo parts of the request).
 */

const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const CORPUS: Record<string, { schema: z.ZodType; bodies: unknown[] }> = {
  chat: {
    schema: chatRequest,
    bodies: [
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      {
        model: 'gpt-4o',
        messages: [
          { role: 'system', content: 'terse' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'x' } }], name: 'me' },
          { role: 'assistant', content: null, tool_calls: [] },
          { role: 'tool', content: 'done', tool_call_id: 'c1' },
        ],
        max_tokens: 16,
        max_completion_tokens: null,
        n: 2,
        stream: true,
        stream_options: { include_usage: true, extra: 1 },
        seed: 7,
        temperature: 0.5,
        top_p: 1,
        stop: ['a', 'b'],
        logprobs: true,
        top_logprobs: 3,
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'd', parameters } }],
        parallel_tool_calls: false,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        response_format: { type: 'json_schema', json_schema: { name: 'out', schema: parameters, strict: true } },
        user: 'u',
        metadata: { a: 'b' },
      },
      { model: 'gpt-4o-mini', messages: [{ role: 'developer', content: 'x' }], stop: 'END', tool_choice: 'auto', response_format: { type: 'json_object' } },
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' }, stream_options: null },
    ],
  },
  completions: {
    schema: completionsRequest,
    bodies: [
      { model: 'gpt-3.5-turbo-instruct', prompt: 'Say', max_tokens: 5 },
      { model: 'm', prompt: ['a', ''], echo: true, suffix: 's', n: 2, best_of: 3, logprobs: 2, stop: 'x', stream: true, stream_options: { include_usage: false }, seed: 1, temperature: 2, top_p: 0, extra: [1] },
      { model: 'm', prompt: [1, 2, 3] },
      { model: 'm', prompt: [[1, 2], [3]] },
    ],
  },
  responses: {
    schema: responsesRequest,
    bodies: [
      { model: 'gpt-4o', input: 'hi' },
      {
        model: 'gpt-4o',
        input: [{ role: 'user', content: 'hi' }, { type: 'function_call_output', call_id: 'c', output: 'o' }],
        instructions: 'be brief',
        max_output_tokens: 20,
        stream: false,
        temperature: 1,
        top_p: 0.5,
        metadata: { k: 'v' },
        tools: [{ type: 'function', name: 'f', parameters }],
        tool_choice: { type: 'function', name: 'f' },
        text: { format: { type: 'json_schema', name: 'n', schema: parameters, strict: true }, verbosity: 'low' },
        previous_response_id: null,
        parallel_tool_calls: true,
        store: false,
        user: 'u',
        reasoning: { effort: 'low' },
      },
      { model: 'gpt-4o', input: 'x', tool_choice: 'required', text: { format: { type: 'json_object' } } },
    ],
  },
  embeddings: {
    schema: embeddingsRequest,
    bodies: [
      { model: 'text-embedding-3-small', input: 'hi' },
      { model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256, user: 'u', extra: true },
      { model: 'text-embedding-3-small', input: [[1, 2], [3]], encoding_format: 'float' },
    ],
  },
  messages: {
    schema: messagesRequest,
    bodies: [
      { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
      {
        model: 'claude-sonnet-4-5',
        max_tokens: 0,
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'ok' }] },
        ],
        system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
        stream: true,
        stop_sequences: ['X'],
        temperature: 1,
        top_p: 0.9,
        top_k: 5,
        tools: [{ name: 'f', description: 'd', input_schema: parameters }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        thinking: { type: 'enabled', budget_tokens: 2048 },
        metadata: { user_id: 'u' },
      },
      { model: 'claude-haiku-4-5', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], system: 's', tool_choice: { type: 'tool', name: 'f' }, thinking: { type: 'adaptive' } },
    ],
  },
  count: {
    schema: countRequest,
    bodies: [
      { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] },
      { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], system: [{ type: 'text', text: 's' }], tools: [] },
    ],
  },
  complete: {
    schema: completeRequest,
    bodies: [
      { model: 'claude-2.1', prompt: '\n\nHuman: hi\n\nAssistant:', max_tokens_to_sample: 5 },
      { model: 'claude-2.1', prompt: '', max_tokens_to_sample: 1, stop_sequences: [], stream: true, temperature: 0, top_p: 1, top_k: 0, metadata: {} },
    ],
  },
};

/** Values of every JSON type, at the edges of the ranges the schemas check. */
const REPLACEMENTS: unknown[] = [undefined, null, true, false, 0, -1, 1, 1.5, 2, 5, 1023, 1024, 2049, 2 ** 53, -0.5, '', 'x', 'user', 'auto', 'text', 'function', 'json_schema', 'enabled', [], ['a'], [1, 2], [{}], [{ type: 'text', text: 't' }], {}, { type: 'text' }, { type: 'function', name: 'f' }];

/** Every path to a value in `value`. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = at.length > 0 ? [at] : [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...at, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...at, k]));
  return out;
}

/** A copy of `body` (as JSON.parse would make it) with the value at `path` replaced, or removed for undefined. */
function replaced(body: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = JSON.parse(JSON.stringify(value));
  return copy;
}

function variants(schema: z.ZodType, body: unknown): unknown[] {
  const out: unknown[] = [body];
  const shapeKeys = Object.keys((schema as unknown as { _zod: { def: { shape: object } } })._zod.def.shape);
  const all = [...paths(body), ...shapeKeys.filter((k) => !(k in (body as object))).map((k) => [k])];
  for (const path of all) for (const value of REPLACEMENTS) out.push(replaced(body, path, value));
  // An unknown key at every level of objects, and keys JSON.parse makes own properties of.
  for (const path of [[], ...paths(body)]) {
    const copy = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
    let node: unknown = copy;
    for (const key of path) node = (node as Record<string | number, unknown>)[key];
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      (node as Record<string, unknown>).zz_unknown = { nested: [1] };
      out.push(copy);
    }
  }
  out.push(JSON.parse(`{"__proto__":{"polluted":1},${JSON.stringify(body).slice(1)}`));
  out.push(JSON.parse(JSON.stringify(body).replace(/:(\d+)([,}])/, ':1e999$2')));
  out.push(null, [], 'text', 1);
  return out;
}

for (const [name, { schema, bodies }] of Object.entries(CORPUS)) {
  t.test(`${name}: the compiled parser refuses what zod refuses and gives zod's output`, async (t) => {
    const parse = compile(schema);
    t.ok(parse, 'the schema compiles');
    const disagreements: string[] = [];
    let accepted = 0;
    let refused = 0;
    for (const body of bodies) {
      for (const v of variants(schema, body)) {
        const expected = schema.safeParse(v);
        const got = parse!(v);
        if (expected.success) accepted++;
        else refused++;
        const same = expected.success ? got !== INVALID && JSON.stringify(got) === JSON.stringify(expected.data) : got === INVALID;
        if (!same && disagreements.length < 5) disagreements.push(`${JSON.stringify(v)}: zod ${expected.success ? JSON.stringify(expected.data) : 'refuses'}, compiled ${got === INVALID ? 'refuses' : JSON.stringify(got)}`);
      }
    }
    t.same(disagreements, [], 'no body on which they disagree');
    t.ok(accepted > 50 && refused > 50, `both outcomes exercised (${accepted} accepted, ${refused} refused)`);
  });
}

t.test('a schema with a kind the compiler does not cover is left to zod', async (t) => {
  const { z } = await import('#zod');
  t.equal(compile(z.object({ at: z.date() })), null, 'z.date');
  t.equal(compile(z.object({ n: z.number().default(1) })), null, 'a default');
  t.equal(compile(z.string().email()), null, 'a string format other than regex and prefix');
  t.ok(compile(z.object({ s: z.string().regex(/^a/) })), 'a regex compiles');
});
