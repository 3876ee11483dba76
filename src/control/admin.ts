import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Server } from '../http/app.js';
import { BodyResult, contentLengthOf, readBody, writeResponse } from '../http/uws.js';
import { PRESETS, findScenario } from '../faults/scenarios.js';
import { advance, CONTROL_STATUS, totalOf, type Applied, type ControlPlane } from './plane.js';
import { ControlError, redacted } from './reload.js';

/**
 * The admin API (README "Admin API"): guarded by `X-Admin-Key` (config `admin.key`), compared
 * as SHA-256 digests in constant time; with no key configured every admin path answers 404, as
 * if it did not exist. Errors are `{"error":{"message","code"}}`.
 */
export const ADMIN_PATHS = [
  'GET /admin/config',
  'POST /admin/config',
  'GET /admin/stats',
  'POST /admin/stats/reset',
  'GET /admin/scenarios',
  'POST /admin/scenarios/{name}/activate',
  'POST /admin/scenarios/{name}/deactivate',
  'GET /admin/faults',
  'POST /admin/faults',
  'DELETE /admin/faults/{name}',
  'GET /admin/journal',
  'POST /admin/rate-limits/reset',
] as const;

/** ADMIN_PATHS as method and path template (`{name}` a segment). */
export const ADMIN_ROUTES: readonly { readonly method: string; readonly path: string }[] = ADMIN_PATHS.map((route) => ({ method: route.slice(0, route.indexOf(' ')), path: route.slice(route.indexOf(' ') + 1) }));

const JSON_TYPE = 'application/json';
/** Admin bodies are configs and rules: small. */
const ADMIN_BODY_LIMIT = 1024 * 1024;

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A single process's control plane: it validates and applies to itself. */
export function localControl(server: Server): ControlPlane {
  return {
    configure: async (incoming, kind): Promise<Applied> => {
      const state = advance(server.live, incoming, kind);
      server.apply(state);
      return { version: state.version, workers: 1 };
    },
    resetLimits: async (key) => void (await server.resetLimits(key)),
    journal: () => Promise.resolve(server.services.admission.journal.read().reverse()),
    stats: () => Promise.resolve([server.stats()]),
    resetStats: () => Promise.resolve(server.services.metrics.resetStats()),
    records: (since) => Promise.resolve(server.services.records?.read(since) ?? null),
  };
}

/** Answers one admin request. */
export function adminRequest(server: Server, control: ControlPlane, res: HttpResponse, req: HttpRequest): void {
  const method = req.getMethod().toUpperCase();
  const url = req.getUrl();
  const query = new URLSearchParams(req.getQuery() ?? '');
  const presented = req.getHeader('x-admin-key');
  const contentType = req.getHeader('content-type');
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const reply = (status: number, body: unknown, headers: [string, string][] = []): void => {
    if (!aborted) res.cork(() => writeResponse(res, status, JSON_TYPE, '', headers, JSON.stringify(body)));
  };
  const fail = (err: unknown, headers: [string, string][] = []): void => {
    if (err instanceof ControlError) return reply(err.status, { error: { message: err.message, code: err.code } }, headers);
    // A ControlError from the primary arrives over IPC as its code.
    const coded = err as { code?: string; message?: string };
    reply(CONTROL_STATUS[coded.code ?? ''] ?? 500, { error: { message: coded.message ?? String(err), code: coded.code ?? 'internal_error' } });
  };
  const adminKey = server.config.admin.key;
  if (adminKey === null) return fail(new ControlError(404, 'not_found', `Invalid URL (${method} ${url})`));
  // Digests have one length, so a wrong-length key is compared as long as a right one.
  if (presented === '' || !timingSafeEqual(digest(presented), digest(adminKey))) {
    return fail(new ControlError(401, 'unauthorized', presented === '' ? 'X-Admin-Key header missing' : 'X-Admin-Key does not match admin.key'));
  }
  const withBody = (then: (body: unknown) => Promise<unknown>): void =>
    readBody(res, ADMIN_BODY_LIMIT, contentLengthOf(req), (result, text) => {
      if (result === BodyResult.TooLarge) return fail(new ControlError(400, 'invalid_request', `admin bodies are at most ${ADMIN_BODY_LIMIT} bytes`));
      let body: unknown = {};
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          return fail(new ControlError(400, 'invalid_json', 'the body is not valid JSON'));
        }
      }
      then(body).then((out) => reply(200, out), fail);
    });
  const run = (work: () => Promise<unknown>): void => void work().then((out) => reply(200, out), fail);
  const rules = (): { name?: string }[] => server.config.faults.rules as { name?: string }[];
  const parts = url.split('/').filter((p) => p !== '').map(decodeURIComponent); // ['admin', …]
  const path = `${method} /${parts.slice(0, 2).join('/')}`;

  switch (path) {
    case 'GET /admin/config':
      if (parts.length === 2) return reply(200, { version: server.version, config: redacted(server.config) });
      break;
    case 'POST /admin/config':
      if (parts.length === 2) return withBody((body) => control.configure(body, contentType.startsWith('application/merge-patch+json') ? 'merge' : 'replace'));
      break;
    case 'GET /admin/stats':
      if (parts.length === 2) {
        return run(async () => {
          const workers = await control.stats();
          return { uptimeS: Math.round(process.uptime()), version: server.version, total: totalOf(workers), workers };
        });
      }
      break;
    case 'POST /admin/stats':
      if (parts.length === 3 && parts[2] === 'reset') return run(async () => (await control.resetStats(), { reset: true }));
      break;
    case 'GET /admin/scenarios':
      if (parts.length === 2) {
        const running = server.services.admission.running();
        const all = { ...PRESETS, ...server.config.scenarios };
        return reply(200, {
          active: running === null ? null : { name: running.name, since: new Date(running.startMs).toISOString() },
          scenarios: Object.entries(all).map(([name, s]) => ({ name, builtIn: name in PRESETS && !(name in server.config.scenarios), ...s })),
        });
      }
      break;
    case 'POST /admin/scenarios': {
      const [, , name, action] = parts;
      if (parts.length !== 4 || name === undefined || (action !== 'activate' && action !== 'deactivate')) break;
      const scenario = findScenario(name, server.config.scenarios);
      if (scenario === undefined) return fail(new ControlError(404, 'unknown_scenario', `no scenario named "${name}"`));
      if (action === 'deactivate') return run(() => control.configure({ scenario: null }, 'merge'));
      const loop = query.get('loop');
      if (loop !== null && loop !== 'true' && loop !== 'false') return fail(new ControlError(400, 'invalid_request', `loop must be true or false, got "${loop}"`));
      const patch: Record<string, unknown> = { scenario: name };
      if (loop !== null) patch.scenarios = { [name]: { ...scenario, loop: loop === 'true' } };
      return run(() => control.configure(patch, 'merge'));
    }
    case 'GET /admin/faults':
      if (parts.length === 2) return reply(200, { rules: rules() });
      break;
    case 'POST /admin/faults':
      if (parts.length === 2) {
        return withBody((rule) => {
          const name = (rule as { name?: unknown }).name;
          if (typeof name !== 'string' || name === '') return Promise.reject(new ControlError(400, 'invalid_config', 'config: faults.rules: a rule added at run time needs a name (to delete it by)'));
          // Same name: the new rule replaces the old in its place.
          const list = rules().some((r) => r.name === name) ? rules().map((r) => (r.name === name ? rule : r)) : [...rules(), rule];
          return control.configure({ faults: { rules: list } }, 'merge');
        });
      }
      break;
    case 'DELETE /admin/faults': {
      const name = parts[2];
      if (parts.length !== 3 || name === undefined) break;
      if (!rules().some((r) => r.name === name)) return fail(new ControlError(404, 'unknown_rule', `no fault rule named "${name}"`));
      return run(() => control.configure({ faults: { rules: rules().filter((r) => r.name !== name) } }, 'merge'));
    }
    case 'GET /admin/journal':
      if (parts.length === 2) {
        const given = query.get('limit');
        if (given !== null && !/^[1-9]\d*$/.test(given)) return fail(new ControlError(400, 'invalid_request', `limit must be a whole number from 1, got "${given}"`));
        const limit = Math.min(10_000, Number(given ?? 100));
        return run(async () => ({ entries: (await control.journal()).slice(0, limit) }));
      }
      break;
    case 'POST /admin/rate-limits':
      if (parts.length === 3 && parts[2] === 'reset') {
        return withBody(async (body) => {
          const key = (body as { key?: unknown }).key;
          if (key !== undefined && typeof key !== 'string') throw new ControlError(400, 'invalid_request', '"key" must be a key\'s name');
          await control.resetLimits(key ?? null);
          return { reset: key ?? 'all' };
        });
      }
      break;
  }
  const allowed = ADMIN_ROUTES.filter((r) => sameShape(r.path, parts)).map((r) => r.method);
  // RFC 9110: a 405 lists the methods the resource does take.
  if (allowed.length > 0) return fail(new ControlError(405, 'method_not_allowed', `${method} is not allowed on ${url}; use ${allowed.join(' or ')}`), [['allow', allowed.join(', ')]]);
  fail(new ControlError(404, 'not_found', `Invalid URL (${method} ${url})`));
}

/** Whether a path's segments fit an ADMIN_ROUTES template (`{name}` stands for any one segment). */
function sameShape(template: string, parts: readonly string[]): boolean {
  const want = template.split('/').filter((p) => p !== '');
  return want.length === parts.length && want.every((w, i) => w.startsWith('{') || w === parts[i]);
}
