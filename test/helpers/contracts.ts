import { isErrorFault, type FaultType } from '../../src/faults/catalogue.js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The vendors' OpenAPI documents from ../shared/contracts (read-only data, not copied into this
 * repository), compiled with ajv so a test can check a body against a named component schema.
 */
const CONTRACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/contracts');

/** OpenAPI 3.0's `nullable` (still used in places) as JSON Schema: the value may also be null. */
function denullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(denullable);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (k !== 'nullable') out[k] = denullable(v);
  if ((node as { nullable?: unknown }).nullable !== true) return out;
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
  return { anyOf: [out, { type: 'null' }] };
}

let ajv: Ajv2020 | null = null;
const cache = new Map<string, ValidateFunction>();

function instance(): Ajv2020 {
  if (ajv !== null) return ajv;
  const openai = parse(readFileSync(`${CONTRACTS}/openai-openapi.yml`, 'utf8'));
  const anthropic = JSON.parse(readFileSync(`${CONTRACTS}/anthropic-openapi.yml`, 'utf8'));
  ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
  const addFormats = (addFormatsModule as unknown as { default: (a: Ajv2020) => void }).default ?? addFormatsModule;
  addFormats(ajv);
  ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 });
  ajv.addSchema({ $id: 'openai', components: denullable(openai.components) });
  ajv.addSchema({ $id: 'anthropic', components: denullable(anthropic.components) });
  return ajv;
}

/** Parses the documents and compiles the schemas responses are checked against, so no timed request pays for it (~2 s). */
export function warmContracts(): void {
  for (const [vendor, name] of [
    ['openai', 'CreateChatCompletionResponse'],
    ['openai', 'CreateChatCompletionStreamResponse'],
    ['openai', 'ErrorResponse'],
    ['anthropic', 'Message'],
    ['anthropic', 'MessageStreamEvent'],
    ['anthropic', 'ErrorResponse'],
  ] as const) {
    violations(vendor, name, {});
  }
}

/** Errors of `value` against `<vendor>#/components/schemas/<name>`, or [] when it conforms. */
export function violations(vendor: 'openai' | 'anthropic', name: string, value: unknown): string[] {
  const key = `${vendor}#/components/schemas/${name}`;
  let validate = cache.get(key);
  if (validate === undefined) cache.set(key, (validate = instance().compile({ $ref: key })));
  if (validate(value)) return [];
  return (validate.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/** The JSON payloads of an SSE body, with their event names; comment-only blocks (`: ping`) carry no event, as decoders treat them. */
export function sseEvents(text: string): { event: string | null; data: string }[] {
  return text
    .split('\n\n')
    .filter((block) => block.split('\n').some((l) => l.startsWith('data:') || l.startsWith('event:')))
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? null;
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return { event, data };
    });
}

/** Legacy completion chunks have the object's shape with finish_reason null (WIRE A4); the spec knows only the object. */
function asCompletionObject(chunk: any): any {
  for (const c of chunk.choices ?? []) c.finish_reason ??= 'stop';
  return chunk;
}

/** base64 embeddings are packed little-endian float32 (WIRE A5); the spec knows only float arrays. */
function asFloatEmbeddings(body: any): any {
  for (const d of body.data ?? []) if (typeof d.embedding === 'string') d.embedding = Array.from(new Float32Array(new Uint8Array(Buffer.from(d.embedding, 'base64')).buffer));
  return body;
}

/** WIRE B7: Anthropic's edge answers 413 with `request_too_large`, a type the API's own spec does not list. */
function asSpecErrorType(body: any): any {
  if (body?.error?.type === 'request_too_large') body.error.type = 'invalid_request_error';
  return body;
}

const OPENAI_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses']);

type Check = { vendor: 'openai' | 'anthropic'; schema: string; adapt?: (v: any) => any };

/** The schema a response of this route must match (`stream`: per event), or null for routes the vendors do not document. */
function schemaFor(method: string, path: string, anthropicHeaders: boolean, status: number, stream: boolean): Check | null {
  // As the server routes: Anthropic's own paths, and shared or unknown ones asked with Anthropic headers.
  const anthropicRoute = path.startsWith('/v1/messages') || path === '/v1/complete' || (anthropicHeaders && !OPENAI_PATHS.has(path));
  if (status >= 400) return anthropicRoute ? { vendor: 'anthropic', schema: 'ErrorResponse', adapt: asSpecErrorType } : { vendor: 'openai', schema: 'ErrorResponse' };
  if (method === 'GET' && path === '/v1/models') return anthropicRoute ? { vendor: 'anthropic', schema: 'ListResponse_ModelInfo_' } : { vendor: 'openai', schema: 'ListModelsResponse' };
  if (method === 'GET' && path.startsWith('/v1/models/')) return anthropicRoute ? { vendor: 'anthropic', schema: 'ModelInfo' } : { vendor: 'openai', schema: 'Model' };
  if (method !== 'POST') return null;
  switch (path) {
    case '/v1/chat/completions':
      return { vendor: 'openai', schema: stream ? 'CreateChatCompletionStreamResponse' : 'CreateChatCompletionResponse' };
    case '/v1/completions':
      return { vendor: 'openai', schema: 'CreateCompletionResponse', adapt: stream ? asCompletionObject : undefined };
    case '/v1/embeddings':
      return { vendor: 'openai', schema: 'CreateEmbeddingResponse', adapt: asFloatEmbeddings };
    case '/v1/responses':
      return { vendor: 'openai', schema: stream ? 'ResponseStreamEvent' : 'Response' };
    case '/v1/messages':
      return { vendor: 'anthropic', schema: stream ? 'MessageStreamEvent' : 'Message' };
    case '/v1/messages/count_tokens':
      return { vendor: 'anthropic', schema: 'CountMessageTokensResponse' };
    case '/v1/complete':
      return { vendor: 'anthropic', schema: 'CompletionResponse' };
    default:
      return null;
  }
}

/** A response an injected fault mangled on purpose (cut, truncated, HTML): only error faults' JSON bodies are held to the schema. */
function mangledOnPurpose(res: Response): boolean {
  const injected = res.headers.get('x-sim-fault-injected');
  if (injected === null) return false;
  const type = injected.slice(injected.lastIndexOf('/') + 1) as FaultType;
  return !isErrorFault(type) || type === 'bad_gateway';
}

/** Every violation found by checkedFetch, for a test to assert there were none. */
export const contractViolations: string[] = [];

/**
 * A fetch for the SDK clients and the tests' own requests that checks every response body, and
 * every event of a stream, against the vendor's schema for its route (in-band error events
 * against ErrorResponse), recording violations in `contractViolations`. It reads the whole body
 * before handing the response on, so tests that time a stream's events use plain fetch.
 */
export const checkedFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const headers = new Headers(init?.headers);
  const method = (init?.method ?? 'GET').toUpperCase();
  const stream = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const check = schemaFor(method, url.pathname, headers.has('anthropic-version') || headers.has('x-api-key'), res.status, stream);
  if (check === null || mangledOnPurpose(res)) return res;
  const text = await res.clone().text();
  const values: { what: string; value: unknown; check: Check }[] = [];
  if (!stream) values.push({ what: `${method} ${url.pathname} ${res.status}`, value: JSON.parse(text), check });
  else {
    for (const e of sseEvents(text)) {
      if (e.data === '[DONE]') continue;
      const value = JSON.parse(e.data);
      const inBandError = e.event === 'error' || (e.event === null && 'error' in value);
      values.push({ what: `${url.pathname} event ${e.event ?? value.object ?? ''}`, value, check: inBandError ? { vendor: check.vendor, schema: 'ErrorResponse' } : check });
    }
  }
  for (const { what, value, check: c } of values) {
    const errors = violations(c.vendor, c.schema, c.adapt ? c.adapt(structuredClone(value)) : value);
    if (errors.length > 0) contractViolations.push(`${what}: ${errors.join('; ')}`);
  }
  return res;
};
