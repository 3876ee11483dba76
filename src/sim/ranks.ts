import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { built } from '../paths.js';

/** The real encodings the simulator counts with (src/sim/tokens.ts). */
export const RANKED_ENCODINGS = ['o200k_base', 'cl100k_base'] as const;
export type RankedEncoding = (typeof RANKED_ENCODINGS)[number];

/** An encoding's merge ranks as gpt-tokenizer takes them: the token's text, or its bytes when they are not UTF-8. */
export type Ranks = (string | number[])[];

export const ranksFile = (encoding: RankedEncoding): string => built('ranks', `${encoding}.json`);

/**
 * An encoding's ranks, from the JSON the build writes (scripts/tokenizer-ranks.ts). gpt-tokenizer
 * ships them as JavaScript array literals; parsing those 3.6 MB of source was ~450 ms of every
 * worker's start, JSON.parse of the same ranks ~120 ms. Without the build's file (sources run
 * before a build), the package's own module is loaded: slower, the same ranks. Tried and
 * dropped (12-06): the tokens joined by a separator no token holds, split at load. Loading took
 * ~175 ms of CPU for both encodings instead of ~222, but gpt-tokenizer then built its maps from
 * the split's sliced strings more slowly: 457–526 ms in all against 410–419.
 */
export function loadRanks(encoding: RankedEncoding): Ranks {
  try {
    return JSON.parse(readFileSync(ranksFile(encoding), 'utf8')) as Ranks;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return packagedRanks(encoding);
  }
}

/** The ranks as gpt-tokenizer's own module holds them. */
export function packagedRanks(encoding: RankedEncoding): Ranks {
  return (createRequire(import.meta.url)(`gpt-tokenizer/bpeRanks/${encoding}`) as { default: Ranks }).default;
}
