import { z } from '#zod';
import { SimError } from '../../errors.js';
import { planCompletion } from '../../sim/plan.js';
import type { Completion, SimRequest } from '../../sim/request.js';
import { hashString } from '../../sim/rng.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { simulate } from '../generation.js';
import { textsOrTokens, validate } from '../validate.js';
import { chatUsageJson, finishReason, longest, systemFingerprint, totalTokens } from './encoder.js';
import { openaiWording } from './errors.js';
import { legacyLogprobsJson } from './logprobs.js';
import { findModel, OpenAIGeneration, rejectUnsupported, stopList } from './shared.js';
import { jsonString } from '../../json.js';
import { packedMap } from '../../arrays.js';

/** Prompts one request may batch: as many as embeddings inputs (WIRE A5); OpenAI documents no number. */
const MAX_PROMPTS = 2048;

/** WIRE A4: one prompt or a batch of them, as text or token ids. */
export const completionsRequest = z.looseObject({
  model: z.string().min(1),
  prompt: textsOrTokens(MAX_PROMPTS, true),
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

/** The prompts of a request: one string, strings, or token-id arrays (embedded by their ids). */
function promptsOf(prompt: string | string[] | number[] | number[][]): string[] {
  if (typeof prompt === 'string') return [prompt];
  if (typeof prompt[0] === 'number') return [(prompt as number[]).join(' ')];
  return packedMap(prompt as (string | number[])[], (p) => (typeof p === 'string' ? p : p.join(' ')));
}

export function completions(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  const req = validate(completionsRequest, body, openaiWording);
  const n = req.n ?? 1;
  // best_of picks the best of several server-side candidates: the simulated answer is that pick.
  if (req.best_of != null && req.best_of > 0 && req.best_of < n) throw new SimError('invalid_value', "Invalid value for 'best_of': best_of must be greater than or equal to n.", 'best_of');
  rejectUnsupported(req.stream === true && req.best_of != null && req.best_of > 1, 'best_of', 'streaming with best_of > 1');
  const model = findModel(ctx, req.model);
  if (model.kind === 'embedding') throw new SimError('invalid_value', `The model \`${req.model}\` is an embedding model and cannot be used with /v1/completions.`, 'model');
  const prompts = promptsOf(req.prompt);
  const includeUsage = req.stream_options?.include_usage === true;
  return simulate(
    {
      model,
      texts: prompts,
      maxTokens: req.max_tokens ?? DEFAULT_MAX_TOKENS,
      seed: req.seed ?? null,
      stream: req.stream === true,
      stop: stopList(req.stop),
      lastUserText: prompts[prompts.length - 1]!,
      wording: openaiWording,
      choices: { count: prompts.length * n, param: prompts.length > 1 ? 'prompt' : 'n' },
      alternatives: req.logprobs ?? 0,
    },
    ctx,
    (sim, first) => {
      // Choices are ordered by prompt, then by n (WIRE A4); choice 0 is the single-prompt answer.
      const choices = prompts.flatMap((p, i) =>
        Array.from({ length: n }, (_, k): Choice => {
          const completion = i === 0 && k === 0 ? first : (planCompletion({ ...sim, textSeed: hashString(`choice ${k}`, hashString(p, sim.textSeed)) }, ctx.config, null) as Completion);
          return { completion, echo: req.echo === true ? p : '' };
        }),
      );
      return new TextCompletion(req.model, sim, choices, includeUsage, req.logprobs ?? null);
    },
  );
}

interface Choice {
  readonly completion: Completion;
  /** The prompt, when `echo` asks for it before the completion. */
  readonly echo: string;
}

class TextCompletion extends OpenAIGeneration {
  constructor(
    modelName: string,
    sim: SimRequest,
    private readonly choices: readonly Choice[],
    includeUsage: boolean,
    /** The integer `logprobs` (alternatives per token), or null. */
    private readonly logprobs: number | null,
  ) {
    super('cmpl-', modelName, sim, longest(packedMap(choices, (c) => c.completion)), includeUsage);
  }

  private head(): string {
    return `{"id":"${this.id}","object":"text_completion","created":${this.created},"model":${jsonString(this.modelName)},"system_fingerprint":"${systemFingerprint(this.sim.model.id)}","choices":[`;
  }

  private usage(): string {
    return chatUsageJson(this.sim.promptTokens, totalTokens(packedMap(this.choices, (c) => c.completion)));
  }

  private logprobsOf(c: Choice, from: number, to: number): string {
    return this.logprobs === null ? 'null' : legacyLogprobsJson(c.completion.text, this.sim.textSeed, this.logprobs, from, to, c.echo.length);
  }

  body(): string {
    const choices = packedMap(this.choices, (c, i) => {
      const text = JSON.stringify(c.echo).slice(0, -1) + c.completion.text.escaped();
      return `{"text":${text}","index":${i},"logprobs":${this.logprobsOf(c, 0, c.completion.text.length)},"finish_reason":"${finishReason(c.completion)}"}`;
    });
    return `${this.head()}${choices.join(',')}],"usage":${this.usage()}}`;
  }

  /**
   * WIRE A4: chunks have the whole object's shape; every choice's echoed prompt comes first, then
   * the choices' tokens step by step, each choice's last chunk (empty text, its finish_reason)
   * after its last token.
   */
  encoder(): StreamEncoder {
    const head = `data: ${this.head()}`;
    const tail = this.includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
    const chunk = (index: number, text: string, logprobs: string, finish: string) => `${head}{"text":${text},"index":${index},"logprobs":${logprobs},"finish_reason":${finish}}${tail}`;
    const finish = (c: Choice, i: number) => chunk(i, '""', 'null', `"${finishReason(c.completion)}"`);
    return {
      plainFrame: null, // each choice's own chunks, and a finish chunk after each choice's last token
      open: (out) => this.choices.forEach((c, i) => c.echo !== '' && out.text(chunk(i, JSON.stringify(c.echo), 'null', 'null'))),
      token: (s, out) => {
        this.choices.forEach((c, i) => {
          if (s >= c.completion.text.length) return;
          out.text(chunk(i, c.completion.text.json(s), this.logprobsOf(c, s, s + 1), 'null'));
          if (s === c.completion.text.length - 1) out.text(finish(c, i));
        });
      },
      close: (out) => {
        this.choices.forEach((c, i) => c.completion.text.length === 0 && out.text(finish(c, i)));
        if (this.includeUsage) out.text(`${head}],"usage":${this.usage()}}\n\n`);
        out.text('data: [DONE]\n\n');
      },
    };
  }
}
