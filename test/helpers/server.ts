import { pino } from 'pino';
import { validateConfig } from '../../src/config/load.js';
import { Server } from '../../src/http/app.js';
import type { WarmUp } from '../../src/http/warmup.js';
import { CpuPool } from '../../src/sim/pool.js';
import { checkedFetch, contractViolations, warmContracts } from './contracts.js';

export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /** The start-up warm-up's outcome, when `warmUp: true` was asked for. */
  readonly warmed: WarmUp | null;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1 and an ephemeral port, in this process. */
export async function startServer(overrides: Record<string, unknown> = {}, options: { pool?: boolean } = {}): Promise<TestServer> {
  warmContracts();
  const config = validateConfig({ host: '127.0.0.1', port: 0, workers: 0, accessLog: false, timeScale: 0, ...overrides });
  const pool = options.pool ? new CpuPool(config) : null;
  const server = new Server({ config, logging: { log: pino({ level: 'silent' }), access: null }, pool });
  // The start-up warm-up only when a test asks for it (the config's default is on).
  const warmed = overrides.warmUp === true ? await server.warm() : null;
  const port = await server.listen(config.host, config.port);
  return {
    server,
    port,
    warmed,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.close();
      await pool?.destroy();
      // Every response the test saw through post() or an SDK client must match the vendor's schema.
      if (contractViolations.length > 0) throw new Error(`responses that violate the vendors' OpenAPI schemas:\n${contractViolations.splice(0).join('\n')}`);
    },
  };
}

export const OPENAI_HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
export const ANTHROPIC_HEADERS = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };

export async function post(url: string, body: unknown, headers: Record<string, string> = OPENAI_HEADERS): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await checkedFetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Splits generated text back into its tokens (` word`, `Word`, `.`, `,`), see src/sim/text.ts. */
export const splitTokens = (text: string): string[] => text.match(/ ?[A-Za-z]+|[.,]/g) ?? [];

/** Polls `condition` until it holds or `timeoutMs` passes; resolves with whether it held (tests assert on that, never on a sleep). */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
