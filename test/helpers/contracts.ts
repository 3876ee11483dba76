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

/** Errors of `value` against `<vendor>#/components/schemas/<name>`, or [] when it conforms. */
export function violations(vendor: 'openai' | 'anthropic', name: string, value: unknown): string[] {
  const key = `${vendor}#/components/schemas/${name}`;
  let validate = cache.get(key);
  if (validate === undefined) cache.set(key, (validate = instance().compile({ $ref: key })));
  if (validate(value)) return [];
  return (validate.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/** The JSON payloads of an SSE body, with their event names. */
export function sseEvents(text: string): { event: string | null; data: string }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
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
