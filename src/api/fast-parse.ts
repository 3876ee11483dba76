import type { z } from '#zod';

/**
 * Request schemas compiled into plain functions for the request path: zod's `safeParse` was
 * ~14k of the ~96k instructions a non-stream chat request costs (callgrind), most of it its
 * general machinery (a payload and an issue list per node, every check a call). A compiled
 * parser answers only "valid, and here is zod's output" or INVALID; on INVALID the caller asks
 * zod, whose issues word the client's 400 (src/api/validate.ts). So zod stays the one source of
 * truth for what is valid and how an error reads, and test/unit/fast-parse.test.ts checks that
 * both agree, output byte for byte, over the requests the tests send and mutations of them.
 *
 * It covers the kinds of schema the routes use (string, number, boolean, null, literal, enum,
 * array, object, union, optional, nullable, record, unknown, custom, with the checks
 * listed in `check`); a schema holding anything else is not compiled (`compile` returns null)
 * and goes to zod every time.
 */
export const INVALID: unique symbol = Symbol('invalid');
export type Parser = (value: unknown) => unknown;
type Test = (value: unknown) => boolean;

interface Def {
  readonly type: string;
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly catchall?: z.ZodType;
  readonly element?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly innerType?: z.ZodType;
  readonly keyType?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly values?: readonly unknown[];
  readonly entries?: Readonly<Record<string, unknown>>;
  readonly fn?: (value: unknown) => unknown;
}

interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly pattern?: RegExp;
  readonly prefix?: string;
  readonly value?: number;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Thrown inside `compile` for a schema it does not cover. */
class Unsupported extends Error {}

/** The parser of `schema`, or null when it holds a kind of schema this compiler does not cover. */
export function compile(schema: z.ZodType): Parser | null {
  try {
    return node(schema);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function node(schema: z.ZodType): Parser {
  const def = defOf(schema);
  const test = checks(def);
  switch (def.type) {
    case 'string':
      return test === null ? (v) => (typeof v === 'string' ? v : INVALID) : (v) => (typeof v === 'string' && test(v) ? v : INVALID);
    case 'number':
      // zod's number is finite (JSON.parse gives Infinity for 1e999).
      return test === null ? (v) => (typeof v === 'number' && Number.isFinite(v) ? v : INVALID) : (v) => (typeof v === 'number' && Number.isFinite(v) && test(v) ? v : INVALID);
    case 'boolean':
      return (v) => (typeof v === 'boolean' ? v : INVALID);
    case 'null':
      return (v) => (v === null ? v : INVALID);
    case 'unknown':
      return (v) => v;
    case 'literal': {
      const values = def.values!;
      return (v) => (values.includes(v) ? v : INVALID);
    }
    case 'enum': {
      const values = new Set(Object.values(def.entries!));
      return (v) => (values.has(v) ? v : INVALID);
    }
    case 'custom': {
      const fn = def.fn!;
      return (v) => (fn(v) === true ? v : INVALID);
    }
    case 'optional': {
      const inner = node(def.innerType!);
      return (v) => (v === undefined ? undefined : inner(v));
    }
    case 'nullable': {
      const inner = node(def.innerType!);
      return (v) => (v === null ? null : inner(v));
    }
    case 'array': {
      const element = node(def.element!);
      return (v) => {
        if (!Array.isArray(v) || (test !== null && !test(v))) return INVALID;
        const out: unknown[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          const item = element(v[i]);
          if (item === INVALID) return INVALID;
          out[i] = item;
        }
        return out;
      };
    }
    case 'union': {
      // zod answers with the first option that accepts the value.
      const options = def.options!.map(node);
      return (v) => {
        for (let i = 0; i < options.length; i++) {
          const out = options[i]!(v);
          if (out !== INVALID) return out;
        }
        return INVALID;
      };
    }
    case 'record': {
      if (defOf(def.keyType!).type !== 'string' || checks(defOf(def.keyType!)) !== null) throw new Unsupported('record key');
      const value = node(def.valueType!);
      return (v) => {
        if (!isRecord(v)) return INVALID;
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(v)) {
          const item = value(v[key]);
          if (item === INVALID) return INVALID;
          out[key] = item;
        }
        return out;
      };
    }
    case 'object':
      return object(def);
    default:
      throw new Unsupported(def.type);
  }
}

/**
 * An object: its known keys in the shape's order, then for a loose object (`catchall` unknown)
 * every other key in the order sent (a stripping object drops them). Which keys the output
 * defines follows zod's rule (`handlePropertyResult` in zod/v4/core) from whether the key was
 * sent and its schema's optionality in and out. Bodies come from JSON.parse, where a key is sent exactly
 * when its value is not undefined, so absence is read from the value (`key in body` per shape key
 * was a megamorphic lookup each, ~3k instructions a chat request).
 *
 * The function is generated (as zod's own fast path is) so that each key is a named load at its
 * own site (a loop over the keys made every load megamorphic), and the output is one object
 * literal made once every key is read: stored key by key, an object of a route's ~16 keys grew
 * its property store and changed hidden class at every key (~730 bytes and a transition lookup a
 * key, against one allocation of its final shape).
 *
 * An optional key that was not sent is still written, as undefined, where zod leaves it out: so
 * every body of a route comes out with one hidden class, whatever fields its client sends. With
 * only the sent keys, each new combination of fields was a map the request's path had not seen,
 * and its first request deoptimised the route's handler (`chatCompletions`, `wrong map`), which
 * then ran unoptimised for seconds under a light load. JSON.stringify drops undefined, so the
 * output reads the same to every consumer (none asks `in` or lists a body's keys).
 */
function object(def: Def): Parser {
  const keys = Object.keys(def.shape!);
  const parsers = keys.map((key) => node(def.shape![key]!));
  let loose = false;
  if (def.catchall !== undefined) {
    if (defOf(def.catchall).type !== 'unknown') throw new Unsupported('object catchall');
    loose = true;
  }
  let code = 'if (typeof v !== "object" || v === null || Array.isArray(v)) return INVALID;\n';
  keys.forEach((key, i) => {
    const { optin, optout } = (def.shape![key] as unknown as { _zod: { optin?: string; optout?: string } })._zod;
    // A literal's `__proto__: x` would set the prototype, not a key.
    if (key === '__proto__') throw new Unsupported('key __proto__');
    // Absent: undefined when optional in and out (see above), refused when required; zod's other rungs (defaults) are not compiled.
    let absent: string;
    if (optin === 'optional' && optout === 'optional') absent = '';
    else if (optin === undefined) absent = 'return INVALID;';
    else throw new Unsupported(`key ${key}: optin ${optin}, optout ${optout}`);
    code += `let x${i} = v[${JSON.stringify(key)}];\nif (x${i} === undefined) { ${absent} } else { x${i} = p[${i}](x${i}); if (x${i} === INVALID) return INVALID; }\n`;
  });
  code += `const out = { ${keys.map((key, i) => `${JSON.stringify(key)}: x${i}`).join(', ')} };\n`;
  if (loose) code += 'for (const key in v) if (!known.has(key)) out[key] = v[key];\n';
  code += 'return out;';
  return new Function('p', 'INVALID', 'known', `return (v) => {\n${code}\n};`)(parsers, INVALID, new Set(keys)) as Parser;
}

/** A schema's checks as one test, null when it has none; a check this compiler does not know makes the schema unsupported. */
function checks(def: Def): Test | null {
  const list = def.checks ?? [];
  if (list.length === 0) return null;
  const tests = list.map(({ _zod: { def: c } }) => check(c));
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(v)) return false;
    return true;
  };
}

/** A check of a value its schema's type test has passed (a string, a number or an array). */
function check(c: CheckDef): Test {
  switch (c.check) {
    case 'min_length':
      return (v) => (v as { length: number }).length >= c.minimum!;
    case 'max_length':
      return (v) => (v as { length: number }).length <= c.maximum!;
    case 'greater_than':
      return c.inclusive ? (v) => (v as number) >= c.value! : (v) => (v as number) > c.value!;
    case 'less_than':
      return c.inclusive ? (v) => (v as number) <= c.value! : (v) => (v as number) < c.value!;
    case 'number_format':
      if (c.format === 'safeint') return (v) => Number.isSafeInteger(v);
      throw new Unsupported(`number format ${c.format}`);
    case 'string_format':
      if (c.format === 'regex') {
        const pattern = c.pattern!;
        return (v) => {
          pattern.lastIndex = 0;
          return pattern.test(v as string);
        };
      }
      if (c.format === 'starts_with') return (v) => (v as string).startsWith(c.prefix!);
      throw new Unsupported(`string format ${c.format}`);
    default:
      throw new Unsupported(`check ${c.check}`);
  }
}
