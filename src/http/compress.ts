import { brotliCompressSync, constants, createBrotliCompress, createDeflate, createGzip, deflateSync, gzipSync, type BrotliCompress, type Deflate, type Gzip } from 'node:zlib';
import type { HttpResponse } from 'uWebSockets.js';
import { z } from '#zod';

/**
 * Response compression (README "Compression"), by the request's `accept-encoding`, with node:zlib.
 * Off by default: the vendors' APIs answer small JSON bodies, and a benchmark should not pay for
 * zlib unless it asks to.
 */
export const compressionSchema = z
  .object({
    /** Compress JSON bodies of at least `minBytes` for clients that accept gzip, br or deflate. */
    enabled: z.boolean().default(false),
    /** Smaller bodies go as they are (compressing a few hundred bytes saves nothing worth the CPU). */
    minBytes: z.number().int().min(0).max(1_073_741_824).default(1024),
    /**
     * Compress SSE streams too. Off by default: a stream's compressor must flush after every
     * event (or tokens would wait in its window), which costs CPU per token, adds bytes to each
     * small event, and moves every write through zlib's thread; clients and proxies that buffer
     * a compressed body until a block fills would stall the stream.
     */
    streams: z.boolean().default(false),
  })
  .strict()
  .prefault({});

export type CompressionConfig = z.infer<typeof compressionSchema>;

export type Encoding = 'br' | 'gzip' | 'deflate';

/** The encodings offered, in the order preferred when a client accepts several equally. */
const OFFERED: readonly Encoding[] = ['br', 'gzip', 'deflate'];

/**
 * Brotli's quality for dynamic bodies. Its default (11) is meant for static files and costs
 * ~20× the CPU of gzip; 4 compresses JSON better than gzip's default level at about its cost.
 */
const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };

/**
 * The encoding to answer with for an `accept-encoding` header (RFC 9110 §12.5.3): the offered one
 * with the highest q-value (`*` stands for those not named; q=0 refuses), ties by OFFERED's
 * order; null for none (the body goes as it is).
 */
export function negotiate(acceptEncoding: string): Encoding | null {
  if (acceptEncoding === '') return null;
  let best: Encoding | null = null;
  let bestQ = 0;
  let anyQ = -1;
  const named = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [token, ...params] = part.split(';');
    const name = token!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (name === '*') anyQ = q;
    else named.set(name, q);
  }
  for (const encoding of OFFERED) {
    const q = named.get(encoding) ?? (anyQ >= 0 ? anyQ : 0);
    if (q > bestQ) {
      best = encoding;
      bestQ = q;
    }
  }
  return best;
}

/** One whole body, compressed at once (JSON bodies are at most a few MB; the vendors' largest are embeddings). */
export function compressBody(encoding: Encoding, body: string): Buffer {
  switch (encoding) {
    case 'br':
      return brotliCompressSync(body, BROTLI);
    case 'gzip':
      return gzipSync(body);
    case 'deflate':
      return deflateSync(body);
  }
}

/** The header lines (src/http/uws.ts) of a compressed body; `vary` goes on every body that could have been compressed. */
export const encodedLines = (encoding: Encoding): string => `\r\ncontent-encoding: ${encoding}${VARY}`;
export const VARY = '\r\nvary: accept-encoding';

/**
 * A compressed SSE stream (`compression.streams`): every write is flushed through zlib, so each
 * event reaches the client when it is sent. zlib works on its own thread, so the compressed bytes
 * reach the socket a moment later, in order. uWS keeps what a slow reader has not taken (a stream
 * is bounded by its answer's length), so such a stream never reports backpressure to its
 * delivery and `streamStallTimeoutMs` does not close it; `timeouts.requestMs` still ends it.
 */
export class CompressedStream {
  private readonly zlib: Gzip | Deflate | BrotliCompress;
  private readonly flushKind: number;
  private closed = false;

  constructor(
    private readonly res: HttpResponse,
    encoding: Encoding,
  ) {
    this.zlib = encoding === 'br' ? createBrotliCompress(BROTLI) : encoding === 'gzip' ? createGzip() : createDeflate();
    this.flushKind = encoding === 'br' ? constants.BROTLI_OPERATION_FLUSH : constants.Z_SYNC_FLUSH;
    this.zlib.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      res.cork(() => res.write(chunk));
    });
    this.zlib.on('end', () => {
      if (this.closed) return;
      this.closed = true;
      res.cork(() => res.end());
    });
    // A zlib error cannot come from bytes it is given to compress; if one does, the stream ends.
    this.zlib.on('error', () => this.abort());
  }

  /** Compresses and flushes `data` (copied: the caller reuses its buffer). */
  write(data: Uint8Array | string): true {
    if (!this.closed) {
      this.zlib.write(typeof data === 'string' ? data : Buffer.from(data));
      this.zlib.flush(this.flushKind);
    }
    return true;
  }

  /** The last bytes; the response ends once zlib has finished. */
  end(data: Uint8Array | string): void {
    if (this.closed) return;
    this.zlib.end(typeof data === 'string' ? data : Buffer.from(data));
  }

  /** The client went away (or the response was cut): nothing more is written. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.zlib.destroy();
  }
}
