/**
 * `npm run bench [-- options]`: measures the built simulator against a bare uWebSockets.js server
 * in the same run, and optionally a gateway in front of the simulator.
 *
 *   --scenario all|chat|stream   what to run (default all)
 *   --runs N                     repetitions; medians are reported (default 3)
 *   --duration S                 seconds per throughput run (default 8)
 *   --connections N              concurrent connections for throughput (default 100)
 *   --workers N                  simulator HTTP workers (default 1: ratios are per core)
 *   --streams N                  concurrent streams in the stream scenario (default 200)
 *   --target URL                 also load this URL (a gateway whose upstream is the simulator)
 *   --sim-port P                 port of the simulator (default 18080), for --target setups
 *   --sim-flags "..."            extra simulator flags, e.g. "--access-log false"
 *   --out FILE                   results file (default bench/results/<time>.json)
 *
 * Servers run in their own processes, pinned to CPU 0 with the load generator on CPU 1 when
 * `taskset` exists. wrk is used when installed (it costs about half autocannon's CPU per request).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runStreams, type StreamResult } from './scenarios/stream-client.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: '1' },
    streams: { type: 'string', default: '200' },
    target: { type: 'string' },
    'sim-port': { type: 'string', default: '18080' },
    'sim-flags': { type: 'string', default: '' },
    out: { type: 'string' },
  },
});
const RUNS = Number(opt.runs);
const DURATION = Number(opt.duration);
const CONNECTIONS = Number(opt.connections);

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const PIN = has('taskset');
const WRK = has('wrk');

const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Benchmark request: say something short.' }], max_tokens: 32 });
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer bench' };

interface Started {
  proc: ChildProcess;
  port: number;
}

/** Spawns a server (pinned to CPU 0) and waits for its JSON "listening" line. */
function startProcess(args: string[]): Promise<Started> {
  const cmd = PIN ? 'taskset' : process.execPath;
  const argv = PIN ? ['-c', '0', process.execPath, ...args] : args;
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolvePort, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const m = buf.match(/"port":(\d+)[^\n]*listening|listening[^\n]*"port":(\d+)/);
      if (m) {
        // Keep draining stdout (access logs) so the server never blocks on a full pipe.
        proc.stdout!.off('data', onData);
        proc.stdout!.resume();
        resolvePort({ proc, port: Number(m[1] ?? m[2]) });
      }
    };
    proc.stdout!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before listening`)));
  });
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server on ${port} never became healthy`);
}

/** CPU seconds (user + system) used so far by a process and its children. */
function cpuSeconds(pid: number): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      if (Number(entry) === pid || ppid === pid) total += (Number(fields[11]) + Number(fields[12])) / tick;
    } catch {
      // process went away
    }
  }
  return total;
}

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
}

function parseWrkDuration(s: string): number {
  const m = s.match(/([\d.]+)(us|ms|s|m)/)!;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** One throughput run against a URL with wrk (pinned to CPU 1) or autocannon. */
async function load(url: string): Promise<Load> {
  if (WRK) {
    const script = join(tmpdir(), 'llmsim-bench.lua');
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(CHAT_BODY)}\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer bench"\n`);
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', '-s', script, url];
    const out = await new Promise<string>((res, rej) => {
      const p = spawn(PIN ? 'taskset' : 'wrk', PIN ? ['-c', '1', 'wrk', ...args] : args);
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.on('exit', (code) => (code === 0 ? res(text) : rej(new Error(`wrk exited ${code}`))));
    });
    const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)![1]);
    const requests = Number(out.match(/(\d+) requests in/)![1]);
    const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    return { rps, requests, non2xx, p50Ms: parseWrkDuration(out.match(/50%\s+(\S+)/)![1]!), p99Ms: parseWrkDuration(out.match(/99%\s+(\S+)/)![1]!) };
  }
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url, method: 'POST', body: CHAT_BODY, headers: HEADERS, connections: CONNECTIONS, duration: DURATION });
  return { rps: r.requests.average, requests: r.requests.total, non2xx: r.non2xx, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Measured extends Load {
  cpuUsPerRequest: number;
}

async function measure(url: string, serverPid: number): Promise<Measured> {
  const before = cpuSeconds(serverPid);
  const l = await load(url);
  const cpu = cpuSeconds(serverPid) - before;
  return { ...l, cpuUsPerRequest: (cpu / l.requests) * 1e6 };
}

function summarise(runs: Measured[]): Measured {
  const pick = (k: keyof Measured): number => median(runs.map((r) => r[k]));
  return { rps: pick('rps'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), requests: pick('requests'), non2xx: pick('non2xx'), cpuUsPerRequest: pick('cpuUsPerRequest') };
}

const stop = async (s: Started): Promise<void> => {
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
};

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), loadGenerator: WRK ? 'wrk' : 'autocannon', pinned: PIN, runs: RUNS, durationS: DURATION, connections: CONNECTIONS, workers: Number(opt.workers) };
  const scenario = opt.scenario;
  const simArgs = [join(root, 'dist/src/main.js'), '--host', '127.0.0.1', '--port', opt['sim-port']!, '--workers', opt.workers!, '--drain-timeout-ms', '1000', ...opt['sim-flags']!.split(' ').filter(Boolean)];

  if (scenario === 'all' || scenario === 'chat') {
    const sim = await startProcess([...simArgs, '--time-scale', '0']);
    await waitHealthy(sim.port);
    const simUrl = `http://127.0.0.1:${sim.port}/v1/chat/completions`;
    const sample = await fetch(simUrl, { method: 'POST', headers: HEADERS, body: CHAT_BODY });
    const replyBytes = Buffer.byteLength(await sample.text());
    const base = await startProcess([join(root, 'dist/bench/baseline-uws.js'), '0', String(replyBytes)]);
    const baseUrl = `http://127.0.0.1:${base.port}/v1/chat/completions`;
    const simRuns: Measured[] = [];
    const baseRuns: Measured[] = [];
    const targetRuns: Measured[] = [];
    // Interleaved, so drift in the machine's load hits both alike.
    for (let i = 0; i < RUNS; i++) {
      baseRuns.push(await measure(baseUrl, base.proc.pid!));
      simRuns.push(await measure(simUrl, sim.proc.pid!));
      if (opt.target) targetRuns.push({ ...(await load(opt.target)), cpuUsPerRequest: NaN });
      console.log(`run ${i + 1}/${RUNS}: baseline ${baseRuns[i]!.rps.toFixed(0)} req/s, simulator ${simRuns[i]!.rps.toFixed(0)} req/s${opt.target ? `, target ${targetRuns[i]!.rps.toFixed(0)} req/s` : ''}`);
    }
    const s = summarise(simRuns);
    const b = summarise(baseRuns);
    // Each run pairs a baseline and a simulator measurement taken back to back: the median of
    // the paired ratios resists the machine's drift better than a ratio of medians.
    const ratio = median(simRuns.map((r, i) => r.rps / baseRuns[i]!.rps));
    const cpuRatio = median(simRuns.map((r, i) => r.cpuUsPerRequest / baseRuns[i]!.cpuUsPerRequest));
    results.chat = { replyBytes, simulator: s, baseline: b, ratio, cpuRatio, ...(opt.target ? { target: summarise(targetRuns), targetRatio: summarise(targetRuns).rps / s.rps } : {}) };
    console.log('\nnon-stream chat, time scale 0 (medians)');
    console.table({
      'bare uWS (b)': row(b),
      'simulator (a)': row(s),
      ...(opt.target ? { 'target (gateway)': row(summarise(targetRuns)) } : {}),
    });
    console.log(`ratio (a)/(b) req/s, median of paired runs: ${ratio.toFixed(3)}; server CPU per request (a)/(b): ${cpuRatio.toFixed(2)}×`);
    await stop(sim);
    await stop(base);
  }

  if (scenario === 'all' || scenario === 'stream') {
    const sim = await startProcess([...simArgs, '--time-scale', '1', '--access-log', 'false']);
    await waitHealthy(sim.port);
    const streamRuns: StreamResult[] = [];
    const cfg = { url: `http://127.0.0.1:${sim.port}/v1/chat/completions`, concurrency: Number(opt.streams), durationMs: DURATION * 1000, maxTokens: 100, ttftMs: 50, itlMs: 10, maxStreams: 1_000_000 };
    for (let i = 0; i < RUNS; i++) {
      const r = await runStreams(cfg);
      streamRuns.push(r);
      console.log(`stream run ${i + 1}/${RUNS}: ${r.tokensPerSecond.toFixed(0)} tokens/s, TTFT p50 ${r.ttftMs.p50.toFixed(2)} ms p99 ${r.ttftMs.p99.toFixed(2)} ms, ITL p50 ${r.itlMs.p50.toFixed(2)} ms p99 ${r.itlMs.p99.toFixed(2)} ms`);
    }
    const m = (f: (r: StreamResult) => number): number => median(streamRuns.map(f));
    results.stream = {
      configured: { streams: cfg.concurrency, ttftMs: cfg.ttftMs, itlMs: cfg.itlMs, tokensPerStream: cfg.maxTokens },
      tokensPerSecond: m((r) => r.tokensPerSecond),
      ttftMs: { p50: m((r) => r.ttftMs.p50), p90: m((r) => r.ttftMs.p90), p99: m((r) => r.ttftMs.p99) },
      itlMs: { p50: m((r) => r.itlMs.p50), p90: m((r) => r.itlMs.p90), p99: m((r) => r.itlMs.p99) },
      errors: m((r) => r.errors),
    };
    console.log('\nstreaming (medians):', JSON.stringify(results.stream, null, 2));
    await stop(sim);
  }

  const out = opt.out ?? join(root, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${out}`);
}

const row = (m: Measured) => ({ 'req/s': Math.round(m.rps), 'p50 ms': m.p50Ms, 'p99 ms': m.p99Ms, 'server CPU µs/req': Number(m.cpuUsPerRequest.toFixed(1)), 'non-2xx': m.non2xx });

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
