import { readFileSync } from 'node:fs';
import { z } from '#zod';
import { loadConfig } from './config/load.js';
import { configSchema } from './config/schema.js';
import { redacted } from './control/reload.js';

/**
 * The command line's own flags, answered before (and instead of) starting a server. Every other
 * `--flag` is a config key (src/config/load.ts); `--help` lists them from the config schema
 * itself, so the list cannot drift from what the server accepts.
 */
export const CLI_FLAGS = ['--help', '-h', '--version', '-v', '--print-config', '--check-config'] as const;

const packageJson = (): { name: string; version: string } => JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  items?: JsonSchema;
  default?: unknown;
}

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** What a flag's value looks like, from its JSON Schema: `<integer>`, `<info|debug|…>`, `<json object>`. */
function valueOf(s: JsonSchema): string {
  if (s.enum !== undefined) return s.enum.map(String).join('|');
  if (s.anyOf !== undefined) return [...new Set(s.anyOf.map(valueOf))].join('|');
  if (s.type === 'object') return 'json object';
  if (s.type === 'array') return 'json array';
  return Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'value');
}

/** One line per settable key: nested objects with fixed keys become dotted flags; maps and lists are given as JSON. */
function flagLines(schema: JsonSchema, defaults: unknown, prefix = ''): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const value = (defaults as Record<string, unknown> | undefined)?.[key];
    const flag = `${prefix}${kebab(key)}`;
    if (s.type === 'object' && s.properties !== undefined && s.additionalProperties === false) out.push(...flagLines(s, value, `${flag}.`));
    else out.push([`--${flag}`, `<${valueOf(s)}>`, JSON.stringify(value) ?? '']);
  }
  return out;
}

/** `llm-simulator --help`. */
export function helpText(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const defaults = configSchema.parse({});
  const rows = flagLines(schema, defaults);
  const width = Math.max(...rows.map(([f, v]) => f.length + v.length)) + 3;
  const { version } = packageJson();
  return [
    `llm-simulator ${version}: the OpenAI and Anthropic HTTP APIs, simulated.`,
    '',
    'usage: llm-simulator [--config FILE] [--key value ...]',
    '       llm-simulator --help | --version | --print-config | --check-config',
    '       llm-simulator bench gateway --target URL [...]   the gateway benchmark (README "Gateway benchmark")',
    '       llm-simulator bench compare a.json b.json [--fail-if "p99-overhead>+10%"]',
    '',
    '  --help, -h          this text',
    '  --version, -v       the version',
    '  --print-config      the effective config (file < environment < flags), secrets redacted, as JSON; then exit',
    '  --check-config      validate the config and exit: 0 if it is valid, 2 (naming the option) if not',
    '  --config FILE       a YAML or JSON config file (also CONFIG=FILE)',
    '',
    'Every config key is a flag (nested keys dotted) and an environment variable (LLMSIM_ and the',
    'path in capitals, __ between levels: --pool.offload-tokens is LLMSIM_POOL__OFFLOAD_TOKENS).',
    'Values are numbers, true/false, null, JSON, or text. README "Configuration" says what each does.',
    '',
    'flag (value) and default:',
    ...rows.map(([flag, value, def]) => `  ${`${flag} ${value}`.padEnd(width)}${def}`),
    '',
  ].join('\n');
}

/**
 * Answers the CLI's own flags: true when one was given and answered (main then returns without
 * serving, and the process exits 0), false when the server should start. Config problems throw
 * ConfigError, as at start-up (one line, exit 2).
 */
export function answerCli(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const own = argv.filter((a) => (CLI_FLAGS as readonly string[]).includes(a));
  if (own.length === 0) return false;
  const rest = argv.filter((a) => !(CLI_FLAGS as readonly string[]).includes(a));
  if (own.includes('--help') || own.includes('-h')) process.stdout.write(helpText());
  else if (own.includes('--version') || own.includes('-v')) process.stdout.write(`${packageJson().version}\n`);
  else if (own.includes('--print-config')) process.stdout.write(`${JSON.stringify(redacted(loadConfig(rest, env)), null, 2)}\n`);
  else {
    loadConfig(rest, env);
    process.stdout.write('config ok\n');
  }
  return true;
}
