import { corsSchema } from '../edge/cors.js';
import { tlsSchema } from '../edge/tls.js';
import { concurrencySchema } from '../http/concurrency.js';
import { compressionSchema } from '../http/compress.js';
import { tracingSchema } from '../tracing/tracing.js';
import { availableParallelism } from 'node:os';
import { z } from '#zod';
import { BUILT_IN_PROFILES, profileSchema } from '../sim/profiles.js';
import { faultsSchema } from '../faults/rules.js';
import { PRESETS, scenarioSchema } from '../faults/scenarios.js';
import { authSchema } from '../edge/auth.js';
import { limitsSchema } from '../edge/limits.js';

/** A configured model's `created` when it gives none: 2025-01-01T00:00:00Z (a fixed date, so listings repeat run to run). */
export const MODEL_CREATED = 1_735_689_600;

/**
 * The one configuration schema. Every key has its default beside it; the README's configuration
 * table is checked against this file by test/unit/readme.test.ts.
 */
export const modelSchema = z
  .object({
    id: z.string().min(1),
    aliases: z.array(z.string().min(1)).default([]),
    provider: z.enum(['openai', 'anthropic']),
    kind: z.enum(['chat', 'completion', 'embedding']),
    /** Default: the id. */
    displayName: z.string().min(1).optional(),
    /** Unix seconds (OpenAI `created`); Anthropic renders it as RFC 3339. Default: MODEL_CREATED. */
    created: z.number().int().min(0).default(MODEL_CREATED),
    contextWindow: z.number().int().min(1).default(128_000),
    maxOutputTokens: z.number().int().min(1).default(16_384),
    /** Default for an embedding model: 1536 (text-embedding-3-small's). */
    embeddingDimensions: z.number().int().min(1).optional(),
    /** How prompts are counted (src/sim/tokens.ts); default: `approximate` for Anthropic models, `o200k_base` otherwise. */
    tokenizer: z.enum(['o200k_base', 'cl100k_base', 'approximate']).optional(),
    /** Name of the latency profile (built-in or from `profiles`). */
    profile: z.string().min(1),
  })
  .strict()
  // So `{id, provider, kind, profile}` is a whole entry: the fields that depend on others are filled here.
  .transform(({ displayName, embeddingDimensions, ...m }) => {
    const dimensions = embeddingDimensions ?? (m.kind === 'embedding' ? 1536 : undefined);
    return { ...m, displayName: displayName ?? m.id, ...(dimensions !== undefined ? { embeddingDimensions: dimensions } : {}) };
  });

export const configSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(8080),
    /**
     * Start even when the port is already served, joining it (SO_REUSEPORT: the kernel then
     * spreads connections over both). Off: a busy port stops start-up with exit 2.
     */
    sharePort: z.boolean().default(false),
    /** HTTP worker processes; 0 serves from the primary process itself (no cluster). */
    workers: z.number().int().min(0).max(256).default(availableParallelism()),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Before it listens, each HTTP worker sends itself ~1,600 requests of every route on a private
     * loopback port (then forgets them), so the first client finds compiled code and a sized heap.
     */
    warmUp: z.boolean().default(true),
    /** One pino line per request at `info`. */
    accessLog: z.boolean().default(true),
    /** Multiplies every simulated delay: 0 = no delay (throughput tests), 1 = realistic. */
    timeScale: z.number().min(0).max(1000).default(1),
    /** Largest accepted request body; larger ones get 413. */
    bodyLimitBytes: z.number().int().min(1).default(10 * 1024 * 1024),
    /**
     * A stream whose client has read nothing for this long while the server had data to send is
     * closed (a slow or stuck reader must not hold a slot and its buffers forever).
     */
    streamStallTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** On SIGTERM/SIGINT, in-flight requests get this long to finish before the workers are stopped. */
    drainTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
    /** Requests in flight in the whole cluster (seed 000's limit); beyond it `concurrency.mode` says what happens. */
    maxConcurrentRequests: z.number().int().min(1).max(10_000_000).default(10_000),
    concurrency: concurrencySchema,
    /** Deadlines of a request (README "Timeouts"). */
    timeouts: z
      .object({
        /** The whole request, a stream included; then the dialect's 504 (in-band once a stream has begun). Seed 000's: 300 s. */
        requestMs: z.number().int().min(1).max(86_400_000).default(300_000),
        /** A request body that has not all arrived by then gets a 408 and the connection closes (slowloris). */
        bodyMs: z.number().int().min(1).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    /** First delay before a crashed worker is replaced; doubles per crash in a row, capped at 10 s. */
    respawnDelayMs: z.number().int().min(0).max(10_000).default(250),
    /**
     * Makes timing reproducible: with a seed, the same request gets the same schedule (jitter,
     * stalls) in every worker and run; without one (null), timing randomness is real. It is also
     * mixed into every generated text, which is deterministic either way.
     */
    seed: z.number().int().nullable().default(null),
    response: z
      .object({
        /** Length of an answer no cap cuts, in tokens: drawn per request between these bounds. */
        minTokens: z.number().int().min(1).default(16),
        maxTokens: z.number().int().min(1).default(128),
        /** `echo` answers every request with its last user message (per request: header `x-sim-mode: echo`). */
        mode: z.enum(['generate', 'echo']).default('generate'),
      })
      .strict()
      .prefault({}),
    pool: z
      .object({
        /** piscina threads per HTTP worker. */
        threads: z.number().int().min(1).max(64).default(1),
        /** Completions longer than this many tokens are planned in the thread pool (see bench/micro/plan.ts). */
        offloadTokens: z.number().int().min(1).default(2048),
      })
      .strict()
      .prefault({}),
    /**
     * Requests whose timing each HTTP worker keeps for the gateway benchmark (`GET /bench/records`,
     * README "Gateway benchmark"); 0: none kept, and the endpoint answers 404.
     */
    benchRecords: z.number().int().min(0).max(10_000_000).default(0),
    /** Latency profiles by name, added to (or replacing) the built-in ones. */
    profiles: z.record(z.string().min(1), profileSchema).default({}),
    /** Extra or replacement catalogue entries (same id replaces a built-in model). */
    models: z.array(modelSchema).default([]),
    /** Fault rules and the chaos engine's settings (README "Faults"); a bare list is the rules. */
    faults: faultsSchema,
    /** Named timelines of fault phases (README "Scenarios"), added to or replacing the presets. */
    scenarios: z.record(z.string().regex(/^[\w.-]{1,64}$/), scenarioSchema).default({}),
    /** The scenario active from start-up, by name (also `--scenario NAME`); null for none. */
    scenario: z.string().nullable().default(null),
    /** API keys (README "API keys"). */
    auth: authSchema,
    /** Rate limits per key, model and route (README "Rate limits"). */
    limits: limitsSchema,
    /** CORS for browser apps (README "CORS"). */
    cors: corsSchema,
    /** https (README "TLS"). */
    tls: tlsSchema,
    metrics: z
      .object({
        /** Also expose vLLM's metric family (`vllm:*`, label `model_name`), for inference gateways and autoscalers that read it (README "Metrics"). */
        vllm: z.boolean().default(true),
        /**
         * A `server-timing` header (simulated queue, prefill, total) on every delivered generation.
         * Off by default: no vendor sends it, and it costs ~2 % of a chat request's instructions.
         */
        serverTiming: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** OpenTelemetry traces over OTLP/HTTP (README "Traces"). */
    tracing: tracingSchema,
    /** gzip / br / deflate by `accept-encoding` (README "Compression"). */
    compression: compressionSchema,
    admin: z
      .object({
        /** The admin API's key (header `X-Admin-Key`); null: no admin API (its paths answer 404). */
        key: z.string().min(8).nullable().default(null),
        /** A separate listener for the admin API only (as Envoy's admin), 0 for any free port; null: the main port serves it. */
        port: z.number().int().min(0).max(65535).nullable().default(null),
        /** The admin listener's address; null: the main `host`. */
        host: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    control: z
      .object({
        /** Honour the per-request `x-sim-*` headers; false ignores them all (a deployment many teams share). */
        headers: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((c) => c.response.minTokens <= c.response.maxTokens, {
    message: 'must not exceed response.maxTokens',
    path: ['response', 'minTokens'],
  })
  .superRefine((c, ctx) => {
    if (c.scenario !== null && !(c.scenario in c.scenarios) && !(c.scenario in PRESETS)) {
      ctx.addIssue({ code: 'custom', message: `unknown scenario "${c.scenario}" (presets: ${Object.keys(PRESETS).join(', ')})`, path: ['scenario'] });
    }
    c.models.forEach((m, i) => {
      if (!(m.profile in BUILT_IN_PROFILES) && !(m.profile in c.profiles)) {
        ctx.addIssue({ code: 'custom', message: `unknown profile "${m.profile}" (built-in: ${Object.keys(BUILT_IN_PROFILES).join(', ')})`, path: ['models', i, 'profile'] });
      }
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
