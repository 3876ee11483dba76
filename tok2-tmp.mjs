import { readFileSync, writeFileSync } from 'node:fs';
const bpe = JSON.parse(readFileSync('/tmp/o200k_base.json', 'utf8'));
let ns = 0, nul = 0, nl = 0; for (const x of bpe) { if (typeof x !== 'string') ns++; else { if (x.includes('\0')) nul++; if (x.includes('\u0001')) nl++; } }
console.log('entries', bpe.length, 'non-string', ns, 'with NUL', nul, 'with \\x01', nl);
const SEP = '\u0001';
writeFileSync('/tmp/o200k.txt', bpe.map((x) => typeof x === 'string' ? x : '').join(SEP));
const t0 = performance.now();
const parts = readFileSync('/tmp/o200k.txt', 'utf8').split(SEP);
const t1 = performance.now();
const m = new Map(); for (let i = 0; i < parts.length; i++) m.set(parts[i], i);
const t2 = performance.now();
const j = JSON.parse(readFileSync('/tmp/o200k_base.json', 'utf8'));
const t3 = performance.now();
console.log('split', Math.round(t1 - t0), 'map', Math.round(t2 - t1), 'json', Math.round(t3 - t2));
