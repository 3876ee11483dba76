import t from 'tap';
import { answerText, generateTokens, naturalLength, renderEscaped, renderText, TOKEN_JSON, TOKEN_TEXT } from '../../src/sim/text.js';
import { validateConfig } from '../../src/config/load.js';
import { sumRawGaps } from '../../src/sim/latency.js';
import { Profiles } from '../../src/sim/profiles.js';
import { CpuPool } from '../../src/sim/pool.js';
import { countTextTokens } from '../../src/sim/tokens.js';

t.test('deterministic per seed, different across seeds', async (t) => {
  t.same(generateTokens(1, 500), generateTokens(1, 500));
  t.notSame(generateTokens(1, 50), generateTokens(2, 50));
  t.same(generateTokens(9, 100).subarray(0, 40), generateTokens(9, 40), 'a shorter answer is a prefix of a longer one');
});

t.test('exact length and sentence shape', async (t) => {
  for (const n of [0, 1, 2, 17, 1000]) t.equal(generateTokens(3, n).length, n);
  const text = renderText(generateTokens(5, 300));
  t.match(text, /^[A-Z][a-z]+( [A-Za-z]+|[.,])+$/, 'starts capitalised, words and punctuation after');
  t.notMatch(text, /\.\./, 'no empty sentences');
  t.match(text, /\. [A-Z]/, 'sentences start capitalised');
});

t.test('escaped rendering matches JSON.stringify', async (t) => {
  const tokens = generateTokens(11, 200);
  t.equal(`"${renderEscaped(tokens)}"`, JSON.stringify(renderText(tokens)));
  t.equal(TOKEN_JSON.length, TOKEN_TEXT.length);
  t.ok(TOKEN_TEXT.length < 65536, 'indices fit a Uint16Array');
});

t.test('an answer asked for again is the same object, with its text escaped once', async (t) => {
  const first = answerText(0xdeadbeef, 40);
  t.same(first.ids, generateTokens(0xdeadbeef, 40), 'the seed\'s tokens');
  t.equal(answerText(0xdeadbeef, 40), first, 'the same seed and length: the same object');
  const longer = answerText(0xdeadbeef, 41);
  t.not(longer, first, 'another length is another answer');
  t.same(longer.ids, generateTokens(0xdeadbeef, 41));
  t.equal(longer.escaped(), renderEscaped(longer.ids), 'the whole text, escaped');
  t.equal(longer.escaped(), longer.escaped(), 'kept');
  t.equal(longer.escaped(10), renderEscaped(longer.ids, 10), 'a prefix is made as asked');
  // Bounded by tokens kept (2^20): two answers of 600k tokens cannot both be kept.
  const big = answerText(1, 600_000);
  answerText(2, 600_000);
  t.not(answerText(1, 600_000), big, 'the first was dropped to make room');
});

t.test('natural length within bounds and fixed by seed', async (t) => {
  for (let seed = 0; seed < 200; seed++) {
    const n = naturalLength(seed, 10, 20);
    t.ok(n >= 10 && n <= 20);
  }
  t.equal(naturalLength(77, 1, 1000), naturalLength(77, 1, 1000));
});

t.test('the pool thread plans the same tokens and gaps as the inline path', async (t) => {
  const config = validateConfig({});
  const pool = new CpuPool(config);
  t.teardown(() => pool.destroy());
  const { tokens, rawGapSum } = await pool.plan({ seed: 123, count: 20_000, gaps: { profile: new Profiles(config).get('openai-mini')!.spec, itlOverride: null, rngState: 77, count: 19_999 } });
  t.type(tokens, Uint16Array);
  t.same(tokens, generateTokens(123, 20_000));
  t.equal(rawGapSum, sumRawGaps(new Profiles(config).get('openai-mini')!, null, 77, 19_999), 'the same gaps as drawn inline');
  t.ok(Number.isNaN((await pool.plan({ seed: 1, count: 10, gaps: null })).rawGapSum), 'streams need no gap sum');
});

t.test('every vocabulary entry is one token in both OpenAI encodings', async (t) => {
  for (const tokenizer of ['o200k_base', 'cl100k_base'] as const) {
    const multi = TOKEN_TEXT.filter((w) => countTextTokens(tokenizer, w) !== 1);
    t.same(multi, [], tokenizer);
  }
  const text = renderText(generateTokens(3, 500));
  t.ok(Math.abs(countTextTokens('o200k_base', text) - 500) <= 5, 'a generated answer re-tokenizes to about its token count');
});
