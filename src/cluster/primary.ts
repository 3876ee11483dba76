import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';
import { createLogging, flushLog, type Logger } from '../log.js';
import { aggregateSnapshots } from '../metrics/metrics.js';
import { ensurePortFree, freePort } from './port.js';
import { cannotListen, EXIT_CANNOT_LISTEN, METRICS_DEADLINE_MS, Rpc, WORKER_CONFIG_ENV, WORKER_EPOCH_ENV, type ToPrimary, type ToWorker } from './ipc.js';
import { ClusterLedger, type Member } from './ledger.js';
import { openStore } from '../edge/limits.js';

/** A worker that lived this long before crashing resets the respawn backoff. */
const STABLE_AFTER_MS = 10_000;
const MAX_RESPAWN_DELAY_MS = 10_000;
/** Grace beyond the drain deadline before workers that have not exited are killed. */
const KILL_GRACE_MS = 5_000;

interface Child extends Member {
  readonly worker: Worker;
  readonly rpc: Rpc<ToWorker>;
  readonly startedAt: number;
}

/**
 * V8 flags of the HTTP workers (node flags given to the primary come after them, so they win).
 * `--single-threaded-gc`: with a worker on every core, GC helper threads find no idle core and
 * only preempt the event loop, and a parallel scavenge waits for helpers that are not running.
 * Measured on one core, tokens ≤ 2 ms late: +0.1–0.5 points at 375 streams (six paired runs),
 * equal at 500, fewer mark-compacts. Tried and left out: `--max-semi-space-size=2` cut the
 * median scavenge pause at 1,000 open 2 s streams from 5.2 to 1.2 ms (+0.5 points), but at 500
 * one-second streams every stream object got promoted and mark-compacts of 8–21 ms every ~8 s
 * cost more (−0.4 to −0.7 points): which wins depends on the workload, so V8's default stays.
 */
const WORKER_V8_FLAGS = ['--single-threaded-gc'];

/**
 * The primary: forks one uWebSockets.js HTTP worker per core on one port, replaces workers that
 * die, aggregates their metrics on scrape, and drains them on SIGTERM/SIGINT.
 */
export class Primary {
  private readonly children = new Map<number, Child>();
  private readonly log: Logger;
  private port: number;
  private shuttingDown = false;
  private crashesInARow = 0;
  /** While the first workers start, one that cannot listen stops the whole start-up (exit 2). */
  private starting = false;
  /** Every count the workers share (src/cluster/ledger.ts), kept across replacements. */
  private ledger: ClusterLedger | null = null;
  /** Fault windows run from here for every worker, replacements included. */
  private readonly epochMs = Date.now();

  constructor(private readonly config: Readonly<Config>) {
    this.log = createLogging(config.logLevel, { role: 'primary' }).log;
    this.port = config.port;
  }

  async start(): Promise<void> {
    process.on('SIGTERM', () => this.shutdown('SIGTERM'));
    process.on('SIGINT', () => this.shutdown('SIGINT'));
    // Until live reload exists, a SIGHUP (a closed terminal, a reload habit) must not stop anything.
    process.on('SIGHUP', () => this.log.warn('SIGHUP ignored: configuration reload is not supported yet'));
    cluster.setupPrimary({ exec: process.argv[1]!, args: [], execArgv: [...WORKER_V8_FLAGS, ...process.execArgv] });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    if (this.port === 0) this.port = await freePort(this.config.host);
    else if (!this.config.sharePort) await ensurePortFree(this.config.host, this.port);
    this.ledger = new ClusterLedger(await openStore(this.config.limits, this.log), () => this.children.values());
    this.starting = true;
    await Promise.all(Array.from({ length: this.config.workers }, () => this.fork()));
    this.starting = false;
    this.log.info({ host: this.config.host, port: this.port, workers: this.config.workers }, 'llm-simulator listening');
  }

  private fork(): Promise<number> {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify({ ...this.config, port: this.port }), [WORKER_EPOCH_ENV]: String(this.epochMs) });
    const rpc = new Rpc<ToWorker>((msg) => worker.send(msg));
    const child: Child = {
      worker,
      rpc,
      startedAt: Date.now(),
      send: (msg) => void (worker.isConnected() && worker.send(msg)),
      answer: (id, work) => rpc.answer(id, work),
    };
    this.children.set(worker.id, child);
    return new Promise((resolve, reject) => {
      worker.on('message', (msg: ToPrimary) => {
        switch (msg.type) {
          case 'listening':
            return resolve(msg.port);
          case 'reply':
            return child.rpc.settle(msg);
          case 'metrics.cluster':
            return child.rpc.answer(msg.id, this.clusterMetrics());
          default:
            return this.ledger!.receive(child, msg);
        }
      });
      worker.once('exit', () => reject(new Error(`worker ${worker.id} exited before listening`)));
    });
  }

  /** Every live worker's registry, summed. A worker that does not answer in time is left out. */
  private async clusterMetrics(): Promise<string> {
    const snapshots = await Promise.allSettled([...this.children.values()].map((c) => c.rpc.request({ type: 'metrics.snapshot' }, METRICS_DEADLINE_MS)));
    return aggregateSnapshots(snapshots.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])));
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const child = this.children.get(worker.id);
    this.children.delete(worker.id);
    if (child !== undefined) {
      child.rpc.close('worker exited');
      this.ledger?.leave(child);
    }
    if (this.shuttingDown) {
      if (this.children.size === 0) this.exit();
      return;
    }
    if (this.starting && code === EXIT_CANNOT_LISTEN) {
      // The others would fail the same way.
      for (const other of this.children.values()) other.worker.process.kill('SIGKILL');
      process.stderr.write(`${cannotListen(this.config.host, this.port)}\n`);
      flushLog();
      process.exit(EXIT_CANNOT_LISTEN);
    }
    const lived = child === undefined ? 0 : Date.now() - child.startedAt;
    this.crashesInARow = lived >= STABLE_AFTER_MS ? 1 : this.crashesInARow + 1;
    const delay = Math.min(this.config.respawnDelayMs * 2 ** (this.crashesInARow - 1), MAX_RESPAWN_DELAY_MS);
    this.log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, respawnInMs: delay }, 'http worker died; replacing it');
    setTimeout(() => {
      if (!this.shuttingDown) this.fork().catch((err: Error) => this.log.error({ err }, 'replacement worker failed to start'));
    }, delay);
  }

  private shutdown(signal: string): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const deadlineMs = this.config.drainTimeoutMs;
    this.log.info({ signal, deadlineMs, workers: this.children.size }, 'draining');
    if (this.children.size === 0) return this.exit();
    for (const { worker } of this.children.values()) worker.send({ type: 'shutdown', deadlineMs } satisfies ToWorker);
    setTimeout(() => {
      for (const { worker } of this.children.values()) worker.process.kill('SIGKILL');
    }, deadlineMs + KILL_GRACE_MS).unref();
  }

  private exit(): void {
    this.log.info('stopped');
    flushLog();
    process.exit(0);
  }
}
