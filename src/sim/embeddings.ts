import { hashString, Rng } from './rng.js';

/**
 * Deterministic embedding vectors: a function of the input text alone (the same text gives the
 * same vector in every worker and run), unit length, and, as OpenAI does for `dimensions`, a
 * shortened vector is the full one's prefix re-normalised.
 */
export function embeddingVector(text: string, dimensions: number): Float32Array {
  const rng = new Rng(hashString(text));
  const v = new Float32Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const x = rng.next() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) v[i]! *= scale;
  return v;
}

export type EncodingFormat = 'float' | 'base64';

/**
 * One `{"object":"embedding",…}` item: floats as JSON numbers, or packed little-endian float32 in
 * base64 (WIRE A5; a Float32Array's bytes are little-endian on every platform Node runs this on).
 */
export function embeddingItem(index: number, vector: Float32Array, format: EncodingFormat): string {
  const embedding = format === 'base64' ? `"${Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')}"` : JSON.stringify(Array.from(vector));
  return `{"object":"embedding","index":${index},"embedding":${embedding}}`;
}

/** The `data` array of a response, for inputs in order. */
export function embeddingData(texts: readonly string[], dimensions: number, format: EncodingFormat): string {
  let out = '[';
  for (let i = 0; i < texts.length; i++) out += (i === 0 ? '' : ',') + embeddingItem(i, embeddingVector(texts[i]!, dimensions), format);
  return `${out}]`;
}
