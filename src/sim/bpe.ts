/**
 * Token counting with OpenAI's byte-pair encodings, from a rank table that loads as it is stored.
 *
 * gpt-tokenizer builds a Map of every token's text from 200k ranks as it loads: ~0.4 s of each
 * worker's start, again in each thread of the pool, and tens of megabytes of heap apiece. Counting
 * needs only "what is the rank of these bytes?", so the build stores each encoding as an
 * open-addressing hash table of the tokens' bytes (scripts/tokenizer-ranks.ts), and a process
 * reads it into typed arrays without parsing anything.
 *
 * The counting is tiktoken's: the text is split by the encoding's pattern, a piece that is a token
 * counts one, any other is merged byte pair by byte pair, lowest rank first (leftmost on a tie),
 * until no adjacent pair is a token. test/unit/tokens.test.ts holds the counts equal to
 * gpt-tokenizer's over a corpus of mixed scripts, code and whitespace. Text that spells a special
 * token (`<|endoftext|>`) is counted as the text it is, as the API counts what a client sends.
 */

/** The file's layout: a header of four 32-bit words, then `starts`, `ranks`, `table` (32-bit) and the bytes. */
const MAGIC = 0x31455042; // "BPE1", little-endian
const HEADER_WORDS = 4;
/** A rank no pair has: "not a token". */
const NONE = 0x7fffffff;

/** One encoding's tokens: entry i is the bytes pool[starts[i], starts[i + 1]) with rank ranks[i]. */
export class RankTable {
  private readonly starts: Int32Array;
  private readonly ranks: Int32Array;
  /** Open addressing, linear probing: entry index + 1 at the slot of its bytes' hash, 0 for empty. */
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly pool: Uint8Array;

  /** Reads a table as `encodeRankTable` stored it (its buffer 4-byte aligned: copied if not). */
  constructor(stored: Uint8Array) {
    const bytes = stored.byteOffset % 4 === 0 ? stored : stored.slice();
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, HEADER_WORDS);
    if (words[0] !== MAGIC) throw new Error('not a rank table');
    const count = words[1]!;
    const slots = words[2]!;
    const poolBytes = words[3]!;
    let at = bytes.byteOffset + HEADER_WORDS * 4;
    this.starts = new Int32Array(bytes.buffer, at, count + 1);
    at += (count + 1) * 4;
    this.ranks = new Int32Array(bytes.buffer, at, count);
    at += count * 4;
    this.table = new Int32Array(bytes.buffer, at, slots);
    at += slots * 4;
    this.pool = new Uint8Array(bytes.buffer, at, poolBytes);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.ranks.length;
  }

  /** The rank of bytes[from, to), or NONE. */
  rankOf(bytes: Uint8Array, from: number, to: number): number {
    const { table, starts, pool, mask } = this;
    const length = to - from;
    let slot = hashBytes(bytes, from, to) & mask;
    for (;;) {
      const entry = table[slot]! - 1;
      if (entry < 0) return NONE;
      const start = starts[entry]!;
      if (starts[entry + 1]! - start === length) {
        let i = 0;
        while (i < length && pool[start + i] === bytes[from + i]) i++;
        if (i === length) return this.ranks[entry]!;
      }
      slot = (slot + 1) & mask;
    }
  }
}

/** FNV-1a over a byte range. */
function hashBytes(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** The stored form of an encoding's tokens (each its bytes, at its rank): what RankTable reads. */
export function encodeRankTable(tokens: readonly Uint8Array[]): Uint8Array {
  const count = tokens.length;
  let slots = 1;
  while (slots < count * 2) slots *= 2; // at most half full: probes stay short
  let poolBytes = 0;
  for (const t of tokens) poolBytes += t.length;
  const out = new Uint8Array((HEADER_WORDS + count + 1 + count + slots) * 4 + poolBytes);
  const words = new Int32Array(out.buffer, 0, HEADER_WORDS + count + 1 + count + slots);
  words.set([MAGIC, count, slots, poolBytes]);
  const starts = words.subarray(HEADER_WORDS, HEADER_WORDS + count + 1);
  const ranks = words.subarray(HEADER_WORDS + count + 1, HEADER_WORDS + count + 1 + count);
  const table = words.subarray(HEADER_WORDS + count + 1 + count);
  const pool = out.subarray(words.byteLength);
  let at = 0;
  tokens.forEach((bytes, rank) => {
    starts[rank] = at;
    ranks[rank] = rank;
    pool.set(bytes, at);
    at += bytes.length;
    let slot = hashBytes(bytes, 0, bytes.length) & (slots - 1);
    while (table[slot] !== 0) slot = (slot + 1) & (slots - 1);
    table[slot] = rank + 1;
  });
  starts[count] = at;
  return out;
}

/** Counts tokens of one encoding: its table and its split pattern (global, unicode). */
export class BpeCounter {
  /** The piece being counted, as UTF-8 (grown when a longer one comes). */
  private bytes = new Uint8Array(1024);
  /** The merge's parts: where each starts, and the rank of it joined with the next. */
  private starts = new Int32Array(1025);
  private ranks = new Int32Array(1025);
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly table: RankTable,
    private readonly split: RegExp,
  ) {}

  count(text: string): number {
    const { split } = this;
    let n = 0;
    split.lastIndex = 0;
    for (let m = split.exec(text); m !== null; m = split.exec(text)) n += this.countPiece(m[0]);
    return n;
  }

  private countPiece(piece: string): number {
    const length = this.utf8(piece);
    // Every single byte is a token in a byte-level encoding.
    if (length === 1 || this.table.rankOf(this.bytes, 0, length) !== NONE) return 1;
    return this.merge(length);
  }

  /** Writes the piece's UTF-8 into `bytes` (lone surrogates as U+FFFD, as TextEncoder does); its length. */
  private utf8(piece: string): number {
    if (piece.length * 3 > this.bytes.length) this.grow(piece.length * 3);
    const { bytes } = this;
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      if (c >= 0x80) return this.encoder.encodeInto(piece, bytes).written;
      bytes[i] = c;
    }
    return piece.length;
  }

  private grow(bytes: number): void {
    this.bytes = new Uint8Array(bytes);
    this.starts = new Int32Array(bytes + 1);
    this.ranks = new Int32Array(bytes + 1);
  }

  /** How many tokens `length` bytes merge into (tiktoken's byte-pair merge). */
  private merge(length: number): number {
    const { starts, ranks, bytes, table } = this;
    let parts = length + 1;
    for (let i = 0; i < parts; i++) {
      starts[i] = i;
      ranks[i] = i < length - 1 ? table.rankOf(bytes, i, i + 2) : NONE;
    }
    while (parts > 1) {
      let lowest = NONE;
      let at = -1;
      for (let i = 0; i < parts - 1; i++) {
        if (ranks[i]! < lowest) {
          lowest = ranks[i]!;
          at = i;
        }
      }
      if (at === -1) break;
      // Part at+1 joins part at.
      starts.copyWithin(at + 1, at + 2, parts);
      ranks.copyWithin(at, at + 1, parts);
      parts--;
      ranks[at] = at + 2 < parts ? table.rankOf(bytes, starts[at]!, starts[at + 2]!) : NONE;
      if (at > 0) ranks[at - 1] = at + 1 < parts ? table.rankOf(bytes, starts[at - 1]!, starts[at + 1]!) : NONE;
    }
    return parts - 1;
  }
}
