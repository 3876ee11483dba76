import type { z } from 'zod';
import { SimError } from '../errors.js';

/** How a dialect words a validation failure; `param` is the dotted path of the offending field. */
export interface ValidationWording {
  missing(param: string): string;
  wrongType(param: string, expected: string, got: string): string;
  badValue(param: string, problem: string): string;
  contextTooLong(promptTokens: number, maxTokens: number, limit: number): string;
}

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

/** Parses `body` with `schema`, or throws a SimError naming the first offending field. */
export function validate<S extends z.ZodType>(schema: S, body: unknown, wording: ValidationWording): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = innermost(result.error.issues[0]!);
  const value = valueAt(body, issue.path);
  if (issue.path.length === 0) throw new SimError('invalid_type', `The request body must be a JSON object, but got ${typeName(value)} instead.`);
  const param = formatPath(issue.path);
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && value === undefined) {
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
