import { keysFromEnv } from '../edge/auth.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { z } from '#zod';
import { configSchema, type Config } from './schema.js';

/**
 * The YAML parser, loaded on first use: most starts read no file (flags and environment only),
 * and loading it cost every process ~40 ms of its start-up (`--cpu-prof`).
 */
const parseYaml = (text: string): unknown => (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);

/** A configuration problem: main prints `message` as one line and exits with code 2. */
export class ConfigError extends Error {}

type Tree = Record<string, unknown>;

/** The environment names that stand for one top-level key; every other key is `LLMSIM_<PATH>`. */
const ENV_ALIASES: Record<string, string> = {
  PORT: 'port',
  HOST: 'host',
  WORKERS: 'workers',
  LOG_LEVEL: 'logLevel',
};

const camel = (s: string): string => s.toLowerCase().replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** `--time-scale` → `timeScale`, `--pool.offload-tokens` → `pool.offloadTokens`. */
const flagPath = (flag: string): string => flag.split('.').map(camel).join('.');

/** `LLMSIM_TIME_SCALE` → `timeScale`, `LLMSIM_POOL__OFFLOAD_TOKENS` → `pool.offloadTokens`. */
const envPath = (name: string): string => name.split('__').map(camel).join('.');

/** Strings from flags and the environment: numbers, booleans and JSON become values, the rest stays text. */
function scalar(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw) || raw === 'true' || raw === 'false' || raw === 'null' || /^[[{]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node = (node[key] = typeof next === 'object' && next !== null ? next : {}) as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)
        ? merge(prev as Tree, value as Tree)
        : value;
  }
  return out;
}

/** `--key value`, `--key=value`; a flag with no value is `true`. */
export function parseFlags(argv: readonly string[]): Tree {
  const tree: Tree = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`config: unexpected argument "${arg}" (flags look like --port 8080)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else value = 'true';
    setPath(tree, flagPath(name), scalar(value));
  }
  return tree;
}

export function parseEnv(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const alias = ENV_ALIASES[name];
    if (name === 'API_KEYS') {
      const { mode, keys } = keysFromEnv(value);
      setPath(tree, 'auth.mode', mode);
      setPath(tree, 'auth.keys', keys);
    } else if (alias) setPath(tree, alias, scalar(value));
    else if (name.startsWith('LLMSIM_')) setPath(tree, envPath(name.slice('LLMSIM_'.length)), scalar(value));
  }
  return tree;
}

function readFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config: cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON: one parser serves both.
  } catch (err) {
    throw new ConfigError(`config: ${path} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config: ${path} must hold an object`);
  return parsed as Tree;
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.length ? issue.path.join('.') : '(root)';
  return `config: ${path}: ${issue.message}`;
}

/** Validates a raw tree against the schema and freezes the result. */
export function validateConfig(raw: unknown): Readonly<Config> {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describe(result.error));
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Precedence, lowest to highest: defaults < config file < environment < flags. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Readonly<Config> {
  return validateConfig(loadTree(argv, env).tree);
}

/** The merged, not yet validated settings, and the config file they came from (reloads read it again). */
export function loadTree(argv: readonly string[], env: NodeJS.ProcessEnv): { tree: Tree; file: string | undefined } {
  const flags = parseFlags(argv);
  const fromEnv = parseEnv(env);
  const file = (flags.config ?? env.CONFIG ?? fromEnv.config) as string | undefined;
  delete flags.config;
  delete fromEnv.config;
  const fromFile = file === undefined ? {} : readFile(String(file));
  return { tree: withFixtureRules(merge(merge(fromFile, fromEnv), flags)), file: file === undefined ? undefined : String(file) };
}

/**
 * `faults.file`: more rules from a fixture file, appended to `faults.rules` before validation
 * (so its rules are checked like the others, their paths counting on from the config's own).
 * YAML or JSON holding a list (or `{rules: [...]}`), or JSONL with one rule a line.
 */
function withFixtureRules(tree: Tree): Tree {
  const faults = Array.isArray(tree.faults) ? { rules: tree.faults } : (tree.faults as Tree | undefined);
  const path = faults?.file;
  if (typeof path !== 'string') return tree;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config: faults.file: cannot read ${path}: ${(err as Error).message}`);
  }
  let rules: unknown;
  try {
    rules = path.endsWith('.jsonl') ? text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line)) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config: faults.file: ${path} does not parse: ${(err as Error).message.split('\n')[0]}`);
  }
  if (rules !== null && typeof rules === 'object' && !Array.isArray(rules)) rules = (rules as Tree).rules;
  if (!Array.isArray(rules)) throw new ConfigError(`config: faults.file: ${path} must hold a list of rules`);
  const own = Array.isArray(faults!.rules) ? faults!.rules : [];
  return { ...tree, faults: { ...faults, rules: [...own, ...rules] } };
}
