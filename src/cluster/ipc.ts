import type { MetricsSnapshot } from '../metrics/metrics.js';
import type { LoadCounts } from '../sim/capacity.js';
import type { BucketSpec, Grant, Told } from '../edge/limits.js';
import type { JournalEntry } from '../faults/admission.js';
import type { Applied, LiveState, WorkerStats } from '../control/plane.js';
import type { BenchRecord } from '../http/records.js';

/**
 * Every message between the primary and its HTTP workers is one member of these unions.
 * Requests carry an `id`; the other side answers with a `reply` of the same id. Errors cross as
 * `{code, message}`, never as classes.
 */
export type Reply = { type: 'reply'; id: number; ok: true; data: unknown } | { type: 'reply'; id: number; ok: false; error: { code: string; message: string } };

/** Primary → worker. */
export type ToWorker =
  /** Request: this worker's metric registry as JSON. Reply data: MetricsSnapshot. */
  | { type: 'metrics.snapshot'; id: number }
  /** Stop accepting, finish in-flight work within `deadlineMs`, exit 0. */
  | { type: 'shutdown'; deadlineMs: number }
  /** The other workers' running and waiting sequences per model, summed (see src/sim/capacity.ts). */
  | { type: 'load.remote'; counts: LoadCounts }
  /** Another worker refused `client` and told it to wait. */
  | { type: 'limits.told'; client: string; told: Told }
  /** Request: run this runtime snapshot from now on (a reload). Reply data: null, once applied. */
  | { type: 'control.apply'; id: number; state: LiveState }
  /** Request: this worker's fault and rate-limit journal. Reply data: JournalEntry[]. */
  | { type: 'journal.snapshot'; id: number }
  /** Request: this worker's stats. Reply data: WorkerStats. */
  | { type: 'stats.snapshot'; id: number }
  /** Request: zero what the stats count. Reply data: null. */
  | { type: 'stats.reset'; id: number }
  /** Request: this worker's bench records since `since` (Unix ms). Reply data: BenchRecord[] | null (none kept). */
  | { type: 'records.snapshot'; id: number; since: number }
  /** `limits.reset` reached the store: drop this worker's leases and refusals of `client` (or all). */
  | { type: 'limits.reset'; client: string | null }
  | Reply;

/** Worker → primary. */
export type ToPrimary =
  /** The worker is serving on `port`. */
  | { type: 'listening'; port: number }
  /** Request: the whole cluster's metrics as Prometheus text. Reply data: string. */
  | { type: 'metrics.cluster'; id: number }
  /** This worker's running and waiting sequences per model, sent when they change (throttled). */
  | { type: 'load.report'; counts: LoadCounts }
  /** Request: add `by` to the cluster ledger's counter `key` (src/cluster/ledger.ts). Reply data: its new value. */
  | { type: 'ledger.add'; id: number; key: string; by: number }
  /** Request: lease up to `want` (at least `need`) of a rate-limit bucket (src/edge/limits.ts). Reply data: what was granted and the level after. */
  | { type: 'budget.take'; id: number; spec: BucketSpec; need: number; want: number }
  /** Unspent budget handed back (an expired lease, a settled reservation). */
  | { type: 'budget.give'; spec: BucketSpec; amount: number }
  /** `limits.reset`: forget one client's buckets (or all, with null). */
  | { type: 'budget.reset'; client: string | null }
  /** Request: validate and apply a config cluster-wide (admin API). Reply data: Applied; errors carry `invalid_config` or `restart_required`. */
  | { type: 'control.configure'; id: number; incoming: unknown; kind: 'replace' | 'merge' }
  /** Request: every worker's journal, merged newest first. Reply data: JournalEntry[]. */
  | { type: 'control.journal'; id: number }
  /** Request: every worker's stats. Reply data: WorkerStats[]. */
  | { type: 'control.stats'; id: number }
  /** Request: zero every worker's stats. Reply data: null. */
  | { type: 'control.resetStats'; id: number }
  /** Request: `limits.reset` cluster-wide. Reply data: null. */
  | { type: 'control.resetLimits'; id: number; key: string | null }
  /** Request: every worker's bench records since `since`, by arrival. Reply data: BenchRecord[] | null. */
  | { type: 'control.records'; id: number; since: number }
  /** A client was refused and told to wait: the primary passes it on to the other workers (early retries, src/edge/limits.ts). */
  | { type: 'limits.told'; client: string; told: Told }
  | Reply;

export type ReplyData = {
  'metrics.snapshot': MetricsSnapshot;
  'metrics.cluster': string;
  'ledger.add': number;
  'budget.take': Grant;
  'control.apply': null;
  'journal.snapshot': JournalEntry[];
  'control.configure': Applied;
  'control.journal': JournalEntry[];
  'control.resetLimits': null;
  'stats.snapshot': WorkerStats;
  'stats.reset': null;
  'control.stats': WorkerStats[];
  'control.resetStats': null;
  'records.snapshot': BenchRecord[] | null;
  'control.records': BenchRecord[] | null;
};

type Requests<M> = Extract<M, { id: number; type: keyof ReplyData }>;

/** Request/response correlation with a deadline over one IPC channel. */
export class Rpc<Out extends { type: string }> {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(data: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();

  constructor(private readonly send: (msg: Out | Reply) => void) {}

  request<T extends Requests<Out>['type']>(msg: { type: T } & Omit<Extract<Out, { type: T }>, 'id'>, deadlineMs: number): Promise<ReplyData[T]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`IPC ${msg.type} got no reply within ${deadlineMs} ms`));
      }, deadlineMs);
      this.waiting.set(id, { resolve: resolve as (data: unknown) => void, reject, timer });
      this.send({ ...msg, id } as unknown as Out);
    });
  }

  /** Feeds an incoming reply to the request waiting for it. */
  settle(reply: Reply): void {
    const pending = this.waiting.get(reply.id);
    if (pending === undefined) return; // its deadline already passed
    this.waiting.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.data);
    else pending.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
  }

  /** Answers a request with the outcome of `work`. */
  answer(id: number, work: Promise<unknown>): void {
    work.then(
      (data) => this.send({ type: 'reply', id, ok: true, data }),
      (err: Error & { code?: unknown }) => this.send({ type: 'reply', id, ok: false, error: { code: typeof err.code === 'string' ? err.code : 'internal_error', message: err.message } }),
    );
  }

  /** Fails every waiting request (the other side went away). */
  close(reason: string): void {
    for (const [id, pending] of this.waiting) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
      this.waiting.delete(id);
    }
  }
}

/** The deadline of a metrics scrape's fan-out to every worker. */
export const METRICS_DEADLINE_MS = 2_000;

/**
 * The environment variable through which the primary hands the live runtime state (LiveState:
 * config, version, when the scenario and each fault rule started) to each worker: one clock for the cluster.
 */
export const WORKER_CONFIG_ENV = 'LLMSIM_WORKER_CONFIG';

/** How long a reload waits for every worker's acknowledgement. */
export const APPLY_DEADLINE_MS = 5_000;

/** How long a worker waits for the primary's ledger before answering the request unfaulted. */
export const LEDGER_DEADLINE_MS = 1_000;

/** A worker's exit code when it cannot listen on the configured address (the primary then says why, in one line, and exits with it). */
export const EXIT_CANNOT_LISTEN = 2;

/** uWS says only "false": the address is taken by a program without SO_REUSEPORT, or is not local. */
export const cannotListen = (host: string, port: number): string => `llm-simulator: cannot listen on ${host}:${port} (in use by another program, or not a local address)`;
