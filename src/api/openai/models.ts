import { SimError } from '../../errors.js';
import type { Catalogue, Model } from '../../sim/catalogue.js';

/** WIRE A6: the whole list in one page, no cursor. */
const modelJson = (m: Model, id = m.id): object => ({ id, object: 'model', created: m.created, owned_by: m.provider === 'openai' ? 'system' : m.provider });

export function listModels(catalogue: Catalogue): string {
  return JSON.stringify({ object: 'list', data: catalogue.models.map((m) => modelJson(m)) });
}

export function retrieveModel(catalogue: Catalogue, id: string): string {
  const model = catalogue.find(id);
  if (model === undefined) throw new SimError('model_not_found', `The model '${id}' does not exist`, 'model');
  return JSON.stringify(modelJson(model, id));
}
