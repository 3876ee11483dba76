import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { packagedRanks, RANKED_ENCODINGS, ranksFile } from '../src/sim/ranks.js';

/** Build step (`npm run build`): each encoding's ranks as JSON, which loads far faster than gpt-tokenizer's modules (src/sim/ranks.ts). */
for (const encoding of RANKED_ENCODINGS) {
  const file = ranksFile(encoding);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(packagedRanks(encoding)));
}
