import { performance } from 'node:perf_hooks';
import t from 'tap';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer, until } from '../helpers/server.js';

const srv = await startServer({ timeScale: 1 });
t.teardown(() => srv.close());
// Warm the client's connection pool and the server's code paths, so timings measure the schedule.
for (let i = 0; i < 3; i++) await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '0' });

/**
 * Lower bounds are strict (a token is never early); upper bounds allow 100 ms for a loaded CI
 * machine running other test files in parallel. Lateness under load is measured by the benchmark.
 */
const SLACK = 100;

/** Reads a stream and returns the arrival time (ms since the request) of each SSE event. */
async function eventTimes(path: string, body: unknown, headers: Record<string, string>): Promise<{ times: number[]; events: string[] }> {
  const start = performance.now();
  const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const times: number[] = [];
  const events: string[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    const now = performance.now() - start;
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      events.push(buf.slice(0, i));
      times.push(now);
      buf = buf.slice(i + 2);
    }
  }
  return { times, events };
}

t.test('OpenAI stream: first token after ttft, then one per inter-token gap', async (t) => {
  const { times, events } = await eventTimes(
    '/v1/chat/completions',
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true },
    { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '150', 'x-sim-itl-ms': '30' },
  );
  const tokenTimes = times.filter((_, i) => events[i]!.includes('"content":"') && !events[i]!.includes('"role"'));
  t.equal(tokenTimes.length, 10);
  t.ok(tokenTimes[0]! >= 149, `first token at ${tokenTimes[0]!.toFixed(1)} ms ≥ 150 ms`);
  t.ok(tokenTimes[0]! < 150 + SLACK, `first token at ${tokenTimes[0]!.toFixed(1)} ms not far past 150 ms`);
  const last = tokenTimes[9]!;
  t.ok(last >= 150 + 9 * 30 - 1 && last < 150 + 9 * 30 + SLACK, `last token at ${last.toFixed(1)} ms ≈ 420 ms`);
  const gaps = tokenTimes.slice(1).map((v, i) => v - tokenTimes[i]!);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  t.ok(Math.abs(mean - 30) < 5, `mean gap ${mean.toFixed(2)} ms ≈ 30 ms`);
});

t.test('Anthropic stream follows the same schedule', async (t) => {
  const { times, events } = await eventTimes(
    '/v1/messages',
    { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], stream: true },
    { ...ANTHROPIC_HEADERS, 'x-sim-ttft-ms': '100', 'x-sim-itl-ms': '20' },
  );
  const deltas = times.filter((_, i) => events[i]!.startsWith('event: content_block_delta'));
  t.equal(deltas.length, 5);
  t.ok(deltas[0]! >= 99 && deltas[4]! >= 100 + 4 * 20 - 1, 'tokens not early');
  t.ok(deltas[4]! < 100 + 4 * 20 + SLACK, 'tokens not late');
});

t.test('non-stream waits ttft + (n-1) × itl', async (t) => {
  const start = performance.now();
  const res = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6 }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '100', 'x-sim-itl-ms': '20' });
  const took = performance.now() - start;
  t.equal(res.status, 200);
  t.ok(took >= 199 && took < 200 + SLACK, `took ${took.toFixed(1)} ms ≈ 200 ms`);
});

t.test('time scale multiplies every delay', async (t) => {
  const scaled = await startServer({ timeScale: 0.5 });
  t.teardown(() => scaled.close());
  const start = performance.now();
  await post(`${scaled.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '300' });
  const took = performance.now() - start;
  t.ok(took >= 149 && took < 150 + SLACK, `took ${took.toFixed(1)} ms ≈ 150 ms`);
});

t.test('a client that disconnects mid-stream frees its stream', async (t) => {
  const ac = new AbortController();
  const res = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '10', 'x-sim-itl-ms': '50' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, stream: true }),
    signal: ac.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  t.equal(srv.server.services.active, 1);
  t.equal(srv.server.services.scheduler.size, 1);
  ac.abort();
  t.ok(await until(() => srv.server.services.active === 0), 'the abort reached the server');
  t.equal(srv.server.services.active, 0, 'no exchange left');
  t.equal(srv.server.services.scheduler.size, 0, 'no timer entry left');
  const metrics = await srv.server.services.metrics.text();
  t.match(metrics, /http_requests_total\{method="POST",path="\/v1\/chat\/completions",status="499"\} 1/);
  t.match(metrics, /llm_active_requests\{model="gpt-4o-mini"\} 0/);
});
