import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';

/**
 * Start-up traffic, so the first real request finds every route's hot path compiled, the
 * tokenizer tables and frame buffers built and the heap sized: a cold simulator met with a burst
 * of 500 streams answered their first tokens 13 ms later than a bare server at p50 and 28 ms at
 * p99; warmed, −0.3 and +1.0 ms (bench/scenarios/burst.ts, --cold). The server sends this
 * traffic to itself on a private loopback port before it listens on the shared one, so no client
 * ever meets a cold worker; its metrics are then reset.
 */

/** Requests per variant: enough for V8 to optimise the functions every request runs (`--trace-opt`; bench/scenarios/burst.ts measures the effect). */
const ROUNDS = 100;
const CONNECTIONS = 8;

/**
 * V8 optimises a function once it has run through its *interrupt budget* (bytecode executed)
 * a few times. At the default budget the warm-up left the request path itself in the baseline
 * tier (`chatCompletions`, `validate`, `deliver`): under 100 streams a second V8 optimised it
 * only 10–14 s into the load (`--trace-opt`), and meanwhile it cost several times more a request.
 * During the warm-up the budget is a quarter, so the rounds tier every path they run up; then
 * V8's default is restored, so nothing else is optimised sooner than it would be. The default is
 * known for Node 20's V8 (11.x, `node --v8-options`); elsewhere, or when the process was started
 * with its own `--interrupt-budget`, the budget is left alone.
 */
const DEFAULT_INTERRUPT_BUDGET = process.versions.v8.startsWith('11.') && !process.execArgv.some((a) => a.startsWith('--interrupt-budget')) ? 67584 : null;
const WARM_INTERRUPT_BUDGET = 16896;
/**
 * A pause after each round of requests: V8 compiles on a background thread from a queue of 8
 * functions, and a function marked while the queue is full is dropped until it is hot again
 * (`--trace-concurrent-recompilation` counted 16 such drops in one warm-up without the pauses;
 * `chatCompletions` was one of them).
 */
const SETTLE_MS = 3;

/** In every variant's prompt; each round puts its number after it (`send`). */
const PROMPT = 'Warm up';
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: `${PROMPT}, please.` }], max_tokens: 40 };
const ANTHROPIC = { 'anthropic-version': '2023-06-01' };
/**
 * Real waits, short: answers and streams that go through the timing wheel, as a load's do (the
 * instant profile skips it). These keep the model's own profile, the headers only setting its
 * waits, as a load tool's requests do: with the instant profile under them too, the first burst
 * of such streams met timings of shapes the warm-up never made, and `deliver`, `admit`, `flush`
 * and `rawGap` deoptimised in its first milliseconds (`--trace-deopt`).
 */
const TIMED = { 'x-sim-ttft-ms': '1', 'x-sim-itl-ms': '1' };

/** One request of each shape the routes serve: JSON and stream, both dialects. */
const VARIANTS: readonly { method: string; path: string; body?: object; headers?: Record<string, string> }[] = [
  { method: 'POST', path: '/v1/chat/completions', body: chat },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, stream: true, stream_options: { include_usage: true } } },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, max_tokens: 8 }, headers: TIMED },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, max_tokens: 8, stream: true }, headers: TIMED },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: PROMPT, max_tokens: 40 } },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: PROMPT, max_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: PROMPT, max_output_tokens: 40 } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: PROMPT, max_output_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: PROMPT, encoding_format: 'base64' } },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: PROMPT }] }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: PROMPT }], stream: true }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: PROMPT }], stream: true }, headers: { ...ANTHROPIC, ...TIMED } },
  { method: 'POST', path: '/v1/messages/count_tokens', body: { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: PROMPT }] }, headers: ANTHROPIC },
  { method: 'GET', path: '/v1/models' },
];

/**
 * Through node:http's keep-alive client. Tried and dropped (12-06): one bare socket a request,
 * ~0.2 s less warm-up CPU; but V8 then sized the young generation from less allocation, and a
 * cold burst met TTFT +8.96 ms p50 / +12.03 ms p99 over the bare server instead of +2.82 / +3.84.
 */
function send(agent: Agent, tls: boolean, port: number, key: string, v: (typeof VARIANTS)[number], i: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // Each round's prompts differ, as a load's do: with one prompt every round, its count came from
    // the cache after the first, and a real load's first new prompt deoptimised the count's path.
    const body = v.body === undefined ? undefined : JSON.stringify(v.body).replaceAll(PROMPT, `${PROMPT} ${i}`);
    const req = (tls ? tlsRequest : request)(
      // The instant profile: no simulated waits (embeddings take no timing headers), but for the timed variants.
      { host: '127.0.0.1', port, method: v.method, path: v.path, agent, headers: { 'content-type': 'application/json', ...(v.headers?.['x-sim-ttft-ms'] !== undefined ? {} : { 'x-sim-profile': 'instant' }), ...(v.path.startsWith('/v1/messages') ? { 'x-api-key': key } : { authorization: `Bearer ${key}` }), ...v.headers } },
      // Best effort: a config that changed these models may refuse some requests, which still warm the paths they take.
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What a warm-up took, and how many of its requests were refused (each left part of its path cold). */
export interface WarmUp {
  readonly ms: number;
  readonly refused: number;
}

/**
 * Sends every variant ROUNDS times over CONNECTIONS keep-alive connections, presenting `key` as
 * each vendor's clients do. `afterRound` runs whenever no request is in flight, after each round.
 */
export async function warmUp(port: number, key: string, tls = false, afterRound: () => void = () => {}): Promise<WarmUp> {
  const started = performance.now();
  let refused = 0;
  if (DEFAULT_INTERRUPT_BUDGET !== null) setFlagsFromString(`--interrupt-budget=${WARM_INTERRUPT_BUDGET}`);
  // Over https when the server serves it (its own loopback port: its certificate need not name 127.0.0.1).
  const agent = tls ? new TlsAgent({ keepAlive: true, maxSockets: CONNECTIONS, rejectUnauthorized: false }) : new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    for (let round = 0; round < ROUNDS; round += CONNECTIONS) {
      const batch: Promise<number>[] = [];
      for (let k = 0; k < CONNECTIONS && round + k < ROUNDS; k++) for (const v of VARIANTS) batch.push(send(agent, tls, port, key, v, round + k));
      for (const status of await Promise.all(batch)) if (status >= 400) refused++;
      afterRound();
      await delay(SETTLE_MS);
    }
  } finally {
    agent.destroy();
    if (DEFAULT_INTERRUPT_BUDGET !== null) setFlagsFromString(`--interrupt-budget=${DEFAULT_INTERRUPT_BUDGET}`);
  }
  return { ms: performance.now() - started, refused };
}
