import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { RequestHeaders } from '../api/context.js';
import { FrameBuffer } from '../sim/frames.js';

/**
 * All uWebSockets.js discipline lives here and in sse.ts / app.ts (GUIDE example 6): headers are
 * copied before any asynchronous step, every response has an abort handler, bodies are collected
 * and concatenated once under a size limit, and writes from timers are corked.
 */

/**
 * A header's name (or a constant status line) as the bytes uWebSockets.js takes. A string argument
 * is converted to UTF-8 on every call (V8's Utf8Length, then a copy: several hundred instructions
 * under callgrind); bytes are read in place. A plain ArrayBuffer rather than a view: uWS asks a
 * view for its buffer, length and offset, ~118 instructions a call more (callgrind, 8 header
 * reads a request: 19.8k against 18.8k for a bare server).
 */
function headerName(name: string): ArrayBuffer {
  const bytes = new ArrayBuffer(name.length);
  new Uint8Array(bytes).set(Buffer.from(name, 'latin1'));
  return bytes;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  204: '204 No Content',
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

/** Status lines as bytes (see headerName), made once per status: a status is a number below 1,000. */
const STATUS_LINES: (ArrayBuffer | undefined)[] = [];
const statusLine = (status: number): ArrayBuffer => (STATUS_LINES[status] ??= headerName(STATUS_TEXT[status] ?? `${status} Unknown`));

const CONTENT_TYPE = headerName('content-type');

const noop = (): void => {};

/**
 * The request's method in upper case. uWS hands out a new lower-case string per call; the common
 * verbs map to constants, so what keys the metrics is a string with its hash already computed.
 */
export function methodOf(req: HttpRequest): string {
  const raw = req.getMethod();
  switch (raw) {
    case 'post':
      return 'POST';
    case 'get':
      return 'GET';
    case 'head':
      return 'HEAD';
    case 'options':
      return 'OPTIONS';
    default:
      return raw.toUpperCase();
  }
}

/**
 * The request's declared `content-length`, 0 when absent or not a plain decimal count (uWS frames
 * the body by it and refuses a malformed one itself; here it only sizes the body's buffer and
 * refuses an oversized body before a byte is read). Digits read in a loop: `Number()` of a
 * header's fresh string went through V8's runtime (~600 instructions a request).
 */
export function contentLengthOf(req: HttpRequest): number {
  const text = req.getHeader(HEADER.contentLength);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return 0;
    n = n * 10 + digit;
  }
  return n;
}

export type HeaderList = readonly (readonly [string, string])[];

/** Every request header a request's path reads, by its name as bytes. */
export const HEADER = {
  authorization: headerName('authorization'),
  xApiKey: headerName('x-api-key'),
  anthropicVersion: headerName('anthropic-version'),
  requestId: headerName('x-request-id'),
  ttftMs: headerName('x-sim-ttft-ms'),
  itlMs: headerName('x-sim-itl-ms'),
  profile: headerName('x-sim-profile'),
  mode: headerName('x-sim-mode'),
  fault: headerName('x-sim-fault'),
  origin: headerName('origin'),
  contentLength: headerName('content-length'),
  acceptEncoding: headerName('accept-encoding'),
  traceparent: headerName('traceparent'),
  tracestate: headerName('tracestate'),
} as const;

/**
 * The request headers the routes read: the `x-sim-*` ones only when `simHeaders`
 * (config.control.headers); the key headers only when `keys` (keys are checked, or the route
 * answers in the dialect they name) and `anthropic-version` only when `anthropic` (the route is
 * Anthropic's, or answers in the dialect it names). Each read is a native call of ~400
 * instructions, so an OpenAI route without keys skips three. Of the two key headers, the
 * answering dialect's own is read first (Anthropic's `x-api-key`, OpenAI's `authorization`) and
 * the other only when it is absent: a vendor's client sends one, which then costs one read. A
 * request carrying both is checked with the dialect's own.
 */
export function readHeaders(req: HttpRequest, simHeaders: boolean, keys = true, anthropic = true): RequestHeaders {
  let authorization = '';
  let xApiKey = '';
  if (keys && anthropic) {
    xApiKey = req.getHeader(HEADER.xApiKey);
    if (xApiKey === '') authorization = req.getHeader(HEADER.authorization);
  } else if (keys) {
    authorization = req.getHeader(HEADER.authorization);
    if (authorization === '') xApiKey = req.getHeader(HEADER.xApiKey);
  }
  // One object literal of one shape either way (no spreads on the hot path).
  return {
    authorization,
    xApiKey,
    anthropicVersion: anthropic ? req.getHeader(HEADER.anthropicVersion) : '',
    requestId: req.getHeader(HEADER.requestId),
    ttftMs: simHeaders ? req.getHeader(HEADER.ttftMs) : '',
    itlMs: simHeaders ? req.getHeader(HEADER.itlMs) : '',
    profile: simHeaders ? req.getHeader(HEADER.profile) : '',
    mode: simHeaders ? req.getHeader(HEADER.mode) : '',
    fault: simHeaders ? req.getHeader(HEADER.fault) : '',
  };
}

/**
 * Writes the status line and every header in one native call. uWebSockets.js converts each string
 * argument to UTF-8 on its own (two per `writeHeader`: ~1,000 instructions a header under
 * callgrind, most of what six rate-limit headers cost), so the headers travel as *joined header
 * lines* (`\r\nname: value` each) in the value of the first. The bytes on the wire are exactly
 * those of one `writeHeader` per header (`name: value\r\n` each, which uWS writes unchecked
 * either way). `lines` come first, then `headers`, then `more`.
 */
function writeStatusAndHeaders(res: HttpResponse, status: number, contentType: string, lines: string, headers: HeaderList, more: string): void {
  let value = contentType + lines;
  for (let i = 0; i < headers.length; i++) value += `\r\n${headers[i]![0]}: ${headers[i]![1]}`;
  res.writeStatus(statusLine(status)).writeHeader(CONTENT_TYPE, value + more);
}

/** Writes a complete response (headers as joined `lines`, then a list). Call inside a cork, or from the request handler itself. */
export function writeResponse(res: HttpResponse, status: number, contentType: string, lines: string, headers: HeaderList, body: string, close = false): void {
  writeStatusAndHeaders(res, status, contentType, lines, headers, '');
  res.end(utf8Bytes(body), close);
}

/**
 * Where a JSON body is encoded as UTF-8 for uWS, one buffer for every response of the process
 * (not the streams' own: a reply can be written while a stream's frames are assembled). A string
 * argument is converted by V8's Utf8Value (measured, copied to a new allocation, freed), ~500
 * instructions more for a chat body than encoding it here (callgrind); for the short header
 * value the bytes cost ~760 more, so headers go as text. uWS copies what it is given before the
 * call returns, so the next reply may reuse the buffer (the stream frames rely on the same).
 */
const BODY = new FrameBuffer();

function utf8Bytes(text: string): Uint8Array {
  BODY.reset();
  BODY.text(text);
  return BODY.view();
}

/** A response to HEAD: the headers GET would send, `content-length` included, and no body. */
export function writeBodiless(res: HttpResponse, status: number, contentType: string, bodyLength: number): void {
  // This uWS build does not count endWithoutBody as responding and aborts the process without a handler.
  res.onAborted(noop);
  res.writeStatus(statusLine(status)).writeHeader(CONTENT_TYPE, contentType);
  res.endWithoutBody(bodyLength);
}

/** A 204: joined header `lines` (at least one) and no body, without a content-length (RFC 9110 forbids one on 204). */
export function writeNoContent(res: HttpResponse, lines: string): void {
  // This uWS build does not count endWithoutBody as responding and aborts the process without a handler.
  res.onAborted(noop);
  const first = lines.indexOf(': ');
  res.writeStatus(statusLine(204)).writeHeader(lines.slice(2, first), lines.slice(first + 2));
  res.endWithoutBody();
}

/** Writes status and headers only (joined `lines`, a list, then `more` joined lines); the body follows with write()/end(). */
export function writeHead(res: HttpResponse, status: number, contentType: string, lines: string, headers: HeaderList, more = ''): void {
  writeStatusAndHeaders(res, status, contentType, lines, headers, more);
}

export const enum BodyResult {
  Ok,
  TooLarge,
}

/**
 * Collects the request body. `done` runs once: with the text, or with TooLarge as soon as the
 * limit is passed (the rest of the body is not read). Chunks are copied (uWS reuses their
 * memory) into one buffer, sized by content-length when given and doubled when outgrown: a body
 * sent a byte per packet costs one allocation, not one per byte (a Buffer per 1-byte chunk
 * grew a worker's RSS by 116 MB for a 1 MB body, and the allocator did not return it).
 */
export function readBody(res: HttpResponse, limit: number, declaredLength: number, done: (result: BodyResult, text: string) => void): void {
  let buffer: Buffer | null = null;
  let size = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished) return;
    const n = chunk.byteLength;
    if (size + n > limit) {
      finished = true;
      buffer = null;
      done(BodyResult.TooLarge, '');
      return;
    }
    if (isLast && buffer === null) {
      finished = true;
      done(BodyResult.Ok, UTF8.decode(chunk));
      return;
    }
    if (buffer === null || size + n > buffer.length) {
      const wanted = Math.max(size + n, buffer === null ? Math.min(declaredLength > 0 ? declaredLength : INITIAL_BODY_BYTES, limit) : Math.min(buffer.length * 2, limit));
      const grown = Buffer.allocUnsafe(wanted);
      if (buffer !== null) buffer.copy(grown, 0, 0, size);
      buffer = grown;
    }
    buffer.set(new Uint8Array(chunk), size);
    size += n;
    if (isLast) {
      finished = true;
      const text = buffer.toString('utf8', 0, size);
      buffer = null;
      done(BodyResult.Ok, text);
    }
  });
}

/**
 * A body that arrives whole (nearly every one) is decoded straight from uWS's ArrayBuffer: a
 * Buffer view of it cost node's validators and the view's buffer, length and offset, ~960
 * instructions a request (callgrind). The BOM is kept, as `Buffer#toString` keeps it, and bad
 * sequences become U+FFFD alike (the same text over 200,000 random malformed sequences).
 */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** First buffer for a body of unknown length (chunked uploads). */
const INITIAL_BODY_BYTES = 16 * 1024;
