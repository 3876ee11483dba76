import { z } from '#zod';
import { SimError } from '../../errors.js';
import { utf8 } from '../../sim/frames.js';
import { uniqueHex } from '../../sim/ids.js';
import { NO_CAP, type Completion, type SimRequest } from '../../sim/request.js';
import type { Generation, StreamEncoder } from '../../sim/stream.js';
import type { RouteContext } from '../context.js';
import { lastUserText, simulate, textOf } from '../generation.js';
import { echoJson, MAX_TOOLS, validate } from '../validate.js';
import { openaiWording } from './errors.js';
import { findModel } from './shared.js';
import { jsonString } from '../../json.js';

const inputItem = z.looseObject({ type: z.string().optional(), role: z.string().optional() });

/** WIRE A7. Only the fields the simulation reads are checked; the others are accepted and echoed where the response has them. */
export const responsesRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(inputItem)]).optional(),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  stream: z.boolean().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  tools: z.array(z.looseObject({ type: z.string() })).nullish(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), name: z.string() })]).nullish(),
  text: z
    .looseObject({
      format: z
        .union([z.looseObject({ type: z.literal('text') }), z.looseObject({ type: z.literal('json_object') }), z.looseObject({ type: z.literal('json_schema'), name: z.string().min(1), schema: z.record(z.string(), z.unknown()).optional() })])
        .optional(),
    })
    .nullish(),
  previous_response_id: z.string().nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  store: z.boolean().nullish(),
  user: z.string().nullish(),
});

type ResponsesRequest = z.infer<typeof responsesRequest>;

/** The texts of the input items: messages' content, and the output of function calls. */
function inputTexts(req: ResponsesRequest): string[] {
  const texts = [req.instructions ?? ''];
  if (typeof req.input === 'string') texts.push(req.input);
  else for (const item of req.input ?? []) texts.push(textOf((item as { content?: unknown }).content) + textOf((item as { output?: unknown }).output));
  return texts;
}

/** As chat's messages: items one request may carry. */
const MAX_INPUT_ITEMS = 2048;

export function responses(body: unknown, ctx: RouteContext): Generation | Promise<Generation> {
  const req = validate(responsesRequest, body, openaiWording, { input: MAX_INPUT_ITEMS, tools: MAX_TOOLS });
  const format = req.text?.format;
  const model = findModel(ctx, req.model);
  if (model.kind === 'embedding') throw new SimError('invalid_value', `The model \`${req.model}\` is an embedding model and cannot be used with /v1/responses.`, 'model');
  return simulate(
    {
      model,
      texts: inputTexts(req),
      maxTokens: req.max_output_tokens ?? NO_CAP,
      seed: null,
      stream: req.stream === true,
      stop: [],
      lastUserText: typeof req.input === 'string' ? req.input : lastUserText(req.input ?? []),
      json: format === undefined || format.type === 'text' ? undefined : { schema: format.type === 'json_schema' ? (format.schema ?? null) : null, param: 'text.format.schema' },
      // Function tools only: hosted tools (web search, file search, ...) are not simulated.
      tools: (req.tools ?? []).flatMap((t, i) =>
        t.type === 'function' && typeof t.name === 'string' ? [{ name: t.name, schema: (t.parameters as object | undefined) ?? { type: 'object', properties: {} }, param: `tools[${i}].parameters` }] : [],
      ),
      toolChoice: req.tool_choice == null ? undefined : typeof req.tool_choice === 'string' ? { type: req.tool_choice } : { type: 'named', name: req.tool_choice.name },
      afterToolResult: Array.isArray(req.input) && req.input.at(-1)?.type === 'function_call_output',
      // One function call per response: parallel calls are simulated on chat and messages only.
      parallelToolCalls: false,
      wording: openaiWording,
    },
    ctx,
    (sim, completion) => new ResponseGeneration(req, sim, completion),
  );
}

class ResponseGeneration implements Generation {
  private readonly id = `resp_${uniqueHex()}`;
  private readonly itemId: string;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  /** The request's own values the Response object repeats, serialised once, here, where a failure is still the caller's 400. */
  private readonly echoed: { readonly format: string; readonly toolChoice: string; readonly tools: string; readonly metadata: string };

  constructor(
    private readonly req: ResponsesRequest,
    readonly sim: SimRequest,
    readonly completion: Completion,
  ) {
    this.itemId = `${completion.toolCalls.length === 0 ? 'msg' : 'fc'}_${uniqueHex()}`;
    this.echoed = {
      format: echoJson(req.text?.format ?? { type: 'text' }, 'text.format'),
      toolChoice: echoJson(req.tool_choice ?? 'auto', 'tool_choice'),
      tools: echoJson(req.tools ?? [], 'tools'),
      metadata: echoJson(req.metadata ?? {}, 'metadata'),
    };
  }

  private get incomplete(): boolean {
    return this.completion.finish === 'length';
  }

  /**
   * The output item, a message or a function call; `text` (the message text or the call's
   * arguments) is JSON-escaped, null while in progress.
   */
  private item(text: string | null): string {
    const status = text === null ? 'in_progress' : this.incomplete ? 'incomplete' : 'completed';
    const call = this.completion.toolCalls[0] ?? null;
    if (call !== null) return `{"id":"${this.itemId}","type":"function_call","status":"${status}","call_id":"call_${call.id}","name":${JSON.stringify(call.name)},"arguments":"${text ?? ''}"}`;
    const content = text === null ? '[]' : `[${this.part(text)}]`;
    return `{"id":"${this.itemId}","type":"message","status":"${status}","role":"assistant","content":${content}}`;
  }

  private part(text: string): string {
    return `{"type":"output_text","text":"${text}","annotations":[],"logprobs":[]}`;
  }

  /** The Response object: in progress (no output, no usage yet) or final. */
  private response(final: boolean): string {
    const { req, sim, completion } = this;
    const status = !final ? 'in_progress' : this.incomplete ? 'incomplete' : 'completed';
    const output = final ? `[${this.item(completion.text.escaped())}]` : '[]';
    const n = completion.text.length;
    // `usage` is left out while in progress: the schema does not allow it to be null.
    const usage = final
      ? `"usage":{"input_tokens":${sim.promptTokens},"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":${n},"output_tokens_details":{"reasoning_tokens":0},"total_tokens":${sim.promptTokens + n}},`
      : '';
    return (
      `{"id":"${this.id}","object":"response","created_at":${this.createdAt},"status":"${status}","background":false,"error":null,` +
      `"incomplete_details":${final && this.incomplete ? '{"reason":"max_output_tokens"}' : 'null'},"instructions":${JSON.stringify(req.instructions ?? null)},` +
      `"max_output_tokens":${req.max_output_tokens ?? null},"model":${jsonString(req.model)},"output":${output},"parallel_tool_calls":${req.parallel_tool_calls ?? true},` +
      `"previous_response_id":${JSON.stringify(req.previous_response_id ?? null)},"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":${req.store ?? true},` +
      `"temperature":${req.temperature ?? 1},"text":{"format":${this.echoed.format}},"tool_choice":${this.echoed.toolChoice},` +
      `"tools":${this.echoed.tools},"top_p":${req.top_p ?? 1},"truncation":"disabled",` +
      `${usage}${req.user == null ? '' : `"user":${JSON.stringify(req.user)},`}"metadata":${this.echoed.metadata}}`
    );
  }

  body(): string {
    return this.response(true);
  }

  /**
   * WIRE A7: named events whose `type` repeats the name, each with the next sequence_number;
   * output_item.added and content_part.added before any delta (the SDK's ResponseStream needs
   * them); it ends with response.completed (or response.incomplete), no [DONE].
   */
  encoder(): StreamEncoder {
    let seq = 0;
    const ev = (type: string, fields: string): string => `event: ${type}\ndata: {"type":"${type}",${fields},"sequence_number":${seq++}}\n\n`;
    const call = this.completion.toolCalls[0] ?? null;
    const at = `"item_id":"${this.itemId}","output_index":0${call === null ? ',"content_index":0' : ''}`;
    // A function call streams its arguments (response.function_call_arguments.*), a message its text.
    const deltaType = call === null ? 'response.output_text.delta' : 'response.function_call_arguments.delta';
    const deltaPrefix = utf8(`event: ${deltaType}\ndata: {"type":"${deltaType}",${at},"delta":`);
    // The sequence number follows, the one per-token field.
    const deltaSuffix = utf8(`${call === null ? ',"logprobs":[]' : ''},"sequence_number":`);
    const head = (): string =>
      ev('response.created', `"response":${this.response(false)}`) +
      ev('response.in_progress', `"response":${this.response(false)}`) +
      ev('response.output_item.added', `"output_index":0,"item":${this.item(null)}`);
    const tail = (text: string): string =>
      ev('response.output_item.done', `"output_index":0,"item":${this.item(text)}`) +
      ev(this.incomplete ? 'response.incomplete' : 'response.completed', `"response":${this.response(true)}`);
    return {
      plainFrame: null, // every event carries its sequence number
      open: (out) => out.text(head() + (call === null ? ev('response.content_part.added', `${at},"part":${this.part('')}`) : '')),
      token: (i, out) => {
        out.bytes(deltaPrefix);
        out.bytes(this.completion.text.jsonBytes(i));
        out.bytes(deltaSuffix);
        out.text(`${seq++}}\n\n`);
      },
      close: (out) => {
        const text = this.completion.text.escaped();
        if (call !== null) out.text(ev('response.function_call_arguments.done', `${at},"name":${JSON.stringify(call.name)},"arguments":"${text}"`) + tail(text));
        else out.text(ev('response.output_text.done', `${at},"text":"${text}","logprobs":[]`) + ev('response.content_part.done', `${at},"part":${this.part(text)}`) + tail(text));
      },
    };
  }
}
