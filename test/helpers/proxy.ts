import { spawn } from 'node:child_process';
import type { TapTest } from './tap.js';

const PROXY = new URL('./delay-proxy.mjs', import.meta.url).pathname;

/**
 * A reverse proxy in its own process (test/helpers/delay-proxy.mjs, node:http upstream) that holds
 * each request `delayMs` before forwarding it; `options` as that file says (drop-ids, serial,
 * stall=n:ms). `held` has, per forwarded request, how long the proxy really kept it.
 */
export async function delayingProxy(t: TapTest, upstream: string, delayMs: number, ...options: string[]): Promise<{ url: string; held: number[]; pid: number }> {
  const proc = spawn(process.execPath, [PROXY, upstream, String(delayMs), ...options], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  const held: number[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, i)) as { listening?: number; held?: number };
        buf = buf.slice(i + 1);
        if (line.listening !== undefined) resolve(line.listening);
        if (line.held !== undefined) held.push(line.held);
      }
    });
    proc.on('exit', (code) => reject(new Error(`the proxy exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, held, pid: proc.pid! };
}
