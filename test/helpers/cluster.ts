import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TapTest } from './tap.js';

export const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/src/main.js');

export interface Cluster {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Every JSON log line the process tree wrote so far. */
  readonly lines: Record<string, any>[];
  /** Resolves with the first log line matching `test` (waiting for it if need be). */
  waitFor(test: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  exited: Promise<number | null>;
}

/** Spawns the built simulator (`node dist/src/main.js`) as a real primary with forked workers, without waiting for it to listen. */
export function spawnCluster(args: string[]): Omit<Cluster, 'port' | 'url'> {
  const proc = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, any>[] = [];
  const waiters: { test: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let line: Record<string, any>;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  const waitFor = (test: (l: Record<string, any>) => boolean, timeoutMs = 15_000): Promise<Record<string, any>> => {
    const found = lines.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('log line did not appear in time')), timeoutMs);
      waiters.push({ test, resolve: (l) => (clearTimeout(timer), res(l)) });
    });
  };
  return { proc, lines, waitFor, exited };
}

/** Starts the built simulator as a real primary with forked workers; resolves once it listens. */
export async function startCluster(args: string[]): Promise<Cluster> {
  const { proc, lines, waitFor, exited } = spawnCluster(args);
  // A cluster that does not come up must not outlive the test that started it.
  const listening = await waitFor((l) => l.msg === 'llm-simulator listening', 60_000).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return { proc, port: listening.port, url: `http://127.0.0.1:${listening.port}`, lines, waitFor, exited };
}

/**
 * Sends `count` chat requests at once, spread round-robin over `urls` (keep-alive, 64 sockets
 * each), each with `x-request-id: <idPrefix>-<i>`; resolves with every status, by url.
 */
export async function burst(urls: readonly string[], count: number, idPrefix = 'burst', headers: Record<string, string> = {}): Promise<number[][]> {
  const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: 64 }));
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'burst' }], max_tokens: 1 });
  const one = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const at = i % urls.length;
      const req = request(`${urls[at]}/v1/chat/completions`, { method: 'POST', agent: agents[at], headers: { 'content-type': 'application/json', 'x-request-id': `${idPrefix}-${i}`, ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    const statuses = await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
    return urls.map((_, at) => statuses.filter((_, i) => i % urls.length === at));
  } finally {
    for (const a of agents) a.destroy();
  }
}

/**
 * Asserts that both workers of `c` switched to faulting together: no worker answered a healthy
 * request more than 50 ms after either had answered a fault (probing for at most `maxMs`). Times
 * are the servers' own (an access line's end less its duration), so a worker the OS leaves
 * unscheduled for a while on a loaded machine delays its answers, not its switch.
 */
export async function assertFaultedTogether(t: TapTest, c: Cluster, maxMs: number): Promise<void> {
  const { firstFault, lastHealthy, probes, paired } = await probeFaultSwitch(c, maxMs);
  t.equal(paired, probes, 'every probe has its access line');
  t.equal(firstFault.size, 2, 'both workers reached the faulty phase');
  const switched = Math.min(...firstFault.values());
  for (const [pid, healthy] of lastHealthy) t.ok(healthy <= switched + 50, `worker ${pid}: its last healthy answer ${Math.round(healthy - switched)} ms after the first fault`);
}

/**
 * When each worker of a cluster began faulting: 16 keep-alive lanes send chat requests (each
 * with `x-request-id: probe-<n>`) until 300 ms after the first 500, for at most `maxMs`; each
 * answer is paired with its worker and the worker's time of handling it through the access log.
 * Resolves, per worker pid, with the handling time (Unix ms) of its first 500 and of its last
 * healthy answer.
 */
export async function probeFaultSwitch(c: Cluster, maxMs: number): Promise<{ firstFault: Map<number, number>; lastHealthy: Map<number, number>; probes: number; paired: number }> {
  const sockets = new Agent({ keepAlive: true, maxSockets: 16 });
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'phase?' }], max_tokens: 1 });
  const sent = new Map<string, number>();
  let n = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = `probe-${n++}`;
      const req = request(`${c.url}/v1/chat/completions`, { method: 'POST', agent: sockets, headers: { 'content-type': 'application/json', 'x-request-id': id } }, (res) => {
        res.resume();
        res.on('end', () => (sent.set(id, res.statusCode!), resolve()));
      });
      req.on('error', reject);
      req.end(body);
    });
  const deadline = Date.now() + maxMs;
  let lastFault = 0;
  try {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < deadline && (lastFault === 0 || Date.now() - lastFault < 300)) {
          await one();
          if (lastFault === 0) for (const status of sent.values()) if (status === 500) lastFault = Date.now();
        }
      }),
    );
  } finally {
    sockets.destroy();
  }
  // Access lines are batched (at most 250 ms late): wait for one per request sent.
  const probeLines = () => c.lines.filter((l) => l.msg === 'request' && String(l.requestId).startsWith('probe-'));
  for (const stop = Date.now() + 5000; probeLines().length < sent.size && Date.now() < stop; ) await new Promise((r) => setTimeout(r, 20));
  const handled = new Map(probeLines().map((l) => [l.requestId as string, { pid: l.pid as number, at: (l.time as number) - (l.ms as number) }]));
  const firstFault = new Map<number, number>();
  const lastHealthy = new Map<number, number>();
  for (const [id, status] of sent) {
    const line = handled.get(id);
    if (line === undefined) continue;
    if (status === 500) firstFault.set(line.pid, Math.min(firstFault.get(line.pid) ?? Infinity, line.at));
    else lastHealthy.set(line.pid, Math.max(lastHealthy.get(line.pid) ?? 0, line.at));
  }
  return { firstFault, lastHealthy, probes: sent.size, paired: handled.size };
}
