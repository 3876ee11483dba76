import { validateConfig, ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { maskKey } from '../edge/auth.js';
import { redactUrl } from '../edge/limits.js';

/** A control-plane refusal: an HTTP status, a code, and a message naming what was wrong. */
export class ControlError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 409 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Settings a running simulator cannot change (sockets, processes, threads, the budget store's
 * connection): a reload that changes one is refused with 409 and changes nothing.
 */
export const RESTART_ONLY = ['host', 'port', 'sharePort', 'workers', 'pool.threads', 'limits.store', 'admin.port', 'admin.host', 'tls'] as const;

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

const at = (tree: unknown, path: string): unknown => path.split('.').reduce<unknown>((node, key) => (isTree(node) ? node[key] : undefined), tree);

function setAt(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) node = (node[key] = isTree(node[key]) ? { ...(node[key] as Tree) } : {}) as Tree;
  node[keys[keys.length - 1]!] = value;
}

/** RFC 7396 JSON merge patch: objects merge, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isTree(patch)) return patch;
  const out: Tree = isTree(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * The config a reload would make live: `incoming` replaces the whole config (a restart-only
 * setting it leaves out keeps its running value, so a file without `port` does not move the
 * port) or, as a merge patch, changes the running one. Validated by the one schema; throws a
 * ControlError (400 with the option path, or 409 naming the restart-only setting).
 */
export function nextConfig(current: Readonly<Config>, incoming: unknown, kind: 'replace' | 'merge'): Readonly<Config> {
  if (!isTree(incoming)) throw new ControlError(400, 'invalid_config', 'config: (root): must be an object');
  let tree = kind === 'merge' ? (mergePatch(current, incoming) as Tree) : { ...incoming };
  if (kind === 'replace') for (const path of RESTART_ONLY) if (at(tree, path) === undefined) setAt((tree = { ...tree }), path, at(current, path));
  let next: Readonly<Config>;
  try {
    next = validateConfig(tree);
  } catch (err) {
    if (err instanceof ConfigError) throw new ControlError(400, 'invalid_config', err.message);
    throw err;
  }
  const changed = RESTART_ONLY.filter((path) => JSON.stringify(at(next, path)) !== JSON.stringify(at(current, path)));
  if (changed.length > 0) throw new ControlError(409, 'restart_required', `config: ${changed.join(', ')}: cannot change while running (restart the simulator); nothing was changed`);
  return next;
}

/** The config as the admin API shows it: keys masked, the admin key and the store's password hidden. */
export function redacted(config: Readonly<Config>): unknown {
  const copy = JSON.parse(JSON.stringify(config)) as Tree;
  const auth = copy.auth as { keys: { key?: string; sha256?: string }[] };
  for (const k of auth.keys) if (k.key !== undefined) k.key = maskKey(k.key);
  const admin = copy.admin as { key: string | null };
  if (admin.key !== null) admin.key = '[redacted]';
  const tls = copy.tls as { passphrase: string | null };
  if (tls.passphrase !== null) tls.passphrase = '[redacted]';
  const limits = copy.limits as { store: string };
  limits.store = redactUrl(limits.store);
  return copy;
}
