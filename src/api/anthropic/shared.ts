import { SimError } from '../../errors.js';
import type { Model } from '../../sim/catalogue.js';
import type { RouteContext } from '../context.js';

/** WIRE B0/B0a: the header is required; any well-formed date is accepted (2023-06-01, 2026-10-21, ...). */
export function requireVersion(ctx: RouteContext): void {
  const version = ctx.headers.anthropicVersion;
  if (version === '') throw new SimError('missing_api_version', 'anthropic-version: header is required', 'anthropic-version');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(version)) {
    throw new SimError('invalid_value', `anthropic-version: "${version}" is not a valid version (expected a date such as 2023-06-01)`, 'anthropic-version');
  }
}

export function findClaudeModel(ctx: RouteContext, name: string): Model {
  const model = ctx.catalogue.find(name);
  if (model === undefined) throw new SimError('model_not_found', `model: ${name}`, 'model');
  return model;
}
