import t from 'tap';
import { Agent, request } from 'node:http';
import { buckets125, VLLM_ITL_BUCKETS, VLLM_REQUEST_BUCKETS, VLLM_TTFT_BUCKETS } from '../../src/metrics/metrics.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { until } from '../helpers/server.js';

// /metrics of a 2-worker cluster after known traffic: the seeds' names and vLLM's family add up to
// what the clients were told (usage), with vLLM's types, labels and buckets; the simulated KV cache
// fills under load and empties after it.

/** The value of every sample of `name` whose labels include `labels`, summed (0 when none). */
function value(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

const typeOf = (metrics: string, name: string): string | undefined => new RegExp(`^# TYPE ${name.replace(/[:]/g, '\\$&')} (\\w+)$`, 'm').exec(metrics)?.[1];
const bucketBounds = (metrics: string, name: string, model: string): string[] =>
  [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",model_name="${model}"\\}`, 'gm'))].map((m) => m[1]!);
const scrape = async (c: Cluster): Promise<string> => (await fetch(`${c.url}/metrics`)).text();

/** A chat completion (stream or not) on its own connection (both workers serve): the usage it reported. */
function chat(c: Cluster, stream: boolean, headers: Record<string, string> = {}, maxTokens = 12): Promise<{ prompt: number; completion: number }> {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count me' }], max_tokens: maxTokens, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) });
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}/v1/chat/completions`, { method: 'POST', agent: new Agent({ keepAlive: false }), headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const json = stream ? JSON.parse(text.split('\n').filter((l) => l.startsWith('data: {')).at(-1)!.slice(6)) : JSON.parse(text);
        resolve({ prompt: json.usage.prompt_tokens, completion: json.usage.completion_tokens });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('the seeds\' names and vLLM\'s family add up to what the clients got', async (t) => {
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--time-scale', '0']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const usages = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(c, i % 2 === 0, {}, i % 4 === 1 ? 3 : 200)));
  const bad = await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
  t.equal(bad.status, 400);
  const prompt = usages.reduce((n, u) => n + u.prompt, 0);
  const completion = usages.reduce((n, u) => n + u.completion, 0);
  const m = await scrape(c);
  // Access lines are written in batches (at most 250 ms later): wait for both workers' to arrive.
  const answered = () => new Set(c.lines.filter((l) => l.msg === 'request').map((l) => l.pid));
  await until(() => answered().size === 2, 5000);
  t.equal(answered().size, 2, 'both workers answered');

  // The seeds' names.
  t.equal(value(m, 'http_requests_total', { method: 'POST', status: '200' }), 40);
  t.equal(value(m, 'llm_simulation_requests_total', { endpoint: '/v1/chat/completions', model: 'gpt-4o-mini' }), 40, 'llm_simulation_requests_total by endpoint and model');
  t.equal(value(m, 'llm_simulation_requests_total', { model: 'unknown' }), 1, 'a body naming no model counts as unknown');
  t.equal(value(m, 'llm_simulation_duration_seconds_count', { model: 'gpt-4o-mini' }), 40);
  t.equal(value(m, 'llm_requests_total', { model: 'gpt-4o-mini', status: '200' }), 40, 'llm_requests_total with its status');
  t.equal(value(m, 'llm_requests_total', { model: 'unknown', status: '400' }), 1);
  t.equal(value(m, 'llm_request_duration_seconds_count'), 41);
  t.equal(typeOf(m, 'llm_simulation_duration_seconds'), 'histogram');
  t.equal(value(m, 'llm_tokens_generated_total', { model: 'gpt-4o-mini' }), completion, 'tokens generated = the usage the clients got');

  // vLLM's family: names, types, label model_name, values that add up.
  const mini = { model_name: 'gpt-4o-mini' };
  t.equal(value(m, 'vllm:prompt_tokens_total', mini), prompt, `vllm:prompt_tokens_total = the prompt tokens reported (${prompt})`);
  t.equal(value(m, 'vllm:generation_tokens_total', mini), completion, `vllm:generation_tokens_total = the completion tokens reported (${completion})`);
  t.equal(value(m, 'vllm:request_success_total', { ...mini, finished_reason: 'length' }), 10, 'the ten answers cut at max_tokens 3 finished by length');
  t.equal(value(m, 'vllm:request_success_total', { ...mini, finished_reason: 'stop' }), 30, 'the others by stop');
  t.equal(value(m, 'vllm:request_generation_tokens_sum', mini), completion);
  t.equal(value(m, 'vllm:request_prompt_tokens_count', mini), 40);
  t.equal(value(m, 'vllm:e2e_request_latency_seconds_count', mini), 40);
  t.equal(value(m, 'vllm:time_to_first_token_seconds_count', mini), 40);
  t.equal(value(m, 'vllm:num_preemptions_total', mini), 0);
  const types: Record<string, string> = {
    'vllm:num_requests_running': 'gauge',
    'vllm:num_requests_waiting': 'gauge',
    'vllm:kv_cache_usage_perc': 'gauge',
    'vllm:gpu_cache_usage_perc': 'gauge',
    'vllm:prompt_tokens_total': 'counter',
    'vllm:generation_tokens_total': 'counter',
    'vllm:request_success_total': 'counter',
    'vllm:num_preemptions_total': 'counter',
    'vllm:time_to_first_token_seconds': 'histogram',
    'vllm:time_per_output_token_seconds': 'histogram',
    'vllm:inter_token_latency_seconds': 'histogram',
    'vllm:e2e_request_latency_seconds': 'histogram',
    'vllm:request_queue_time_seconds': 'histogram',
    'vllm:request_prompt_tokens': 'histogram',
    'vllm:request_generation_tokens': 'histogram',
    'vllm:lora_requests_info': 'gauge',
  };
  for (const [name, type] of Object.entries(types)) t.equal(typeOf(m, name), type, `${name} is a ${type}`);
  t.same(bucketBounds(m, 'vllm:time_to_first_token_seconds', 'gpt-4o-mini'), [...VLLM_TTFT_BUCKETS.map(String), '+Inf'], "vLLM's TTFT buckets");
  t.same(bucketBounds(m, 'vllm:inter_token_latency_seconds', 'gpt-4o-mini'), [...VLLM_ITL_BUCKETS.map(String), '+Inf'], "vLLM's inter-token buckets");
  t.same(bucketBounds(m, 'vllm:e2e_request_latency_seconds', 'gpt-4o-mini'), [...VLLM_REQUEST_BUCKETS.map(String), '+Inf'], "vLLM's request-latency buckets");
  t.same(bucketBounds(m, 'vllm:request_prompt_tokens', 'gpt-4o-mini'), [...buckets125(128_000).map(String), '+Inf'], '1-2-5 token buckets up to the context window (128k)');
  t.same(buckets125(128_000).slice(0, 7), [1, 2, 5, 10, 20, 50, 100]);
  t.equal(buckets125(128_000).at(-1), 100_000);
  t.match(m, /^vllm:lora_requests_info\{max_lora="0",waiting_lora_adapters="",running_lora_adapters=""\} \d+(\.\d+)?$/m, 'one LoRA info series');
  t.equal(value(m, 'vllm:num_requests_running', { model_name: 'claude-sonnet-4-5' }), 0, 'every catalogue model has its gauges before any request');
  t.equal(m.split('\n').filter((l) => l.startsWith('vllm:lora_requests_info{')).length, 1, 'the cluster shows one LoRA line (the newest), not one per worker');
});

t.test('the simulated KV cache fills under load and empties after it', async (t) => {
  const c = await startCluster(['--workers', '2', '--warm-up', 'false']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const { prompt } = await chat(c, false, { 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '0' }, 1);
  // 24 streams of 20 tokens, 100 ms apart after a 300 ms first token: about 2.3 s in flight.
  const headers = { 'x-sim-ttft-ms': '300', 'x-sim-itl-ms': '100' };
  const streams = Promise.all(Array.from({ length: 24 }, () => chat(c, true, headers, 20)));
  let peak = 0;
  let runningPeak = 0;
  t.ok(
    await until(async () => {
      const m = await scrape(c);
      peak = Math.max(peak, value(m, 'vllm:kv_cache_usage_perc', { model_name: 'gpt-4o-mini' }));
      runningPeak = Math.max(runningPeak, value(m, 'vllm:num_requests_running', { model_name: 'gpt-4o-mini' }));
      return runningPeak === 24 && peak * 262_144 > 24 * prompt;
    }, 5000, 50),
    `under load: 24 running, KV usage ${peak.toFixed(5)} (${Math.round(peak * 262_144)} tokens: more than the 24 prompts of ${prompt} alone)`,
  );
  const usages = await streams;
  const m = await scrape(c);
  t.equal(value(m, 'vllm:kv_cache_usage_perc', { model_name: 'gpt-4o-mini' }), 0, 'after it: empty again');
  t.equal(value(m, 'vllm:gpu_cache_usage_perc', { model_name: 'gpt-4o-mini' }), 0);
  t.equal(value(m, 'llm_kv_cache_tokens', { model: 'gpt-4o-mini' }), 0);
  t.equal(value(m, 'vllm:num_requests_running', { model_name: 'gpt-4o-mini' }), 0);
  const held = usages.reduce((n, u) => n + u.prompt + u.completion, 0);
  t.ok(peak * 262_144 <= held + 1e-6, `the peak (${Math.round(peak * 262_144)} tokens) never exceeds what the sequences hold in all (${held})`);
});

t.test('metrics.vllm false: no vLLM family', async (t) => {
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--time-scale', '0', '--metrics.vllm', 'false']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  await chat(c, false);
  const m = await scrape(c);
  t.notMatch(m, /^(# TYPE )?vllm:/m, 'no vllm:* series');
  t.match(m, /^llm_tokens_generated_total\{model="gpt-4o-mini"\} \d+$/m, 'the simulator\'s own family is there');
});

t.test('the access line: key name, model, tokens, time to first token, injected fault; one line a request', async (t) => {
  const c = await startCluster(['--workers', '2', '--warm-up', 'false', '--auth.mode', 'keys', '--auth.keys', JSON.stringify([{ key: 'sk-team-a-secret', name: 'team-a' }])]);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const auth = { authorization: 'Bearer sk-team-a-secret' };
  const streamed = await chat(c, true, { ...auth, 'x-request-id': 'line-stream', 'x-sim-ttft-ms': '40', 'x-sim-itl-ms': '1' }, 5);
  const whole = await chat(c, false, { ...auth, 'x-request-id': 'line-whole', 'x-sim-ttft-ms': '40', 'x-sim-itl-ms': '1' }, 5);
  const faulted = await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, 'x-request-id': 'line-fault', 'x-sim-fault': 'server_error' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }) });
  t.equal(faulted.status, 500);
  const line = (id: string) => c.waitFor((l) => l.msg === 'request' && l.requestId === id);
  const s = await line('line-stream');
  t.match(s, { method: 'POST', path: '/v1/chat/completions', status: 200, key: 'team-a', model: 'gpt-4o-mini', promptTokens: streamed.prompt, completionTokens: streamed.completion }, 'a stream: key name, model, tokens as the client was told');
  t.ok(s.ttftMs >= 40 && s.ttftMs < s.ms, `its time to first token (${s.ttftMs} ms) within its ${s.ms} ms`);
  const w = await line('line-whole');
  t.match(w, { key: 'team-a', model: 'gpt-4o-mini', promptTokens: whole.prompt, completionTokens: whole.completion });
  t.ok(w.ttftMs >= 40, 'a non-stream reply: its simulated time to first token');
  const f = await line('line-fault');
  t.match(f, { status: 500, key: 'team-a', model: 'gpt-4o-mini', fault: 'server_error' }, 'a faulted request names its fault');
  t.notOk('promptTokens' in f || 'ttftMs' in f, 'and has no tokens: nothing was generated');
  t.notOk(c.lines.some((l) => JSON.stringify(l).includes('sk-team-a-secret')), 'no line carries the key itself');
  t.equal(c.lines.filter((l) => l.requestId === 'line-stream').length, 1, 'one line for the whole stream, none per token');
});
