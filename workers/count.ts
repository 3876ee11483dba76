import { countPromptTokens, type Tokenizer } from '../src/sim/tokens.js';

export interface CountTask {
  tokenizer: Tokenizer;
  texts: string[];
}

/** piscina task: the token count of a very large prompt, off the event loop. */
export default function count(task: CountTask): number {
  return countPromptTokens(task.tokenizer, task.texts);
}
