import { SimError } from '../../errors.js';
import type { Model } from '../../sim/catalogue.js';
import type { RouteContext } from '../context.js';

export function findModel(ctx: RouteContext, name: string): Model {
  const model = ctx.catalogue.find(name);
  if (model === undefined) throw new SimError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, 'model');
  return model;
}

