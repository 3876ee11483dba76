import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * Token counts. OpenAI models count with their real encoding (gpt-tokenizer): `o200k_base` for
 * the GPT-4o, GPT-4.1, GPT-5 and o-series families, `cl100k_base` for GPT-3.5 and the embedding
 * models. Anthropic publishes no tokenizer for current Claude models: `approximate` counts one
 * token per 3.5 characters, the ratio Anthropic's documentation gives for English text.
 * Chat prompts add 3 tokens per message and 3 for the reply primer, as OpenAI's own counting
 * guide does.
 */
export type Tokenizer = 'o200k_base' | 'cl100k_base' | 'approximate';

export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY_PRIMER = 3;
const CHARS_PER_CLAUDE_TOKEN = 3.5;

/** Counting costs ~8 µs for a short message: the same texts (system prompts, benchmark bodies) are counted once. */
const CACHE_LIMIT = 10_000;
const caches: Record<Exclude<Tokenizer, 'approximate'>, Map<string, number>> = { o200k_base: new Map(), cl100k_base: new Map() };
const ENCODERS = { o200k_base: o200k, cl100k_base: cl100k };
/** Texts longer than this are not cached (they are rarely repeated, and would pin memory). */
const CACHE_MAX_CHARS = 4096;

export function countTextTokens(tokenizer: Tokenizer, text: string): number {
  if (text === '') return 0;
  if (tokenizer === 'approximate') return Math.ceil(text.length / CHARS_PER_CLAUDE_TOKEN);
  if (text.length > CACHE_MAX_CHARS) return ENCODERS[tokenizer](text);
  const cache = caches[tokenizer];
  let n = cache.get(text);
  if (n === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, (n = ENCODERS[tokenizer](text)));
  }
  return n;
}

export function countPromptTokens(tokenizer: Tokenizer, texts: readonly string[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const text of texts) total += TOKENS_PER_MESSAGE + countTextTokens(tokenizer, text);
  return total;
}

/** Prompts with more characters than this (~50k tokens) are counted in the thread pool. */
export const OFFLOAD_PROMPT_CHARS = 200_000;

/** The encodings build their tables on first use (~0.1–0.5 s): done at start-up, not in the first request. */
export function warmTokenizers(): void {
  o200k('warm');
  cl100k('warm');
}
