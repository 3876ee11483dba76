import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { startCluster, type Cluster } from './cluster.js';

/**
 * What the hostile suite needs around a real 2-worker cluster: keep-alive probe connections on
 * both workers (a probe knows its worker by the pid in the access line of its request), a way to
 * keep them pinging while a bad request runs, and the check that no worker died.
 */
export interface Hostile {
  readonly c: Cluster;
  /** The two worker pids, as the probes found them. */
  readonly pids: ReadonlySet<number>;
  /** Runs `bad` while every probe pings; resolves with its result and the slowest ping per worker pid. */
  during<T>(bad: () => Promise<T>): Promise<{ result: T; slowestMs: Map<number, number> }>;
  /** Worker deaths the primary logged so far. */
  deaths(): Record<string, any>[];
  /** Failures the workers contained only at the last net (an unhandled rejection) or as a 500: each a containment bug. */
  strays(): Record<string, any>[];
  close(): Promise<void>;
}

class Probe {
  private buffer = '';
  private waiting: ((text: string) => void) | null = null;
  pid = 0;
  private n = 0;
  private onClose: (() => void) | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly name: string,
  ) {
    socket.setNoDelay(true);
    // A worker that dies takes its connections along: say so at once rather than at the timeout.
    socket.on('close', () => this.onClose?.());
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1 || this.waiting === null) return;
      const length = Number(/content-length: (\d+)/i.exec(this.buffer.slice(0, end))?.[1] ?? 0);
      if (this.buffer.length < end + 4 + length) return;
      const text = this.buffer.slice(0, end + 4 + length);
      this.buffer = this.buffer.slice(end + 4 + length);
      const done = this.waiting;
      this.waiting = null;
      done(text);
    });
  }

  /** One GET /v1/models on this connection; resolves with its id (for the access line) and the time it took. */
  ping(timeoutMs = 30_000): Promise<{ id: string; ms: number }> {
    const id = `${this.name}-${this.n++}`;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe ${id} got no answer in ${timeoutMs} ms`)), timeoutMs);
      this.onClose = () => {
        clearTimeout(timer);
        reject(new Error(`probe ${id}: the connection to worker ${this.pid} closed (did it die?)`));
      };
      this.waiting = (text) => {
        clearTimeout(timer);
        this.onClose = null;
        if (!text.startsWith('HTTP/1.1 200')) reject(new Error(`probe ${id}: ${text.slice(0, 80)}`));
        else resolve({ id, ms: performance.now() - started });
      };
      this.socket.write(`GET /v1/models HTTP/1.1\r\nHost: probe\r\nx-request-id: ${id}\r\n\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function startHostile(args: string[] = []): Promise<Hostile> {
  const c = await startCluster(['--workers', '2', ...args]);
  const probes: Probe[] = [];
  const pids = new Set<number>();
  // The kernel spreads new connections over the workers: open them until both have probes (bounded).
  for (let i = 0; i < 64 && (pids.size < 2 || probes.length < 4); i++) {
    const socket = connect(c.port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const probe = new Probe(socket, `probe${i}`);
    const { id } = await probe.ping();
    probe.pid = (await c.waitFor((l) => l.requestId === id)).pid;
    const fresh = !pids.has(probe.pid);
    pids.add(probe.pid);
    if (fresh || probes.filter((p) => p.pid === probe.pid).length < 2) probes.push(probe);
    else probe.close();
  }
  if (pids.size < 2) throw new Error('connections reached only one worker');
  return {
    c,
    pids,
    async during<T>(bad: () => Promise<T>) {
      const slowestMs = new Map<number, number>([...pids].map((p) => [p, 0]));
      let running = true;
      const pinging = probes.map(async (probe) => {
        while (running) {
          const { ms } = await probe.ping();
          slowestMs.set(probe.pid, Math.max(slowestMs.get(probe.pid)!, ms));
          await new Promise((r) => setTimeout(r, 10));
        }
      });
      try {
        const result = await bad();
        return { result, slowestMs };
      } finally {
        running = false;
        await Promise.all(pinging);
      }
    },
    deaths: () => c.lines.filter((l) => l.msg === 'http worker died; replacing it'),
    strays: () => c.lines.filter((l) => /^unhandled (rejection|error)/.test(String(l.msg))),
    async close() {
      for (const p of probes) p.close();
      c.proc.kill('SIGKILL');
      await c.exited;
    },
  };
}

/** A POST that resolves with status and body, or with status 0 when `abortAfterMs` cut it first. */
export async function send(url: string, body: unknown, headers: Record<string, string> = {}, abortAfterMs?: number): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const signal = abortAfterMs === undefined ? undefined : AbortSignal.timeout(abortAfterMs);
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), signal });
    const text = await res.text();
    return { status: res.status, text, ms: performance.now() - started };
  } catch (err) {
    if (abortAfterMs !== undefined) return { status: 0, text: String(err), ms: performance.now() - started };
    throw err;
  }
}

export const ANTHROPIC = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };
