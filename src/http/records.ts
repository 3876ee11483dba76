import { Ring } from '../ring.js';

/**
 * Per-request timing records for the gateway benchmark (`benchRecords`, README "Gateway
 * benchmark"): when each request arrived, when its first token (or reply) left, when it ended,
 * in Unix ms to the microsecond, keyed by request id. The harness pairs them with its own
 * timestamps to measure what a gateway in between adds per request, not as a difference of two
 * distributions. A bounded ring per worker; off (0), nothing is kept and the endpoint answers 404.
 */
export interface BenchRecord {
  readonly id: string;
  readonly route: string;
  readonly status: number;
  /** Unix ms: the request's handler was entered. */
  readonly arrived: number;
  /** Unix ms: its first token left (a stream), or its reply (anything else). */
  readonly first: number;
  /** Unix ms: its last byte left (or the client went away). */
  readonly done: number;
}

/** What a record is made from (src/http/exchange.ts's Exchange). */
export interface Recorded {
  readonly requestId: string;
  readonly route: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** ms after arrival, -1 for none. */
  readonly ttftMs: number;
}

export class BenchRecords {
  private readonly ring: Ring<BenchRecord>;

  constructor(readonly capacity: number) {
    this.ring = new Ring(capacity);
  }

  add(ex: Recorded, status: number, now: number): void {
    const origin = performance.timeOrigin;
    const done = origin + now;
    this.ring.record({ id: ex.requestId, route: ex.route, status, arrived: origin + ex.startedAt, first: ex.ttftMs >= 0 ? origin + ex.startedAt + ex.ttftMs : done, done });
  }

  /** The records kept, oldest first, of requests that arrived at or after `since` (Unix ms). */
  read(since: number): BenchRecord[] {
    return this.ring.read().filter((r) => r.arrived >= since);
  }
}
