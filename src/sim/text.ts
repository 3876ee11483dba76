import { flatLatin1 } from '../json.js';
import { utf8 } from './frames.js';
import { Rng } from './rng.js';

/**
 * Generated text is a sequence of indices into a fixed vocabulary of common English words, each
 * (lower-case, capitalised, with and without its leading space) a single token in both OpenAI
 * encodings, so one streamed chunk is one token (test/unit/text.test.ts checks it). Indices are cheap to make, to send between
 * threads (a Uint16Array) and to render: every entry's JSON-escaped form is built once here.
 */
const WORDS = (
  'the of and to in is that for it as with was on be by at this are from or an have not but which ' +
  'they you one all were we there can their has more when will would each about if out so what up ' +
  'into them some could time these two may then do first any new like our over such way only most ' +
  'other many very after where well through just also long make made good water used work part ' +
  'model token system request server stream answer simple small large light river city ' +
  'people world number sound place year back give name under great help line right mean old same ' +
  'tell boy follow want show around form three set put end does another home read hand port ' +
  'large spell add even land here must big high such follow act why ask men change kind off ' +
  'need house picture try again animal point mother near build self earth father head stand own page ' +
  'should country found study still learn plant cover food sun four between state keep eye never last ' +
  'let thought tree cross farm hard start story far sea draw left late run while press close ' +
  'night real life few north open together next white children begin got walk example ease paper'
).split(' ');

const capitalize = (w: string): string => w[0]!.toUpperCase() + w.slice(1);

const W = WORDS.length;
const PERIOD = 3 * W;
const COMMA = PERIOD + 1;

/** Token texts: ` word`, ` Word`, `Word` (opening the answer), `.`, `,`. */
export const TOKEN_TEXT: readonly string[] = [
  ...WORDS.map((w) => ` ${w}`),
  ...WORDS.map((w) => ` ${capitalize(w)}`),
  ...WORDS.map(capitalize),
  '.',
  ',',
];

/** Each token's text as a JSON string literal, quotes included. */
export const TOKEN_JSON: readonly string[] = TOKEN_TEXT.map((t) => JSON.stringify(t));
/** The same as UTF-8 bytes, for stream frames (FrameBuffer.bytes). */
const TOKEN_JSON_BYTES: readonly Uint8Array[] = TOKEN_JSON.map(utf8);

/**
 * `count` tokens of sentence-shaped text, fully determined by `seed`. The first token has no leading
 * space; sentences run 5–16 words, sometimes with a comma, and end with a period.
 */
export function generateTokens(seed: number, count: number): Uint16Array {
  const out = new Uint16Array(count);
  const rng = new Rng(seed);
  let left = 0; // words left in the current sentence
  let comma = -1;
  for (let i = 0; i < count; i++) {
    if (left === 0 && i > 0 && out[i - 1] !== PERIOD) {
      out[i] = PERIOD;
      continue;
    }
    const word = rng.int(0, W - 1);
    if (left === 0) {
      left = rng.int(5, 16);
      comma = rng.next() < 0.3 ? rng.int(2, left - 2) : -1;
      out[i] = i === 0 ? 2 * W + word : W + word;
    } else if (left === comma) {
      out[i] = COMMA;
      comma = -1;
      continue;
    } else {
      out[i] = word;
    }
    left--;
  }
  return out;
}

/**
 * The pieces of the first `n` tokens (default: all) joined, each token's piece taken from `table`.
 * A count, not a `subarray`: a short answer's ids (64 bytes or less) live inside V8's heap, and a
 * view of them first moved them out to a buffer of their own (~1.8k instructions a request).
 */
function spell(table: readonly string[], tokens: Uint16Array, n: number): string {
  const end = Math.min(n, tokens.length);
  let text = '';
  for (let i = 0; i < end; i++) text += table[tokens[i]!];
  return text;
}

/** The text the first `n` tokens of a sequence spell (default: all). */
export const renderText = (tokens: Uint16Array, n = tokens.length): string => spell(TOKEN_TEXT, tokens, n);

/** Natural answer length (what a model would say uncapped), in [min, max], fixed by `seed`. */
export function naturalLength(seed: number, min: number, max: number): number {
  return new Rng(seed ^ 0x9e3779b9).int(min, max);
}

/** Each token's text JSON-escaped without the quotes, for splicing into a prebuilt string literal. */
const TOKEN_ESCAPED: readonly string[] = TOKEN_JSON.map((j) => j.slice(1, -1));

/** The text of the first `n` tokens, JSON-escaped (no quotes). */
export const renderEscaped = (tokens: Uint16Array, n = tokens.length): string => spell(TOKEN_ESCAPED, tokens, n);

/**
 * The text of a completion, token by token. Generated answers index the vocabulary; echoed
 * messages and structured output carry their own pieces. The stream asks for one token's JSON
 * literal at a time; a body asks for the whole text, escaped.
 */
export interface TokenText {
  readonly length: number;
  /** Token i as a JSON string literal, quotes included. */
  json(i: number): string;
  /** The same as UTF-8 bytes. */
  jsonBytes(i: number): Uint8Array;
  /** Token i's plain text. */
  piece(i: number): string;
  /** The text of tokens [0, n) (default: all), JSON-escaped without quotes. */
  escaped(n?: number): string;
  /** The plain text of tokens [0, n). */
  plain(n?: number): string;
  /** The first n tokens. */
  slice(n: number): TokenText;
}

/** Token `id` of the vocabulary as a JSON string literal in UTF-8 (what `VocabularyText.jsonBytes` returns). */
export const vocabularyJsonBytes = (id: number): Uint8Array => TOKEN_JSON_BYTES[id]!;

/** A text's vocabulary ids when it is made of them (a generated answer), else null. */
export const vocabularyIds = (text: TokenText): Uint16Array | null => (text instanceof VocabularyText ? text.ids : null);

export class VocabularyText implements TokenText {
  /** The whole text escaped, flat, once asked for (an answer given again is embedded again). */
  private wholeEscaped: string | null = null;
  constructor(readonly ids: Uint16Array) {}
  get length(): number {
    return this.ids.length;
  }
  json(i: number): string {
    return TOKEN_JSON[this.ids[i]!]!;
  }
  jsonBytes(i: number): Uint8Array {
    return vocabularyJsonBytes(this.ids[i]!);
  }
  piece(i: number): string {
    return TOKEN_TEXT[this.ids[i]!]!;
  }
  escaped(n = this.ids.length): string {
    if (n < this.ids.length) return renderEscaped(this.ids, n);
    // The vocabulary is ASCII, so its escaped text is Latin-1.
    return (this.wholeEscaped ??= flatLatin1(renderEscaped(this.ids, n)));
  }
  plain(n = this.ids.length): string {
    return renderText(this.ids, n);
  }
  slice(n: number): TokenText {
    return new VocabularyText(this.ids.subarray(0, n));
  }
}

/**
 * The answers given lately, by text seed. The text is a function of the seed (the model, the
 * prompt, the seeds) and the length, so a prompt sent again gets the same answer object back:
 * its tokens are not drawn again, and its escaped text is made and flattened once (a chat answer
 * of 16 tokens: 65.4k instructions a request against 69.5k). A load tool sending one body,
 * request after request, is the common case; a new prompt costs one lookup more. Bounded by the
 * tokens kept.
 */
const answers = new Map<number, VocabularyText>();
let answerTokensKept = 0;
const MAX_ANSWER_TOKENS_KEPT = 1 << 20;

/** `generateTokens(seed, count)` as a text, the same object for the same seed and count while it is kept. Callers never write to its ids. */
export function answerText(seed: number, count: number): VocabularyText {
  const key = seed | 0;
  const known = answers.get(key);
  if (known !== undefined && known.length === count) return known;
  const text = new VocabularyText(generateTokens(seed, count));
  // The seed's answer of another length, if kept, is replaced.
  if (known !== undefined) answerTokensKept -= known.length;
  if (answerTokensKept + count > MAX_ANSWER_TOKENS_KEPT) {
    answers.clear();
    answerTokensKept = 0;
  }
  answers.set(key, text);
  answerTokensKept += count;
  return text;
}

export class PieceText implements TokenText {
  constructor(readonly pieces: readonly string[]) {}
  get length(): number {
    return this.pieces.length;
  }
  json(i: number): string {
    return JSON.stringify(this.pieces[i]);
  }
  jsonBytes(i: number): Uint8Array {
    return utf8(this.json(i));
  }
  piece(i: number): string {
    return this.pieces[i]!;
  }
  escaped(n = this.pieces.length): string {
    return JSON.stringify(this.plain(n)).slice(1, -1);
  }
  plain(n = this.pieces.length): string {
    return this.pieces.slice(0, n).join('');
  }
  slice(n: number): TokenText {
    return new PieceText(this.pieces.slice(0, n));
  }
}

/**
 * Splits arbitrary text into token-sized pieces: words with their leading space, runs of
 * whitespace, and runs of other characters cut every 4 characters (about what BPE encodings
 * make of JSON and code).
 */
export function splitPieces(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/ ?[A-Za-z]+| ?\d{1,3}|\s+|[^\sA-Za-z\d]{1,4}/gu)) out.push(m[0]);
  return out;
}
