import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { CpuPool } from '../../src/sim/pool.js';
import { countPromptTokens, countTextTokens } from '../../src/sim/tokens.js';

t.test('real encodings and the Claude approximation', async (t) => {
  t.equal(countTextTokens('o200k_base', 'Hello, world!'), 4);
  t.equal(countTextTokens('cl100k_base', 'Hello, world!'), 4);
  t.equal(countTextTokens('approximate', 'x'.repeat(35)), 10);
  t.equal(countTextTokens('o200k_base', ''), 0);
  t.equal(countPromptTokens('o200k_base', ['You are terse.', 'Hello, world!']), 3 + (3 + 4) + (3 + 4));
  t.equal(countTextTokens('o200k_base', 'Hello, world!'), 4, 'cached answer is the same');
});

t.test('very large prompts count the same in the thread pool', async (t) => {
  const pool = new CpuPool(validateConfig({}));
  t.teardown(() => pool.destroy());
  const texts = ['system', 'The quick brown fox jumps over the lazy dog. '.repeat(6000)];
  t.equal(await pool.countPrompt({ tokenizer: 'o200k_base', texts }), countPromptTokens('o200k_base', texts));
});
