import { z } from 'zod';
import { SimError } from '../../errors.js';
import { uniqueBase62 } from '../../sim/ids.js';
import type { Completion, SimRequest, ToolChoice } from '../../sim/request.js';
import type { Generation } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { lastUserText, simulate, textOf } from '../generation.js';
import { validate } from '../validate.js';
import { contentBlockJson, MessageStreamEncoder, messageJson, usageJson } from './encoder.js';
import { anthropicWording } from './errors.js';
import { findClaudeModel, requireVersion } from './shared.js';

const block = z.looseObject({ type: z.string() });
const message = z.looseObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(block)]),
});

/** WIRE B1. Only the fields the simulation reads are checked; every other field is accepted and ignored. */
const messagesRequest = z.looseObject({
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
    .union([z.looseObject({ type: z.enum(['auto', 'any', 'none']) }), z.looseObject({ type: z.literal('tool'), name: z.string() })])
    .optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
});

/** The prompt's texts, as /v1/messages and /v1/messages/count_tokens both count them. */
export function messageTexts(req: { system?: unknown; messages: { content: unknown }[] }): string[] {
  return [textOf(req.system), ...req.messages.map((m) => textOf(m.content))];
}

/** A documented feature the simulator does not produce yet: refused plainly rather than answered wrongly. */
function unsupported(requested: boolean, param: string, what: string): void {
  if (requested) throw new SimError('invalid_value', `${param}: ${what} is not simulated by llm-simulator yet`, param);
}

export function messages(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  requireVersion(ctx);
  const req = validate(messagesRequest, body, anthropicWording);
  unsupported(req.thinking !== undefined && req.thinking.type !== 'disabled', 'thinking', 'extended thinking');
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
      tools: (req.tools ?? []).filter((t) => t.input_schema !== undefined).map((t) => ({ name: t.name, schema: t.input_schema })),
      toolChoice: toolChoiceOf(req.tool_choice),
      afterToolResult: endsWithToolResult(req.messages),
      wording: anthropicWording,
    },
    ctx,
    (sim, completion) => new MessageGeneration(req.model, sim, completion),
  );
}

class MessageGeneration implements Generation {
  private readonly id = `msg_01${uniqueBase62()}`;

  constructor(
    private readonly modelName: string,
    readonly sim: SimRequest,
    readonly completion: Completion,
  ) {}

  body(): string {
    const { sim, completion } = this;
    const content = `[${contentBlockJson(completion)}]`;
    return messageJson(this.id, this.modelName, content, completion, usageJson(sim.promptTokens, completion.text.length));
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
