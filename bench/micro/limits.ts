/**
 * The event-loop cost of the provider edge on one non-stream chat request, phase by phase,
 * without HTTP: the key check (1,000 configured keys), the limiter's buckets, the cost, the
 * admission against leases, and the rate-limit headers. The chat scenario with `--sim-flags
 * "--config <limits file>"` measures the same with uWebSockets.js and the kernel around it.
 * `node dist/bench/micro/limits.js`
 */
import { performance } from 'node:perf_hooks';
import { validateConfig } from '../../src/config/load.js';
import { KeyRing } from '../../src/edge/auth.js';
import { Limiter, localStore } from '../../src/edge/limits.js';
import { costOf, limitLines } from '../../src/http/limits.js';
import { parseJson } from '../../src/api/validate.js';

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Benchmark request: say something short.' }], max_tokens: 32 });
const keys = Array.from({ length: 1000 }, (_, i) => ({ key: `sk-bench-${i}`, name: `team-${i}` }));
const config = validateConfig({ timeScale: 0, auth: { mode: 'keys', keys }, limits: { default: { requestsPerMinute: 1e9, tokensPerMinute: 1e9 } } });
const ring = new KeyRing(config.auth);
const limiter = new Limiter(config.limits, localStore(), 1);
const body = parseJson(BODY);
const N = 500_000;
const names = keys.map((k) => k.key);
const clients = keys.map((k) => k.name);

function phase(name: string, run: (i: number) => void): { phase: string; 'ns/request': number } {
  for (let i = 0; i < N / 10; i++) run(i);
  const start = performance.now();
  for (let i = 0; i < N; i++) run(i);
  return { phase: name, 'ns/request': Math.round(((performance.now() - start) * 1e6) / N) };
}

let sink: unknown;
const key = (i: number) => ring.check(`Bearer ${names[i % 1000]!}`, '');
const plan = (i: number) => limiter.plan(clients[i % 1000]!, null, 'gpt-4o-mini', 'chat.completions');
console.table([
  phase('key check', (i) => (sink = key(i))),
  phase('+ plan', (i) => (sink = (key(i), plan(i)))),
  phase('+ cost', (i) => (sink = (key(i), plan(i), costOf('chat.completions', body, config)))),
  phase('+ admit', (i) => (sink = (key(i), limiter.admit(plan(i), costOf('chat.completions', body, config))))),
  phase('+ headers', (i) => {
    const p = (key(i), plan(i));
    sink = limiter.admit(p, costOf('chat.completions', body, config));
    sink = limitLines('openai', limiter.tightest(p));
  }),
]);
void sink;
