import t from 'tap';
import { storeScenario } from '../../bench/scenarios/store.js';
import { built } from '../../src/paths.js';

// The benchmark's `store` scenario against a real redis-server: both simulators answer every
// request of its open loop, Redis runs the limits' scripts for one and none for the other. (Its
// latency figures are the benchmark's to report, not this test's to judge.)
t.test('the store scenario loads a local and a Redis-backed simulator and counts the scripts Redis ran', async (t) => {
  const simArgs = [built('src', 'main.js'), '--host', '127.0.0.1', '--port', '0', '--workers', '1', '--warm-up', 'false', '--access-log', 'false'];
  const r = (await storeScenario(simArgs, { rate: 200, durationS: 1, runs: 2 })) as {
    local: { refused: number; redisCallsPerRun: number; p50: number };
    redis: { refused: number; redisCallsPerRun: number; p50: number };
    perRun: { local: unknown[]; redis: unknown[] };
  };
  t.equal(r.perRun.local.length, 2, 'two runs of each store');
  t.equal(r.perRun.redis.length, 2);
  t.equal(r.local.refused + r.redis.refused, 0, 'nothing refused: the limits are twice the load');
  t.equal(r.local.redisCallsPerRun, 0, 'the local store never asks Redis');
  t.ok(r.redis.redisCallsPerRun > 0 && r.redis.redisCallsPerRun < 200, `the Redis store ran ${r.redis.redisCallsPerRun} scripts a run for 200 requests: leases, not one a request`);
  t.ok(r.local.p50 > 0 && r.redis.p50 > 0, `latencies measured (p50 ${r.local.p50} / ${r.redis.p50} ms)`);
});
