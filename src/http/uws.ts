import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { RequestHeaders } from '../api/context.js';

/**
 * All uWebSockets.js discipline lives here and in sse.ts / app.ts (GUIDE example 6): headers are
 * copied before any asynchronous step, every response has an abort handler, bodies are collected
 * and concatenated once under a size limit, and writes from timers are corked.
 */

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  408: '408 Request Timeout',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
  529: '529 Site Overloaded',
};

export const statusLine = (status: number): string => STATUS_TEXT[status] ?? `${status} Unknown`;

export type HeaderList = readonly (readonly [string, string])[];

export function readHeaders(req: HttpRequest): RequestHeaders {
  return {
    authorization: req.getHeader('authorization'),
    xApiKey: req.getHeader('x-api-key'),
    anthropicVersion: req.getHeader('anthropic-version'),
    requestId: req.getHeader('x-request-id'),
    ttftMs: req.getHeader('x-sim-ttft-ms'),
    itlMs: req.getHeader('x-sim-itl-ms'),
    profile: req.getHeader('x-sim-profile'),
    mode: req.getHeader('x-sim-mode'),
  };
}

/** Writes a complete response. Call inside a cork, or from the request handler itself. */
export function writeResponse(res: HttpResponse, status: number, contentType: string, headers: HeaderList, body: string, close = false): void {
  res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
  for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i]![0], headers[i]![1]);
  res.end(body, close);
}

/** Writes status and headers only; the body follows with write()/end(). */
export function writeHead(res: HttpResponse, status: number, contentType: string, headers: HeaderList): void {
  res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
  for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i]![0], headers[i]![1]);
}

export const enum BodyResult {
  Ok,
  TooLarge,
}

/**
 * Collects the request body. `done` runs once: with the text, or with TooLarge as soon as the
 * limit is passed (the rest of the body is not read). Chunks are copied because uWS reuses their memory.
 */
export function readBody(res: HttpResponse, limit: number, done: (result: BodyResult, text: string) => void): void {
  let chunks: Buffer[] | null = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (chunks === null) return;
    size += chunk.byteLength;
    if (size > limit) {
      chunks = null;
      done(BodyResult.TooLarge, '');
      return;
    }
    if (isLast) {
      const text = chunks.length === 0 ? Buffer.from(chunk).toString('utf8') : Buffer.concat([...chunks, Buffer.from(chunk)]).toString('utf8');
      chunks = null;
      done(BodyResult.Ok, text);
    } else {
      chunks.push(Buffer.from(chunk.slice(0)));
    }
  });
}
