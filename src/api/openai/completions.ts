import { z } from 'zod';
import { SimError } from '../../errors.js';
import type { Completion, SimRequest } from '../../sim/request.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { simulate } from '../generation.js';
import { validate } from '../validate.js';
import { chatUsageJson, finishReason, systemFingerprint } from './encoder.js';
import { openaiWording } from './errors.js';
import { findModel, OpenAIGeneration, rejectUnsupported, stopList } from './shared.js';

const tokenIds = z.array(z.number().int().min(0)).min(1);

/** WIRE A4. One prompt per request: batches (several prompts) are not simulated yet. */
const completionsRequest = z.looseObject({
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()).length(1), tokenIds, z.array(tokenIds).length(1)]),
  max_tokens: z.number().int().min(0).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  best_of: z.number().int().min(0).max(20).nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
  stop: z.union([z.string(), z.array(z.string()).min(1).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  seed: z.number().int().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
});

/** The legacy default (WIRE A4): 16 tokens unless the caller says otherwise. */
const DEFAULT_MAX_TOKENS = 16;

export function completions(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  const req = validate(completionsRequest, body, openaiWording);
  rejectUnsupported(req.n != null && req.n > 1, 'n', 'n > 1');
  rejectUnsupported(req.best_of != null && req.best_of > 1, 'best_of', 'best_of > 1');
  rejectUnsupported(req.logprobs != null && req.logprobs > 0, 'logprobs', 'logprobs');
  const model = findModel(ctx, req.model);
  if (model.kind === 'embedding') throw new SimError('invalid_value', `The model \`${req.model}\` is an embedding model and cannot be used with /v1/completions.`, 'model');
  const prompt = Array.isArray(req.prompt) ? (typeof req.prompt[0] === 'string' ? req.prompt[0] : (Array.isArray(req.prompt[0]) ? req.prompt[0] : req.prompt).join(' ')) : req.prompt;
  const includeUsage = req.stream_options?.include_usage === true;
  return simulate(
    {
      model,
      texts: [String(prompt)],
      maxTokens: req.max_tokens ?? DEFAULT_MAX_TOKENS,
      seed: req.seed ?? null,
      stream: req.stream === true,
      stop: stopList(req.stop),
      lastUserText: String(prompt),
      wording: openaiWording,
    },
    ctx,
    (sim, completion) => new TextCompletion(req.model, sim, completion, includeUsage, req.echo === true ? String(prompt) : ''),
  );
}

class TextCompletion extends OpenAIGeneration {
  constructor(
    modelName: string,
    sim: SimRequest,
    completion: Completion,
    includeUsage: boolean,
    /** The prompt, when `echo` asks for it before the completion. */
    private readonly echo: string,
  ) {
    super('cmpl-', modelName, sim, completion, includeUsage);
  }

  private head(): string {
    return `{"id":"${this.id}","object":"text_completion","created":${this.created},"model":${JSON.stringify(this.modelName)},"system_fingerprint":"${systemFingerprint(this.sim.model.id)}","choices":[`;
  }

  body(): string {
    const text = JSON.stringify(this.echo).slice(0, -1) + this.completion.text.escaped();
    return `${this.head()}{"text":${text}","index":0,"logprobs":null,"finish_reason":"${finishReason(this.completion)}"}],"usage":${chatUsageJson(this.sim.promptTokens, this.completion.text.length)}}`;
  }

  encoder(): StreamEncoder {
    const head = `data: ${this.head()}`;
    const tail = this.includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
    const choice = (text: string, finish: string) => `${head}{"text":${text},"index":0,"logprobs":null,"finish_reason":${finish}}${tail}`;
    const tokenPrefix = `${head}{"text":`;
    const tokenSuffix = `,"index":0,"logprobs":null,"finish_reason":null}${tail}`;
    return {
      // WIRE A4: chunks have the shape of the whole object; the echoed prompt comes first.
      open: () => (this.echo === '' ? '' : choice(JSON.stringify(this.echo), 'null')),
      token: (json) => tokenPrefix + json + tokenSuffix,
      close: () =>
        choice('""', `"${finishReason(this.completion)}"`) + (this.includeUsage ? `${head}],"usage":${chatUsageJson(this.sim.promptTokens, this.completion.text.length)}}\n\n` : '') + 'data: [DONE]\n\n',
    };
  }
}
