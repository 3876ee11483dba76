import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { assertFaultedTogether, startCluster, type Cluster } from '../helpers/cluster.js';
import { until } from '../helpers/server.js';

// The control plane on a real primary with 2 workers: reloads reach every worker, scenarios and
// rate-limit resets are cluster-wide, and the config file and SIGHUP reload too.

const ADMIN_KEY = 'admin-secret-1234';
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

const admin = (c: Cluster, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${c.url}${path}`, { method, headers: { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/merge-patch+json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

/** The completion lengths and statuses of `n` requests (new connections: both workers answer). */
async function chats(c: Cluster, n: number): Promise<{ statuses: number[]; lengths: number[] }> {
  const out = await Promise.all(
    Array.from({ length: n }, () =>
      fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: CHAT }).then(async (r) => {
        const text = await r.text();
        return { status: r.status, json: r.status === 200 ? JSON.parse(text) : null };
      }),
    ),
  );
  return { statuses: out.map((o) => o.status), lengths: out.filter((o) => o.status === 200).map((o) => o.json.usage.completion_tokens) };
}

t.test('admin API, reloads and the config file on 2 workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-admin-'));
  const file = join(dir, 'config.yaml');
  const yaml = (tokens: number) => `response: { minTokens: ${tokens}, maxTokens: ${tokens} }\nlimits: { routes: { embeddings: { requestsPerMinute: 2 } } }\nscenarios:\n  down: { phases: [ { for: 600000, faults: [ { name: down, fault: { type: server_error } } ] } ] }\n`;
  writeFileSync(file, yaml(5));
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--time-scale', '0', '--config', file, '--admin.key', ADMIN_KEY]);
  t.teardown(() => void c.proc.kill('SIGKILL'));

  // The admin key: missing, wrong, wrong length, right.
  const statuses = [];
  for (const key of [undefined, 'admin-secret-12345'.slice(0, 17).replace(/4$/, '5'), 'x', ADMIN_KEY]) {
    const r = await fetch(`${c.url}/admin/config`, { headers: key === undefined ? {} : { 'x-admin-key': key } });
    statuses.push(r.status);
  }
  t.same(statuses, [401, 401, 401, 200], 'missing, wrong, wrong length, right');
  const initial = await admin(c, 'GET', '/admin/config');
  t.equal(initial.json.version, 1);
  t.equal(initial.json.config.admin.key, '[redacted]', 'the admin key is not shown');
  t.same(new Set((await chats(c, 20)).lengths), new Set([5]), 'boot config: 5 tokens');

  // A merge patch, applied on both workers before the reply.
  const applied = await admin(c, 'POST', '/admin/config', { response: { minTokens: 7, maxTokens: 7 } });
  t.same(applied, { status: 200, json: { version: 2, workers: 2 } });
  t.same(new Set((await chats(c, 30)).lengths), new Set([7]), 'every worker serves the new config at once');

  // Reloads under load: a bounded loop of requests runs while five reloads are applied; none fails.
  let running = true;
  const seen: number[] = [];
  const load = (async () => {
    const deadline = Date.now() + 10_000;
    while (running && Date.now() < deadline && seen.length < 5_000) seen.push(...(await chats(c, 4)).statuses);
  })();
  for (let i = 0; i < 5; i++) t.equal((await admin(c, 'POST', '/admin/config', { response: { minTokens: 7, maxTokens: 7 }, seed: i })).status, 200);
  running = false;
  await load;
  t.ok(seen.length > 0, `${seen.length} requests ran during the reloads`);
  t.same(seen.filter((s) => s !== 200), [], 'no request failed during the swaps');

  const liveVersion = (await admin(c, 'GET', '/admin/config')).json.version;
  t.equal(liveVersion, 7, 'seven reloads so far');
  const restart = await admin(c, 'POST', '/admin/config', { workers: 5 });
  t.equal(restart.status, 409, 'a restart-only setting is refused');
  t.match(restart.json.error, { code: 'restart_required', message: /workers/ });
  const invalid = await admin(c, 'POST', '/admin/config', { timeScale: -1 });
  t.equal(invalid.status, 400);
  t.match(invalid.json.error, { code: 'invalid_config', message: /^config: timeScale:/ });
  t.equal((await admin(c, 'GET', '/admin/config')).json.version, liveVersion, 'neither changed anything');

  // A scenario, activated and deactivated cluster-wide.
  const on = await admin(c, 'POST', '/admin/scenarios/down/activate');
  t.equal(on.status, 200);
  t.same(new Set((await chats(c, 20)).statuses), new Set([500]), 'the outage phase on both workers');
  t.equal((await admin(c, 'GET', '/admin/scenarios')).json.active.name, 'down');
  t.equal((await admin(c, 'POST', '/admin/scenarios/nope/activate')).status, 404);
  await admin(c, 'POST', '/admin/scenarios/down/deactivate');
  t.same(new Set((await chats(c, 20)).statuses), new Set([200]), 'deactivated: faults stop at once');
  t.equal((await admin(c, 'GET', '/admin/scenarios')).json.active, null);

  // Rate limits: throttled, then reset cluster-wide; the journal holds both kinds of decision.
  const embed = () => fetch(`${c.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }) }).then((r) => r.status);
  const before = [await embed(), await embed(), await embed()];
  t.same(before, [200, 200, 429], 'two a minute');
  t.equal((await admin(c, 'POST', '/admin/rate-limits/reset', {})).status, 200);
  t.same([await embed(), await embed()], [200, 200], 'the reset lets the client through again');
  const journal = await admin(c, 'GET', '/admin/journal?limit=500');
  const sources = new Set(journal.json.entries.map((e: any) => e.source));
  t.ok(sources.has('limits') && sources.has('down'), `rate-limit and fault (by the scenario's rule) decisions: ${[...sources].join(', ')}`);
  t.ok(journal.json.entries[0].time >= journal.json.entries.at(-1).time, 'newest first');

  // Stats: per worker and in total, since the last reset (Prometheus counters untouched).
  const stats = await admin(c, 'GET', '/admin/stats');
  t.equal(stats.json.workers.length, 2, 'both workers report');
  t.equal(stats.json.version, (await admin(c, 'GET', '/admin/config')).json.version, 'the live version (scenario switches were reloads too)');
  t.same(new Set(stats.json.workers.map((w: any) => w.version)), new Set([stats.json.version]), 'every worker on it');
  t.ok(stats.json.total.requests['POST /v1/chat/completions']['500'] >= 20, 'requests by route and status');
  t.ok(stats.json.total.faults.down >= 20, 'faults by rule');
  t.ok(stats.json.total.rateLimited >= 1, 'rate-limit refusals');
  t.ok(stats.json.total.tokens > 0);
  t.equal((await admin(c, 'POST', '/admin/stats/reset')).status, 200);
  const after = await admin(c, 'GET', '/admin/stats');
  t.same(after.json.total.requests, {}, 'reset: counting starts again');
  t.match(await (await fetch(`${c.url}/metrics`)).text(), /llm_faults_injected_total\{[^}]*rule="down"[^}]*\} [1-9]/, 'Prometheus counters are not reset');

  // Rules added and removed at run time.
  t.equal((await admin(c, 'POST', '/admin/faults', { name: 'teapot', fault: { type: 'bad_gateway' } })).status, 200);
  t.same(new Set((await chats(c, 10)).statuses), new Set([502]));
  t.equal((await admin(c, 'DELETE', '/admin/faults/teapot')).status, 200);
  t.same(new Set((await chats(c, 10)).statuses), new Set([200]));
  // A window set at run time runs from then (the cluster started seconds ago), on every worker.
  const added = performance.now();
  t.equal((await admin(c, 'POST', '/admin/faults', { name: 'brief', when: { window: { until: '2s' } }, fault: { type: 'bad_gateway' } })).status, 200);
  const brief = await chats(c, 10);
  if (performance.now() - added < 1500) t.same(new Set(brief.statuses), new Set([502]), 'a window set at run time is open from then on every worker');
  t.ok(await until(async () => (await chats(c, 4)).statuses.every((s) => s === 200), 5000), 'and closes when it ends');
  t.equal((await admin(c, 'DELETE', '/admin/faults/brief')).status, 200);

  // The config file: an invalid edit logs one line and changes nothing; a valid one reloads.
  const errorsBefore = c.lines.filter((l) => l.level >= 50).length;
  writeFileSync(file, 'response: { minTokens: -3 }\n');
  await c.waitFor((l) => l.level >= 50 && /response\.minTokens/.test(l.msg), 10_000);
  t.same(new Set((await chats(c, 10)).lengths), new Set([7]), 'the old config still serves');
  t.equal(c.lines.filter((l) => l.level >= 50).length, errorsBefore + 1, 'one error line for the invalid edit');
  writeFileSync(file, yaml(9));
  await c.waitFor((l) => l.msg === 'configuration reloaded' && l.trigger === 'file', 10_000);
  t.same(new Set((await chats(c, 20)).lengths), new Set([9]), 'the edited file is live');

  // SIGHUP reads it again; a replaced worker starts on the live version.
  c.proc.kill('SIGHUP');
  await c.waitFor((l) => l.msg === 'configuration reloaded' && l.trigger === 'SIGHUP', 10_000);
  const workerPid = c.lines.find((l) => l.role === 'http-worker' && typeof l.pid === 'number')?.pid as number | undefined;
  const anyWorker = workerPid ?? (await chats(c, 1), c.lines.find((l) => l.role === 'http-worker')!.pid);
  process.kill(anyWorker, 'SIGKILL');
  t.ok(await until(() => c.lines.some((l) => l.msg === 'http worker died; replacing it'), 10_000));
  // Both workers serve again once the replacement listens: every answer is 9 tokens long.
  t.ok(await until(async () => (await chats(c, 10)).statuses.every((s) => s === 200), 20_000, 200));
  t.same(new Set((await chats(c, 30)).lengths), new Set([9]), 'the replacement runs the live config, not the boot one');
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  t.match(metrics, /llm_config_reloads_total\{result="invalid"\} [3-9]/, 'invalid reloads counted');
  t.match(metrics, /llm_config_reloads_total\{result="applied"\} \d+/);
});

t.test('without admin.key there is no admin API', async (t) => {
  const c = await startCluster(['--workers', '1', '--warm-up', 'false', '--time-scale', '0']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  for (const [method, path] of [['GET', '/admin/config'], ['POST', '/admin/config'], ['POST', '/admin/rate-limits/reset']] as const) {
    t.equal((await fetch(`${c.url}${path}`, { method, headers: { 'x-admin-key': 'anything-at-all' } })).status, 404, `${method} ${path}`);
  }
});

t.test('admin.port: the admin API on its own listener; a scenario activated there switches both workers together', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'llmsim-admin-port-')), 'config.json');
  writeFileSync(file, JSON.stringify({ timeScale: 0, scenarios: { later: { phases: [{ for: '1500ms' }, { for: '1h', faults: [{ name: 'late', fault: { type: 'server_error' } }] }] } } }));
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--config', file, '--admin.key', ADMIN_KEY, '--admin.port', '0']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const listening = await c.waitFor((l) => l.msg === 'llm-simulator listening');
  t.equal(listening.adminHost, '127.0.0.1');
  t.ok(Number.isInteger(listening.adminPort) && listening.adminPort !== c.port, `admin listener on its own port (${listening.adminPort})`);
  const adminUrl = `http://127.0.0.1:${listening.adminPort}`;
  const onAdmin = { ...c, url: adminUrl };

  t.equal((await fetch(`${c.url}/admin/config`, { headers: { 'x-admin-key': ADMIN_KEY } })).status, 404, 'the main port has no admin API');
  t.equal((await admin(onAdmin, 'GET', '/admin/config')).status, 200, 'the admin port serves it');
  t.equal((await fetch(`${adminUrl}/admin/config`)).status, 401, 'behind the same key');
  t.same(await admin(onAdmin, 'GET', '/v1/models'), { status: 404, json: { error: { message: 'Invalid URL (GET /v1/models)', code: 'not_found' } } }, 'and nothing else');
  t.equal((await admin(onAdmin, 'POST', '/admin/config', { admin: { port: listening.adminPort + 1 } })).status, 409, 'admin.port needs a restart');
  t.equal((await admin(onAdmin, 'POST', '/admin/config', { response: { minTokens: 3, maxTokens: 3 } })).json.workers, 2, 'reloads keep the picked admin port');

  // Activated through the API: both workers enter the faulty phase within 50 ms of each other.
  t.equal((await admin(onAdmin, 'POST', '/admin/scenarios/later/activate')).status, 200);
  await assertFaultedTogether(t, c, 5000);

  // Deactivated: the next requests (new connections, both workers) are healthy at once.
  t.equal((await admin(onAdmin, 'POST', '/admin/scenarios/later/deactivate')).status, 200);
  t.same(new Set((await chats(c, 40)).statuses), new Set([200]), 'faults stop with the reply');
});

t.test('a new profile through the API: both workers serve its latency from the reply on', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'llmsim-admin-profile-')), 'config.json');
  writeFileSync(file, JSON.stringify({ timeScale: 1, profiles: { 'openai-mini': { prefillOverheadMs: 5 } } }));
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--config', file, '--admin.key', ADMIN_KEY]);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  let n = 0;
  /** `count` requests on new connections at once: how long each took, and which workers answered (by their access lines). */
  const timed = async (count: number): Promise<{ ms: number[]; pids: Set<number> }> => {
    const ids: string[] = [];
    const ms = await Promise.all(
      Array.from({ length: count }, async () => {
        const id = `profile-${n++}`;
        ids.push(id);
        const started = performance.now();
        const r = await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close', 'x-request-id': id }, body: CHAT });
        await r.text();
        return performance.now() - started;
      }),
    );
    await until(() => ids.every((id) => c.lines.some((l) => l.requestId === id)), 5000);
    return { ms, pids: new Set(c.lines.filter((l) => ids.includes(l.requestId)).map((l) => l.pid as number)) };
  };
  // Workers started without warm-up meet the JIT on their first requests (a CI run measured a
  // median of 207 ms for a first round): one unmeasured round first, then the median of the next.
  await timed(20);
  const before = await timed(20);
  const median = [...before.ms].sort((a, b) => a - b)[before.ms.length >> 1]!;
  // 50–80 ms on a quiet machine; 254 ms once in CI with other test files loading both cores. Any
  // median clearly under the new profile's 400 ms floor shows the change below.
  t.ok(median < 300, `before: ${Math.round(median)} ms at the median (5 ms to the first token; the new profile's 400 is well above)`);
  // Under load: a bounded loop keeps requests in flight while the new profile is applied.
  let running = true;
  const load = (async () => {
    const deadline = Date.now() + 10_000;
    while (running && Date.now() < deadline) await timed(4);
  })();
  const applied = await admin(c, 'POST', '/admin/config', { profiles: { 'openai-mini': { prefillOverheadMs: 400 } } });
  t.same(applied, { status: 200, json: { version: 2, workers: 2 } });
  const after = await timed(20);
  running = false;
  await load;
  t.equal(after.pids.size, 2, 'both workers answered after the reply');
  t.ok(Math.min(...after.ms) >= 400, `every request sent after the reply waited the new 400 ms (the fastest took ${Math.round(Math.min(...after.ms))} ms)`);
});
