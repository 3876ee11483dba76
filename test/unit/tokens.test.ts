import t from 'tap';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { validateConfig } from '../../src/config/load.js';
import { CpuPool } from '../../src/sim/pool.js';
import { loadRankTable, packagedRanks, RANKED_ENCODINGS, tokenBytes } from '../../src/sim/ranks.js';
import { costUnits, countTexts, countTextsBounded, countTextTokens, EXACT_COST_UNITS, INLINE_COST_UNITS, promptTotal } from '../../src/sim/tokens.js';

t.test('real encodings and the Claude approximation', async (t) => {
  t.equal(countTextTokens('o200k_base', 'Hello, world!'), 4);
  t.equal(countTextTokens('cl100k_base', 'Hello, world!'), 4);
  t.equal(countTextTokens('approximate', 'x'.repeat(35)), 10);
  t.equal(countTextTokens('o200k_base', ''), 0);
  t.equal(promptTotal(countTexts('o200k_base', ['You are terse.', 'Hello, world!'])), 3 + (3 + 4) + (3 + 4));
  t.equal(countTextTokens('o200k_base', 'Hello, world!'), 4, 'cached answer is the same');
});

t.test("the build's rank tables hold gpt-tokenizer's ranks, and counts match its encodings", async (t) => {
  for (const encoding of RANKED_ENCODINGS) {
    const table = loadRankTable(encoding);
    const packaged = packagedRanks(encoding);
    t.equal(table.size, packaged.length, `${encoding}: as many ranks`);
    let wrong = 0;
    packaged.forEach((token, rank) => {
      const bytes = tokenBytes(token);
      if (table.rankOf(bytes, 0, bytes.length) !== rank) wrong++;
    });
    t.equal(wrong, 0, `${encoding}: every token found at its own rank`);
  }
  // A corpus of mixed scripts, code, numbers, contractions and whitespace runs, fixed by its seed.
  const pieces = ['Hello', ' world', "'s", "'LL", ' naïve', ' Привет', '漢字', 'かな', ' 🙂', '👩‍💻', '\n', '\r\n', '   ', '\t', '12345', ' 3.14', 'fn main() {', ' println!("{}", 42); }', '<|endoftext|>', ' ÉCOLE', 'don\'t', ' URL/path', '\u00a0', ' مرحبا', ' 💥💥', ' ab'.repeat(40), 'zzzzqqqq'];
  let seed = 7;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let k = 0; k < 300; k++) {
    const text = Array.from({ length: 1 + Math.floor(next() * 30) }, () => pieces[Math.floor(next() * pieces.length)]).join('');
    const expected = { o200k_base: o200k(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() }), cl100k_base: cl100k(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() }) };
    for (const encoding of RANKED_ENCODINGS) if (countTextTokens(encoding, text) !== expected[encoding]) t.fail(`${encoding}: ${JSON.stringify(text)}`);
  }
  t.equal(countTextTokens('o200k_base', 'Ünïcödé, 漢字 and code: fn main() { println!("{}", 42); } 🙂'), o200k('Ünïcödé, 漢字 and code: fn main() { println!("{}", 42); } 🙂'));
  // The API counts a special token's spelling in a prompt as text (gpt-tokenizer's default throws).
  t.equal(countTextTokens('o200k_base', 'hi <|endoftext|>'), o200k('hi <|endoftext|>', { disallowedSpecial: new Set() }));
});

t.test('very large prompts count the same in the thread pool', async (t) => {
  const pool = new CpuPool(validateConfig({}));
  t.teardown(() => pool.destroy());
  const texts = ['system', 'The quick brown fox jumps over the lazy dog. '.repeat(6000)];
  t.same(await pool.countTexts({ tokenizer: 'o200k_base', texts }), countTexts('o200k_base', texts));
});

t.test('segmented counting is exact for ordinary text', async (t) => {
  const words = ['hello', 'world,', 'this', 'is', 'some', 'text.', 'Numbers', '12345', 'and', 'code()', '{x:1}', 'naïve', 'Привет'];
  const text = Array.from({ length: 20_000 }, (_, i) => words[(i * 7) % words.length]).join(' ');
  t.equal(countTextTokens('o200k_base', text), o200k(text));
});

t.test('one long pre-token costs linear time, counted within a few per cent', async (t) => {
  for (const [what, text] of [
    ['a 64k-character word', 'ab'.repeat(32_000)],
    ['64k spaces', ' '.repeat(64_000)],
    ['64k punctuation', '!'.repeat(64_000)],
  ] as const) {
    const started = performance.now();
    const n = countTextTokens('o200k_base', text);
    const ms = performance.now() - started;
    // Unsegmented, a 32k-character word took ~1 s and 64k ~6 s; segmented it is linear (~0.03 µs a character).
    t.ok(ms < 400, `${what}: ${ms.toFixed(1)} ms`);
    const exact = o200k(text.slice(0, 4096)) * (text.length / 4096);
    t.ok(Math.abs(n - exact) / exact < 0.1, `${what}: ${n} tokens, about ${exact}`);
  }
});

t.test('cost units weigh non-ASCII text, and the exact budget bounds the work', async (t) => {
  t.equal(costUnits(['short']), 5);
  const cjk = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20_000))).join('');
  t.ok(costUnits([cjk]) > INLINE_COST_UNITS, 'two thousand CJK characters go to the pool');
  t.ok(costUnits(['x'.repeat(60_000)]) < INLINE_COST_UNITS, 'sixty thousand ASCII characters are counted inline');
  // Past the budget the rest is estimated at the rate counted so far: a huge CJK text costs bounded time.
  const huge = cjk.repeat(Math.ceil((EXACT_COST_UNITS * 3) / costUnits([cjk])));
  const started = performance.now();
  const [n] = countTexts('o200k_base', [huge]);
  const ms = performance.now() - started;
  const rate = countTextTokens('o200k_base', cjk) / cjk.length;
  t.ok(ms < 3000, `${huge.length} CJK characters counted in ${ms.toFixed(0)} ms`);
  t.ok(Math.abs(n! / huge.length - rate) / rate < 0.05, 'the estimate follows the counted rate');
});

t.test('a prompt counted again is the last one\'s counts; any text or the tokenizer changing counts anew', async (t) => {
  const texts = ['You are terse.', 'Say something short.'];
  const first = countTextsBounded('o200k_base', texts, null) as readonly number[];
  t.same(first, countTexts('o200k_base', texts), 'the counts themselves');
  // Equal strings made apart (as JSON.parse makes each request's) are the same prompt.
  const again = countTextsBounded('o200k_base', texts.map((s) => `${s} `.slice(0, -1)), null);
  t.equal(again, first, 'the kept counts, not a recount');
  const changed = countTextsBounded('o200k_base', ['You are terse.', 'Say something long.'], null) as readonly number[];
  t.not(changed, first);
  t.same(changed, countTexts('o200k_base', ['You are terse.', 'Say something long.']));
  t.same(countTextsBounded('o200k_base', ['You are terse.'], null), countTexts('o200k_base', ['You are terse.']), 'fewer texts');
  const other = countTextsBounded('cl100k_base', ['You are terse.'], null);
  t.same(other, countTexts('cl100k_base', ['You are terse.']), 'another tokenizer counts with its own encoding');
  t.same(countTextsBounded('approximate', ['You are terse.'], null), [Math.ceil('You are terse.'.length / 3.5)]);
});
