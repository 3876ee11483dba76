import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../src/cluster/port.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** A real `redis-server` (Debian's package) on 127.0.0.1 and a free port, without persistence. */
export async function startRedis(port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort('127.0.0.1'));
  const proc: ChildProcess = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
