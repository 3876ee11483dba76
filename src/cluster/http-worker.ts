import cluster from 'node:cluster';
import type { Config } from '../config/schema.js';
import { createLogging, flushLog, type Logger, type Logging } from '../log.js';
import { Server, type ServerOptions } from '../http/app.js';
import { LOAD_SYNC_MS } from '../sim/capacity.js';
import { CpuPool } from '../sim/pool.js';
import { APPLY_DEADLINE_MS, cannotListen, EXIT_CANNOT_LISTEN, LEDGER_DEADLINE_MS, METRICS_DEADLINE_MS, Rpc, WORKER_CONFIG_ENV, type ToPrimary, type ToWorker } from './ipc.js';
import { ensurePortFree } from './port.js';
import { openStore } from '../edge/limits.js';
import { advance, type LiveState } from '../control/plane.js';
import { loadTree } from '../config/load.js';


/** Runs a Server until told to drain; shared by cluster workers and the single-process mode. */
export async function serve(config: Readonly<Config>, logging: Logging, shared?: Pick<ServerOptions, 'collectMetrics' | 'ledger' | 'budget' | 'tell' | 'control' | 'version' | 'scenarioStartMs' | 'rulesSince' | 'worker'>): Promise<{ server: Server; pool: CpuPool }> {
  const pool = new CpuPool(config);
  const server = new Server({ config, logging, pool, ...shared });
  if (config.warmUp) {
    logging.log.debug('warming up');
    const { ms, refused } = await server.warm();
    logging.log.debug({ ms: Math.round(ms), refused }, 'warmed up');
  }
  let at: readonly [string, number] = [config.host, config.port];
  try {
    await server.listen(...at);
    if (config.admin.port !== null) {
      at = [config.admin.host ?? config.host, config.admin.port];
      await server.listenAdmin(...at);
    }
  } catch {
    // A cluster worker leaves the telling to the primary, so start-up fails with one line.
    if (cluster.isPrimary) process.stderr.write(`${cannotListen(...at)}\n`);
    process.exit(EXIT_CANNOT_LISTEN);
  }
  containStrays(logging.log);
  return { server, pool };
}

/**
 * The last net under per-exchange containment (Exchange.later / fail, the scheduler's
 * fireContained): a rejection nobody handled is logged, not a reason to drop every other
 * client of the process.
 */
function containStrays(log: Logger): void {
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (contained; please report it)'));
}

/** Drains, flushes logs, stops the thread pool and exits 0. */
export async function stop(server: Server, pool: CpuPool, log: Logger, deadlineMs: number): Promise<never> {
  const clean = await server.drain(deadlineMs);
  if (!clean) log.warn({ active: server.services.active }, 'drain deadline passed with requests still in flight');
  await server.services.tracing?.shutdown().catch((err: unknown) => log.warn({ err }, 'spans could not be exported at shutdown'));
  await pool.destroy();
  flushLog();
  process.exit(0);
}

/** Sends this worker's capacity counts to the primary when they change, at most every LOAD_SYNC_MS. */
function reportLoadChanges(server: Server, send: (msg: ToPrimary) => void): void {
  const { capacity } = server.services;
  let timer: NodeJS.Timeout | null = null;
  const report = (): void => {
    timer = null;
    send({ type: 'load.report', counts: capacity.counts() });
  };
  capacity.onChange = () => {
    if (timer === null) timer = setTimeout(report, LOAD_SYNC_MS);
  };
}

/** Entry point of a forked HTTP worker process. */
export async function runHttpWorker(): Promise<void> {
  const live = JSON.parse(process.env[WORKER_CONFIG_ENV]!) as LiveState;
  const { config } = live;
  const logging = createLogging(config.logLevel, { role: 'http-worker' }, true);
  const { log } = logging;
  const send = (msg: ToPrimary): void => void process.send!(msg);
  const rpc = new Rpc<ToPrimary>(send);
  // Signals reach the whole process group (Ctrl-C); the primary decides when workers stop.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('SIGHUP', () => {});
  // Told to stop while still starting (warming up): nothing is in flight, so stop now; without
  // this the message found no listener and the primary waited out its drain deadline to kill it.
  const stopWhileStarting = (msg: ToWorker): void => {
    if (msg.type !== 'shutdown') return;
    flushLog();
    process.exit(0);
  };
  process.on('message', stopWhileStarting);
  const { server, pool } = await serve(config, logging, {
    collectMetrics: () => rpc.request({ type: 'metrics.cluster' }, METRICS_DEADLINE_MS * 2),
    ledger: { add: (key, by) => rpc.request({ type: 'ledger.add', key, by }, LEDGER_DEADLINE_MS) },
    budget: {
      take: (spec, need, want) => rpc.request({ type: 'budget.take', spec, need, want }, LEDGER_DEADLINE_MS),
      give: (spec, amount) => send({ type: 'budget.give', spec, amount }),
      reset: (client) => send({ type: 'budget.reset', client }),
    },
    tell: (client, told) => send({ type: 'limits.told', client, told }),
    control: {
      configure: (incoming, kind) => rpc.request({ type: 'control.configure', incoming, kind }, APPLY_DEADLINE_MS * 2),
      journal: () => rpc.request({ type: 'control.journal' }, METRICS_DEADLINE_MS * 2),
      resetLimits: async (key) => void (await rpc.request({ type: 'control.resetLimits', key }, LEDGER_DEADLINE_MS * 2)),
      stats: () => rpc.request({ type: 'control.stats' }, METRICS_DEADLINE_MS * 2),
      resetStats: async () => void (await rpc.request({ type: 'control.resetStats' }, METRICS_DEADLINE_MS * 2)),
      records: (since) => rpc.request({ type: 'control.records', since }, METRICS_DEADLINE_MS * 2),
    },
    version: live.version,
    scenarioStartMs: live.scenarioStartMs,
    rulesSince: live.rulesSince,
    worker: cluster.worker!.id,
  });
  const onMessage = (msg: ToWorker): void => {
    switch (msg.type) {
      case 'reply':
        return rpc.settle(msg);
      case 'metrics.snapshot':
        return rpc.answer(msg.id, server.services.metrics.snapshot());
      case 'load.remote':
        return server.services.capacity.setRemote(msg.counts);
      case 'limits.told':
        return server.remembered(msg.client, msg.told);
      case 'control.apply':
        server.apply(msg.state);
        return rpc.answer(msg.id, Promise.resolve(null));
      case 'stats.snapshot':
        return rpc.answer(msg.id, Promise.resolve(server.stats()));
      case 'stats.reset':
        return rpc.answer(msg.id, Promise.resolve(server.services.metrics.resetStats()).then(() => null));
      case 'journal.snapshot':
        return rpc.answer(msg.id, Promise.resolve(server.services.admission.journal.read()));
      case 'records.snapshot':
        return rpc.answer(msg.id, Promise.resolve(server.services.records?.read(msg.since) ?? null));
      case 'limits.reset':
        return server.forget(msg.client);
      case 'shutdown':
        void stop(server, pool, log, msg.deadlineMs);
    }
  };
  process.off('message', stopWhileStarting);
  process.on('message', (msg: ToWorker) => {
    try {
      onMessage(msg);
    } catch (err) {
      log.error({ err, type: msg?.type }, 'IPC message handler failed');
    }
  });
  reportLoadChanges(server, send);
  // The primary is gone (killed hard): nothing will ever ask this worker to drain.
  process.on('disconnect', () => {
    flushLog();
    process.exit(0);
  });
  send({ type: 'listening', port: server.port });
}

/** `--workers 0`: serve from this process, without a cluster (debugging, profiling). */
export async function runSingleProcess(config: Readonly<Config>): Promise<void> {
  const logging = createLogging(config.logLevel, { role: 'server' }, true);
  const { log } = logging;
  if (config.port !== 0 && !config.sharePort) await ensurePortFree(config.host, config.port);
  const { server, pool } = await serve(config, logging, { budget: await openStore(config.limits, log) });
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs: config.drainTimeoutMs }, 'draining');
    void stop(server, pool, log, config.drainTimeoutMs);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const state = advance(server.live, loadTree(process.argv.slice(2), process.env).tree, 'replace');
      server.apply(state);
      server.services.metrics.configReload('applied');
      log.info({ version: state.version, workers: 0, trigger: 'SIGHUP' }, 'configuration reloaded');
    } catch (err) {
      server.services.metrics.configReload('invalid');
      log.error({ trigger: 'SIGHUP' }, `${(err as Error).message}; the running configuration stays`);
    }
  });
  log.info({ host: config.host, port: server.port, workers: 0, ...(server.adminPort !== null ? { adminHost: config.admin.host ?? config.host, adminPort: server.adminPort } : {}) }, 'llm-simulator listening');
  flushLog();
}
