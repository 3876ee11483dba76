/**
 * Where offloading answer generation to the thread pool pays: compares the event-loop time of
 * generating N tokens inline with the event-loop time a pool round trip costs (measured as
 * event-loop utilisation while tasks run in the thread). `node dist/bench/micro/plan.js`
 */
import { performance } from 'node:perf_hooks';
import { CpuPool } from '../../src/sim/pool.js';
import { generateTokens } from '../../src/sim/text.js';

const SIZES = [256, 1024, 4096, 8192, 16384, 65536];
const BATCH = 200;

function inlineUs(count: number): number {
  for (let i = 0; i < 50; i++) generateTokens(i, count);
  const start = performance.now();
  for (let i = 0; i < BATCH; i++) generateTokens(i, count);
  return ((performance.now() - start) * 1000) / BATCH;
}

async function pooledUs(pool: CpuPool, count: number): Promise<{ loopUs: number; wallUs: number }> {
  await Promise.all(Array.from({ length: 50 }, (_, i) => pool.plan({ seed: i, count })));
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  // Tasks one after another, as requests arrive: the event loop idles while the thread works.
  for (let i = 0; i < BATCH; i++) await pool.plan({ seed: i, count });
  const wall = performance.now() - start;
  const used = performance.eventLoopUtilization(elu);
  return { loopUs: (used.active * 1000) / BATCH, wallUs: (wall * 1000) / BATCH };
}

const pool = new CpuPool(1);
const rows = [];
for (const count of SIZES) {
  const inline = inlineUs(count);
  const pooled = await pooledUs(pool, count);
  rows.push({ tokens: count, 'inline µs': +inline.toFixed(1), 'pool: event-loop µs': +pooled.loopUs.toFixed(1), 'pool: wall µs': +pooled.wallUs.toFixed(1), 'offload pays': pooled.loopUs < inline });
}
console.table(rows);
await pool.destroy();
