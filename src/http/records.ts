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
  /**
   * A stream's writes that carried tokens, flat: Unix ms, tokens sent so far, … (at most
   * MAX_RECORDED_CHUNKS writes); the hex FNV-1a digest of the text its tokens carried
   * (src/sim/rng.ts hashString over the pieces in order), and its usage (the completion tokens
   * are the token events sent).
   */
  readonly chunks?: number[];
  readonly digest?: string;
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** The wait a refusal told the client (`retry-after-ms`, else `retry-after` in ms), for the harness's "was it honoured". */
  readonly retryAfterMs?: number;
}

/** Writes recorded per stream: enough for any answer the harness sends, bounded for one that is not. */
export const MAX_RECORDED_CHUNKS = 1024;

/** What a record is made from (src/http/exchange.ts's Exchange). */
export interface Recorded {
  readonly requestId: string;
  readonly route: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** ms after arrival, -1 for none. */
  readonly ttftMs: number;
  readonly chunks: number[] | null;
  readonly sentDigest: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly headers: readonly (readonly [string, string])[];
}

export class BenchRecords {
  private readonly ring: Ring<BenchRecord>;

  constructor(readonly capacity: number) {
    this.ring = new Ring(capacity);
  }

  add(ex: Recorded, status: number, now: number): void {
    const origin = performance.timeOrigin;
    const done = origin + now;
    const record: BenchRecord = { id: ex.requestId, route: ex.route, status, arrived: origin + ex.startedAt, first: ex.ttftMs >= 0 ? origin + ex.startedAt + ex.ttftMs : done, done };
    const { chunks } = ex;
    if (status >= 400) return this.ring.record(withRetryAfter(record, ex.headers));
    if (chunks === null || chunks.length === 0) return this.ring.record(record);
    const unix = chunks.map((v, i) => (i % 2 === 0 ? origin + v : v));
    this.ring.record({ ...record, chunks: unix, digest: (ex.sentDigest >>> 0).toString(16), promptTokens: ex.promptTokens, completionTokens: ex.completionTokens });
  }

  /** The records kept, oldest first, of requests that arrived at or after `since` (Unix ms). */
  read(since: number): BenchRecord[] {
    return this.ring.read().filter((r) => r.arrived >= since);
  }
}

function withRetryAfter(record: BenchRecord, headers: Recorded['headers']): BenchRecord {
  const ms = headers.find(([name]) => name === 'retry-after-ms')?.[1];
  const seconds = headers.find(([name]) => name === 'retry-after')?.[1];
  const wait = ms !== undefined ? Number(ms) : seconds !== undefined ? Number(seconds) * 1000 : NaN;
  return Number.isFinite(wait) ? { ...record, retryAfterMs: wait } : record;
}
