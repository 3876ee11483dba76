import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import t from 'tap';
import { MAIN, assertFaultedTogether, startCluster } from '../helpers/cluster.js';

// Counting triggers are exact across the cluster: the primary's ledger counts every worker's
// matching requests, so `first: 5` on two workers is five faults in all.

const config = join(tmpdir(), `llmsim-faults-${process.pid}.json`);
writeFileSync(
  config,
  JSON.stringify({
    timeScale: 0,
    faults: [
      { name: 'first-five', match: { route: 'chat.completions' }, when: { first: 5 }, fault: { type: 'rate_limit', retryAfter: 1 } },
      { name: 'every-ten', match: { route: 'messages' }, when: { every: 10 }, fault: { type: 'overloaded' } },
    ],
  }),
);

const c = await startCluster(['--workers', '2', '--config', config]);
t.teardown(() => void c.proc.kill('SIGKILL'));
// Many connections, so the kernel spreads them over both workers.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
t.teardown(() => agent.destroy());

function status(path: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function send(path: string, body: object, headers: Record<string, string>, total: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      next++;
      statuses.push(await status(path, JSON.stringify(body), headers));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return statuses;
}

const workerPids = (path: string): Set<number> => new Set(c.lines.filter((l) => l.msg === 'request' && l.path === path).map((l) => l.pid as number));

t.test('first: 5 over 200 concurrent requests on 2 workers: exactly 5 faults', async (t) => {
  const statuses = await send('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count me' }], max_tokens: 2 }, { authorization: 'Bearer sk-test' }, 200, 200);
  t.equal(statuses.length, 200);
  t.equal(statuses.filter((s) => s === 429).length, 5, 'five 429s in all');
  t.equal(statuses.filter((s) => s === 200).length, 195);
  await c.waitFor(() => workerPids('/v1/chat/completions').size === 2, 5000).catch(() => undefined);
  t.equal(workerPids('/v1/chat/completions').size, 2, 'both workers served');
});

t.test('every: 10 over 1,000 requests on 2 workers: exactly 100 faults', async (t) => {
  const statuses = await send('/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 2, messages: [{ role: 'user', content: 'count me' }] }, { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, 1000, 50);
  t.equal(statuses.length, 1000);
  t.equal(statuses.filter((s) => s === 529).length, 100, 'one in ten, exactly');
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  t.match(metrics, /llm_faults_injected_total\{fault="overloaded",rule="every-ten",model="claude-haiku-4-5-20251001",route="messages"\} 100/, 'the cluster metric says 100');
  t.match(metrics, /llm_faults_injected_total\{fault="rate_limit",rule="first-five",model="gpt-4o-mini",route="chat.completions"\} 5/);
});

t.test('bad rules stop start-up with exit 2 and a line naming the path', async (t) => {
  const cases: [object, RegExp][] = [
    [[{ fault: { type: 'meltdown' } }], /^config: faults\.rules\.0\.fault\.type: /],
    [[{ when: { probability: 1.5 }, fault: { type: 'cut' } }], /^config: faults\.rules\.0\.when\.probability: /],
    [[{ fault: { type: 'delay', ms: 'soon' } }], /^config: faults\.rules\.0\.fault\.ms: /],
    [{ rules: [{ when: { first: 1, every: 2 }, fault: { type: 'reset' } }] }, /^config: faults\.rules\.0\.when: give exactly one trigger/],
  ];
  for (const [faults, line] of cases) {
    const file = join(tmpdir(), `llmsim-bad-faults-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ faults }));
    const r = spawnSync(process.execPath, [MAIN, '--workers', '2', '--config', file], { encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 2, JSON.stringify(faults));
    t.match(r.stderr, line);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

t.test('a scenario runs from the primary\'s start: both workers switch phase together', async (t) => {
  const file = join(tmpdir(), `llmsim-scenario-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ timeScale: 0, scenarios: { later: { phases: [{ for: '2500ms' }, { for: '1h', faults: [{ name: 'late', fault: { type: 'server_error' } }] }] } }, scenario: 'later' }));
  const s = await startCluster(['--workers', '2', '--config', file]);
  t.teardown(() => void s.proc.kill('SIGKILL'));
  // Probes until well after the switch (bounded: at most 6 s).
  await assertFaultedTogether(t, s, 6000);
});
