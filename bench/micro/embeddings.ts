/**
 * Where building an embeddings response in the thread pool pays: event-loop time of the `data`
 * array inline vs through the pool, by batch size and encoding. Decided OFFLOAD_MICROS in
 * src/api/openai/embeddings.ts. `node dist/bench/micro/embeddings.js`
 */
import { performance } from 'node:perf_hooks';
import { validateConfig } from '../../src/config/load.js';
import { embeddingData, type EncodingFormat } from '../../src/sim/embeddings.js';
import { CpuPool } from '../../src/sim/pool.js';

const REPEAT = 20;
const pool = new CpuPool(validateConfig({}));
const rows = [];
for (const format of ['float', 'base64'] as EncodingFormat[]) {
  for (const [inputs, dims] of [[1, 1536], [4, 1536], [16, 1536], [64, 3072], [256, 3072]] as const) {
    const texts = Array.from({ length: inputs }, (_, i) => `input number ${i}`);
    embeddingData(texts, dims, format);
    let start = performance.now();
    for (let i = 0; i < REPEAT; i++) embeddingData(texts, dims, format);
    const inline = ((performance.now() - start) * 1000) / REPEAT;
    await pool.embed({ texts, dimensions: dims, format });
    const elu = performance.eventLoopUtilization();
    start = performance.now();
    for (let i = 0; i < REPEAT; i++) await pool.embed({ texts, dimensions: dims, format });
    const loop = (performance.eventLoopUtilization(elu).active * 1000) / REPEAT;
    rows.push({ format, inputs, dims, 'inline µs': Math.round(inline), 'pool: event-loop µs': Math.round(loop), 'wall µs': Math.round(((performance.now() - start) * 1000) / REPEAT), 'offload pays': loop < inline });
  }
}
console.table(rows);
await pool.destroy();
