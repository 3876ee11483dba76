import { z } from '#zod';
import { SimError } from '../../errors.js';
import { NO_CAP, type Completion, type SimRequest } from '../../sim/request.js';
import { planCompletion } from '../../sim/plan.js';
import { hashString } from '../../sim/rng.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { lastUserText, simulate, textOf } from '../generation.js';
import { MAX_TOOLS, validate } from '../validate.js';
import { ChatStreamEncoder, chatUsageJson, choiceSeed, finishReason, longest, MultiChoiceStreamEncoder, systemFingerprint, toolCallsJson, totalTokens } from './encoder.js';
import { openaiWording } from './errors.js';
import { logprobsJson } from './logprobs.js';
import { findModel, OpenAIGeneration, stopList } from './shared.js';
import { jsonString } from '../../json.js';
import { KeptBody } from '../kept-body.js';
import { packedMap } from '../../arrays.js';

const contentPart = z.looseObject({ type: z.string() });
// Stripping objects (z.object) where only their known fields are read: zod copies a loose
// object's unknown keys one by one (the request schema parsed in 0.65 µs loose, 0.34 µs strict).
const message = z.object({
  role: z.enum(['developer', 'system', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});

/** WIRE A1. Only the fields the simulation reads are checked; every other field is accepted and ignored. */
export const chatRequest = z.object({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  seed: z.number().int().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).min(1).max(4)]).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: z
    .array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/), parameters: z.record(z.string(), z.unknown()).optional() }) }))
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) })])
    .nullish(),
  response_format: z
    .union([
      z.looseObject({ type: z.literal('text') }),
      z.looseObject({ type: z.literal('json_object') }),
      z.looseObject({ type: z.literal('json_schema'), json_schema: z.looseObject({ name: z.string().min(1).max(64), schema: z.record(z.string(), z.unknown()).optional() }) }),
    ])
    .nullish(),
});

/** OpenAI's own limit ("array too long ... maximum length 2048"). */
const MAX_MESSAGES = 2048;

export function chatCompletions(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  const req = validate(chatRequest, body, openaiWording, { messages: MAX_MESSAGES, tools: MAX_TOOLS });
  const n = req.n ?? 1;
  if (req.top_logprobs != null && req.logprobs !== true) throw new SimError('invalid_value', "Invalid value for 'top_logprobs': logprobs must be true when top_logprobs is set.", 'top_logprobs');

  const model = findModel(ctx, req.model);
  if (model.kind === 'embedding') {
    throw new SimError('invalid_value', `The model \`${req.model}\` is an embedding model and cannot be used with /v1/chat/completions.`, 'model');
  }
  const includeUsage = req.stream_options?.include_usage === true;
  const texts = packedMap(req.messages, (m) => textOf(m.content));
  return simulate(
    {
      model,
      texts,
      maxTokens: req.max_completion_tokens ?? req.max_tokens ?? NO_CAP,
      seed: req.seed ?? null,
      stream: req.stream === true,
      stop: stopList(req.stop),
      lastUserText: lastUserText(req.messages),
      tools: (req.tools ?? []).map((t, i) => ({ name: t.function.name, schema: t.function.parameters ?? { type: 'object', properties: {} }, param: `tools[${i}].function.parameters` })),
      toolChoice: req.tool_choice == null ? undefined : typeof req.tool_choice === 'string' ? { type: req.tool_choice } : { type: 'named', name: req.tool_choice.function.name },
      afterToolResult: req.messages[req.messages.length - 1]!.role === 'tool',
      parallelToolCalls: req.parallel_tool_calls ?? true,
      json: req.response_format == null || req.response_format.type === 'text' ? undefined : { schema: jsonSchemaOf(req.response_format), param: 'response_format.json_schema.schema' },
      wording: openaiWording,
      choices: { count: n, param: 'n' },
      alternatives: req.logprobs === true ? (req.top_logprobs ?? 0) + 1 : 0,
    },
    ctx,
    // Tool-call arguments carry no logprobs, as with the real API.
    (sim, completion) => new ChatGeneration(req.model, sim, [completion, ...moreChoices(sim, ctx, n)], includeUsage, req.logprobs === true && completion.toolCalls.length === 0 ? (req.top_logprobs ?? 0) : null),
  );
}

/**
 * Choices 1…n−1 (`n` > 1): planned like the first, from seeds derived from its text seed, so they
 * differ from each other and are as deterministic. Planned inline: several choices of one request
 * are short enough.
 */
function moreChoices(sim: SimRequest, ctx: RouteContext, n: number): Completion[] {
  if (n === 1) return [];
  return Array.from({ length: n - 1 }, (_, i) => planCompletion({ ...sim, textSeed: hashString(`choice ${i + 1}`, sim.textSeed) }, ctx.config, null) as Completion);
}

class ChatGeneration extends OpenAIGeneration {
  constructor(
    modelName: string,
    sim: SimRequest,
    private readonly choices: readonly Completion[],
    includeUsage: boolean,
    /** The number of top_logprobs per token when logprobs were asked for, else null. */
    private readonly topLogprobs: number | null,
  ) {
    super('chatcmpl-', modelName, sim, longest(choices), includeUsage);
  }

  private choiceJson(c: Completion, index: number): string {
    const message = c.toolCalls.length === 0 ? `"content":"${c.text.escaped()}"` : `"content":null,"tool_calls":${toolCallsJson(c)}`;
    const logprobs = this.topLogprobs === null || c.toolCalls.length > 0 ? 'null' : logprobsJson(c.text, choiceSeed(this.sim, index), this.topLogprobs);
    return `{"index":${index},"message":{"role":"assistant",${message},"refusal":null,"annotations":[]},"logprobs":${logprobs},"finish_reason":"${finishReason(c)}"}`;
  }

  body(): string {
    const { completion, modelName, sim } = this;
    // Kept for one text answer without logprobs (logprobs differ by request, several choices rarely repeat).
    const keepable = this.choices.length === 1 && this.topLogprobs === null;
    const rest = keepable ? (keptBodies.of(completion, modelName, sim) ?? keptBodies.keep(completion, modelName, sim, this.rest())) : this.rest();
    return `{"id":"${this.id}","object":"chat.completion","created":${this.created},"model":` + rest;
  }

  /** The body after `"model":`, which only the id and `created` precede. */
  private rest(): string {
    const { sim, choices } = this;
    return (
      `${jsonString(this.modelName)},"choices":[${choices.length === 1 ? this.choiceJson(choices[0]!, 0) : choices.map((c, i) => this.choiceJson(c, i)).join(',')}],` +
      `"usage":${chatUsageJson(sim.promptTokens, totalTokens(choices))},"service_tier":"default","system_fingerprint":"${systemFingerprint(sim.model.id)}"}`
    );
  }

  encoder(): StreamEncoder {
    if (this.choices.length > 1) return new MultiChoiceStreamEncoder(this.id, this.created, this.modelName, this.sim, this.choices, this.includeUsage, this.topLogprobs);
    return new ChatStreamEncoder(this.id, this.created, this.modelName, this.sim, this.completion, this.includeUsage, this.topLogprobs);
  }
}

const keptBodies = new KeptBody();

/** `json_schema` carries its schema; `json_object` asks for any object (null). */
function jsonSchemaOf(format: { type: string; json_schema?: { schema?: unknown } }): unknown {
  return format.type === 'json_schema' ? (format.json_schema?.schema ?? null) : null;
}
