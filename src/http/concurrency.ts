import { z } from '#zod';
import { SimError } from '../errors.js';
import type { Cell } from '../metrics/metrics.js';
import type { Exchange } from './exchange.js';

/**
 * `maxConcurrentRequests` for the whole cluster: each worker admits its share (the limit divided
 * by the workers, rounded down, the first workers taking the remainder), so the cluster never
 * runs more than the limit and no request waits for an IPC round trip. The cost is that a
 * worker whose connections carry more of the load refuses (or queues) while another has room;
 * SO_REUSEPORT spreads connections evenly, so the shares fill alike under load.
 */
export const concurrencySchema = z
  .object({
    /** Beyond the limit: `queue` waits in a bounded FIFO queue for a free place, `reject` answers the dialect's overload error at once. */
    mode: z.enum(['queue', 'reject']).default('queue'),
    /** The queue's bound, for the whole cluster (shared out like the limit); a request beyond it is refused. */
    queueSize: z.number().int().min(0).max(1_000_000).default(10_000),
  })
  .strict()
  .prefault({});

export type ConcurrencyConfig = z.infer<typeof concurrencySchema>;

/** A worker's share of a cluster-wide count: `total` split over `workers`, the first `total % workers` workers taking one more. */
export const shareOf = (total: number, workers: number, worker: number): number => {
  const n = Math.max(1, workers);
  return Math.floor(total / n) + (worker % n < total % n ? 1 : 0);
};

const overloaded = (limit: number): SimError => new SimError('model_overloaded', `The server is handling its maximum of ${limit} concurrent requests; try again shortly.`);

interface Waiting {
  readonly ex: Exchange;
  readonly go: () => void;
}

/** Admits generation requests up to this worker's share; the rest wait (bounded) or are refused. */
export class ConcurrencyGate {
  private running = 0;
  private waiting = 0;
  private readonly queue: Waiting[] = [];
  private head = 0;

  private limit = 0;
  private queueSize = 0;
  private mode: ConcurrencyConfig['mode'] = 'queue';
  /** The cluster-wide limit, for the refusal's message. */
  private clusterLimit = 0;

  constructor(private readonly cells: { readonly running: Cell; readonly queued: Cell; readonly refused: Cell }) {}

  /** This worker's share of `maxConcurrentRequests` and of the queue; on a reload the counts carry over. */
  configure(maxConcurrentRequests: number, concurrency: ConcurrencyConfig, workers: number, worker: number): void {
    this.clusterLimit = maxConcurrentRequests;
    this.limit = shareOf(maxConcurrentRequests, workers, worker);
    this.queueSize = shareOf(concurrency.queueSize, workers, worker);
    this.mode = concurrency.mode;
  }

  /** Takes a place for `ex` if there is one (true: run it now); otherwise call `waitOrRefuse`. */
  tryEnter(ex: Exchange): boolean {
    if (this.running >= this.limit) return false;
    this.admit(ex);
    return true;
  }

  /** A request that found no place: queued to `go` when one frees, or refused with the dialect's overload error. */
  waitOrRefuse(ex: Exchange, go: () => void): void {
    if (this.mode === 'reject' || this.waiting >= this.queueSize) {
      this.cells.refused.inc();
      return ex.replyError(overloaded(this.clusterLimit));
    }
    this.queue.push({ ex, go });
    this.waiting++;
    this.cells.queued.inc();
    ex.gate = this;
    ex.gateQueued = true;
  }

  /** `ex` finished: a place it held goes to the longest waiting request; one that was still waiting leaves the queue. */
  left(ex: Exchange): void {
    if (ex.gateQueued) return this.unqueue();
    this.running--;
    this.cells.running.dec();
    while (this.head < this.queue.length && this.running < this.limit) {
      const next = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Waiting;
      // One that finished while it waited (timed out, client gone) has left already.
      if (next.ex.finished) continue;
      this.unqueue();
      this.admit(next.ex);
      next.ex.later(next.go);
    }
    // Emptied only when something was queued: setting an array's length goes through V8's
    // runtime even when it does not change (~800 instructions on every request).
    if (this.head > 0 && this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
  }

  private unqueue(): void {
    this.waiting--;
    this.cells.queued.dec();
  }

  private admit(ex: Exchange): void {
    this.running++;
    this.cells.running.inc();
    ex.gate = this;
    ex.gateQueued = false;
  }
}
