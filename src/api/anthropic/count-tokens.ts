import { z } from '#zod';
import type { JsonReply, RouteContext } from '../context.js';
import { promptTokens } from '../generation.js';
import { validate } from '../validate.js';
import { anthropicWording } from './errors.js';
import { MESSAGE_LIMITS, messageTexts } from './messages.js';
import { findClaudeModel, requireVersion } from './shared.js';

export const countRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]) })).min(1),
  system: z.union([z.string(), z.array(z.looseObject({ type: z.literal('text'), text: z.string() }))]).optional(),
});

/** WIRE B4: the same count /v1/messages reports as usage.input_tokens for the same body. */
export function countTokens(body: unknown, ctx: RouteContext): JsonReply | Promise<JsonReply> {
  requireVersion(ctx);
  const req = validate(countRequest, body, anthropicWording, MESSAGE_LIMITS);
  const reply = (n: number): JsonReply => ({ status: 200, body: `{"input_tokens":${n}}`, delayMs: 0 });
  const n = promptTokens(ctx, findClaudeModel(ctx, req.model), messageTexts(req));
  return typeof n === 'number' ? reply(n) : n.then(reply);
}
