import { SimError } from '../../errors.js';
import type { Catalogue, Model } from '../../sim/catalogue.js';
import type { GetContext } from '../context.js';

/** WIRE B5 / the spec's `ModelInfo`. */
const modelInfo = (m: Model) => ({
  type: 'model',
  id: m.id,
  display_name: m.displayName,
  created_at: new Date(m.created * 1000).toISOString().replace('.000Z', 'Z'),
  max_input_tokens: m.contextWindow,
  max_tokens: m.maxOutputTokens,
  capabilities: null,
});

const claudeModels = (catalogue: Catalogue): Model[] => catalogue.models.filter((m) => m.provider === 'anthropic' && m.kind === 'chat');

/**
 * A page of Claude models, newest first as the API lists them: `limit` (1–1000, default 20),
 * `after_id` (the page after that id) or `before_id` (the page before it), with has_more,
 * first_id and last_id so the SDK's auto-pagination walks the whole list and stops.
 */
export function listModels(ctx: GetContext): string {
  const params = new URLSearchParams(ctx.query);
  const limitText = params.get('limit');
  const limit = limitText === null ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SimError('invalid_value', 'limit: Input should be between 1 and 1000', 'limit');
  const all = claudeModels(ctx.catalogue).sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
  const position = (id: string): number => {
    const i = all.findIndex((m) => m.id === id);
    if (i === -1) throw new SimError('invalid_value', `No model with id ${id}`, 'after_id');
    return i;
  };
  const after = params.get('after_id');
  const before = params.get('before_id');
  let start = 0;
  let end = all.length;
  if (after !== null) start = position(after) + 1;
  if (before !== null) end = position(before);
  let page: Model[];
  let hasMore: boolean;
  if (before !== null && after === null) {
    page = all.slice(Math.max(start, end - limit), end);
    hasMore = end - limit > start;
  } else {
    page = all.slice(start, Math.min(end, start + limit));
    hasMore = start + limit < end;
  }
  return JSON.stringify({ data: page.map(modelInfo), has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page[page.length - 1]?.id ?? null });
}

export function retrieveModel(ctx: GetContext): string {
  const model = ctx.catalogue.find(ctx.param);
  if (model === undefined || model.provider !== 'anthropic') throw new SimError('model_not_found', `model: ${ctx.param}`, 'model');
  return JSON.stringify({ ...modelInfo(model), id: ctx.param });
}
