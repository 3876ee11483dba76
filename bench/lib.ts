import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { freePort } from '../src/cluster/port.js';

/**
 * Unix milliseconds on the clock of the simulator's bench records (src/http/records.ts): the
 * process's time origin plus its monotonic clock. Client times compared with those records, or
 * with each other, are read with this, never with `Date.now()`, which ran ~2 ms apart from it.
 */
export const unixNow = (): number => performance.timeOrigin + performance.now();

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Servers on CPU 0, load generators on CPU 1, when taskset exists. */
export const PIN = has('taskset');

/** Every server this run started: none outlives the runner, even when a scenario fails. */
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of started) if (proc.exitCode === null) proc.kill('SIGKILL');
});

export interface Started {
  proc: ChildProcess;
  port: number;
}

/** Spawns a server (pinned to CPU 0 unless `pin: false`) and waits for its JSON "listening" line. */
export function startProcess(args: string[], { pin = true }: { pin?: boolean } = {}): Promise<Started> {
  const pinned = PIN && pin;
  const cmd = pinned ? 'taskset' : process.execPath;
  const argv = pinned ? ['-c', '0', process.execPath, ...args] : args;
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
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

export async function stopProcess(s: Started): Promise<void> {
  if (s.proc.exitCode !== null) return;
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
}

export async function waitHealthy(port: number): Promise<void> {
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

/** A process and its direct children (the simulator's primary and HTTP workers). */
function family(pid: number): { pid: number; fields: string[] }[] {
  const out: { pid: number; fields: string[] }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) === pid || Number(fields[1]) === pid) out.push({ pid: Number(entry), fields });
    } catch {
      // process went away
    }
  }
  return out;
}

/** CPU seconds used so far by a process and its children, in user space and in the kernel. */
export function cpuTimes(pid: number): { user: number; system: number } {
  return family(pid).reduce((sum, p) => ({ user: sum.user + Number(p.fields[11]) / 100, system: sum.system + Number(p.fields[12]) / 100 }), { user: 0, system: 0 });
}

/**
 * CPU seconds (user + system) used so far by a process and its children: the scheduler's run
 * time of each of their threads (`/proc/<pid>/task/<tid>/schedstat`, in ns), where `stat` counts
 * 10 ms ticks. A 5 s step at 200 streams uses ~0.2 s of CPU, which ticks measured to ±5 %, as
 * much as the differences the capacity scenario is run to see. Falls back to the ticks where a
 * kernel keeps no schedstat.
 */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const p of family(pid)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p.pid}/task`);
    } catch {
      continue; // process went away
    }
    for (const tid of tasks) {
      try {
        ns += Number(readFileSync(`/proc/${p.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // thread went away (or no schedstat: see below)
      }
    }
  }
  if (ns > 0) return ns / 1e9;
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Resident memory of a process and its children, in bytes. */
export function rssBytes(pid: number): number {
  return family(pid).reduce((sum, p) => {
    try {
      const m = readFileSync(`/proc/${p.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
      return sum + (m ? Number(m[1]) * 1024 : 0);
    } catch {
      return sum;
    }
  }, 0);
}

/** `--header "name: value"` as a header object (empty without one). */
export function headerOption(header: string | undefined): Record<string, string> {
  if (header === undefined) return {};
  const colon = header.indexOf(':');
  return { [header.slice(0, colon).trim()]: header.slice(colon + 1).trim() };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One series of a Prometheus histogram: cumulative counts by `le`, for the diff of two scrapes. */
export function histogram(text: string, name: string, model: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)",model="${model}"\\} (\\d+(?:\\.\\d+)?)$`, 'gm');
  for (const m of text.matchAll(re)) out.set(m[1]!, Number(m[2]));
  return out;
}

export function counter(text: string, name: string, model: string): number {
  return Number(text.match(new RegExp(`^${name}\\{model="${model}"\\} (\\d+(?:\\.\\d+)?)$`, 'm'))?.[1] ?? 0);
}

export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** From two scrapes of a histogram: the share of observations at most `le`, and the smallest bucket holding the 99th percentile. */
export function bucketStats(before: Map<string, number>, after: Map<string, number>, le: string): { within: number; p99AtMost: string; count: number } {
  const diff = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const count = diff('+Inf');
  let p99AtMost = '+Inf';
  for (const k of after.keys()) {
    if (count > 0 && diff(k) >= 0.99 * count) {
      p99AtMost = k;
      break;
    }
  }
  return { within: count === 0 ? 1 : diff(le) / count, p99AtMost, count };
}

/** A distribution over requests (ms): its size, percentiles and mean, to the µs. */
export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

export function distribution(xs: number[]): Distribution {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: s.length, p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), mean: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** A real `redis-server` (Debian's package) on 127.0.0.1 and a free port, without persistence (the tests' and the `store` scenario's). */
export async function startRedis(port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort('127.0.0.1'));
  const proc: ChildProcess = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    proc.on('error', (err) => (clearTimeout(timer), reject(err)));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  proc.stdout!.resume();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    port: p,
    url: `redis://127.0.0.1:${p}/0`,
    stop: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
