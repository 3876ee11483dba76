/**
 * The event-loop cost of one non-stream chat request's own work, phase by phase, without HTTP:
 * parse, validate + plan (the route handler), and the reply body. What is left of the per-request
 * CPU that the chat scenario measures is uWS, the exchange's accounting and the kernel.
 * `node dist/bench/micro/chat-path.js`
 */
import { performance } from 'node:perf_hooks';
import { validateConfig } from '../../src/config/load.js';
import { Catalogue } from '../../src/sim/catalogue.js';
import { Profiles } from '../../src/sim/profiles.js';
import { Capacity } from '../../src/sim/capacity.js';
import { parseJson } from '../../src/api/validate.js';
import { chatCompletions } from '../../src/api/openai/chat-completions.js';
import type { RouteContext } from '../../src/api/context.js';
import type { Generation } from '../../src/sim/stream.js';

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Benchmark request: say something short.' }], max_tokens: 32 });
const config = validateConfig({ timeScale: 0 });
const headers = { authorization: 'Bearer bench', xApiKey: '', anthropicVersion: '', requestId: '', ttftMs: '', itlMs: '', profile: '', mode: '', fault: '' };
const ctx: RouteContext = { config, catalogue: new Catalogue(config.models), profiles: new Profiles(config), pool: null, headers, requestId: 'req', capacity: new Capacity(), scripted: null };
const N = 200_000;

function phase(name: string, run: () => void): { phase: string; 'ns/request': number } {
  for (let i = 0; i < N / 10; i++) run();
  const start = performance.now();
  for (let i = 0; i < N; i++) run();
  return { phase: name, 'ns/request': Math.round(((performance.now() - start) * 1e6) / N) };
}

let sink: unknown;
const parsed = () => parseJson(BODY);
console.table([
  phase('JSON.parse', () => (sink = parsed())),
  phase('parse + handler', () => (sink = chatCompletions(parsed(), ctx))),
  phase('parse + handler + body', () => (sink = (chatCompletions(parsed(), ctx) as Generation).body())),
]);
void sink;
