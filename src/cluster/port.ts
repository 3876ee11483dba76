import { createServer, type AddressInfo } from 'node:net';
import { ConfigError } from '../config/load.js';

/**
 * Port 0 means "any free port". The workers must share one port, and Linux does not let
 * SO_REUSEPORT sockets join a port the kernel picked at bind time, so the primary picks it first.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The workers listen with SO_REUSEPORT, so a second simulator on a busy port would silently take
 * a share of its traffic. A plain bind (no SO_REUSEPORT) fails on a port that anything serves,
 * another simulator included: refuse to start unless `sharePort` asks to join it.
 */
export function ensurePortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`llm-simulator: ${host}:${port} is already in use (by another llm-simulator, or another program); pick another --port, or --share-port true to join a simulator on it`));
      else if (err.code === 'EACCES') reject(new ConfigError(`llm-simulator: not allowed to listen on ${host}:${port} (${err.code})`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`llm-simulator: cannot listen on ${host}:${port}: no such local address`));
      else reject(err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
