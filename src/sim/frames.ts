/**
 * Where a stream's frames are assembled before one write: a growable scratch Buffer, one per
 * process, reused by every flush. The constant parts of a token's frame are kept as bytes and
 * copied in; only the token's own text is encoded. A token event thus allocates no string: with
 * strings, each frame was a concatenation that V8 flattened again for uWS (6 % of the process's
 * CPU at 500 streams) and that left ~450 bytes of garbage a token. uWS copies what it keeps (cork
 * buffer or backpressure buffer), so the scratch is free again as soon as write() returns.
 */
/** Node's Buffer writes UTF-8 with this method (untyped). */
type Utf8Writable = Buffer & { utf8Write(text: string, offset: number): number };

export class FrameBuffer {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  /**
   * Views of the buffer's first n bytes, by n: made once each, since a view per write was a third
   * of all the bytes a streaming process allocated (measured at 400 streams), and writes of one
   * token's frame come in a few dozen lengths. The array has all its slots from the start: filled
   * sparsely from empty, V8 kept it as a dictionary, and every lookup hashed its index (~400
   * instructions a stream's write).
   */
  private views = noViews();
  /** Bytes assembled since the last reset. */
  length = 0;

  reset(): void {
    this.length = 0;
    // A huge frame (a long answer's final event) does not pin its memory for the process's life.
    if (this.buf.length > KEPT_BYTES) this.replace(Buffer.allocUnsafe(INITIAL_BYTES));
  }

  /** Appends a string as UTF-8 (node's own UTF-8 write: `write(s, offset)` looks the encoding up first). */
  text(s: string): void {
    this.reserve(s.length * 3); // a UTF-16 code unit never takes more than 3 bytes
    this.length += (this.buf as Utf8Writable).utf8Write(s, this.length);
  }

  /** Appends bytes prepared in advance (see `utf8`). */
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Appends a token's frame: its text's bytes between a prefix and a suffix prepared in advance. */
  framed(prefix: Uint8Array, text: Uint8Array, suffix: Uint8Array): void {
    this.bytes(prefix);
    this.bytes(text);
    this.bytes(suffix);
  }

  /** The assembled bytes; valid until the next reset. */
  view(): Uint8Array {
    const n = this.length;
    if (n >= CACHED_VIEWS) return this.buf.subarray(0, n);
    return (this.views[n] ??= this.buf.subarray(0, n));
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.replace(next);
  }

  private replace(buf: Buffer): void {
    this.buf = buf;
    this.views = noViews();
  }
}

const INITIAL_BYTES = 64 * 1024;
const KEPT_BYTES = 1024 * 1024;
/** Views are cached for lengths below this (coalesced writes of many tokens are longer and rarer). */
const CACHED_VIEWS = 4096;

const noViews = (): (Uint8Array | undefined)[] => new Array<Uint8Array | undefined>(CACHED_VIEWS).fill(undefined);

/** A constant frame part as bytes, for `FrameBuffer.bytes`. */
export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
