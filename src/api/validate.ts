import { z } from '#zod';
import { SimError } from '../errors.js';
import { compile, INVALID, type Parser } from './fast-parse.js';

/** How a dialect words a validation failure; `param` is the dotted path of the offending field. */
export interface ValidationWording {
  /** The dialect whose wording this is (refusals outside validation, such as overload, are worded by src/faults/render.ts). */
  readonly dialect: 'openai' | 'anthropic';
  missing(param: string): string;
  wrongType(param: string, expected: string, got: string): string;
  badValue(param: string, problem: string): string;
  contextTooLong(promptTokens: number, maxTokens: number, limit: number): string;
  tooMany(param: string, max: number, got: number): string;
}

/**
 * Arrays of the body checked for length before the schema runs: zod parses every element first
 * (~1 µs a message), so a 10 MB body of tiny messages would hold the event loop for half a second.
 */
export type ArrayLimits = Readonly<Record<string, number>>;

/** Tools one request may offer, in both dialects (OpenAI's documented limit). */
export const MAX_TOOLS = 128;

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let node = body;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out;
}

type Issue = z.core.$ZodIssue;

/**
 * For a union that failed, the issue of the branch the value most likely meant: one whose
 * literal `type` (the discriminator) matched, with the fewest problems; its path made absolute.
 */
function innermost(issue: Issue): Issue {
  while (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const mismatch = (branch: Issue[]) => branch.some((i) => i.code === 'invalid_value' && i.path.length === 1 && i.path[0] === 'type');
    const best = [...issue.errors].sort((a, b) => Number(mismatch(a)) - Number(mismatch(b)) || a.length - b.length)[0]!;
    if (best.length === 0 || mismatch(best)) break;
    issue = { ...best[0]!, path: [...issue.path, ...best[0]!.path] } as Issue;
  }
  return issue;
}

/** Each schema's compiled parser (src/api/fast-parse.ts), made on its first request; null when it cannot be compiled. */
const parsers = new WeakMap<z.ZodType, Parser | null>();

/**
 * Parses `body` with `schema`, or throws a SimError naming the first offending field. A valid
 * body is parsed by the schema's compiled parser; an invalid one (or a schema that does not
 * compile) by zod, whose issue words the error.
 */
export function validate<S extends z.ZodType>(schema: S, body: unknown, wording: ValidationWording, limits: ArrayLimits = {}): z.infer<S> {
  if (body !== null && typeof body === 'object') {
    for (const key in limits) {
      const value = (body as Record<string, unknown>)[key];
      if (Array.isArray(value) && value.length > limits[key]!) throw new SimError('invalid_value', wording.tooMany(key, limits[key]!, value.length), key);
    }
  }
  let parse = parsers.get(schema);
  if (parse === undefined) parsers.set(schema, (parse = compile(schema)));
  if (parse !== null) {
    const parsed = parse(body);
    if (parsed !== INVALID) return parsed as z.infer<S>;
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = innermost(result.error.issues[0]!);
  const value = valueAt(body, issue.path);
  if (issue.path.length === 0) throw new SimError('invalid_type', `The request body must be a JSON object, but got ${typeName(value)} instead.`);
  const param = formatPath(issue.path);
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'custom') && value === undefined) {
    throw new SimError('missing_required_parameter', wording.missing(param), param);
  }
  if (issue.code === 'invalid_type' || (issue.code === 'invalid_union' && value !== undefined && typeof value !== 'object')) {
    const expected = issue.code === 'invalid_type' ? String(issue.expected) : 'one of the documented types';
    throw new SimError('invalid_type', wording.wrongType(param, expected === 'int' ? 'integer' : expected, typeName(value)), param);
  }
  throw new SimError('invalid_value', wording.badValue(param, issue.message), param);
}

/** The JSON body of a request, or a SimError the dialect can render. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SimError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * JSON text of a caller's value that the response echoes (Responses `tools`, `text.format`,
 * `metadata`): a value nested too deeply for JSON.stringify's recursion is the caller's 400.
 */
export function echoJson(value: unknown, param: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) throw new SimError('invalid_value', `Invalid value for '${param}': nested too deeply.`, param);
    throw err;
  }
}

export type TextsOrTokens = string | string[] | number[] | number[][];

const isTokenId = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Whether every element passes, in one loop (no allocation per element). */
function every(items: unknown[], test: (v: unknown) => boolean): boolean {
  for (let i = 0; i < items.length; i++) if (!test(items[i])) return false;
  return true;
}

/**
 * A prompt or embeddings input (WIRE A4, A5): a string, strings, token ids, or arrays of token
 * ids, each array of 1 to `maxItems` items; strings may be empty when `emptyStrings`. Checked in
 * one pass: zod's union tried every branch over every element and kept an issue per element (a
 * 2 MB array of ids took 0.5 s).
 */
export function textsOrTokens(maxItems: number, emptyStrings: boolean): z.ZodType<TextsOrTokens> {
  const text = (v: unknown): boolean => typeof v === 'string' && (emptyStrings || v !== '');
  const ids = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && every(v, isTokenId);
  return z.custom<TextsOrTokens>(
    (v) => text(v) || (Array.isArray(v) && v.length > 0 && (every(v, isTokenId) || (v.length <= maxItems && (every(v, text) || every(v, ids))))),
    { message: `expected ${emptyStrings ? 'a string' : 'a non-empty string'}, an array of token ids, or a batch of 1 to ${maxItems} strings or token-id arrays` },
  );
}
