import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Starts the built simulator (`node dist/src/main.js`) as a real primary with forked workers. */
export async function startCluster(args: string[]): Promise<Cluster> {
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
