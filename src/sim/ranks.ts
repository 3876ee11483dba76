import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { built } from '../paths.js';
import { BpeCounter, encodeRankTable, RankTable } from './bpe.js';

/** The real encodings the simulator counts with (src/sim/tokens.ts). */
export const RANKED_ENCODINGS = ['o200k_base', 'cl100k_base'] as const;
export type RankedEncoding = (typeof RANKED_ENCODINGS)[number];

/**
 * Each encoding's split pattern: tiktoken's, in JavaScript's dialect (no possessive quantifiers,
 * case-insensitive contractions spelled out), as gpt-tokenizer writes them.
 */
const CONTRACTION = String.raw`'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE])`;
const SPLIT_PATTERNS: Record<RankedEncoding, string> = {
  cl100k_base: String.raw`${CONTRACTION}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+(?!\S)|\s`,
  o200k_base:
    String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:${CONTRACTION})?` +
    String.raw`|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:${CONTRACTION})?` +
    String.raw`|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
};

/** An encoding's ranks as gpt-tokenizer ships them: the token's text, or its bytes when they are not UTF-8. */
export type Ranks = (string | number[])[];

/** Where the build writes an encoding's rank table (scripts/tokenizer-ranks.ts). */
export const rankTableFile = (encoding: RankedEncoding): string => built('ranks', `${encoding}.bin`);

/** The ranks as gpt-tokenizer's own module holds them: the source of the build's tables. */
export function packagedRanks(encoding: RankedEncoding): Ranks {
  return (createRequire(import.meta.url)(`gpt-tokenizer/bpeRanks/${encoding}`) as { default: Ranks }).default;
}

/** A rank's token as bytes (gpt-tokenizer gives its text, or its bytes when they are not UTF-8). */
export const tokenBytes = (token: Ranks[number]): Uint8Array => (typeof token === 'string' ? Buffer.from(token, 'utf8') : Uint8Array.from(token));

/** The stored table of an encoding, made from gpt-tokenizer's ranks. */
export const storedRankTable = (encoding: RankedEncoding): Uint8Array => encodeRankTable(packagedRanks(encoding).map(tokenBytes));

/**
 * An encoding's table, read as the build stored it (a few milliseconds). Without the build's file
 * (sources run before a build) it is made from gpt-tokenizer's module: slower, the same table.
 */
export function loadRankTable(encoding: RankedEncoding): RankTable {
  let stored: Uint8Array;
  try {
    stored = readFileSync(rankTableFile(encoding));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    stored = storedRankTable(encoding);
  }
  return new RankTable(stored);
}

/** A counter of an encoding's tokens. */
export const bpeCounter = (encoding: RankedEncoding): BpeCounter => new BpeCounter(loadRankTable(encoding), new RegExp(SPLIT_PATTERNS[encoding], 'gu'));
