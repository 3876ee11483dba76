import { embeddingData, type EncodingFormat } from '../src/sim/embeddings.js';

export interface EmbedTask {
  texts: string[];
  dimensions: number;
  format: EncodingFormat;
}

/** piscina task: the `data` array of an embeddings response, serialised off the event loop. */
export default function embed(task: EmbedTask): string {
  return embeddingData(task.texts, task.dimensions, task.format);
}
