import t from 'tap';
import { burst, startCluster } from '../helpers/cluster.js';

// The buckets live in the primary and workers lease budget from it: a limit is the cluster's,
// not each worker's. A burst of 1,000 against 100 a minute admits 100 (never more; fewer only by
// budget another worker leased and had not spent when the burst ended).

t.test('requestsPerMinute 100 on 2 workers: a burst of 1,000 admits 100', async (t) => {
  const c = await startCluster(['--workers', '2', '--time-scale', '0', '--limits.default', JSON.stringify({ requestsPerMinute: 100 })]);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const started = Date.now();
  const [statuses] = (await burst([c.url], 1000)) as [number[]];
  // The bucket refills while the burst runs (100 a minute): that much more may be admitted.
  const bound = 100 + Math.ceil(((Date.now() - started) * 100) / 60_000);
  const admitted = statuses.filter((s) => s === 200).length;
  t.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0, 'every answer is a 200 or a 429');
  t.ok(admitted <= bound, `never more than the limit and what refilled during the burst: ${admitted} admitted, at most ${bound}`);
  t.ok(admitted >= 90, `and not far below it: ${admitted} admitted (at most one lease of 5 per other worker short)`);
  // Both workers answered part of the burst: limits counted per worker would have admitted up to 200.
  const servedBy = () => new Set(c.lines.filter((l) => String(l.requestId).startsWith('burst-')).map((l) => l.pid));
  await c.waitFor(() => servedBy().size === 2, 5000).catch(() => undefined);
  t.equal(servedBy().size, 2, 'both workers served the burst');
});

t.test('maxConcurrentRequests 4 on 2 workers: a burst of 200 slow requests runs at most 4 at once', async (t) => {
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--max-concurrent-requests', '4', '--concurrency.mode', 'reject']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const [statuses] = (await burst([c.url], 200, 'gate', { 'x-sim-ttft-ms': '1500' })) as [number[]];
  const admitted = statuses.filter((s) => s === 200).length;
  t.equal(statuses.filter((s) => s !== 200 && s !== 503).length, 0, 'every answer is a 200 or the overload 503');
  t.ok(admitted <= 4, `never more than the cluster's limit: ${admitted} ran`);
  t.ok(admitted >= 2, 'each worker ran its share');
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  t.match(metrics, new RegExp(`^llm_concurrency_rejected_total ${200 - admitted}$`, 'm'), 'refusals counted across the cluster');
});
