import { z } from '#zod';
import { SimError } from '../../errors.js';
import { utf8 } from '../../sim/frames.js';
import { uniqueBase62 } from '../../sim/ids.js';
import type { Completion, SimRequest } from '../../sim/request.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { simulate } from '../generation.js';
import { validate } from '../validate.js';
import { anthropicWording } from './errors.js';
import { findClaudeModel, requireVersion } from './shared.js';
import { jsonString } from '../../json.js';

/** The SDK's HUMAN_PROMPT and AI_PROMPT (WIRE B6). */
const HUMAN = '\n\nHuman:';
const ASSISTANT = '\n\nAssistant:';

export const completeRequest = z.looseObject({
  model: z.string().min(1),
  prompt: z.string(),
  max_tokens_to_sample: z.number().int().min(1),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
});

/** Legacy Text Completions: `"\n\nHuman: …\n\nAssistant:"` prompts, `completion` events when streaming. */
export function complete(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  requireVersion(ctx);
  const req = validate(completeRequest, body, anthropicWording);
  if (!req.prompt.startsWith(HUMAN)) throw new SimError('invalid_value', `prompt: prompt must start with "\\n\\nHuman:" turn`, 'prompt');
  if (!req.prompt.trimEnd().endsWith(ASSISTANT)) throw new SimError('invalid_value', `prompt: prompt must end with "\\n\\nAssistant:" turn`, 'prompt');
  const model = findClaudeModel(ctx, req.model);
  return simulate(
    { model, texts: [req.prompt], maxTokens: req.max_tokens_to_sample, seed: null, stream: req.stream === true, stop: req.stop_sequences ?? [], lastUserText: lastHumanTurn(req.prompt), wording: anthropicWording },
    ctx,
    (sim, completion) => new TextComplete(req.model, sim, completion),
  );
}

/** The natural end of a legacy completion is the model starting the next "\n\nHuman:" turn, reported as that stop sequence. */
const stopJson = (c: Completion): string =>
  c.finish === 'length' ? '"stop_reason":"max_tokens","stop":null' : `"stop_reason":"stop_sequence","stop":${JSON.stringify(c.stopSequence ?? HUMAN)}`;

class TextComplete implements Generation {
  private readonly id = `compl_01${uniqueBase62()}`;

  constructor(
    private readonly modelName: string,
    readonly sim: SimRequest,
    readonly completion: Completion,
  ) {}

  private object(text: string, stop: string): string {
    return `{"type":"completion","id":"${this.id}","completion":${text},${stop},"model":${jsonString(this.modelName)}}`;
  }

  body(): string {
    // The API's completions start with the space after "Assistant:".
    return this.object(`" ${this.completion.text.escaped()}"`, stopJson(this.completion));
  }

  encoder(): StreamEncoder {
    const prefix = utf8(`event: completion\ndata: {"type":"completion","id":"${this.id}","completion":`);
    const suffix = utf8(`,"stop_reason":null,"stop":null,"model":${jsonString(this.modelName)}}\n\n`);
    return {
      plainFrame: null, // the first token carries the leading space
      open: () => {},
      token: (i, out) => {
        out.bytes(prefix);
        // The API's completions start with the space after "Assistant:".
        if (i === 0) out.text(`" ${this.completion.text.json(0).slice(1)}`);
        else out.bytes(this.completion.text.jsonBytes(i));
        out.bytes(suffix);
      },
      close: (out) => out.text(`event: completion\ndata: ${this.object('""', stopJson(this.completion))}\n\n`),
    };
  }
}

/** The text of the prompt's last Human turn (echo mode's answer). */
function lastHumanTurn(prompt: string): string {
  const start = prompt.lastIndexOf(HUMAN);
  const end = prompt.lastIndexOf(ASSISTANT);
  return prompt.slice(start + HUMAN.length, end > start ? end : undefined).trim();
}
