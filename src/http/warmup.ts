import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';

/**
 * Start-up traffic, so the first real request finds every route's hot path compiled, the
 * tokenizer tables and frame buffers built and the heap sized: a cold simulator met with a burst
 * of 500 streams answered their first tokens 13 ms later than a bare server at p50 and 28 ms at
 * p99; warmed, −0.3 and +1.0 ms (bench/scenarios/burst.ts, --cold). The server sends this
 * traffic to itself on a private loopback port before it listens on the shared one, so no client
 * ever meets a cold worker; its metrics are then reset.
 */

/** Requests per variant: enough for V8 to optimise the functions every request runs (measured in bench/scenarios/burst.ts). */
const ROUNDS = 150;
const CONNECTIONS = 8;

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Warm up, please.' }], max_tokens: 40 };
const ANTHROPIC = { 'anthropic-version': '2023-06-01', 'x-api-key': 'warmup' };

/** One request of each shape the routes serve: JSON and stream, both dialects. */
const VARIANTS: readonly { method: string; path: string; body?: object; headers?: Record<string, string> }[] = [
  { method: 'POST', path: '/v1/chat/completions', body: chat },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, stream: true, stream_options: { include_usage: true } } },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: 'Warm up', max_tokens: 40 } },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: 'Warm up', max_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: 'Warm up', max_output_tokens: 40 } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: 'Warm up', max_output_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'Warm up', encoding_format: 'base64' } },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: 'Warm up' }] }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: 'Warm up' }], stream: true }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages/count_tokens', body: { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Warm up' }] }, headers: ANTHROPIC },
  { method: 'GET', path: '/v1/models' },
];

function send(agent: Agent, tls: boolean, port: number, v: (typeof VARIANTS)[number], i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = v.body === undefined ? undefined : JSON.stringify({ ...v.body, ...('messages' in v.body && v.path === '/v1/chat/completions' ? { seed: i } : {}) });
    const req = (tls ? tlsRequest : request)(
      // The instant profile: no simulated waits (embeddings take no timing headers).
      { host: '127.0.0.1', port, method: v.method, path: v.path, agent, headers: { 'content-type': 'application/json', 'x-sim-profile': 'instant', ...v.headers } },
      // Best effort: a config that changed these models may refuse some requests, which still warm the paths they take.
      (res) => {
        res.on('data', () => {});
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends every variant ROUNDS times over CONNECTIONS keep-alive connections; resolves with the milliseconds it took. */
export async function warmUp(port: number, tls = false): Promise<number> {
  const started = performance.now();
  // Over https when the server serves it (its own loopback port: its certificate need not name 127.0.0.1).
  const agent = tls ? new TlsAgent({ keepAlive: true, maxSockets: CONNECTIONS, rejectUnauthorized: false }) : new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    for (let round = 0; round < ROUNDS; round += CONNECTIONS) {
      const batch: Promise<void>[] = [];
      for (let k = 0; k < CONNECTIONS && round + k < ROUNDS; k++) for (const v of VARIANTS) batch.push(send(agent, tls, port, v, round + k));
      await Promise.all(batch);
    }
  } finally {
    agent.destroy();
  }
  return performance.now() - started;
}
