import { Agent, request } from 'node:http';
import t from 'tap';
import { startCluster } from '../helpers/cluster.js';

// The buckets live in the primary and workers lease budget from it: a limit is the cluster's,
// not each worker's. A burst of 1,000 against 100 a minute admits 100 (never more; fewer only by
// budget another worker leased and had not spent when the burst ended).

t.test('requestsPerMinute 100 on 2 workers: a burst of 1,000 admits 100', async (t) => {
  const c = await startCluster(['--workers', '2', '--time-scale', '0', '--limits.default', JSON.stringify({ requestsPerMinute: 100 })]);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  t.teardown(() => agent.destroy());
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'burst' }], max_tokens: 1 });
  const one = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(`${c.url}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-request-id': `burst-${i}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
  const statuses = await Promise.all(Array.from({ length: 1000 }, (_, i) => one(i)));
  const admitted = statuses.filter((s) => s === 200).length;
  t.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0, 'every answer is a 200 or a 429');
  t.ok(admitted <= 100, `never more than the limit: ${admitted} admitted`);
  t.ok(admitted >= 90, `and not far below it: ${admitted} admitted (at most one lease of 5 per other worker short)`);
  // Both workers answered part of the burst: limits counted per worker would have admitted up to 200.
  const servedBy = () => new Set(c.lines.filter((l) => String(l.requestId).startsWith('burst-')).map((l) => l.pid));
  await c.waitFor(() => servedBy().size === 2, 5000).catch(() => undefined);
  t.equal(servedBy().size, 2, 'both workers served the burst');
});
