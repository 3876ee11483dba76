import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuTimes, has, headerOption, median, PIN, ROOT, startProcess, stopProcess, waitHealthy } from '../lib.js';

const WRK = has('wrk');
/** Seconds of unmeasured load each server gets before the measured runs. */
const WARM_UP_S = 3;
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Benchmark request: say something short.' }], max_tokens: 32 });
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer bench' };

export interface ChatOptions {
  runs: number;
  durationS: number;
  connections: number;
  simArgs: string[];
  target?: string;
  /** A second simulator with these extra flags (e.g. `--config limits.yaml`), measured interleaved with the first: what a feature costs. */
  variant?: string[];
  /**
   * With `variant`: both simulators are loaded at once, pinned to the same CPU, each by its own
   * load generator, so whatever the machine does meanwhile slows both alike; each gets the share
   * of the CPU the scheduler gives it, and its req/s is then the inverse of its cost a request.
   */
  sideBySide?: boolean;
  /** One more request header (`name: value`) on every load, e.g. `accept-encoding: gzip` for what compression costs. */
  header?: string;
}

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
}

interface Measured extends Load {
  cpuUsPerRequest: number;
  /**
   * The same split: the server's own code (user) and the kernel's work for it (system). The
   * kernel's share is not a fixed cost: a slower server leaves the load generator idle between
   * answers, and each answer's send then also pays for waking it (on this VM, ~3 µs of the
   * simulator's ~14 µs of system time a request went to that wake-up, 2026-12-07).
   */
  userUsPerRequest: number;
  systemUsPerRequest: number;
}

function parseWrkDuration(s: string | undefined): number {
  const m = s?.match(/([\d.]+)(us|ms|s|m)/);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** One throughput run against a URL with wrk (pinned to CPU 1) or autocannon. */
async function load(url: string, o: ChatOptions): Promise<Load> {
  if (WRK) {
    const script = join(tmpdir(), 'llmsim-bench.lua');
    const extra = Object.entries(headerOption(o.header)).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`).join('');
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(CHAT_BODY)}\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer bench"\n${extra}`);
    const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency', '-s', script, url];
    const out = await new Promise<string>((res, rej) => {
      const p = spawn(PIN ? 'taskset' : 'wrk', PIN ? ['-c', '1', 'wrk', ...args] : args);
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.on('exit', (code) => (code === 0 ? res(text) : rej(new Error(`wrk exited ${code}`))));
    });
    return {
      rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)![1]),
      requests: Number(out.match(/(\d+) requests in/)![1]),
      non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
      // The latency distribution's own lines: "50%" also occurs inside "87.50%" of the thread stats.
      p50Ms: parseWrkDuration(out.match(/^\s+50%\s+(\S+)$/m)?.[1]),
      p99Ms: parseWrkDuration(out.match(/^\s+99%\s+(\S+)$/m)?.[1]),
    };
  }
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url, method: 'POST', body: CHAT_BODY, headers: { ...HEADERS, ...headerOption(o.header) }, connections: o.connections, duration: o.durationS });
  return { rps: r.requests.average, requests: r.requests.total, non2xx: r.non2xx, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

async function measure(url: string, serverPid: number, o: ChatOptions): Promise<Measured> {
  const before = cpuTimes(serverPid);
  const l = await load(url, o);
  const after = cpuTimes(serverPid);
  const perRequest = (seconds: number): number => (seconds / l.requests) * 1e6;
  const user = perRequest(after.user - before.user);
  const system = perRequest(after.system - before.system);
  return { ...l, cpuUsPerRequest: user + system, userUsPerRequest: user, systemUsPerRequest: system };
}

function summarise(runs: Measured[]): Measured {
  const pick = (k: keyof Measured): number => median(runs.map((r) => r[k]));
  return { rps: pick('rps'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), requests: pick('requests'), non2xx: pick('non2xx'), cpuUsPerRequest: pick('cpuUsPerRequest'), userUsPerRequest: pick('userUsPerRequest'), systemUsPerRequest: pick('systemUsPerRequest') };
}

const micros = (us: number): number | string => (Number.isNaN(us) ? '–' : Number(us.toFixed(1)));
const row = (m: Measured) => ({ 'req/s': Math.round(m.rps), 'p50 ms': m.p50Ms, 'p99 ms': m.p99Ms, 'server CPU µs/req': micros(m.cpuUsPerRequest), 'of it user': micros(m.userUsPerRequest), 'system': micros(m.systemUsPerRequest), 'non-2xx': m.non2xx });

/** (a) non-stream chat at time scale 0 against (b) a bare uWS server answering a body of the same size. */
export async function chatScenario(o: ChatOptions): Promise<object> {
  const sim = await startProcess([...o.simArgs, '--time-scale', '0']);
  await waitHealthy(sim.port);
  const simUrl = `http://127.0.0.1:${sim.port}/v1/chat/completions`;
  const replyBytes = Buffer.byteLength(await (await fetch(simUrl, { method: 'POST', headers: HEADERS, body: CHAT_BODY })).text());
  const base = await startProcess([join(ROOT, 'dist/bench/baseline-uws.js'), '0', String(replyBytes)]);
  const baseUrl = `http://127.0.0.1:${base.port}/v1/chat/completions`;
  const simRuns: Measured[] = [];
  const baseRuns: Measured[] = [];
  const targetRuns: Measured[] = [];
  const variantRuns: Measured[] = [];
  const variant = o.variant ? await startProcess([...o.simArgs, '--port', '0', '--time-scale', '0', ...o.variant]) : null;
  if (variant) await waitHealthy(variant.port);
  const variantUrl = variant ? `http://127.0.0.1:${variant.port}/v1/chat/completions` : '';
  // One unmeasured run each first: V8 was still optimising the simulator's paths during the first
  // seconds of load (the first measured run of a fresh server came out up to half as fast).
  const warm = { ...o, durationS: WARM_UP_S };
  for (const url of [baseUrl, simUrl, ...(variant ? [variantUrl] : []), ...(o.target ? [o.target] : [])]) await load(url, warm);
  // Interleaved, so drift in the machine's load hits both alike; the simulator and its variant
  // take turns going first, so neither always meets the machine right after the other.
  for (let i = 0; i < o.runs; i++) {
    baseRuns.push(await measure(baseUrl, base.proc.pid!, o));
    if (variant && o.sideBySide) {
      const [a, v] = await Promise.all([measure(simUrl, sim.proc.pid!, o), measure(variantUrl, variant.proc.pid!, o)]);
      simRuns.push(a);
      variantRuns.push(v);
    } else {
      if (variant && i % 2 === 1) variantRuns.push(await measure(variantUrl, variant.proc.pid!, o));
      simRuns.push(await measure(simUrl, sim.proc.pid!, o));
      if (variant && i % 2 === 0) variantRuns.push(await measure(variantUrl, variant.proc.pid!, o));
    }
    if (o.target) targetRuns.push({ ...(await load(o.target, o)), cpuUsPerRequest: NaN, userUsPerRequest: NaN, systemUsPerRequest: NaN });
    console.log(
      `chat run ${i + 1}/${o.runs}: baseline ${baseRuns[i]!.rps.toFixed(0)} req/s, simulator ${simRuns[i]!.rps.toFixed(0)} req/s${o.target ? `, target ${targetRuns[i]!.rps.toFixed(0)} req/s` : ''}${variant ? `, variant ${variantRuns[i]!.rps.toFixed(0)} req/s (${variantRuns[i]!.non2xx} non-2xx)` : ''}`,
    );
  }
  if (variant) await stopProcess(variant);
  await stopProcess(sim);
  await stopProcess(base);
  const s = summarise(simRuns);
  const b = summarise(baseRuns);
  // Each run pairs a baseline and a simulator measurement taken back to back: the median of
  // the paired ratios resists the machine's drift better than a ratio of medians.
  const ratio = median(simRuns.map((r, i) => r.rps / baseRuns[i]!.rps));
  const cpuRatio = median(simRuns.map((r, i) => r.cpuUsPerRequest / baseRuns[i]!.cpuUsPerRequest));
  const userRatio = median(simRuns.map((r, i) => r.userUsPerRequest / baseRuns[i]!.userUsPerRequest));
  console.log(`\nnon-stream chat, time scale 0, load generator ${WRK ? 'wrk' : 'autocannon'} (medians)`);
  console.table({ 'bare uWS (b)': row(b), 'simulator (a)': row(s), ...(o.target ? { 'target (gateway)': row(summarise(targetRuns)) } : {}), ...(variant ? { 'variant (v)': row(summarise(variantRuns)) } : {}) });
  console.log(`ratio (a)/(b) req/s, median of paired runs: ${ratio.toFixed(3)}; server CPU per request (a)/(b): ${cpuRatio.toFixed(2)}×, of it user-space ${userRatio.toFixed(2)}×`);
  const variantResult = variant
    ? { variant: summarise(variantRuns), variantRatio: median(variantRuns.map((r, i) => r.rps / simRuns[i]!.rps)), variantCpuRatio: median(variantRuns.map((r, i) => r.cpuUsPerRequest / simRuns[i]!.cpuUsPerRequest)), variantUserRatio: median(variantRuns.map((r, i) => r.userUsPerRequest / simRuns[i]!.userUsPerRequest)) }
    : {};
  if (variant) console.log(`variant (v)/(a) req/s, median of paired runs: ${variantResult.variantRatio!.toFixed(3)}; server CPU per request (v)/(a): ${variantResult.variantCpuRatio!.toFixed(2)}×, of it user-space ${variantResult.variantUserRatio!.toFixed(2)}×`);
  console.log('');
  return { loadGenerator: WRK ? 'wrk' : 'autocannon', replyBytes, simulator: s, baseline: b, ratio, cpuRatio, userRatio, ...(o.target ? { target: summarise(targetRuns), targetRatio: summarise(targetRuns).rps / s.rps } : {}), ...variantResult };
}
