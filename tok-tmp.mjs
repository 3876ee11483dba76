import { writeFileSync, readFileSync } from 'node:fs';
const mode = process.argv[2];
if (mode === 'gen') {
  for (const n of ['o200k_base', 'cl100k_base']) {
    const { default: bpe } = await import(`./node_modules/gpt-tokenizer/esm/bpeRanks/${n}.js`);
    writeFileSync(`/tmp/${n}.json`, JSON.stringify(bpe));
  }
} else {
  const t0 = performance.now();
  const { GptEncoding } = await import('./node_modules/gpt-tokenizer/esm/GptEncoding.js');
  const t1 = performance.now();
  const bpe = JSON.parse(readFileSync('/tmp/o200k_base.json', 'utf8'));
  const t2 = performance.now();
  const api = GptEncoding.getEncodingApi('o200k_base', () => bpe);
  const t3 = performance.now();
  const bpe2 = JSON.parse(readFileSync('/tmp/cl100k_base.json', 'utf8'));
  const api2 = GptEncoding.getEncodingApi('cl100k_base', () => bpe2);
  const t4 = performance.now();
  console.log('GptEncoding', Math.round(t1-t0), 'json', Math.round(t2-t1), 'api', Math.round(t3-t2), 'cl100k all', Math.round(t4-t3), api.countTokens('hello world, how are you?'), api2.countTokens('hello world, how are you?'));
}
