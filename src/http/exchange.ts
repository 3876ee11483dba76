import { performance } from 'node:perf_hooks';
import type { HttpResponse } from 'uWebSockets.js';
import type { Dialect } from '../api/dialect.js';
import type { AccessLog, Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { SimError } from '../errors.js';
import type { Capacity } from '../sim/capacity.js';
import type { Scheduler } from '../sim/scheduler.js';
import type { Admission } from '../faults/admission.js';
import type { FaultSpec } from '../faults/catalogue.js';
import type { ApiKey } from '../edge/auth.js';
import type { Reservation } from './limits.js';
import { writeFaulted } from './faults.js';
import { writeHead, writeResponse } from './uws.js';
import { compressBody, CompressedStream, encodedLines, VARY, type CompressionConfig, type Encoding } from './compress.js';
import type { ConcurrencyGate } from './concurrency.js';
import type { Span } from '@opentelemetry/api';
import { endSpan, type Tracing } from '../tracing/tracing.js';
import type { BenchRecords } from './records.js';

/** Per-process services every exchange reports to. */
export interface Services {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Null when access logging is off (and during the start-up warm-up). */
  access: AccessLog | null;
  readonly scheduler: Scheduler;
  readonly capacity: Capacity;
  /** The fault decision of every POST request (src/faults/admission.ts); none during the warm-up. */
  admission: Admission;
  /** config.faults.announce: faulted responses carry x-sim-fault-injected. */
  // These three follow the runtime snapshot (Server.apply).
  announceFaults: boolean;
  timeScale: number;
  /** config.streamStallTimeoutMs. */
  stallTimeoutMs: number;
  /** config.compression when enabled, else null (nothing is read or checked for it). */
  compression: CompressionConfig | null;
  /** Traces when `tracing.endpoint` is set, else null (no span is made). */
  tracing: Tracing | null;
  /** config.metrics.serverTiming: delivered generations carry `server-timing`. */
  serverTiming: boolean;
  /** The gateway benchmark's records (`benchRecords`), null when none are kept. */
  records: BenchRecords | null;
  /** Exchanges not yet finished; drained on shutdown. */
  active: number;
  /** The same exchanges, for cutting them short when the drain deadline passes. */
  readonly open: OpenExchanges;
  onIdle: (() => void) | null;
}

export const JSON_TYPE = 'application/json';

/**
 * The exchanges not yet finished, in an array where each knows its place: adding one is a push,
 * removing one moves the last into its place. A Set hashed every new exchange and grew and
 * shrank its table as requests came and went (~900 instructions a request under load).
 */
export class OpenExchanges {
  private readonly list: Exchange[] = [];

  get size(): number {
    return this.list.length;
  }

  add(ex: Exchange): void {
    ex.openIndex = this.list.length;
    this.list.push(ex);
  }

  /** Removes an exchange that was added (and not removed since). */
  delete(ex: Exchange): void {
    const last = this.list.pop()!;
    if (last !== ex) {
      this.list[ex.openIndex] = last;
      last.openIndex = ex.openIndex;
    }
    ex.openIndex = -1;
  }

  /** The open exchanges as a copy: going through them may end (and so remove) some. */
  all(): Exchange[] {
    return this.list.slice();
  }
}

/** WIRE A8: OpenAI's own wording of a 500. */
const INTERNAL_ERROR = new SimError('internal_error', 'The server had an error while processing your request. Sorry about that!');

/**
 * One request and its response, from the handler to the last byte (or the client's abort). The
 * only place that records the access log line and the request metrics, so every path through
 * the server accounts the same way.
 */
export class Exchange {
  aborted = false;
  finished = false;
  /** Set once SSE status and headers are out: errors must then go in-band. */
  streaming = false;
  /** Set while a delivery (stream or delayed reply) is under way, so an abort can cancel it. */
  delivery: { cancel(): void } | null = null;
  /**
   * Response headers as joined header lines (src/http/uws.ts): the request id, the dialect's fixed
   * headers, the caller's `x-request-id`, and what the rate limits add to an admitted request.
   */
  headerLines: string;
  /** Its place in `services.open` (OpenExchanges), -1 once finished. */
  openIndex = -1;
  /** More response headers, after `headerLines` (a fault's, a refusal's `retry-after`). */
  readonly headers: (readonly [string, string])[] = [];
  /**
   * A fault admission gave this exchange that acts on its answer (a stream fault, or one that
   * mangles the body), for the delivery to carry out; null for nearly every request.
   */
  fault: FaultSpec | null = null;
  /** The model as a metrics label: the catalogue's id (or `unknown`) once an API request's body is read, '' elsewhere. */
  modelLabel = '';
  /**
   * The gateway benchmark's view of a stream (`benchRecords` on, else null): per write that
   * carried tokens, performance.now() and the tokens sent so far, flat; and an FNV-1a digest of
   * the answer's text as sent (src/sim/rng.ts hashString, continued token by token).
   */
  chunks: number[] | null = null;
  sentDigest = 0x811c9dc5;
  /** A generation's tokens and time to first token (ms), for the access line; -1 until known. */
  promptTokens = -1;
  completionTokens = -1;
  ttftMs = -1;
  /** The fault injected into this request (its catalogue name), '' for none. */
  injected = '';
  /** Why its generation ended (stop, length, abort), '' when nothing was generated. */
  finishReason = '';
  /** Its trace span, when tracing is on. */
  span: Span | null = null;
  /** The configured API key the request presented (auth mode `keys`), else null. */
  key: ApiKey | null = null;
  /** Set by the rate limits: what the request reserved, to settle once its tokens are known. */
  reservation: Reservation | null = null;
  readonly startedAt = performance.now();
  /** Whether `requestId` is the simulator's own rather than the client's `x-request-id` (src/log.ts). */
  readonly ownRequestId: boolean;
  /** The concurrency gate holding a place for this exchange, or a place in its queue (`gateQueued`). */
  gate: ConcurrencyGate | null = null;
  gateQueued = false;
  /** While its body is still arriving (`timeouts.bodyMs` applies). */
  readingBody = false;
  /** The snapshot's `compression` when it was on as the request arrived, and what the client accepts (src/http/compress.ts). */
  compression: CompressionConfig | null = null;
  encoding: Encoding | null = null;
  /** The stream's compressor, when its events are compressed (`compression.streams`). */
  private compressor: CompressedStream | null = null;

  constructor(
    readonly res: HttpResponse,
    readonly services: Services,
    readonly method: string,
    readonly route: string,
    readonly url: string,
    readonly dialect: Dialect,
    readonly requestId: string,
    callerRequestId: string,
    /** The CORS lines of this request (src/edge/cors.ts), or the dialect's own expose line when CORS is off. */
    edgeLines: string,
  ) {
    this.ownRequestId = requestId !== callerRequestId;
    this.headerLines = `\r\n${dialect.requestIdHeader}: ${requestId}${dialect.staticLines}${edgeLines}${callerRequestId !== '' && dialect.requestIdHeader !== 'x-request-id' ? `\r\nx-request-id: ${callerRequestId}` : ''}`;
    if (services.records !== null) this.chunks = [];
    services.active++;
    services.open.add(this);
    res.onAborted(() => this.abort());
  }

  private abort(): void {
    this.aborted = true;
    if (this.compressor !== null) this.compressor.abort();
    if (this.delivery !== null) {
      this.delivery.cancel();
      this.delivery = null;
    }
    this.finish(499);
  }

  replyJson(status: number, body: string, close = false): void {
    if (this.aborted || this.finished) return;
    if (this.fault !== null && status < 400) return writeFaulted(this, status, body);
    if (this.compression !== null && Buffer.byteLength(body) >= this.compression.minBytes) this.writeCompressible(status, body, close);
    else this.writeResponse(status, JSON_TYPE, body, close);
    this.finish(status);
  }

  /** A JSON body large enough to compress: compressed when the client accepts an encoding, and marked `vary` either way. */
  private writeCompressible(status: number, body: string, close: boolean): void {
    const { encoding } = this;
    this.writeHead(status, JSON_TYPE, encoding === null ? VARY : encodedLines(encoding));
    this.res.end(encoding === null ? body : compressBody(encoding, body), close);
  }

  /**
   * A stream about to begin: its events are compressed from here on when `compression.streams`
   * applies (never under a fault, whose bytes are the fault's). The header lines that say so.
   */
  compressStream(): string {
    const { compression } = this;
    if (compression === null || !compression.streams || this.fault !== null) return '';
    if (this.encoding === null) return VARY;
    this.compressor = new CompressedStream(this.res, this.encoding);
    return encodedLines(this.encoding);
  }

  /** Whether a begun stream's events go through a compressor (`compressStream`). */
  get compressing(): boolean {
    return this.compressor !== null;
  }

  /** Writes body bytes of a begun stream (through its compressor when it has one); false when uWS reports backpressure. */
  write(data: Uint8Array | string): boolean {
    return this.compressor === null ? this.res.write(data) : this.compressor.write(data);
  }

  /** Writes a begun stream's last bytes and ends it. */
  end(data: Uint8Array | string): void {
    if (this.compressor === null) this.res.end(data);
    else this.compressor.end(data);
  }

  /** Writes a complete response with this exchange's headers. */
  writeResponse(status: number, contentType: string, body: string, close = false): void {
    writeResponse(this.res, status, contentType, this.linesNow(), this.headers, body, close);
  }

  /** Writes status and this exchange's headers (and `more` joined lines); the body follows. */
  writeHead(status: number, contentType: string, more = ''): void {
    writeHead(this.res, status, contentType, this.linesNow(), this.headers, more);
  }

  /** The header lines as they leave now: OpenAI answers with `openai-processing-ms`, its time so far (WIRE A9). */
  private linesNow(): string {
    return this.dialect.name === 'openai' ? `${this.headerLines}\r\nopenai-processing-ms: ${Math.round(performance.now() - this.startedAt)}` : this.headerLines;
  }

  /**
   * Runs `work` for this exchange from outside the request handler (a promise, the pool, IPC):
   * skipped once the client has gone (uWS forbids touching an aborted response), corked, and
   * contained: whatever it throws ends this exchange, never the process.
   */
  later(work: () => void): void {
    if (this.aborted || this.finished) return;
    this.res.cork(() => {
      try {
        work();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /**
   * Ends the exchange with what went wrong: a SimError as its dialect's error, anything else
   * logged and answered as an internal error (in-band once a stream has begun).
   */
  fail(err: unknown): void {
    if (this.aborted || this.finished) return;
    if (err instanceof SimError && !this.streaming) return this.replyError(err);
    if (!(err instanceof SimError)) this.services.log.error({ err, requestId: this.requestId, route: this.route }, 'unhandled error in request');
    this.cutShort(err instanceof SimError ? err : INTERNAL_ERROR);
  }

  /** Ends the exchange now with `err`: in-band when a stream has begun, as an error response otherwise (closing the connection after it if `close`). */
  cutShort(err: SimError, close = false): void {
    if (this.aborted || this.finished) return;
    const delivery = this.delivery;
    this.delivery = null;
    delivery?.cancel();
    this.res.cork(() => {
      if (!this.streaming) return this.replyError(err, close);
      this.end(this.dialect.streamErrorFrame(err, this.requestId));
      this.finish(200);
    });
  }

  replyError(err: SimError, close = false): void {
    this.replyJson(this.dialect.status(err), this.dialect.errorBody(err, this.requestId), close);
  }

  /** Accounts the exchange once: metrics, access log, drain bookkeeping. 499 = client went away. */
  finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    this.services.open.delete(this);
    if (this.gate !== null) {
      const gate = this.gate;
      this.gate = null;
      gate.left(this);
    }
    const now = performance.now();
    const seconds = (now - this.startedAt) / 1000;
    const { services } = this;
    if (services.records !== null) services.records.add(this, status, now);
    services.metrics.request(this.method, this.route, status, seconds, this.modelLabel);
    if (services.access !== null) services.access.write(this, status, seconds * 1000);
    if (this.span !== null) endSpan(this.span, this, status);
    if (--services.active === 0 && services.onIdle !== null) services.onIdle();
  }
}
