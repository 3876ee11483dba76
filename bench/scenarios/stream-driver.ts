import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';

export interface DriverOptions {
  port: number;
  /** Concurrent connections, each running one stream after another (keep-alive). */
  streams: number;
  durationMs: number;
  body: string;
  headers: Record<string, string>;
  /** Record TTFT and inter-token gaps (costs client CPU); off for pure load. */
  measure: boolean;
  /** Close each connection this long after its request was sent, instead of reading to the end. */
  abortAfterMs?: number;
  /** Stop after this many streams in all. */
  maxStreams?: number;
  /**
   * Spread the connections' first requests over this long. Lanes that start together stay in
   * step forever (every stream lasts as long), which sends all their tokens in the same
   * millisecond; real traffic does not arrive like that.
   */
  staggerMs?: number;
}

export interface DriverResult {
  streams: number;
  tokens: number;
  seconds: number;
  errors: number;
  ttft: hdr.Histogram;
  itl: hdr.Histogram;
}

const MARKER = '"delta":{"content":';
const END = '\r\n0\r\n\r\n';

/**
 * A lean SSE load driver on raw sockets: HTTP/1.1 keep-alive, one stream at a time per
 * connection, tokens counted by their frame prefix, the response's end found by the chunked
 * terminator. Times are microseconds in hdr-histogram-js histograms.
 */
export function driveStreams(o: DriverOptions): Promise<DriverResult> {
  const ttft = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const itl = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n${Object.entries(o.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}Content-Length: ${Buffer.byteLength(o.body)}\r\n\r\n`;
  const request = head + o.body;
  const start = performance.now();
  const stopAt = start + o.durationMs;
  const maxStreams = o.maxStreams ?? Infinity;
  let started = 0;
  let streams = 0;
  let tokens = 0;
  let errors = 0;

  return new Promise((resolve) => {
    let open = 0;
    const finish = (): void => {
      if (--open === 0) resolve({ streams, tokens, seconds: (performance.now() - start) / 1000, errors, ttft, itl });
    };
    const lane = (): void => {
      open++;
      let socket: Socket;
      let sentAt = 0;
      let last = -1;
      let tail = '';
      const next = (): void => {
        if (performance.now() >= stopAt || started >= maxStreams) return void socket.end();
        started++;
        sentAt = performance.now();
        last = -1;
        tail = '';
        socket.write(request);
        if (o.abortAfterMs !== undefined) {
          setTimeout(() => {
            streams++;
            socket.destroy();
          }, o.abortAfterMs);
        }
      };
      const connectNew = (): void => {
        socket = connect(o.port, '127.0.0.1');
        socket.setNoDelay(true);
        socket.setEncoding('latin1');
        socket.on('connect', next);
        socket.on('data', (chunk: string) => {
          const text = tail + chunk;
          if (o.measure) {
            const now = performance.now();
            let count = 0;
            for (let i = text.indexOf(MARKER, tail.length > MARKER.length ? tail.length - MARKER.length : 0); i !== -1; i = text.indexOf(MARKER, i + MARKER.length)) count++;
            if (count > 0) {
              if (last < 0) ttft.recordValue(Math.round((now - sentAt) * 1000));
              else itl.recordValue(Math.max(1, Math.round((now - last) * 1000)));
              for (let k = 1; k < count; k++) itl.recordValue(1);
              last = now;
              tokens += count;
            }
          } else {
            let i = chunk.indexOf(MARKER);
            while (i !== -1) {
              tokens++;
              i = chunk.indexOf(MARKER, i + MARKER.length);
            }
          }
          tail = text.slice(-32);
          if (tail.endsWith(END)) {
            streams++;
            next();
          }
        });
        socket.on('error', () => errors++);
        socket.on('close', () => {
          // An aborting lane opens a fresh connection for its next stream.
          if (o.abortAfterMs !== undefined && performance.now() < stopAt && started < maxStreams) connectNew();
          else finish();
        });
      };
      connectNew();
    };
    const stagger = o.staggerMs ?? 0;
    for (let i = 0; i < o.streams; i++) {
      if (stagger === 0) lane();
      else setTimeout(lane, (i * stagger) / o.streams);
    }
  });
}

export const percentilesMs = (h: hdr.Histogram) => ({ p50: h.getValueAtPercentile(50) / 1000, p90: h.getValueAtPercentile(90) / 1000, p99: h.getValueAtPercentile(99) / 1000 });
