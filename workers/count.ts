import { countTexts, type Tokenizer } from '../src/sim/tokens.js';

export interface CountTask {
  tokenizer: Tokenizer;
  texts: string[];
}

/** piscina task: each text's token count, off the event loop (costly prompts and embedding batches). */
export default function count(task: CountTask): number[] {
  return countTexts(task.tokenizer, task.texts);
}
