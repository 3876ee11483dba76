/**
 * Prompt token estimate: about four characters a token for English text, plus a few tokens of
 * framing per message, as chat templates add. Cheap enough to run inline for any prompt size.
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY_PRIMER = 3;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function estimatePromptTokens(texts: readonly string[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const text of texts) total += TOKENS_PER_MESSAGE + estimateTokens(text);
  return total;
}
