import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RANKED_ENCODINGS, rankTableFile, storedRankTable } from '../src/sim/ranks.js';

/** Build step (`npm run build`): each encoding's rank table, which a process reads without parsing (src/sim/bpe.ts). */
for (const encoding of RANKED_ENCODINGS) {
  const file = rankTableFile(encoding);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, storedRankTable(encoding));
}
