import { pino, type DestinationStream, type Logger } from 'pino';
import { asciiJson, asciiJsonString, flatLatin1 } from './json.js';

export type { Logger };

/** Node's Buffer writes Latin-1 with this method (untyped; `write(text, offset, 'latin1')` looks the encoding up first). */
type Latin1Writable = Buffer & { latin1Write(text: string, offset: number): number };

/** pino's destination (a SonicBoom) in `buffer` content mode: it is handed bytes, never measures or converts text. */
type ByteDestination = { write(bytes: Buffer): boolean; flushSync(): void };

/**
 * Access lines are handed to the destination in batches of up to this many bytes (~300 lines),
 * or every FLUSH_EVERY_MS. Each hand-over costs the destination a write, its callback and its
 * bookkeeping, whatever the batch holds: with both simulators loaded at once, turning the lines
 * off gained 1.176× req/s in 8 KiB batches and 1.046× in 64 KiB ones (README "Logs").
 */
const BATCH_BYTES = 64 * 1024;
const FLUSH_EVERY_MS = 250;

/**
 * A process's one way to stdout: pino's lines and the access lines, as bytes in a batch buffer
 * that is handed to the destination whole. Batches of text cost more than making the lines: the
 * destination measured a 64 KiB string's UTF-8 length on every hand-over (flattening ~300 lines'
 * joined pieces) and converted it again to write it. pino's own lines (lifecycle, warnings,
 * errors: rare) are handed over at once, so they are never late and the batch holds only access
 * lines between hand-overs.
 */
export class LineSink {
  private bytes = Buffer.allocUnsafeSlow(BATCH_BYTES);
  private used = 0;

  constructor(private readonly destination: ByteDestination) {}

  /** The batch, with at least `bytes` free after `used` (the batch handed over first if need be). */
  private room(bytes: number): Buffer {
    if (this.used + bytes > this.bytes.length) {
      this.handOver();
      if (bytes > this.bytes.length) this.bytes = Buffer.allocUnsafeSlow(bytes);
    }
    return this.bytes;
  }

  /** Appends text (whole lines) to the batch as UTF-8 (at most 3 bytes a UTF-16 unit). */
  append(text: string): void {
    const b = this.room(text.length * 3);
    this.used = this.used + b.write(text, this.used);
  }

  /** Appends lines of ASCII alone (access lines): a byte a character, copied without encoding. */
  appendAscii(text: string): void {
    const b = this.room(text.length) as Latin1Writable;
    this.used = this.used + b.latin1Write(text, this.used);
  }

  /** Gives the batch to the destination (which owns it from then on) and starts a new one. */
  handOver(): void {
    if (this.used === 0) return;
    this.destination.write(this.bytes.subarray(0, this.used));
    this.bytes = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.used = 0;
  }

  /** Forgets the batch unwritten. */
  drop(): void {
    this.used = 0;
  }

  /** pino's stream interface: a log line, written out at once. */
  write(line: string): boolean {
    this.append(line);
    this.handOver();
    return true;
  }

  /** Writes out everything, synchronously (before the process exits). */
  flushSync(): void {
    this.handOver();
    this.destination.flushSync();
  }
}

const accessLogs: AccessLog[] = [];

/**
 * Milliseconds to one decimal, as lines and headers write durations: two small integers joined
 * (`toFixed`, or a fraction's shortest form, cost several times as much per request).
 */
export function tenths(ms: number): string {
  const t = Math.round(ms * 10);
  return `${(t / 10) | 0}.${t % 10}`;
}

/** What an access line reports of a request (src/http/exchange.ts's Exchange). */
export interface AccessEntry {
  readonly method: string;
  readonly url: string;
  readonly requestId: string;
  /** Whether the request id is the simulator's own (plain text by construction: quoted without a check), not one the client sent. */
  readonly ownRequestId: boolean;
  /** The configured key it presented (its name is logged, never the key). */
  readonly key: { readonly nameJson: string } | null;
  /** The model as a metrics label, '' off the API routes. */
  readonly modelLabel: string;
  /** A generation's prompt and completion tokens (as sent so far), -1 for other requests. */
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** When its first token left, ms after the request arrived, -1 for none. */
  readonly ttftMs: number;
  /** The fault injected into it (a catalogue name), '' for none. */
  readonly injected: string;
}
const sinks: LineSink[] = [];

/** `000` to `999`: the millisecond part of a time. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * The current Unix time in ms as text. The number is past the small-integer range, so converting
 * it went through the double printer (~1,000 instructions, once a millisecond: every request at
 * low rates); the seconds (a small integer until 2038) are converted once a second instead, and
 * the milliseconds looked up.
 */
let lastSecond = -1;
let lastSecondText = '';
function timeText(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondText = String(second);
  }
  return lastSecondText + MILLIS[now - second * 1000]!;
}

/**
 * Access lines, one per request, in exactly the JSON pino writes, but from a prebuilt prefix and
 * batched (GUIDE example 4). pino's serialiser and its destination's per-line bookkeeping (which
 * re-measures its whole pending buffer on each write) cost ~2.5 µs a line. A line is ASCII
 * alone (what clients send is escaped past U+007E), so it is copied into the batch as Latin-1,
 * without a UTF-8 pass. (Writing the line's pieces into the batch character by character, with
 * no string made, cost twice as much: ~35 instructions a character in optimised code.)
 */
export class AccessLog {
  private readonly prefix: string;
  /** While set, batches are dropped instead of written (the start-up warm-up's lines). */
  private discarding = false;
  /**
   * The parts of a line that repeat request after request (a load tool sends one route, with one
   * key, for one model), kept flat from the last line: each part made anew was a dozen joins,
   * two quoting loops and as many pieces for the batch's copy to walk (~2.1k instructions a line).
   */
  private lastMethod = '';
  private lastUrl = '';
  private lastStatus = 0;
  private lastRoute = '';
  private lastKey: AccessEntry['key'] = null;
  private lastModel = '';
  private lastClient = '';

  constructor(
    private readonly sink: LineSink,
    bindings: Record<string, unknown>,
  ) {
    this.prefix = asciiJson(`,"pid":${process.pid}${Object.entries(bindings).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')},"method":"`);
    accessLogs.push(this);
    setInterval(() => this.flush(), FLUSH_EVERY_MS).unref();
  }

  /**
   * One request's line. `method` is one of the few HTTP verbs uWS routes; `url` and `requestId`
   * come from the client and are escaped. The rest appears only where it applies: the key's name,
   * the model, a generation's token counts and time to first token, an injected fault.
   */
  write(entry: AccessEntry, status: number, ms: number): void {
    let line = `{"level":30,"time":${timeText()}${this.prefix}${this.route(entry.method, entry.url, status)}${tenths(ms)},"requestId":${entry.ownRequestId ? `"${entry.requestId}"` : asciiJsonString(entry.requestId)}${this.client(entry.key, entry.modelLabel)}`;
    if (entry.promptTokens >= 0) line += `,"promptTokens":${entry.promptTokens},"completionTokens":${entry.completionTokens}`;
    if (entry.ttftMs >= 0) line += `,"ttftMs":${tenths(entry.ttftMs)}`;
    if (entry.injected !== '') line += `,"fault":"${entry.injected}"`;
    this.sink.appendAscii(`${line},"msg":"request"}\n`);
    // Dropped at once: a pino line in the meantime would hand the batch over.
    if (this.discarding) this.sink.drop();
  }

  /** `POST","path":"/v1/…","status":200,"ms":` */
  private route(method: string, url: string, status: number): string {
    if (status !== this.lastStatus || url !== this.lastUrl || method !== this.lastMethod) {
      this.lastMethod = method;
      this.lastUrl = url;
      this.lastStatus = status;
      this.lastRoute = flatLatin1(`${method}","path":${asciiJsonString(url)},"status":${status},"ms":`);
    }
    return this.lastRoute;
  }

  /** `,"key":"…","model":"…"`, each where it applies. */
  private client(key: AccessEntry['key'], model: string): string {
    if (key !== this.lastKey || model !== this.lastModel) {
      this.lastKey = key;
      this.lastModel = model;
      this.lastClient = flatLatin1(`${key !== null ? `,"key":${key.nameJson}` : ''}${model !== '' ? `,"model":${asciiJsonString(model)}` : ''}`);
    }
    return this.lastClient;
  }

  flush(): void {
    this.sink.handOver();
  }

  /**
   * Lines made from here on are dropped (`on`), or written again: the warm-up's traffic runs the
   * line's making like any request's, so it is compiled before the first client, but nobody
   * reads about it. Either way, what is pending is dropped.
   */
  discard(on: boolean): void {
    this.discarding = on;
    this.sink.drop();
  }
}

export interface Logging {
  readonly log: Logger;
  /** Null when the level is above info (access lines are info). */
  readonly access: AccessLog | null;
}

/**
 * pino JSON to stdout. HTTP workers (`async`) hand their output to a background write so a slow
 * stdout never stalls a request; the primary's few lifecycle lines are written at once.
 */
export function createLogging(level: string, bindings: Record<string, unknown>, async = false): Logging {
  const sink = new LineSink(pino.destination({ dest: 1, sync: !async, contentMode: 'buffer' }) as unknown as ByteDestination);
  sinks.push(sink);
  const log = pino({ level, base: { pid: process.pid, ...bindings } }, sink);
  return { log, access: log.isLevelEnabled('info') ? new AccessLog(sink, bindings) : null };
}

/** Writes out everything pending; called before a process exits. */
export function flushLog(): void {
  for (const access of accessLogs) access.flush();
  for (const sink of sinks) {
    try {
      sink.flushSync();
    } catch {
      // Nothing pending, or stdout already closed: nothing more can be done.
    }
  }
}
