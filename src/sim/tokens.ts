import { bpeCounter } from './ranks.js';
import { packedMap } from '../arrays.js';

/**
 * Token counts. OpenAI models count with their real encoding (src/sim/bpe.ts, gpt-tokenizer's ranks): `o200k_base` for
 * the GPT-4o, GPT-4.1, GPT-5 and o-series families, `cl100k_base` for GPT-3.5 and the embedding
 * models. Anthropic publishes no tokenizer for current Claude models: `approximate` counts one
 * token per 3.5 characters, the ratio Anthropic's documentation gives for English text.
 * Chat prompts add 3 tokens per message and 3 for the reply primer, as OpenAI's own counting
 * guide does.
 *
 * The cost of counting is bounded (README "Limits"): the byte-pair merge is quadratic in
 * the length of one pre-token (a 32k-character word took 1 s, 128k 23 s), so texts are counted in
 * segments of at most SEGMENT_CHARS, cut before a space that starts a word where there is one
 * (exact for ordinary text: a pre-token never spans such a cut) and hard-cut otherwise (a word,
 * a run of spaces or a CJK sentence longer than that is then counted in pieces: an estimate
 * within a few tokens). Non-ASCII text costs far more per character than ASCII (varied CJK:
 * ~3 µs a character, English ~0.03 µs), so work is measured in cost units (see costUnits).
 */
export type Tokenizer = 'o200k_base' | 'cl100k_base' | 'approximate';

export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY_PRIMER = 3;
const CHARS_PER_CLAUDE_TOKEN = 3.5;

/** Counting costs ~8 µs for a short message: the same texts (system prompts, benchmark bodies) are counted once. */
const CACHE_LIMIT = 10_000;
const caches: Record<Exclude<Tokenizer, 'approximate'>, Map<string, number>> = { o200k_base: new Map(), cl100k_base: new Map() };
const COUNTERS = { o200k_base: bpeCounter('o200k_base'), cl100k_base: bpeCounter('cl100k_base') };
/** Texts longer than this are not cached (they are rarely repeated, and would pin memory). */
const CACHE_MAX_CHARS = 4096;

/** Longest piece handed to the encoder at once; a cut is looked for in its second half. */
const SEGMENT_CHARS = 512;

/**
 * Work is measured in cost units: one per UTF-16 unit, 64 more per extra UTF-8 byte, so a CJK
 * character (3 bytes) weighs 129: measured on this machine, ~0.03 µs a unit either way.
 */
const EXTRA_BYTE_UNITS = 64;
/** Prompts costing more than this (~2 ms) are counted in the thread pool, when there is one. */
export const INLINE_COST_UNITS = 64_000;
/**
 * One request's counting stops being exact after this much work (~0.5 s, in the pool): the rest
 * of the text is estimated at the tokens per character counted so far. Only bodies of megabytes
 * of non-ASCII text get there.
 */
export const EXACT_COST_UNITS = 16_000_000;
const SHORT_CHARS = 1024;

const textCost = (text: string): number => text.length + (Buffer.byteLength(text, 'utf8') - text.length) * EXTRA_BYTE_UNITS;

/** What counting these texts may cost; a short prompt is taken at its length (it is cheap either way: at most ~3 ms even for CJK). */
export function costUnits(texts: readonly string[]): number {
  let chars = 0;
  for (const text of texts) chars += text.length;
  if (chars <= SHORT_CHARS) return chars;
  let units = 0;
  for (const text of texts) units += textCost(text);
  return units;
}

/** Where a segment starting at `from` ends: before the last word-starting space of the window, else at its end. */
function segmentEnd(text: string, from: number): number {
  const end = from + SEGMENT_CHARS;
  if (end >= text.length) return text.length;
  const space = text.lastIndexOf(' ', end);
  return space > from + SEGMENT_CHARS / 2 && text.charCodeAt(space - 1) !== 32 ? space : end;
}

/** A budget of cost units shared by the texts of one request; past it, counts are estimated. */
class Budget {
  units: number;
  counted = 0;
  countedChars = 0;
  constructor(units: number) {
    this.units = units;
  }
}

function encode(tokenizer: Exclude<Tokenizer, 'approximate'>, text: string, budget: Budget): number {
  let n = 0;
  for (let from = 0; from < text.length; ) {
    const to = segmentEnd(text, from);
    if (budget.units <= 0 && budget.countedChars > 0) {
      // Out of budget: the rest at the rate counted so far.
      return n + Math.ceil(((text.length - from) * budget.counted) / budget.countedChars);
    }
    const piece = text.slice(from, to);
    const k = COUNTERS[tokenizer].count(piece);
    budget.units -= textCost(piece);
    budget.counted += k;
    budget.countedChars += piece.length;
    n += k;
    from = to;
  }
  return n;
}

function countText(tokenizer: Tokenizer, text: string, budget: Budget): number {
  if (text === '') return 0;
  if (tokenizer === 'approximate') return Math.ceil(text.length / CHARS_PER_CLAUDE_TOKEN);
  if (text.length > CACHE_MAX_CHARS) return encode(tokenizer, text, budget);
  const cache = caches[tokenizer];
  let n = cache.get(text);
  if (n === undefined) {
    n = encode(tokenizer, text, budget);
    if (budget.units <= 0) return n; // possibly estimated: not what another request would count
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, n);
  }
  return n;
}

/** Each text's token count, exact up to EXACT_COST_UNITS of work for the whole list. */
export function countTexts(tokenizer: Tokenizer, texts: readonly string[]): number[] {
  const budget = new Budget(EXACT_COST_UNITS);
  return packedMap(texts, (text) => countText(tokenizer, text, budget));
}

export function countTextTokens(tokenizer: Tokenizer, text: string): number {
  return countText(tokenizer, text, new Budget(EXACT_COST_UNITS));
}

/** The prompt's tokens: its texts as chat messages (see TOKENS_PER_MESSAGE). */
export function promptTotal(counts: readonly number[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const n of counts) total += TOKENS_PER_MESSAGE + n;
  return total;
}

/** What counts expensive texts off the event loop (the thread pool). */
export interface CountPool {
  countTexts(task: { tokenizer: Tokenizer; texts: string[] }): Promise<number[]>;
}

/**
 * The last prompt counted inline, and its counts. A load tool sends one body again and again,
 * and comparing its texts with the last ones (equal strings compare as bytes) costs less than
 * hashing each anew for the cache's lookup and building the counts again (~1k instructions a
 * chat request). Only a prompt cheap enough to count inline is kept, so its counts are exact.
 */
let lastTokenizer: Tokenizer | null = null;
let lastTexts: readonly string[] = [];
let lastCounts: readonly number[] = [];

const sameTexts = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** Each text's count: inline when cheap (or without a pool), in the pool otherwise. */
export function countTextsBounded(tokenizer: Tokenizer, texts: readonly string[], pool: CountPool | null): readonly number[] | Promise<number[]> {
  if (tokenizer === lastTokenizer && sameTexts(texts, lastTexts)) return lastCounts;
  const cost = costUnits(texts);
  if (pool !== null && tokenizer !== 'approximate' && cost > INLINE_COST_UNITS) return pool.countTexts({ tokenizer, texts: [...texts] });
  const counts = countTexts(tokenizer, texts);
  if (cost <= INLINE_COST_UNITS) {
    lastTokenizer = tokenizer;
    lastTexts = texts;
    lastCounts = counts;
  }
  return counts;
}

/** The encodings' tables are read as this module loads; a first count still compiles their split pattern and their counting code: done at start-up, not in the first request. */
export function warmTokenizers(): void {
  COUNTERS.o200k_base.count('warm');
  COUNTERS.cl100k_base.count('warm');
}
