import { z } from '#zod';
import { faultSpecSchema, span } from './catalogue.js';

/** The POST routes a rule can match, by name (each Route in src/http/app.ts carries one). */
export const FAULT_ROUTES = ['chat.completions', 'completions', 'embeddings', 'responses', 'complete', 'messages', 'messages.count_tokens'] as const;
export type FaultRoute = (typeof FAULT_ROUTES)[number];
/** The routes that generate an answer: the only ones a scripted reply (or `match.prompt`) applies to. */
export const GENERATION_ROUTES: ReadonlySet<FaultRoute> = new Set(['chat.completions', 'completions', 'responses', 'complete', 'messages']);

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

export const matchSchema = z
  .object({
    route: oneOrMany(z.enum(FAULT_ROUTES)).optional(),
    /** A glob on the model name the request sends (`*` any run, `?` one character). */
    model: z.string().min(1).optional(),
    dialect: z.enum(['openai', 'anthropic']).optional(),
    stream: z.boolean().optional(),
    /** The name of the API key the request presented (`auth.keys`). */
    key: z.string().min(1).optional(),
    /** Request headers that must have exactly these values (names are case-insensitive). */
    header: z.record(z.string().min(1), z.string()).optional(),
    /** A regular expression the last user message must match (generation routes only). */
    prompt: z
      .string()
      .refine((source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      }, 'not a valid regular expression')
      .optional(),
  })
  .strict();

/**
 * A scripted answer instead of a generated one: text, a call of a named tool with given
 * arguments, or a JSON value (as the message's text). Streamed token by token on the usual
 * schedule, in either dialect, with its real usage.
 */
export const replySchema = z
  .object({
    text: z.string().optional(),
    toolCall: z.object({ name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/), arguments: z.record(z.string(), z.unknown()).default({}) }).strict().optional(),
    json: z.unknown().optional(),
  })
  .strict()
  .refine((r) => [r.text, r.toolCall, r.json].filter((v) => v !== undefined).length === 1, 'give exactly one of text, toolCall or json');

export type ReplySpec = z.infer<typeof replySchema>;

/**
 * When a matching request gets the fault: always (no `when`), or exactly one trigger. Counts
 * (`first`, `every`, `after`, `pattern`) are of the requests the rule matched, across the whole
 * cluster; times (`window`, `periodic`) run from the moment the rules became active.
 */
export const triggerSchema = z
  .object({
    first: z.number().int().min(1).optional(),
    every: z.number().int().min(1).optional(),
    after: z.number().int().min(0).optional(),
    probability: z.number().min(0).max(1).optional(),
    /** `x` fires, `.` passes, repeating: `..x` fails every third matching request. */
    pattern: z.string().regex(/^[.x]+$/, 'only . (pass) and x (fault)').optional(),
    window: z.object({ from: span.default(0), until: span.optional() }).strict().optional(),
    periodic: z.object({ every: span, for: span }).strict().optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    const given = Object.keys(w).filter((k) => w[k as keyof typeof w] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one trigger (first, every, after, probability, pattern, window or periodic), got ${given.length === 0 ? 'none' : given.join(', ')}` });
    if (w.periodic !== undefined && w.periodic.for > w.periodic.every) ctx.addIssue({ code: 'custom', path: ['periodic', 'for'], message: 'must not exceed periodic.every' });
    if (w.periodic !== undefined && w.periodic.every <= 0) ctx.addIssue({ code: 'custom', path: ['periodic', 'every'], message: 'must be more than 0' });
  });

export const ruleSchema = z
  .object({
    /** Named in the journal, the metrics and `x-sim-fault-injected`; default `rule<N>` (its position, from 1). */
    name: z.string().regex(/^[\w.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').optional(),
    match: matchSchema.prefault({}),
    when: triggerSchema.optional(),
    /** What the rule does: inject a fault, or answer with a scripted reply. */
    fault: faultSpecSchema.optional(),
    reply: replySchema.optional(),
  })
  .strict()
  .refine((r) => (r.fault === undefined) !== (r.reply === undefined), 'give fault or reply (one of them)');

export type Rule = z.infer<typeof ruleSchema>;
export type Trigger = z.infer<typeof triggerSchema>;

/** `faults:` in the config: the rules, or an object with them and the engine's settings. */
export const faultsSchema = z.preprocess(
  (v) => (Array.isArray(v) ? { rules: v } : v),
  z
    .object({
      /** Checked in order; the first rule that fires decides the request's fault. */
      rules: z.array(ruleSchema).max(1000).default([]),
      /** Sends `x-sim-fault-injected: <rule>/<type>` on every faulted response. */
      announce: z.boolean().default(true),
      /** Decisions each worker keeps for the journal (the newest; 0 keeps none). */
      journalSize: z.number().int().min(0).max(100_000).default(1000),
      /** A fixture file of more rules (YAML or JSON list, or JSONL: a rule a line), appended to `rules` at start-up. */
      file: z.string().min(1).nullable().default(null),
    })
    .strict()
    .prefault({}),
);

/** A glob as an anchored regular expression. */
export function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
