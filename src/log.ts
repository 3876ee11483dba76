import { pino, type DestinationStream, type Logger } from 'pino';
import { jsonString } from './json.js';

export type { Logger };

type SonicBoom = DestinationStream & { write(line: string): boolean; flushSync(): void };

/** pino's numeric level for `info`; access lines are written at this level. */
const INFO = 30;
/**
 * Access lines are handed to the destination in batches of about this many characters (~300
 * lines), or every FLUSH_EVERY_MS. Each hand-over costs the destination a write, its callback
 * and its bookkeeping, whatever the batch holds: with both simulators loaded at once, turning
 * the lines off gained 1.176× req/s in 8 KiB batches and 1.046× in 64 KiB ones (README "Logs").
 */
const BATCH_CHARS = 64 * 1024;
const FLUSH_EVERY_MS = 250;

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
const destinations: SonicBoom[] = [];

/** The current Unix time in ms as text, made once a millisecond: the number is past the small-integer range, so each conversion went through the double printer (~600 instructions). */
let lastTime = 0;
let lastTimeText = '0';
function timeText(): string {
  const now = Date.now();
  if (now !== lastTime) {
    lastTime = now;
    lastTimeText = String(now);
  }
  return lastTimeText;
}

/**
 * Access lines, one per request, in exactly the JSON pino writes, but from a prebuilt prefix and
 * batched (GUIDE example 4). pino's serialiser and its destination's per-line bookkeeping (which
 * re-measures its whole pending buffer on each write) cost ~2.5 µs a line; this costs a few
 * hundred nanoseconds.
 */
export class AccessLog {
  private readonly prefix: string;
  private pending = '';
  /** While set, batches are dropped instead of written (the start-up warm-up's lines). */
  private discarding = false;

  constructor(
    private readonly destination: SonicBoom,
    bindings: Record<string, unknown>,
  ) {
    this.prefix = `,"pid":${process.pid}${Object.entries(bindings).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')},"method":"`;
    accessLogs.push(this);
    setInterval(() => this.flush(), FLUSH_EVERY_MS).unref();
  }

  /**
   * One request's line. `method` is one of the few HTTP verbs uWS routes; `url` and `requestId`
   * come from the client and are escaped. The rest appears only where it applies: the key's name,
   * the model, a generation's token counts and time to first token, an injected fault.
   */
  write(entry: AccessEntry, status: number, ms: number): void {
    let line = `{"level":${INFO},"time":${timeText()}${this.prefix}${entry.method}","path":${jsonString(entry.url)},"status":${status},"ms":${tenths(ms)},"requestId":${entry.ownRequestId ? `"${entry.requestId}"` : jsonString(entry.requestId)}`;
    if (entry.key !== null) line += `,"key":${entry.key.nameJson}`;
    if (entry.modelLabel !== '') line += `,"model":${jsonString(entry.modelLabel)}`;
    if (entry.promptTokens >= 0) line += `,"promptTokens":${entry.promptTokens},"completionTokens":${entry.completionTokens}`;
    if (entry.ttftMs >= 0) line += `,"ttftMs":${tenths(entry.ttftMs)}`;
    if (entry.injected !== '') line += `,"fault":"${entry.injected}"`;
    this.pending += `${line},"msg":"request"}\n`;
    if (this.pending.length >= BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.pending === '') return;
    if (!this.discarding) this.destination.write(this.pending);
    this.pending = '';
  }

  /**
   * Lines made from here on are dropped (`on`), or written again: the warm-up's traffic runs the
   * line's making like any request's, so it is compiled before the first client, but nobody
   * reads about it. Either way, what is pending is dropped.
   */
  discard(on: boolean): void {
    this.discarding = on;
    this.pending = '';
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
  const destination = pino.destination({ dest: 1, sync: !async }) as SonicBoom;
  destinations.push(destination);
  const log = pino({ level, base: { pid: process.pid, ...bindings } }, destination);
  return { log, access: log.isLevelEnabled('info') ? new AccessLog(destination, bindings) : null };
}

/** Writes out everything pending; called before a process exits. */
export function flushLog(): void {
  for (const access of accessLogs) access.flush();
  for (const destination of destinations) {
    try {
      destination.flushSync();
    } catch {
      // Nothing pending, or stdout already closed: nothing more can be done.
    }
  }
}
