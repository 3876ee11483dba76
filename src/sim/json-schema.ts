import RandExp from 'randexp';
import type { Rng } from './rng.js';
import { generateTokens, renderText } from './text.js';

type Schema = Record<string, unknown>;

/**
 * Structured output and tool arguments: a value that validates against the caller's JSON Schema,
 * drawn from a seeded generator. Every value is checked against the schema before it is used
 * (`conforms`, below); a schema this module cannot satisfy, or that uses a keyword it does not
 * understand, is refused with a 400 naming the keyword, never answered with invalid JSON.
 *
 * Supported: type (or a list), enum, const, properties, required, additionalProperties,
 * minProperties/maxProperties, items, prefixItems (and draft-4 tuple `items`), minItems/maxItems,
 * uniqueItems, contains, minLength/maxLength, pattern (via randexp; no lookaround, backreferences
 * or \p classes), format (date-time, date, time, email, uri, uri-reference, uuid, hostname, ipv4,
 * ipv6, duration; other formats are annotations), numeric bounds (inclusive, exclusive, draft-4
 * boolean exclusives) and multipleOf, anyOf/oneOf (oneOf: a branch no other branch accepts),
 * allOf (merged), not, $ref to "#" or a JSON pointer into the same document ($defs, definitions).
 * Annotations (title, description, default, examples, ...) are ignored.
 */

/** Keywords that constrain values in ways this module does not check: refused rather than ignored. */
const UNSUPPORTED = ['if', 'then', 'else', 'dependentRequired', 'dependentSchemas', 'dependencies', 'patternProperties', 'propertyNames', 'unevaluatedItems', 'minContains', 'maxContains', '$dynamicRef', '$recursiveRef'];

/** Deeper than this, only what the schema requires is produced (required properties, minItems). */
const OPTIONAL_DEPTH = 8;
/** Nesting no schema needs: a recursive schema that requires itself ends here, with a 400. */
const MAX_DEPTH = 64;
/** `$ref`s followed in a row without descending into a value: more means a cycle. */
const MAX_REF_HOPS = 32;
/** Longest pattern accepted, and randexp's cap on `*` and `+`. */
const MAX_PATTERN_CHARS = 1000;
const PATTERN_REPEAT = 8;

/** Why a schema is refused: `pointer` locates the keyword inside it. */
export class SchemaError extends Error {
  constructor(
    message: string,
    readonly pointer: string,
  ) {
    super(message);
    this.name = 'SchemaError';
  }
}

interface Walk {
  readonly rng: Rng;
  readonly root: unknown;
  /** Characters of JSON the value may still take (the model's output limit, in characters). */
  budget: number;
  /** Produce only what is required (a retry after the budget ran out). */
  readonly minimal: boolean;
}

class OverBudget extends Error {}

/**
 * A value valid against `schema`, at most `maxChars` characters of JSON. Throws SchemaError when
 * the schema is unsupported, unsatisfiable, or needs more than `maxChars`.
 */
export function sampleJson(schema: unknown, rng: Rng, maxChars = Infinity): unknown {
  const state = rng.state;
  let value: unknown;
  try {
    value = sample(schema, { rng, root: schema, budget: maxChars, minimal: false }, '', 0);
  } catch (err) {
    if (!(err instanceof OverBudget)) throw err;
    // The random extras (optional properties, items beyond minItems) took too much: only what is required.
    rng.state = state;
    try {
      value = sample(schema, { rng, root: schema, budget: maxChars, minimal: true }, '', 0);
    } catch (again) {
      if (again instanceof OverBudget) throw new SchemaError(`the smallest value the schema allows is longer than the model can write (${maxChars} characters)`, '');
      throw again;
    }
  }
  if (!conforms(schema, value, schema, 0)) throw new SchemaError('llm-simulator cannot produce a value that satisfies this schema (contradictory constraints?)', '');
  return value;
}

function spend(walk: Walk, chars: number): void {
  walk.budget -= chars;
  if (walk.budget < 0) throw new OverBudget();
}

function resolveRef(root: unknown, ref: string, at: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) throw new SchemaError(`$ref "${ref}" is not supported: only references into the same schema ("#" or "#/...")`, at);
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = node !== null && typeof node === 'object' && Object.hasOwn(node, part) ? (node as Schema)[part] : undefined;
    if (node === undefined) throw new SchemaError(`$ref "${ref}" points at nothing`, at);
  }
  return node;
}

/** The schema after $ref (bounded hops) and allOf (merged), with unsupported keywords refused. */
function settle(schema: unknown, root: unknown, at: string, hops = 0): Schema | boolean {
  let s = schema;
  for (; ; hops++) {
    if (hops > MAX_REF_HOPS) throw new SchemaError('$ref cycle (or allOf nested too deep)', at);
    if (typeof s === 'boolean') return s;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new SchemaError('a schema must be an object or a boolean', at);
    const obj = s as Schema;
    for (const key of UNSUPPORTED) if (key in obj) throw new SchemaError(`"${key}" is not supported`, `${at}/${key}`);
    if (typeof obj.$ref === 'string') {
      const { $ref, ...rest } = obj;
      const target = resolveRef(root, $ref as string, `${at}/$ref`);
      s = Object.keys(rest).some((k) => !ANNOTATIONS.has(k)) ? { allOf: [target, rest] } : target;
      continue;
    }
    if (Array.isArray(obj.allOf)) {
      const { allOf, ...rest } = obj;
      let merged: Schema = rest;
      for (const [i, part] of (allOf as unknown[]).entries()) {
        const settled = settle(part, root, `${at}/allOf/${i}`, hops + 1);
        if (settled === false) return false;
        if (settled !== true) merged = mergeSchemas(merged, settled);
      }
      s = merged;
      continue;
    }
    return obj;
  }
}

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', '$schema', '$id', '$anchor', 'readOnly', 'writeOnly', 'deprecated', 'contentMediaType', 'contentEncoding', '$defs', 'definitions']);

/** allOf as one schema: properties and required united, bounds tightened, other keywords from the later part. */
function mergeSchemas(a: Schema, b: Schema): Schema {
  const out: Schema = { ...a, ...b };
  if (a.properties !== undefined && b.properties !== undefined) {
    const props: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(a.properties as Schema)) props[k] = v;
    for (const [k, v] of Object.entries(b.properties as Schema)) props[k] = k in props ? { allOf: [props[k], v] } : v;
    out.properties = props;
  }
  if (Array.isArray(a.required) || Array.isArray(b.required)) out.required = [...new Set([...((a.required as string[]) ?? []), ...((b.required as string[]) ?? [])])];
  for (const k of ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'] as const) if (typeof a[k] === 'number' && typeof b[k] === 'number') out[k] = Math.max(a[k], b[k]);
  for (const k of ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'] as const) if (typeof a[k] === 'number' && typeof b[k] === 'number') out[k] = Math.min(a[k], b[k]);
  if (a.type !== undefined && b.type !== undefined) {
    const ta = ([] as unknown[]).concat(a.type);
    const both = ([] as unknown[]).concat(b.type).filter((t) => ta.includes(t) || (t === 'integer' && ta.includes('number')) || (t === 'number' && ta.includes('integer') && (t = 'integer')));
    out.type = both.length === 1 ? both[0] : both;
  }
  for (const k of ['anyOf', 'oneOf'] as const) if (a[k] !== undefined && b[k] !== undefined) out.allOf = [{ [k]: a[k] }, { [k]: b[k] }];
  return out;
}

function typeOf(s: Schema): string {
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0] ?? 'null';
  if (typeof type === 'string') return type;
  if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined || s.prefixItems !== undefined || s.minItems !== undefined) return 'array';
  if (s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined) return 'number';
  return 'string';
}

function sample(schema: unknown, walk: Walk, at: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new SchemaError(`the schema nests deeper than ${MAX_DEPTH} levels (a recursive $ref that requires itself?)`, at);
  const s = settle(schema, walk.root, at);
  if (s === false) throw new SchemaError('false accepts no value', at);
  if (s === true) return spendValue(walk, {});
  if ('const' in s) return spendValue(walk, s.const);
  if (Array.isArray(s.enum)) {
    if (s.enum.length === 0) throw new SchemaError('an empty enum accepts no value', `${at}/enum`);
    const candidates = s.enum.filter((v) => conformsAll(s, v, walk.root, ['enum']));
    if (candidates.length === 0) throw new SchemaError('no enum value satisfies the rest of the schema', `${at}/enum`);
    return spendValue(walk, candidates[Math.floor(walk.rng.next() * candidates.length)]);
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key];
    if (!Array.isArray(branches)) continue;
    if (branches.length === 0) throw new SchemaError(`an empty ${key}`, `${at}/${key}`);
    const { [key]: _, ...rest } = s;
    // Branches in order, a non-null one first (a model fills optional fields in); oneOf needs one no other branch accepts.
    const order = [...branches.keys()].sort((i, j) => Number(isNull(branches[i])) - Number(isNull(branches[j])));
    for (const i of order) {
      const branch = { allOf: [rest, branches[i]] };
      const saved = walk.budget;
      let value: unknown;
      try {
        value = sample(branch, walk, `${at}/${key}/${i}`, depth + 1);
      } catch (err) {
        if (err instanceof SchemaError && order.length > 1) {
          walk.budget = saved;
          continue;
        }
        throw err;
      }
      if (key === 'anyOf' || branches.every((b, j) => j === i || !conforms(b, value, walk.root, depth))) return value;
      walk.budget = saved;
    }
    throw new SchemaError(`no branch of ${key} could be satisfied${key === 'oneOf' ? ' by itself alone' : ''}`, `${at}/${key}`);
  }
  if (s.not !== undefined) {
    const { not, ...rest } = s;
    // Without a type of its own, any type will do: one that `not` rejects.
    const variants = rest.type !== undefined ? [rest, rest, rest] : ['object', 'integer', 'boolean', 'null', 'string', 'array'].map((type) => ({ ...rest, type }));
    for (const variant of variants) {
      const saved = walk.budget;
      const value = sample(variant, walk, at, depth + 1);
      if (!conforms(not, value, walk.root, depth)) return value;
      walk.budget = saved;
    }
    throw new SchemaError('could not find a value that "not" rejects', `${at}/not`);
  }
  switch (typeOf(s)) {
    case 'object':
      return sampleObject(s, walk, at, depth);
    case 'array':
      return sampleArray(s, walk, at, depth);
    case 'integer':
      return spendValue(walk, sampleNumber(s, true, walk.rng, at));
    case 'number':
      return spendValue(walk, sampleNumber(s, false, walk.rng, at));
    case 'boolean':
      return spendValue(walk, walk.rng.next() < 0.5);
    case 'null':
      return spendValue(walk, null);
    case 'string':
      if (typeof s.minLength === 'number' && s.minLength > walk.budget) throw new OverBudget();
      return spendValue(walk, sampleString(s, walk.rng, at));
    default:
      throw new SchemaError(`unknown type "${String(s.type)}"`, `${at}/type`);
  }
}

const isNull = (b: unknown): boolean => b !== null && typeof b === 'object' && (b as Schema).type === 'null';

function spendValue<T>(walk: Walk, value: T): T {
  spend(walk, value === null || typeof value !== 'object' ? String(JSON.stringify(value)).length : 2);
  return value;
}

function sampleObject(s: Schema, walk: Walk, at: string, depth: number): Record<string, unknown> {
  spend(walk, 2);
  // No prototype: a property named __proto__ is a property like any other.
  const out: Record<string, unknown> = Object.create(null);
  const props = (s.properties ?? {}) as Record<string, unknown>;
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const optional = !walk.minimal && depth < OPTIONAL_DEPTH;
  const max = typeof s.maxProperties === 'number' ? s.maxProperties : Infinity;
  if (required.size > max) throw new SchemaError('more required properties than maxProperties', `${at}/maxProperties`);
  let count = 0;
  const add = (name: string, sub: unknown, where: string): void => {
    spend(walk, JSON.stringify(name).length + 2);
    out[name] = sample(sub, walk, where, depth + 1);
    count++;
  };
  for (const name of required) add(name, Object.hasOwn(props, name) ? props[name] : (s.additionalProperties ?? true), `${at}/properties/${name}`);
  if (optional) {
    for (const [name, sub] of Object.entries(props)) {
      if (required.has(name) || count >= max) continue;
      const saved = walk.budget;
      try {
        add(name, sub, `${at}/properties/${name}`);
      } catch (err) {
        // An optional property nothing satisfies is left out.
        if (!(err instanceof SchemaError)) throw err;
        walk.budget = saved;
        delete out[name];
      }
    }
  }
  const min = typeof s.minProperties === 'number' ? s.minProperties : 0;
  for (const [name, sub] of Object.entries(props)) if (count < min && !(name in out)) add(name, sub, `${at}/properties/${name}`);
  for (let k = 1; count < min; k++) {
    if (s.additionalProperties === false) throw new SchemaError('minProperties needs more properties than the schema allows', `${at}/minProperties`);
    if (!(`extra_${k}` in out) && !Object.hasOwn(props, `extra_${k}`)) add(`extra_${k}`, s.additionalProperties ?? true, `${at}/additionalProperties`);
  }
  return out;
}

function sampleArray(s: Schema, walk: Walk, at: string, depth: number): unknown[] {
  spend(walk, 2);
  // Draft 2020-12 `prefixItems` + `items`; draft 4-7 tuple `items` + `additionalItems`.
  const tuple = Array.isArray(s.prefixItems) ? (s.prefixItems as unknown[]) : Array.isArray(s.items) ? (s.items as unknown[]) : [];
  const rest = Array.isArray(s.items) ? (s.additionalItems ?? true) : (s.items ?? true);
  const minItems = typeof s.minItems === 'number' ? s.minItems : 0;
  const maxItems = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
  if (minItems > maxItems) throw new SchemaError('minItems exceeds maxItems', `${at}/minItems`);
  // A model usually lists a few items; at least the tuple's, at most maxItems.
  let n = Math.max(minItems, Math.min(tuple.length, maxItems));
  if (!walk.minimal && depth < OPTIONAL_DEPTH && n === minItems) n = Math.min(maxItems, Math.max(n, minItems + walk.rng.int(minItems === 0 ? 1 : 0, 2)));
  if (rest === false && n > tuple.length) {
    if (minItems > tuple.length) throw new SchemaError('minItems needs more items than the tuple allows', `${at}/minItems`);
    n = tuple.length;
  }
  if (minItems > walk.budget / 2) throw new OverBudget();
  const out: unknown[] = [];
  const seen = s.uniqueItems === true ? new Set<string>() : null;
  if (s.contains !== undefined && n > 0) {
    spend(walk, 1);
    out.push(sample(s.contains, walk, `${at}/contains`, depth + 1));
    seen?.add(stableKey(out[0]));
  }
  for (let attempts = 0; out.length < n; attempts++) {
    const i = out.length;
    if (attempts > n * 4 + 16) throw new SchemaError('cannot find enough distinct items for uniqueItems', `${at}/uniqueItems`);
    const saved = walk.budget;
    spend(walk, 1);
    let value: unknown;
    try {
      value = sample(i < tuple.length ? tuple[i] : rest, walk, i < tuple.length ? `${at}/prefixItems/${i}` : `${at}/items`, depth + 1);
    } catch (err) {
      // Items nothing satisfies: fine while none are required.
      if (err instanceof SchemaError && out.length >= minItems && out.length >= tuple.length) {
        walk.budget = saved;
        break;
      }
      throw err;
    }
    if (seen !== null) {
      const key = stableKey(value);
      if (seen.has(key)) {
        walk.budget = saved;
        if (out.length >= minItems && out.length >= Math.min(tuple.length, n)) break; // enough already
        continue;
      }
      seen.add(key);
    }
    out.push(value);
  }
  return out;
}

/** JSON with sorted keys: equal values (as JSON Schema compares them) give equal keys. */
function stableKey(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableKey((value as Schema)[k])}`)
    .join(',')}}`;
}

function sampleNumber(s: Schema, integer: boolean, rng: Rng, at: string): number {
  // Draft 4 spells exclusive bounds as booleans beside minimum/maximum.
  const exMin = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : s.exclusiveMinimum === true && typeof s.minimum === 'number' ? s.minimum : -Infinity;
  const exMax = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : s.exclusiveMaximum === true && typeof s.maximum === 'number' ? s.maximum : Infinity;
  const min = typeof s.minimum === 'number' && s.exclusiveMinimum !== true ? s.minimum : -Infinity;
  const max = typeof s.maximum === 'number' && s.exclusiveMaximum !== true ? s.maximum : Infinity;
  const ok = (v: number): boolean => Number.isFinite(v) && v >= min && v <= max && v > exMin && v < exMax && (!integer || Number.isInteger(v)) && isMultiple(v, s.multipleOf);
  let lo = Math.max(min, exMin);
  let hi = Math.min(max, exMax);
  if (lo === -Infinity) lo = hi === Infinity ? 0 : hi - 100;
  if (hi === Infinity) hi = lo + 100;
  if (typeof s.multipleOf === 'number' && s.multipleOf > 0) {
    const m = s.multipleOf;
    const first = Math.ceil(lo / m);
    const last = Math.floor(hi / m);
    const span = Math.min(last - first, 1000);
    // A multiple the validator also sees as one (k·m / m must come back whole in floating point).
    for (let tries = 0; tries <= Math.min(span, 64) + 1; tries++) {
      const k = first + (tries === 0 ? Math.floor(rng.next() * (span + 1)) : tries - 1);
      for (const v of [k * m, Number((k * m).toPrecision(12))]) if (ok(v)) return v;
    }
    throw new SchemaError('no number satisfies multipleOf within the bounds', `${at}/multipleOf`);
  }
  if (integer) {
    const first = Math.ceil(lo === exMin ? lo + 1e-9 : lo);
    const last = Math.floor(hi === exMax ? hi - 1e-9 : hi);
    if (first > last) throw new SchemaError('no integer lies within the bounds', at);
    const v = first + Math.floor(rng.next() * Math.min(last - first + 1, 2 ** 31));
    if (ok(v)) return v;
    return ok(first) ? first : last;
  }
  // Two decimals read like a model's number; nudged back inside when rounding crossed a bound.
  const raw = lo + rng.next() * (hi - lo);
  for (const v of [Math.round(raw * 100) / 100, Math.round(raw), raw, (lo + hi) / 2]) if (ok(v)) return v;
  throw new SchemaError('no number lies within the bounds', at);
}

/** Exactly as validators check it (ajv: the quotient is an integer in floating point, no tolerance). */
function isMultiple(v: number, m: unknown): boolean {
  if (typeof m !== 'number' || m <= 0) return true;
  return Number.isInteger(v / m);
}

const FORMATS: Record<string, (rng: Rng) => string> = {
  'date-time': (rng) => new Date(Date.UTC(2025, 0, 1) + Math.floor(rng.next() * 365 * 86_400_000)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  date: (rng) => new Date(Date.UTC(2025, 0, 1) + Math.floor(rng.next() * 365) * 86_400_000).toISOString().slice(0, 10),
  time: (rng) => `${String(Math.floor(rng.next() * 24)).padStart(2, '0')}:${String(Math.floor(rng.next() * 60)).padStart(2, '0')}:00Z`,
  email: (rng) => `user${Math.floor(rng.next() * 1000)}@example.com`,
  uri: (rng) => `https://example.com/item/${Math.floor(rng.next() * 1000)}`,
  'uri-reference': (rng) => `/item/${Math.floor(rng.next() * 1000)}`,
  uuid: (rng) => Array.from({ length: 32 }, (_, i) => (i === 12 ? '4' : i === 16 ? '8' : Math.floor(rng.next() * 16).toString(16))).join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
  hostname: (rng) => `host${Math.floor(rng.next() * 100)}.example.com`,
  ipv4: (rng) => `192.0.2.${1 + Math.floor(rng.next() * 254)}`,
  ipv6: (rng) => `2001:db8::${(1 + Math.floor(rng.next() * 0xfffe)).toString(16)}`,
  duration: (rng) => `PT${1 + Math.floor(rng.next() * 59)}M`,
};

const DATE = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
/** What each format accepts, as strictly as ajv-formats' "full" mode (unknown formats are annotations). */
const FORMAT_CHECKS: Record<string, (text: string) => boolean> = {
  'date-time': (text) => {
    const [date, time] = text.split(/[T ]/i);
    return date !== undefined && time !== undefined && DATE.test(date) && TIME.test(time);
  },
  date: (text) => DATE.test(text),
  time: (text) => TIME.test(text),
  email: (text) => /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(text),
  uri: (text) => /^[a-z][a-z0-9+.-]*:[^\s"<>\\^`{|}]*$/i.test(text),
  'uri-reference': (text) => /^[^\s"<>\\^`{|}]*$/.test(text),
  uuid: (text) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text),
  hostname: (text) => text.length <= 253 && /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(text),
  ipv4: (text) => new RegExp(`^${OCTET}(\\.${OCTET}){3}$`).test(text),
  ipv6: (text) => /^[0-9a-f:]+$/i.test(text) && text.includes('::') && text.split(':').length <= 8,
  duration: (text) => /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/.test(text),
};

function sampleString(s: Schema, rng: Rng, at: string): string {
  const minLength = typeof s.minLength === 'number' ? s.minLength : 0;
  const maxLength = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  if (minLength > maxLength) throw new SchemaError('minLength exceeds maxLength', `${at}/minLength`);
  const fits = (text: string): boolean => [...text].length >= minLength && [...text].length <= maxLength;
  const format = typeof s.format === 'string' ? FORMATS[s.format] : undefined;
  if (typeof s.pattern === 'string') {
    const text = fromPattern(s.pattern, rng, `${at}/pattern`);
    if (!fits(text)) throw new SchemaError('pattern together with minLength/maxLength is not supported', `${at}/pattern`);
    return text;
  }
  if (format !== undefined) {
    const text = format(rng);
    if (!fits(text)) throw new SchemaError(`format "${String(s.format)}" together with minLength/maxLength is not supported`, `${at}/format`);
    return text;
  }
  // A few words, as a model writes them; repeated up to minLength, cut to maxLength.
  const wanted = Math.max(minLength, Math.min(maxLength, 40));
  let text = renderText(generateTokens(Math.floor(rng.next() * 0x7fffffff), 2 + Math.floor(rng.next() * 5))).trimStart();
  if (text.length < minLength) text = text.padEnd(minLength, ` ${text}`);
  return text.slice(0, Math.max(minLength, Math.min(wanted, text.length)));
}

/** A string matching `pattern`, drawn with the request's generator. */
function fromPattern(pattern: string, rng: Rng, at: string): string {
  if (pattern.length > MAX_PATTERN_CHARS) throw new SchemaError(`patterns longer than ${MAX_PATTERN_CHARS} characters are not supported`, at);
  if (/\(\?[=!<]|\\[1-9]|\\k<|\\[pP]\{/.test(pattern)) throw new SchemaError('lookaround, backreferences and \\p classes in patterns are not supported', at);
  if (/\{\s*\d{4,}/.test(pattern)) throw new SchemaError('repetition counts of 1000 or more in patterns are not supported', at);
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, 'u');
  } catch {
    throw new SchemaError('the pattern is not a valid regular expression', at);
  }
  const gen = new RandExp(regex);
  gen.max = PATTERN_REPEAT;
  gen.randInt = (from, to) => from + Math.floor(rng.next() * (to - from + 1));
  return gen.gen();
}

/**
 * Whether `value` validates against `schema`: the check every sampled value passes before it is
 * used, for the keywords listed above (`settle` refuses the others).
 */
function conforms(schema: unknown, value: unknown, root: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH * 2) return false;
  if (typeof schema === 'boolean') return schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return false;
  const s = schema as Schema;
  if (UNSUPPORTED.some((key) => key in s)) return false;
  // $ref and allOf checked part by part (sampling merges them, which may lose a constraint).
  if (typeof s.$ref === 'string') {
    let target: unknown;
    try {
      target = resolveRef(root, s.$ref, '');
    } catch {
      return false;
    }
    if (!conforms(target, value, root, depth + 1)) return false;
  }
  if (Array.isArray(s.allOf) && !s.allOf.every((part) => conforms(part, value, root, depth + 1))) return false;
  return conformsAll(s, value, root, [], depth);
}

function conformsAll(s: Schema, value: unknown, root: unknown, skip: readonly string[], depth = 0): boolean {
  const has = (k: string): boolean => s[k] !== undefined && !skip.includes(k);
  if (has('type') && !([] as unknown[]).concat(s.type).some((t) => isType(value, t as string))) return false;
  if ('const' in s && !skip.includes('const') && stableKey(s.const) !== stableKey(value)) return false;
  if (has('enum') && !(s.enum as unknown[]).some((e) => stableKey(e) === stableKey(value))) return false;
  if (has('anyOf') && !(s.anyOf as unknown[]).some((b) => conforms(b, value, root, depth + 1))) return false;
  if (has('oneOf') && (s.oneOf as unknown[]).filter((b) => conforms(b, value, root, depth + 1)).length !== 1) return false;
  if (has('not') && conforms(s.not, value, root, depth + 1)) return false;
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && (s.exclusiveMinimum === true ? value <= s.minimum : value < s.minimum)) return false;
    if (typeof s.maximum === 'number' && (s.exclusiveMaximum === true ? value >= s.maximum : value > s.maximum)) return false;
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) return false;
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) return false;
    if (!isMultiple(value, s.multipleOf)) return false;
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof s.minLength === 'number' && length < s.minLength) return false;
    if (typeof s.maxLength === 'number' && length > s.maxLength) return false;
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) return false;
    if (typeof s.format === 'string' && FORMAT_CHECKS[s.format]?.(value) === false) return false;
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems) return false;
    if (typeof s.maxItems === 'number' && value.length > s.maxItems) return false;
    if (s.uniqueItems === true && new Set(value.map(stableKey)).size !== value.length) return false;
    const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : [];
    const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
    for (let i = 0; i < value.length; i++) {
      const sub = i < tuple.length ? tuple[i] : rest;
      if (sub !== undefined && !conforms(sub, value[i], root, depth + 1)) return false;
    }
    if (s.contains !== undefined && !value.some((v) => conforms(s.contains, v, root, depth + 1))) return false;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Schema;
    const keys = Object.keys(obj);
    const props = (s.properties ?? {}) as Schema;
    for (const name of (s.required as string[] | undefined) ?? []) if (!Object.hasOwn(obj, name)) return false;
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) return false;
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) return false;
    for (const key of keys) {
      const sub = Object.hasOwn(props, key) ? props[key] : s.additionalProperties;
      if (sub !== undefined && !conforms(sub, obj[key], root, depth + 1)) return false;
    }
  }
  return true;
}

function isType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return false;
  }
}
