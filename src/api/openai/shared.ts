import { SimError } from '../../errors.js';
import { uniqueBase62 } from '../../sim/ids.js';
import type { Completion, SimRequest } from '../../sim/request.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { Model } from '../../sim/catalogue.js';
import type { RouteContext } from '../context.js';

export function findModel(ctx: RouteContext, name: string): Model {
  const model = ctx.catalogue.find(name);
  if (model === undefined) throw new SimError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, 'model');
  return model;
}


/** A documented feature the simulator does not produce yet: refused plainly rather than answered wrongly. */
export function rejectUnsupported(requested: boolean, param: string, what: string): void {
  if (requested) throw new SimError('invalid_value', `${what} is not simulated by llm-simulator yet.`, param);
}

/** `stop` as a list: OpenAI accepts one string or up to four. */
export const stopList = (stop: string | string[] | null | undefined): string[] => (typeof stop === 'string' ? [stop] : (stop ?? []));

/** What chat and legacy completions share: an id with the object's prefix, `created`, the requested model name, include_usage. */
export abstract class OpenAIGeneration implements Generation {
  protected readonly id: string;
  protected readonly created = Math.floor(Date.now() / 1000);

  constructor(
    idPrefix: string,
    protected readonly modelName: string,
    readonly sim: SimRequest,
    readonly completion: Completion,
    protected readonly includeUsage: boolean,
  ) {
    this.id = idPrefix + uniqueBase62();
  }

  abstract body(): string;
  abstract encoder(): StreamEncoder;
}
