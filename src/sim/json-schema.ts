import type { Rng } from './rng.js';
import { generateTokens, renderText } from './text.js';

type Schema = Record<string, unknown>;

const MAX_DEPTH = 8;

/**
 * A value that validates against a JSON Schema, drawn from a seeded generator: what structured
 * output (`response_format` json_schema) returns. Covers what tool and output schemas use in
 * practice: type (or a list of types), properties and required, items with minItems/maxItems,
 * enum and const, anyOf/oneOf/allOf (the first branch, merged for allOf), local $ref into
 * $defs/definitions, string formats (date-time, date, time, email, uri, uuid), length and
 * numeric bounds. `pattern` is not honoured.
 */
export function sampleJson(schema: unknown, rng: Rng, root: unknown = schema, depth = 0): unknown {
  if (schema === true || schema === undefined || schema === null || typeof schema !== 'object') return {};
  const s = schema as Schema;
  if (typeof s.$ref === 'string') return sampleJson(resolveRef(root, s.$ref), rng, root, depth);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[Math.floor(rng.next() * s.enum.length)];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const concrete = branches.find((b) => (b as Schema)?.type !== 'null') ?? branches[0];
      return sampleJson({ ...withoutKey(s, key), ...(concrete as Schema) }, rng, root, depth);
    }
  }
  if (Array.isArray(s.allOf)) return sampleJson(Object.assign({}, withoutKey(s, 'allOf'), ...(s.allOf as Schema[])), rng, root, depth);
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = s.properties !== undefined ? 'object' : s.items !== undefined ? 'array' : 'string';
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth >= MAX_DEPTH) return out;
      const props = (s.properties ?? {}) as Record<string, unknown>;
      for (const [name, sub] of Object.entries(props)) out[name] = sampleJson(sub, rng, root, depth + 1);
      for (const name of (s.required as string[] | undefined) ?? []) if (!(name in out)) out[name] = sampleJson({}, rng, root, depth + 1);
      return out;
    }
    case 'array': {
      const min = (s.minItems as number | undefined) ?? 1;
      const max = Math.max(min, Math.min((s.maxItems as number | undefined) ?? min + 2, min + 2));
      const n = depth >= MAX_DEPTH ? min : min + Math.floor(rng.next() * (max - min + 1));
      return Array.from({ length: n }, () => sampleJson(s.items, rng, root, depth + 1));
    }
    case 'integer':
    case 'number':
      return sampleNumber(s, type === 'integer', rng);
    case 'boolean':
      return rng.next() < 0.5;
    case 'null':
      return null;
    default:
      return sampleString(s, rng);
  }
}

function withoutKey(s: Schema, key: string): Schema {
  const { [key]: _, ...rest } = s;
  return rest;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return {};
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = (node as Schema | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node ?? {};
}

function sampleNumber(s: Schema, integer: boolean, rng: Rng): number {
  let lo = typeof s.minimum === 'number' ? s.minimum : typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum + (integer ? 1 : 1e-6) : 0;
  let hi = typeof s.maximum === 'number' ? s.maximum : typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum - (integer ? 1 : 1e-6) : lo + 100;
  if (hi < lo) hi = lo;
  if (integer) {
    lo = Math.ceil(lo);
    hi = Math.floor(hi);
    const step = typeof s.multipleOf === 'number' ? Math.max(1, s.multipleOf) : 1;
    const first = Math.ceil(lo / step) * step;
    const count = Math.max(0, Math.floor((hi - first) / step));
    return first + step * Math.floor(rng.next() * (count + 1));
  }
  return Math.round((lo + rng.next() * (hi - lo)) * 100) / 100;
}

const FORMATS: Record<string, (rng: Rng) => string> = {
  'date-time': (rng) => new Date(Date.UTC(2025, 0, 1) + Math.floor(rng.next() * 365 * 86_400_000)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  date: (rng) => new Date(Date.UTC(2025, 0, 1) + Math.floor(rng.next() * 365) * 86_400_000).toISOString().slice(0, 10),
  time: (rng) => `${String(Math.floor(rng.next() * 24)).padStart(2, '0')}:${String(Math.floor(rng.next() * 60)).padStart(2, '0')}:00Z`,
  email: (rng) => `user${Math.floor(rng.next() * 1000)}@example.com`,
  uri: (rng) => `https://example.com/item/${Math.floor(rng.next() * 1000)}`,
  uuid: (rng) => Array.from({ length: 32 }, (_, i) => (i === 12 ? '4' : Math.floor(rng.next() * 16).toString(16))).join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
};

function sampleString(s: Schema, rng: Rng): string {
  const format = typeof s.format === 'string' ? FORMATS[s.format] : undefined;
  if (format !== undefined) return format(rng);
  const min = (s.minLength as number | undefined) ?? 1;
  const max = (s.maxLength as number | undefined) ?? Math.max(min, 40);
  let text = renderText(generateTokens(Math.floor(rng.next() * 0x7fffffff), 2 + Math.floor(rng.next() * 5)));
  while (text.length < min) text += text;
  return text.slice(0, Math.max(min, Math.min(max, text.length)));
}
