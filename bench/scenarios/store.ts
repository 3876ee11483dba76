import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { LEASE_MS } from '../../src/edge/limits.js';
import { Rng } from '../../src/sim/rng.js';
import { distribution, has, median, sleep, startProcess, startRedis, stopProcess, waitHealthy, type Distribution, type Started } from '../lib.js';
import { ok, openLoop, type Sent, type Target } from './gateway.js';

export interface StoreOptions {
  /** Requests a second, on a fixed schedule. */
  readonly rate: number;
  readonly durationS: number;
  /** Interleaved runs of each store; percentiles are medians over them. */
  readonly runs: number;
}

/** Unmeasured load on each simulator first: V8 compiles the limits' paths, the leases exist. */
const WARM_S = 2;
const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What does the store cost?' }], max_tokens: 16 });

interface StoreRun {
  readonly latencyMs: Distribution & { readonly max: number };
  readonly refused: number;
  /** Scripts Redis ran during the run (0 for the local store). */
  readonly redisCalls: number;
}

/**
 * The limits both simulators keep: twice the offered load, so nothing is refused and what is
 * measured is the keeping, not the refusing. A chat request here reserves ~23 tokens.
 */
function limitsConfig(store: string, rate: number): string {
  const file = join(tmpdir(), `llmsim-bench-store-${store.startsWith('redis') ? 'redis' : 'local'}.json`);
  writeFileSync(file, JSON.stringify({ timeScale: 0, limits: { store, default: { requestsPerMinute: rate * 60 * 2, tokensPerMinute: rate * 60 * 2 * 50 } } }));
  return file;
}

/**
 * `--scenario store`: what keeping the rate limits in Redis adds to a request (README "Rate
 * limits"). The same limits, kept by the primary (`limits.store: local`) and in a real
 * redis-server started here, each simulator loaded in turn with the same open-loop schedule:
 * client latency of each (from each request's scheduled time, so a stall meets the requests
 * that arrive meanwhile), the difference, and how many scripts Redis ran (its commandstats).
 * Workers lease budget, renewed every LEASE_MS while requests spend from it, so Redis is asked a
 * few times a second per bucket, not per request.
 */
export async function storeScenario(simArgs: string[], o: StoreOptions): Promise<object> {
  if (!has('redis-server')) {
    console.log('store: redis-server is not installed (apt-get install redis-server); skipped');
    return { skipped: 'no redis-server' };
  }
  const redis = await startRedis();
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const sims: Started[] = [];
  const runs: Record<'local' | 'redis', StoreRun[]> = { local: [], redis: [] };
  try {
    await client.connect();
    const local = await startProcess([...simArgs, '--port', '0', '--config', limitsConfig('local', o.rate)]);
    sims.push(local);
    const remote = await startProcess([...simArgs, '--port', '0', '--config', limitsConfig(redis.url, o.rate)]);
    sims.push(remote);
    for (const s of sims) await waitHealthy(s.port);
    for (const s of sims) await load(s, o.rate, WARM_S);
    for (let r = 0; r < o.runs; r++) {
      for (const store of r % 2 === 0 ? (['local', 'redis'] as const) : (['redis', 'local'] as const)) {
        // The last run's simulator gives its leases back once they expire: not this run's scripts.
        await sleep(LEASE_MS * 2);
        await client.config('RESETSTAT');
        const sent = await load(store === 'local' ? local : remote, o.rate, o.durationS);
        const latencies = sent.filter(ok).map((x) => x.end - x.intended);
        const run = { latencyMs: { ...distribution(latencies), max: Math.round(Math.max(...latencies) * 1000) / 1000 }, refused: sent.length - latencies.length, redisCalls: scriptCalls(await client.info('commandstats')) };
        runs[store].push(run);
        console.log(`store run ${r + 1}/${o.runs} ${store}: p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms, max ${run.latencyMs.max} ms, ${run.refused} not 2xx, ${run.redisCalls} Redis scripts`);
      }
    }
  } finally {
    client.disconnect();
    for (const s of sims) await stopProcess(s);
    await redis.stop();
  }
  const summary = (xs: StoreRun[]) => ({
    p50: median(xs.map((x) => x.latencyMs.p50)),
    p90: median(xs.map((x) => x.latencyMs.p90)),
    p99: median(xs.map((x) => x.latencyMs.p99)),
    max: Math.max(...xs.map((x) => x.latencyMs.max)),
    refused: xs.reduce((n, x) => n + x.refused, 0),
    redisCallsPerRun: median(xs.map((x) => x.redisCalls)),
  });
  const local = summary(runs.local);
  const remote = summary(runs.redis);
  const added = { p50: +(remote.p50 - local.p50).toFixed(3), p90: +(remote.p90 - local.p90).toFixed(3), p99: +(remote.p99 - local.p99).toFixed(3) };
  console.log(`\nrate limits kept locally and in Redis, ${o.rate} req/s open loop, ${o.durationS} s × ${o.runs} (medians over runs, ms)`);
  console.table({ local, redis: remote });
  console.log(`Redis adds p50 ${added.p50} ms, p90 ${added.p90} ms, p99 ${added.p99} ms; one script per ${Math.round((o.rate * o.durationS) / Math.max(1, remote.redisCallsPerRun))} requests`);
  return { rate: o.rate, durationS: o.durationS, runs: o.runs, local, redis: remote, added, perRun: runs };
}

/** `seconds` of chat requests at `rate` a second against one simulator. */
async function load(s: Started, rate: number, seconds: number): Promise<Sent[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const t: Target = { url: `http://127.0.0.1:${s.port}/v1/chat/completions`, via: 'direct', body: BODY, headers: { 'content-type': 'application/json' }, agent, stream: false, tag: 'store', headerNames: null };
  try {
    return await openLoop(t, rate, seconds, 'fixed', 10_000, new Rng(1), []);
  } finally {
    agent.destroy();
  }
}

/** The scripts Redis ran, from `INFO commandstats` (the store loads its script once, then calls it by digest). */
function scriptCalls(info: string): number {
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}
