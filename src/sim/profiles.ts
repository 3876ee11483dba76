import { z } from '#zod';
import type { Config } from '../config/schema.js';
import { MAX_DELAY_MS } from './distributions.js';
import { CompiledProfile } from './latency.js';

/**
 * Profiles in config: their schema (with the distributions'), the built-in profiles, and the
 * registry of a process's compiled profiles. The thread pool's tasks use compiled profiles only
 * (latency.ts, distributions.ts) and never load this module or zod.
 */

const nonNegative = z.number().min(0).max(MAX_DELAY_MS);
const positive = z.number().positive().max(MAX_DELAY_MS);

const constant = z.object({ type: z.literal('constant'), value: nonNegative }).strict();
const uniform = z
  .object({ type: z.literal('uniform'), min: nonNegative, max: nonNegative })
  .strict()
  .refine((d) => d.min <= d.max, { message: 'min must not exceed max', path: ['min'] });
const normal = z.object({ type: z.literal('normal'), mean: z.number(), stddev: nonNegative }).strict();
const lognormalSchema = z.union([
  z.object({ type: z.literal('lognormal'), mu: z.number(), sigma: nonNegative }).strict(),
  z
    .object({ type: z.literal('lognormal'), median: positive, p99: positive })
    .strict()
    .refine((d) => d.p99 >= d.median, { message: 'p99 must be at least the median', path: ['p99'] }),
]);
const exponential = z.object({ type: z.literal('exponential'), mean: positive }).strict();
const pareto = z.object({ type: z.literal('pareto'), scale: positive, shape: positive }).strict();
const empirical = z
  .object({ type: z.literal('empirical'), min: nonNegative.optional(), p50: nonNegative, p90: nonNegative, p99: nonNegative, p999: nonNegative })
  .strict()
  .refine((d) => (d.min ?? 0) <= d.p50 && d.p50 <= d.p90 && d.p90 <= d.p99 && d.p99 <= d.p999, { message: 'percentiles must not decrease (min ≤ p50 ≤ p90 ≤ p99 ≤ p999)' });

export type DistributionSpec =
  | number
  | z.infer<typeof constant>
  | z.infer<typeof uniform>
  | z.infer<typeof normal>
  | z.infer<typeof lognormalSchema>
  | z.infer<typeof exponential>
  | z.infer<typeof pareto>
  | z.infer<typeof empirical>
  | { type: 'mixture'; components: { weight: number; dist: DistributionSpec }[] };

/** A distribution in config: a plain number is a constant. */
export const distributionSchema: z.ZodType<DistributionSpec> = z.lazy(() =>
  z.union([
    nonNegative,
    constant,
    uniform,
    normal,
    lognormalSchema,
    exponential,
    pareto,
    empirical,
    z.object({ type: z.literal('mixture'), components: z.array(z.object({ weight: positive, dist: distributionSchema }).strict()).min(1) }).strict(),
  ]),
);

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

/** Every profile of a process: built-ins, overridden or extended by `profiles` in the config. */
export class Profiles {
  private readonly byName = new Map<string, CompiledProfile>();

  constructor(config: Readonly<Config>) {
    for (const [name, input] of Object.entries(BUILT_IN_PROFILES)) this.byName.set(name, new CompiledProfile(name, profileSchema.parse(input)));
    for (const [name, spec] of Object.entries(config.profiles)) this.byName.set(name, new CompiledProfile(name, spec));
  }

  get(name: string): CompiledProfile | undefined {
    return this.byName.get(name);
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }
}
