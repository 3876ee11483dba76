import { z } from 'zod';
import { distributionSchema, type DistributionSpec } from './distributions.js';

/** How a slowdown factor grows with utilisation (running ÷ maxConcurrent): a number is the factor at capacity, reached linearly from 1 at idle; or [utilisation, factor] points joined by straight lines. */
const slowdownSchema = z.union([z.number().min(1).max(1000), z.array(z.tuple([z.number().min(0), z.number().min(0).max(1000)])).min(1)]);

export const profileSchema = z
  .object({
    /** The fixed part of time to first token (scheduling, first decode step), ms. */
    prefillOverheadMs: distributionSchema.default(0),
    /** Prefill time per prompt token, ms: time to first token grows with the prompt. */
    prefillPerTokenMs: z.number().min(0).max(1000).default(0),
    /** Gap between two tokens, ms. */
    itlMs: distributionSchema.default(0),
    /** A pause before a token, with this probability per token. */
    stall: z.object({ probability: z.number().min(0).max(1), durationMs: distributionSchema }).strict().nullable().default(null),
    /** Embeddings: base latency plus a time per input token, ms. */
    embedding: z.object({ baseMs: distributionSchema.default(0), perTokenMs: z.number().min(0).max(1000).default(0) }).strict().prefault({}),
    /** Sequences a model runs at once across the whole cluster; null = unlimited. */
    maxConcurrent: z.number().int().min(1).nullable().default(null),
    /**
     * The simulated KV cache across the cluster, in tokens: running sequences fill it with their
     * prompt and generated tokens (`vllm:kv_cache_usage_perc`). The default is of the order one
     * 80 GB GPU holds for a mid-sized model.
     */
    kvCacheTokens: z.number().int().min(1).max(1_000_000_000).default(262_144),
    /** Requests that may wait for a slot across the cluster; past it, requests are refused as overloaded. */
    queueLimit: z.number().int().min(0).default(1000),
    slowdown: z.object({ ttft: slowdownSchema.default(1), itl: slowdownSchema.default(1) }).strict().prefault({}),
  })
  .strict();

export type Profile = z.infer<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;

const lognormal = (median: number, p99: number): DistributionSpec => ({ type: 'lognormal', median, p99 });

function preset(ttftMedian: number, ttftP99: number, perTokenMs: number, itlMedian: number, itlP99: number, stallProbability = 0.002): ProfileInput {
  return {
    prefillOverheadMs: lognormal(ttftMedian, ttftP99),
    prefillPerTokenMs: perTokenMs,
    itlMs: lognormal(itlMedian, itlP99),
    stall: { probability: stallProbability, durationMs: { type: 'exponential', mean: 8 * itlMedian } },
    embedding: { baseMs: lognormal(40, 150), perTokenMs: 0.002 },
    slowdown: { ttft: 2, itl: 1.5 },
  };
}

/**
 * Built-in profiles. `instant` and `fast` are for tests and throughput runs. The others are round
 * figures of the order public leaderboards (e.g. Artificial Analysis, 2025) report for these model
 * tiers through their first-party APIs: median time to first token for a short prompt, a p99 about
 * three times it, and an output speed that sets the inter-token median. They are not measurements
 * of ours; replace them in the config file with figures from your own provider traces.
 */
export const BUILT_IN_PROFILES: Record<string, ProfileInput> = {
  instant: {},
  fast: { prefillOverheadMs: 20, itlMs: 2 },
  'openai-large': preset(600, 2_000, 0.02, 12, 35),
  'openai-mini': preset(400, 1_300, 0.01, 8, 25),
  'openai-nano': preset(300, 1_000, 0.005, 5, 15),
  'openai-reasoning': preset(1_500, 6_000, 0.02, 6, 20),
  'openai-instruct': preset(200, 600, 0.005, 6, 15),
  'openai-embedding': { embedding: { baseMs: lognormal(40, 150), perTokenMs: 0.002 } },
  'claude-opus': preset(1_400, 4_000, 0.03, 25, 70),
  'claude-sonnet': preset(900, 2_800, 0.02, 15, 45),
  'claude-haiku': preset(450, 1_400, 0.01, 8, 25),
};
