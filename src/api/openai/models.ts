import { SimError } from '../../errors.js';
import type { Model } from '../../sim/catalogue.js';
import type { GetContext } from '../context.js';

/** WIRE A6: the whole list in one page, no cursor. */
const modelJson = (m: Model, id = m.id): object => ({ id, object: 'model', created: m.created, owned_by: m.provider === 'openai' ? 'system' : m.provider });

export function listModels(ctx: GetContext): string {
  return JSON.stringify({ object: 'list', data: ctx.catalogue.models.map((m) => modelJson(m)) });
}

export function retrieveModel(ctx: GetContext): string {
  const model = ctx.catalogue.find(ctx.param);
  if (model === undefined) throw new SimError('model_not_found', `The model '${ctx.param}' does not exist`, 'model');
  return JSON.stringify(modelJson(model, ctx.param));
}
