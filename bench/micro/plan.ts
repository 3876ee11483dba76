/**
 * Where offloading to the thread pool pays: compares the event-loop time of planning a non-stream
 * answer of N tokens inline (its tokens, and its inter-token gaps drawn from a realistic profile)
 * with the event-loop time a pool round trip costs (event-loop utilisation while the thread
 * works). This decided the default of `pool.offloadTokens`. `node dist/bench/micro/plan.js`
 */
import { performance } from 'node:perf_hooks';
import { validateConfig } from '../../src/config/load.js';
import { sumRawGaps } from '../../src/sim/latency.js';
import { Profiles } from '../../src/sim/profiles.js';
import { CpuPool } from '../../src/sim/pool.js';
import { generateTokens } from '../../src/sim/text.js';

const SIZES = [256, 1024, 2048, 4096, 8192, 16384, 65536];
const BATCH = 200;
const PROFILE = 'openai-mini';
const config = validateConfig({});
const profile = new Profiles(config).get(PROFILE)!;

function inlineUs(count: number): number {
  const run = (i: number): void => {
    generateTokens(i, count);
    sumRawGaps(profile, null, i, count - 1);
  };
  for (let i = 0; i < 50; i++) run(i);
  const start = performance.now();
  for (let i = 0; i < BATCH; i++) run(i);
  return ((performance.now() - start) * 1000) / BATCH;
}

async function pooledUs(pool: CpuPool, count: number): Promise<{ loopUs: number; wallUs: number }> {
  const task = (i: number) => pool.plan({ seed: i, count, gaps: { profile: profile.spec, itlOverride: null, rngState: i, count: count - 1 } });
  await Promise.all(Array.from({ length: 50 }, (_, i) => task(i)));
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  // One task after another, as requests arrive: the event loop idles while the thread works.
  for (let i = 0; i < BATCH; i++) await task(i);
  const wall = performance.now() - start;
  const used = performance.eventLoopUtilization(elu);
  return { loopUs: (used.active * 1000) / BATCH, wallUs: (wall * 1000) / BATCH };
}

const pool = new CpuPool(config);
const rows = [];
for (const count of SIZES) {
  const inline = inlineUs(count);
  const pooled = await pooledUs(pool, count);
  rows.push({ tokens: count, 'inline µs': +inline.toFixed(1), 'pool: event-loop µs': +pooled.loopUs.toFixed(1), 'pool: wall µs': +pooled.wallUs.toFixed(1), 'offload pays': pooled.loopUs < inline });
}
console.table(rows);
await pool.destroy();
