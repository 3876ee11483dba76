import { z } from '#zod';
import { SimError } from '../../errors.js';
import { uniqueBase62 } from '../../sim/ids.js';
import type { Completion, SimRequest, ToolChoice } from '../../sim/request.js';
import type { Generation } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { lastUserText, simulate, textOf } from '../generation.js';
import { MAX_TOOLS, validate } from '../validate.js';
import { contentBlocksJson, MessageStreamEncoder, messageHead, messageRest, thinkingBlockJson, usageJson } from './encoder.js';
import { KeptBody } from '../kept-body.js';
import { anthropicWording } from './errors.js';
import { findClaudeModel, requireVersion } from './shared.js';

const block = z.looseObject({ type: z.string() });
// Stripping objects (z.object) where only their known fields are read: zod copies a loose
// object's unknown keys one by one. Content blocks stay loose: their other fields are read.
const message = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(block)]),
});

/** WIRE B1. Only the fields the simulation reads are checked; every other field is accepted and ignored. */
export const messagesRequest = z.object({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  max_tokens: z.number().int().min(0),
  system: z.union([z.string(), z.array(z.looseObject({ type: z.literal('text'), text: z.string() }))]).optional(),
  stream: z.boolean().optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  tools: z.array(z.looseObject({ name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/), input_schema: z.record(z.string(), z.unknown()).optional() })).optional(),
  tool_choice: z
    .union([z.looseObject({ type: z.enum(['auto', 'any', 'none']), disable_parallel_tool_use: z.boolean().optional() }), z.looseObject({ type: z.literal('tool'), name: z.string() })])
    .optional(),
  thinking: z
    .union([z.looseObject({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1024) }), z.looseObject({ type: z.enum(['disabled', 'adaptive']) })])
    .optional(),
});

/** Anthropic's limit on messages per request, and the tools limit both dialects share. */
export const MESSAGE_LIMITS = { messages: 100_000, tools: MAX_TOOLS } as const;

/** The prompt's texts, as /v1/messages and /v1/messages/count_tokens both count them. */
export function messageTexts(req: { system?: unknown; messages: { content: unknown }[] }): string[] {
  const texts = [textOf(req.system)];
  for (const m of req.messages) texts.push(textOf(m.content));
  return texts;
}

/** The thinking budget: `enabled` gives it (below max_tokens, as the API requires); `adaptive` thinks up to half of max_tokens. */
function budgetOf(thinking: { type: string; budget_tokens?: number } | undefined, maxTokens: number): number {
  if (thinking === undefined || thinking.type === 'disabled') return 0;
  if (thinking.type === 'adaptive') return Math.floor(maxTokens / 2);
  const budget = thinking.budget_tokens!;
  if (budget >= maxTokens) throw new SimError('invalid_value', `max_tokens: must be greater than thinking.budget_tokens (${budget})`, 'max_tokens');
  return budget;
}

export function messages(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  requireVersion(ctx);
  const req = validate(messagesRequest, body, anthropicWording, MESSAGE_LIMITS);
  const thinkingBudget = budgetOf(req.thinking, req.max_tokens);
  const model = findClaudeModel(ctx, req.model);
  if (model.kind !== 'chat') throw new SimError('invalid_value', `model: ${req.model} does not support the Messages API`, 'model');
  return simulate(
    {
      model,
      texts: messageTexts(req),
      maxTokens: req.max_tokens,
      seed: null,
      stream: req.stream === true,
      stop: req.stop_sequences ?? [],
      lastUserText: lastUserText(req.messages),
      // Server tools (web search and the like) have no input_schema: only custom tools are called.
      tools: (req.tools ?? []).flatMap((t, i) => (t.input_schema === undefined ? [] : [{ name: t.name, schema: t.input_schema, param: `tools[${i}].input_schema` }])),
      toolChoice: toolChoiceOf(req.tool_choice),
      afterToolResult: endsWithToolResult(req.messages),
      parallelToolCalls: req.tool_choice?.disable_parallel_tool_use !== true,
      thinkingBudget,
      wording: anthropicWording,
    },
    ctx,
    (sim, completion) => new MessageGeneration(req.model, sim, completion),
  );
}

const keptBodies = new KeptBody();

class MessageGeneration implements Generation {
  private readonly id = `msg_01${uniqueBase62()}`;

  constructor(
    private readonly modelName: string,
    readonly sim: SimRequest,
    readonly completion: Completion,
  ) {}

  body(): string {
    const { sim, completion, modelName } = this;
    return messageHead(this.id) + (keptBodies.of(completion, modelName, sim) ?? keptBodies.keep(completion, modelName, sim, this.rest()));
  }

  /** The body after `"model":`, which only the id precedes. */
  private rest(): string {
    const { sim, completion } = this;
    const content = `[${completion.thinking > 0 ? `${thinkingBlockJson(completion)},` : ''}${contentBlocksJson(completion)}]`;
    return messageRest(this.modelName, content, completion, usageJson(sim.promptTokens, completion.text.length));
  }

  encoder(): MessageStreamEncoder {
    return new MessageStreamEncoder(this.id, this.modelName, this.sim, this.completion);
  }
}

function toolChoiceOf(choice: { type: string; name?: string } | undefined): ToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (choice.type === 'tool') return { type: 'named', name: choice.name! };
  return { type: choice.type === 'any' ? 'required' : (choice.type as 'auto' | 'none') };
}

/** The last user turn carries tool results: the model now answers in text. */
function endsWithToolResult(messages: readonly { role: string; content: unknown }[]): boolean {
  const last = messages[messages.length - 1]!;
  return Array.isArray(last.content) && last.content.some((b) => (b as { type?: unknown }).type === 'tool_result');
}
