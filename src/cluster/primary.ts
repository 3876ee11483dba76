import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';
import { createLogging, flushLog, type Logger } from '../log.js';
import { exposition } from '../metrics/metrics.js';
import type { BenchRecord } from '../http/records.js';
import { ensurePortFree, freePort } from './port.js';
import { watchFile } from 'node:fs';
import { loadTree } from '../config/load.js';
import { advance, type Applied, type LiveState } from '../control/plane.js';
import type { JournalEntry } from '../faults/admission.js';
import { Metrics } from '../metrics/metrics.js';
import { APPLY_DEADLINE_MS, cannotListen, EXIT_CANNOT_LISTEN, METRICS_DEADLINE_MS, Rpc, WORKER_CONFIG_ENV, type ReplyData, type ToPrimary, type ToWorker } from './ipc.js';
import { ClusterLedger, type Member } from './ledger.js';
import { openStore } from '../edge/limits.js';

/** How often the config file is checked for changes, and how long after the last change it is read. */
const CONFIG_POLL_MS = 250;
const CONFIG_DEBOUNCE_MS = 150;

/** A worker that lived this long before crashing resets the respawn backoff. */
const STABLE_AFTER_MS = 10_000;
const MAX_RESPAWN_DELAY_MS = 10_000;
/** Grace beyond the drain deadline before workers that have not exited are killed. */
const KILL_GRACE_MS = 5_000;
/**
 * How long a worker still starting may take to stop when told to, before it is killed. It serves
 * nothing yet, and exits at once when the message reaches it; but a message that arrives while
 * it still loads its modules, before it listens for messages, is lost (Node drops a message
 * nobody listens for), and such a worker went on to warm up and waited out the drain deadline.
 */
const STARTING_STOP_GRACE_MS = 2_000;

interface Child extends Member {
  readonly worker: Worker;
  readonly rpc: Rpc<ToWorker>;
  readonly startedAt: number;
  /** It has reported listening: it may hold requests, so it is drained, never killed at once. */
  listening: boolean;
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
 * Also left out: `--min-semi-space-size=16` (the young generation at V8's maximum from the start)
 * made a cold burst's TTFT excess smaller after a lean warm-up, but non-stream chat served
 * 0.47–0.48 of the bare server's req/s with it against 0.50–0.60 without (paired runs, 12-06):
 * a young generation larger than the caches costs every allocation.
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
  /** When the primary started: the start-up config's scenario and rules run from here on every worker, replacements included. */
  private readonly epochMs = Date.now();

  /** The runtime state every worker runs (and a replacement starts on); advanced by reloads. */
  private live: LiveState;
  /** The primary's own series (reloads), added to the workers' on every scrape. */
  /** The primary's own counters (reloads); it serves no model, so it adds nothing to vLLM's family. */
  private readonly metrics = Object.assign(new Metrics(), { vllm: false });
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: Readonly<Config>,
    /** Where a SIGHUP or a change of the config file reads the settings again from. */
    private readonly source: { argv: readonly string[]; env: NodeJS.ProcessEnv } = { argv: process.argv.slice(2), env: process.env },
  ) {
    this.log = createLogging(config.logLevel, { role: 'primary' }).log;
    this.port = config.port;
    this.live = { config, version: 1, scenarioStartMs: this.epochMs, rulesSince: config.faults.rules.map(() => this.epochMs) };
  }

  /**
   * A reload, cluster-wide and in two phases: validate once here (nothing changes if that
   * fails), then send the new state to every worker and count their acknowledgements. Reloads
   * run one at a time, in the order asked.
   */
  private configure(incoming: unknown, kind: 'replace' | 'merge', trigger: string): Promise<Applied> {
    const run = async (): Promise<Applied> => {
      let state: LiveState;
      try {
        state = advance(this.live, incoming, kind);
      } catch (err) {
        this.metrics.configReload('invalid');
        throw err;
      }
      this.live = state;
      const acks = await Promise.allSettled([...this.children.values()].map((c) => c.rpc.request({ type: 'control.apply', state }, APPLY_DEADLINE_MS)));
      this.metrics.configReload('applied');
      const workers = acks.filter((a) => a.status === 'fulfilled').length;
      this.log.info({ version: state.version, workers, trigger }, 'configuration reloaded');
      return { version: state.version, workers };
    };
    const next = this.reloading.then(run, run);
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** SIGHUP and config-file changes: the settings read again, as at start-up; an invalid result logs one line and changes nothing. */
  private reloadFromSource(trigger: string): void {
    let tree: unknown;
    try {
      tree = this.pinPickedPorts(loadTree(this.source.argv, this.source.env).tree);
    } catch (err) {
      this.metrics.configReload('invalid');
      this.log.error({ trigger }, (err as Error).message);
      return;
    }
    this.configure(tree, 'replace', trigger).catch((err: Error) => this.log.error({ trigger }, `${err.message}; the running configuration stays`));
  }

  /** `port: 0` (and `admin.port: 0`) asked for any free port at start-up; the ports picked are the ones to keep. */
  private pinPickedPorts(read: Record<string, unknown>): Record<string, unknown> {
    const { config } = this.live;
    const tree: Record<string, unknown> = read.port === 0 || read.port === undefined ? { ...read, port: config.port } : { ...read };
    const admin = read.admin as Record<string, unknown> | undefined;
    if (admin?.port === 0) tree.admin = { ...admin, port: config.admin.port };
    return tree;
  }

  /** Watches the config file (debounced: editors write in several steps). */
  private watchConfigFile(): void {
    const file = loadTree(this.source.argv, this.source.env).file;
    if (file === undefined) return;
    let timer: NodeJS.Timeout | null = null;
    try {
      watchFile(file, { interval: CONFIG_POLL_MS }, () => {
        if (timer !== null) clearTimeout(timer);
        timer = setTimeout(() => this.reloadFromSource('file'), CONFIG_DEBOUNCE_MS);
      });
    } catch (err) {
      this.log.warn({ err, file }, 'config file not watched');
    }
  }

  async start(): Promise<void> {
    process.on('SIGTERM', () => this.shutdown('SIGTERM'));
    process.on('SIGINT', () => this.shutdown('SIGINT'));
    process.on('SIGHUP', () => this.reloadFromSource('SIGHUP'));
    cluster.setupPrimary({ exec: process.argv[1]!, args: [], execArgv: [...WORKER_V8_FLAGS, ...process.execArgv] });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    if (this.port === 0) this.port = await freePort(this.config.host);
    else if (!this.config.sharePort) await ensurePortFree(this.config.host, this.port);
    const admin = await this.adminListener();
    this.ledger = new ClusterLedger(await openStore(this.config.limits, this.log), () => this.children.values());
    this.live = { ...this.live, config: { ...this.config, port: this.port, admin } };
    this.starting = true;
    this.log.debug({ workers: this.config.workers }, 'starting workers');
    await Promise.all(Array.from({ length: this.config.workers }, () => this.fork()));
    this.starting = false;
    // Stopped meanwhile: the workers that came up are draining, and the tree exits with them.
    if (this.shuttingDown) return;
    this.watchConfigFile();
    this.log.info({ host: this.config.host, port: this.port, workers: this.config.workers, ...(admin.port !== null ? { adminHost: admin.host ?? this.config.host, adminPort: admin.port } : {}) }, 'llm-simulator listening');
  }

  /** The admin listener's settings with its port picked (`admin.port: 0`) or checked free, as every worker will use them. */
  private async adminListener(): Promise<Config['admin']> {
    const { admin } = this.config;
    if (admin.port === null) return admin;
    const host = admin.host ?? this.config.host;
    if (admin.port === 0) return { ...admin, port: await freePort(host) };
    if (!this.config.sharePort) await ensurePortFree(host, admin.port);
    return admin;
  }

  private fork(): Promise<number> {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(this.live) });
    const rpc = new Rpc<ToWorker>((msg) => worker.send(msg));
    const child: Child = {
      worker,
      rpc,
      startedAt: Date.now(),
      listening: false,
      send: (msg) => void (worker.isConnected() && worker.send(msg)),
      answer: (id, work) => rpc.answer(id, work),
    };
    this.children.set(worker.id, child);
    // A message to a worker that is going away fails (EPIPE) while its channel still looks
    // connected, and Node raises that as an 'error' event: unhandled, it ended the primary with
    // exit code 1 (a ledger sync to a worker killed while starting). Its 'exit' does the rest.
    worker.on('error', (err) => this.log.debug({ err, worker: worker.id }, 'a message to a worker failed; it is going away'));
    return new Promise((resolve, reject) => {
      worker.on('message', (msg: ToPrimary) => {
        switch (msg.type) {
          case 'listening':
            child.listening = true;
            // Told to stop before it could hear it: told again now that it serves.
            if (this.shuttingDown) child.send({ type: 'shutdown', deadlineMs: this.config.drainTimeoutMs });
            return resolve(msg.port);
          case 'reply':
            return child.rpc.settle(msg);
          case 'metrics.cluster':
            return child.rpc.answer(msg.id, this.clusterMetrics());
          case 'control.configure':
            return child.rpc.answer(msg.id, this.configure(msg.incoming, msg.kind, 'admin'));
          case 'control.journal':
            return child.rpc.answer(msg.id, this.journal());
          case 'control.stats':
            return child.rpc.answer(msg.id, this.fanOut('stats.snapshot'));
          case 'control.resetStats':
            return child.rpc.answer(msg.id, this.fanOut('stats.reset').then(() => null));
          case 'control.records':
            return child.rpc.answer(msg.id, this.records(msg.since));
          case 'control.resetLimits':
            return child.rpc.answer(
              msg.id,
              Promise.resolve(this.ledger!.resetBudget(msg.key)).then(() => {
                for (const c of this.children.values()) c.send({ type: 'limits.reset', client: msg.key });
                return null;
              }),
            );
          default:
            return this.ledger!.receive(child, msg);
        }
      });
      // Told to stop while starting, a worker exits without listening: onExit ends the tree with 0.
      worker.once('exit', () => {
        if (!this.shuttingDown) reject(new Error(`worker ${worker.id} exited before listening`));
      });
    });
  }

  /** Every live worker's registry and the primary's own, summed. A worker that does not answer in time is left out. */
  private async clusterMetrics(): Promise<string> {
    const snapshots = await Promise.allSettled([...this.children.values()].map((c) => c.rpc.request({ type: 'metrics.snapshot' }, METRICS_DEADLINE_MS)));
    return exposition([await this.metrics.snapshot(), ...snapshots.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))]);
  }

  /** Every worker's journal, newest first. */
  private async journal(): Promise<JournalEntry[]> {
    return (await this.fanOut('journal.snapshot')).flat().sort((a, b) => b.time - a.time);
  }

  /** Every worker's bench records since `since`, by arrival (null when none are kept). */
  private async records(since: number): Promise<BenchRecord[] | null> {
    const parts = await this.fanOut('records.snapshot', { since });
    return parts.every((p) => p === null) ? null : parts.flatMap((p) => p ?? []).sort((a, b) => a.arrived - b.arrived);
  }

  /** One request to every worker (with `fields`); the answers of those that replied in time. */
  private async fanOut<T extends 'journal.snapshot' | 'stats.snapshot' | 'stats.reset' | 'records.snapshot'>(type: T, fields: object = {}): Promise<ReplyData[T][]> {
    const parts = await Promise.allSettled([...this.children.values()].map((c) => c.rpc.request({ type, ...fields } as never, METRICS_DEADLINE_MS) as Promise<ReplyData[T]>));
    return parts.flatMap((p) => (p.status === 'fulfilled' ? [p.value] : []));
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
    for (const child of this.children.values()) child.send({ type: 'shutdown', deadlineMs } satisfies ToWorker);
    setTimeout(() => {
      for (const child of this.children.values()) if (!child.listening) child.worker.process.kill('SIGKILL');
    }, STARTING_STOP_GRACE_MS).unref();
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
