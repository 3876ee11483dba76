/**
 * What a Prometheus scrape costs at scale: a cluster of 2 workers with 50 configured models and
 * 1,000 API keys under rate limits, after traffic on every model and key (some refused), so every
 * family has its series. Prints the scrape's median and p90 time over 30 scrapes and its size.
 * `node dist/bench/micro/scrape.js [--families]` (`--families`: the sample lines of each family too)
 */
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, ROOT, startProcess, stopProcess, waitHealthy } from '../lib.js';

const MODELS = 50;
const KEYS = 1000;
const models = Array.from({ length: MODELS }, (_, i) => ({ id: `bench-model-${i}`, provider: 'openai', kind: 'chat', profile: 'instant' }));
const keys = Array.from({ length: KEYS }, (_, i) => ({ key: `sk-bench-${i}`, name: `team-${i}` }));
// Five requests a minute per key: a key's sixth request is refused, so the refusal counters fill too.
const config = { timeScale: 0, accessLog: false, models, auth: { mode: 'keys', keys }, limits: { default: { requestsPerMinute: 5 } } };
const file = join(tmpdir(), 'llmsim-scrape-bench.json');
writeFileSync(file, JSON.stringify(config));

const sim = await startProcess([join(ROOT, 'dist/src/main.js'), '--host', '127.0.0.1', '--port', '0', '--workers', '2', '--config', file]);
await waitHealthy(sim.port);
const url = `http://127.0.0.1:${sim.port}`;
let sent = 0;
// Six requests per key, each key on models spread over all 50, 64 at a time.
const jobs = Array.from({ length: KEYS * 6 }, (_, i) => i);
await Promise.all(
  Array.from({ length: 64 }, async () => {
    for (let i = jobs.pop(); i !== undefined; i = jobs.pop()) {
      const body = JSON.stringify({ model: `bench-model-${i % MODELS}`, messages: [{ role: 'user', content: 'scrape me' }], max_tokens: 4, stream: i % 2 === 0 });
      await (await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer sk-bench-${i % KEYS}` }, body })).text();
      sent++;
    }
  }),
);
const times: number[] = [];
let text = '';
for (let i = 0; i < 30; i++) {
  const start = performance.now();
  text = await (await fetch(`${url}/metrics`)).text();
  times.push(performance.now() - start);
}
if (process.argv.includes('--families')) {
  const byFamily = new Map<string, number>();
  for (const l of text.split('\n')) if (l !== '' && !l.startsWith('#')) {
    const name = l.slice(0, l.search(/[{ ]/)).replace(/_(bucket|sum|count)$/, '');
    byFamily.set(name, (byFamily.get(name) ?? 0) + 1);
  }
  console.table(Object.fromEntries([...byFamily].sort((a, b) => b[1] - a[1])));
}
await stopProcess(sim);
const lines = text.split('\n');
const sorted = [...times].sort((a, b) => a - b);
console.table({
  requests: sent,
  'series (sample lines)': lines.filter((l) => l !== '' && !l.startsWith('#')).length,
  'bytes': Buffer.byteLength(text),
  'scrape median ms': Number(median(times).toFixed(1)),
  'scrape p90 ms': Number(sorted[Math.floor(sorted.length * 0.9)]!.toFixed(1)),
  'rate-limit refusals': lines.filter((l) => l.startsWith('llm_rate_limit_exceeded_total{')).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0),
});
