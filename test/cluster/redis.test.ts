import t from 'tap';
import { burst, startCluster, type Cluster } from '../helpers/cluster.js';
import type { TapTest } from '../helpers/tap.js';
import { startRedis } from '../../bench/lib.js';

// `limits.store: redis://…`: two simulator instances, each a primary with 2 workers, share one
// limit through a real redis-server. Workers lease budget; the primary takes it from Redis with
// one Lua script per lease.

const LIMIT = JSON.stringify({ requestsPerMinute: 100 });
const admitted = (s: number[]): number => s.filter((x) => x === 200).length;

/** A fresh redis-server and two instances of 2 workers each sharing LIMIT through it. */
async function twoInstances(t: TapTest): Promise<{ a: Cluster; b: Cluster }> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  // Four workers on a 2-core machine: the warm-up (not what is tested here) would only slow the start.
  const args = ['--workers', '2', '--warm-up', 'false', '--time-scale', '0', '--limits.store', redis.url, '--limits.default', LIMIT];
  const a = await startCluster(args);
  t.teardown(() => void a.proc.kill('SIGKILL'));
  const b = await startCluster(args);
  t.teardown(() => void b.proc.kill('SIGKILL'));
  return { a, b };
}

t.test('two instances on one Redis admit one limit\'s worth, not two', async (t) => {
  const { a, b } = await twoInstances(t);
  const started = Date.now();
  const [fromA, fromB] = (await burst([a.url, b.url], 1000)) as [number[], number[]];
  // The bucket refills while the burst runs (100 a minute): that much more may be admitted.
  const bound = 100 + Math.ceil(((Date.now() - started) * 100) / 60_000);
  t.equal([...fromA, ...fromB].filter((s) => s !== 200 && s !== 429).length, 0, 'every answer is a 200 or a 429');
  const total = admitted(fromA) + admitted(fromB);
  t.ok(total <= bound, `one limit across both instances: ${total} admitted (${admitted(fromA)} + ${admitted(fromB)}), at most ${bound}`);
  t.ok(total >= 80, `and not far below it: ${total} admitted (at most one lease per other worker short)`);
  // Which instance's workers win the leases of a simultaneous burst is the scheduler's choice (one
  // may take them all), so the sharing itself is shown in sequence: what A spent, B cannot have.
});

t.test('what one instance spent, the other instance cannot spend again', async (t) => {
  const { a, b } = await twoInstances(t);
  const started = Date.now();
  const [fromA] = (await burst([a.url], 300, 'first')) as [number[]];
  t.ok(admitted(fromA) >= 80, `instance A alone spends the limit: ${admitted(fromA)} of 300 admitted`);
  const [fromB] = (await burst([b.url], 100, 'second')) as [number[]];
  // Only what A left (a lease returned unspent) and what refilled since A began (100 a minute) can
  // be left for B; an instance with its own bucket would admit 100.
  const left = 100 + Math.ceil(((Date.now() - started) * 100) / 60_000) - admitted(fromA);
  t.ok(admitted(fromB) <= left, `instance B finds the bucket spent: ${admitted(fromB)} admitted, at most ${left} left`);
  t.ok(fromB.includes(429), 'and refuses with the 429');
});

t.test('Redis away: onStoreError allow admits and deny refuses; one log line per outage, and one when it is back', async (t) => {
  const redis = await startRedis();
  await redis.stop(); // its port is now free and closed: the store is unreachable from the start
  // A password in the URL, to show that no log line carries it.
  const common = ['--workers', '1', '--warm-up', 'false', '--time-scale', '0', '--limits.store', redis.url.replace('//', '//:hunter2@'), '--limits.default', LIMIT];
  const allow = await startCluster([...common, '--limits.on-store-error', 'allow']);
  t.teardown(() => void allow.proc.kill('SIGKILL'));
  const deny = await startCluster([...common, '--limits.on-store-error', 'deny']);
  t.teardown(() => void deny.proc.kill('SIGKILL'));

  const [allowed] = (await burst([allow.url], 20)) as [number[]];
  t.same(new Set(allowed), new Set([200]), 'allow: every request admitted while the store is away');
  const [denied] = (await burst([deny.url], 20)) as [number[]];
  t.same(new Set(denied), new Set([429]), 'deny: every request refused with the 429');
  const outage = (c: typeof allow): number => c.lines.filter((l) => String(l.msg).startsWith('rate-limit store unreachable')).length;
  t.equal(outage(allow), 1, 'one log line for the outage, not one per request');
  t.equal(outage(deny), 1);
  t.ok(allow.lines.some((l) => String(l.store).endsWith(`@127.0.0.1:${redis.port}/0`)), 'the outage line names the store');
  t.notOk([...allow.lines, ...deny.lines].some((l) => JSON.stringify(l).includes('hunter2')), 'and never its password');
  const metrics = await (await fetch(`${allow.url}/metrics`)).text();
  t.match(metrics, /^llm_rate_limit_store_errors_total [1-9]\d*$/m, 'the decisions made without the store are counted');

  // Redis comes back on the same port: the next lease reaches it, and the outage ends in one line.
  const back = await startRedis(redis.port);
  t.teardown(() => back.stop());
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !allow.lines.some((l) => l.msg === 'rate-limit store reachable again')) await burst([allow.url], 5, 'after');
  t.ok(allow.lines.some((l) => l.msg === 'rate-limit store reachable again'), 'logged once the store answers again');
  const [limited] = (await burst([allow.url], 300, 'limited')) as [number[]];
  t.ok(limited.includes(429), 'and the limit applies again');
});
