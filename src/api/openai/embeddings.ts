import { z } from '#zod';
import { SimError } from '../../errors.js';
import { embeddingData, type EncodingFormat } from '../../sim/embeddings.js';
import { PROFILE_HEADER } from '../../sim/latency.js';
import { hashString, Rng } from '../../sim/rng.js';
import { tokenizerOf } from '../../sim/catalogue.js';
import { countTextsBounded } from '../../sim/tokens.js';
import type { JsonReply, RouteContext } from '../context.js';
import { textsOrTokens, validate } from '../validate.js';
import { openaiWording } from './errors.js';
import { findModel } from './shared.js';
import { jsonString } from '../../json.js';
import { packedMap } from '../../arrays.js';

const MAX_INPUTS = 2048;
const MAX_TOKENS_PER_INPUT = 8192;
const MAX_TOKENS_PER_REQUEST = 300_000;

/**
 * Measured by bench/micro/embeddings.ts: building the `data` array costs ~0.2 µs a float as JSON
 * (a 1536-float vector ~300 µs) and ~0.011 µs a float as base64, while a pool round trip costs
 * 40–160 µs of event-loop time for small batches. Batches whose estimated inline cost passes this
 * go to the thread pool (a single float vector does; base64 from about 10 vectors of 1536).
 */
const OFFLOAD_MICROS = 150;
const MICROS_PER_FLOAT = { float: 0.2, base64: 0.011 } as const;

/** WIRE A5. */
export const embeddingsRequest = z.looseObject({
  model: z.string().min(1),
  input: textsOrTokens(MAX_INPUTS, false),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().optional(),
});

export function embeddings(body: unknown, ctx: RouteContext): JsonReply | Promise<JsonReply> {
  const req = validate(embeddingsRequest, body, openaiWording);
  const model = findModel(ctx, req.model);
  const full = model.embeddingDimensions;
  if (model.kind !== 'embedding' || full === undefined) throw new SimError('invalid_value', `The model \`${req.model}\` does not support embeddings.`, 'model');
  const dimensions = req.dimensions ?? full;
  if (dimensions > full) throw new SimError('invalid_value', `Invalid value for 'dimensions': ${dimensions} is greater than the model's ${full} dimensions.`, 'dimensions');
  // Token-id inputs are embedded by their ids: the same ids give the same vector.
  const inputs: (string | number[])[] = typeof req.input === 'string' || typeof req.input[0] === 'number' ? [req.input as string | number[]] : (req.input as (string | number[])[]);
  const texts = packedMap(inputs, (i) => (typeof i === 'string' ? i : i.join(' ')));
  const strings = inputs.filter((i): i is string => typeof i === 'string');
  const profileName = ctx.headers.profile !== '' ? ctx.headers.profile : model.profile;
  const profile = ctx.profiles.get(profileName);
  if (profile === undefined) throw new SimError('invalid_value', `Header ${PROFILE_HEADER}: unknown profile "${profileName}".`, PROFILE_HEADER);
  const format: EncodingFormat = req.encoding_format ?? 'float';
  const answer = (stringCounts: readonly number[]): JsonReply | Promise<JsonReply> => {
    let k = 0;
    const counts = inputs.map((i) => (typeof i === 'string' ? stringCounts[k++]! : i.length));
    const worst = Math.max(...counts);
    if (worst > MAX_TOKENS_PER_INPUT) {
      throw new SimError('context_length_exceeded', `This model's maximum context length is ${MAX_TOKENS_PER_INPUT} tokens, however you requested ${worst} tokens in one input. Please reduce your prompt.`, 'input');
    }
    const tokens = counts.reduce((a, b) => a + b, 0);
    if (tokens > MAX_TOKENS_PER_REQUEST) {
      throw new SimError('invalid_value', `Requested ${tokens} tokens, max ${MAX_TOKENS_PER_REQUEST} tokens per request`, 'input');
    }
    const seed = ctx.config.seed === null ? (Math.random() * 0x100000000) | 0 : hashString(texts.join('\n'), ctx.config.seed);
    const delayMs = profile.embeddingBase.sample(new Rng(seed)) + tokens * profile.embeddingPerTokenMs;
    const reply = (data: string): JsonReply => ({
      status: 200,
      body: `{"object":"list","data":${data},"model":${jsonString(req.model)},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`,
      delayMs,
    });
    const cost = texts.length * dimensions * MICROS_PER_FLOAT[format];
    if (ctx.pool !== null && cost > OFFLOAD_MICROS) return ctx.pool.embed({ texts, dimensions, format }).then(reply);
    return reply(embeddingData(texts, dimensions, format));
  };
  // Token-id inputs count as their ids; texts are counted inline or in the pool (src/sim/tokens.ts).
  const counts = countTextsBounded(tokenizerOf(model), strings, ctx.pool);
  return counts instanceof Promise ? counts.then(answer) : answer(counts);
}
