import { availableParallelism } from 'node:os';
import { z } from 'zod';

/**
 * The one configuration schema. Every key has its default beside it; the README's configuration
 * table is checked against this file by test/unit/readme.test.ts.
 */
const latencySchema = z
  .object({
    /** Time to first token, milliseconds. */
    ttftMs: z.number().min(0),
    /** Inter-token latency, milliseconds. */
    itlMs: z.number().min(0),
  })
  .strict();

export const modelSchema = z
  .object({
    id: z.string().min(1),
    aliases: z.array(z.string().min(1)).default([]),
    provider: z.enum(['openai', 'anthropic']),
    kind: z.enum(['chat', 'completion', 'embedding']),
    displayName: z.string().min(1),
    /** Unix seconds (OpenAI `created`); Anthropic renders it as RFC 3339. */
    created: z.number().int().min(0),
    contextWindow: z.number().int().min(1),
    maxOutputTokens: z.number().int().min(1),
    embeddingDimensions: z.number().int().min(1).optional(),
    latency: latencySchema,
  })
  .strict();

export const configSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** HTTP worker processes; 0 serves from the primary process itself (no cluster). */
    workers: z.number().int().min(0).max(256).default(availableParallelism()),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** One pino line per request at `info`. */
    accessLog: z.boolean().default(true),
    /** Multiplies every simulated delay: 0 = no delay (throughput tests), 1 = realistic. */
    timeScale: z.number().min(0).default(1),
    /** Largest accepted request body; larger ones get 413. */
    bodyLimitBytes: z.number().int().min(1).default(10 * 1024 * 1024),
    /** On SIGTERM/SIGINT, in-flight requests get this long to finish before the workers are stopped. */
    drainTimeoutMs: z.number().int().min(0).default(30_000),
    /** First delay before a crashed worker is replaced; doubles per crash in a row, capped at 10 s. */
    respawnDelayMs: z.number().int().min(0).default(250),
    /** Seed mixed into every generated text, so a whole run can be varied or pinned. */
    seed: z.number().int().default(0),
    response: z
      .object({
        /** Length of an answer no cap cuts, in tokens: drawn per request between these bounds. */
        minTokens: z.number().int().min(1).default(16),
        maxTokens: z.number().int().min(1).default(128),
      })
      .strict()
      .prefault({}),
    pool: z
      .object({
        /** piscina threads per HTTP worker. */
        threads: z.number().int().min(1).max(64).default(1),
        /** Completions longer than this many tokens are planned in the thread pool (see bench/micro/plan.ts). */
        offloadTokens: z.number().int().min(1).default(8192),
      })
      .strict()
      .prefault({}),
    /** Extra or replacement catalogue entries (same id replaces a built-in model). */
    models: z.array(modelSchema).default([]),
  })
  .strict()
  .refine((c) => c.response.minTokens <= c.response.maxTokens, {
    message: 'must not exceed response.maxTokens',
    path: ['response', 'minTokens'],
  });

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
