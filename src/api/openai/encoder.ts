import type { Completion, SimRequest } from '../../sim/request.js';
import type { TokenText } from '../../sim/text.js';

const FINISH_REASONS = { stop: 'stop', stop_sequence: 'stop', length: 'length', tool_call: 'tool_calls' } as const;

/** OpenAI reports a stop sequence as an ordinary stop, and a tool call as `tool_calls`. */
export const finishReason = (completion: Completion): 'stop' | 'length' | 'tool_calls' => FINISH_REASONS[completion.finish];

/** Call k's first delta: index, id, type, name and `arguments: ""`, which the SDK's stream helper requires (WIRE A3). */
function callHeader(completion: Completion, k: number): string {
  const call = completion.toolCalls[k]!;
  return `{"index":${k},"id":"call_${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":""}}`;
}

const TEXT_FIRST_DELTA = '{"role":"assistant","content":"","refusal":null}';

/** The first delta of a choice: the role, and the first tool call's header. */
function firstDelta(completion: Completion): string {
  if (completion.toolCalls.length === 0) return TEXT_FIRST_DELTA;
  return `{"role":"assistant","content":null,"refusal":null,"tool_calls":[${callHeader(completion, 0)}]}`;
}

/**
 * The deltas of token i: content, or a fragment of a call's arguments, preceded by the call's
 * header delta when the token opens a later call (parallel calls stream one after the other).
 */
function tokenDeltas(completion: Completion, i: number, json: string): string[] {
  if (completion.toolCalls.length === 0) return [`{"content":${json}}`];
  const k = callAt(completion, i);
  const args = `{"tool_calls":[{"index":${k},"function":{"arguments":${json}}}]}`;
  return k > 0 && i === callStart(completion, k) ? [`{"tool_calls":[${callHeader(completion, k)}]}`, args] : [args];
}

/** The `tool_calls` of a non-stream message (WIRE A2). */
export function toolCallsJson(completion: Completion): string {
  const calls = completion.toolCalls.map(
    (call, k) => `{"id":"call_${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":${JSON.stringify(callArguments(completion, k))}}}`,
  );
  return `[${calls.join(',')}]`;
}
import { utf8, type FrameBuffer } from '../../sim/frames.js';
import type { PlainFrame, StreamEncoder } from '../../sim/stream.js';
import { hashString } from '../../sim/rng.js';
import { callArguments, callAt, callStart } from '../../sim/tool-calls.js';
import { logprobEntry } from './logprobs.js';
import { jsonString } from '../../json.js';

const fingerprints = new Map<string, string>();

/** `fp_` and ten hex digits, stable per model, like the backend fingerprints OpenAI reports. */
export function systemFingerprint(modelId: string): string {
  let fp = fingerprints.get(modelId);
  if (fp === undefined) {
    const a = hashString(modelId).toString(16).padStart(8, '0');
    const b = hashString(a).toString(16).padStart(8, '0');
    fingerprints.set(modelId, (fp = `fp_${a}${b.slice(0, 2)}`));
  }
  return fp;
}

/** WIRE A2: `usage` (the spec's CompletionUsage, also of legacy completions) with both detail objects, all zeros but the counts. */
export function chatUsageJson(promptTokens: number, completionTokens: number): string {
  return (
    `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens},` +
    `"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
    `"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
  );
}

/** What closes a chunk after its choices, without and with `stream_options.include_usage` (`"usage":null` on every chunk but the usage chunk). */
const TAILS = [']}\n\n', '],"usage":null}\n\n'] as const;
/** What follows a choice's delta in a chunk that does not finish it. */
const UNFINISHED = ',"logprobs":null,"finish_reason":null}';
/** A choice-0 chunk carrying `delta`, not finished, closed by `tail`: what follows the stream's head. */
const deltaChunk = (delta: string, tail: string): string => `{"index":0,"delta":${delta}${UNFINISHED}${tail}`;
/** What a token's frame has between the head and the token's text. */
const CONTENT_DELTA = '{"index":0,"delta":{"content":';
/** What follows a plain token's text in its frame (the content delta's end, then the chunk's), by TAILS. */
const TOKEN_SUFFIX = TAILS.map((tail) => utf8(`}${UNFINISHED}${tail}`));

/**
 * The constant rest of a stream's first and last events after its head, as bytes, by TAILS: the
 * role chunk of an answer without tool calls, the finish chunk by finish reason.
 */
const ROLE_CHUNK = TAILS.map((tail) => utf8(deltaChunk(TEXT_FIRST_DELTA, tail)));
const FINISH_CHUNK = Object.fromEntries(
  (['stop', 'length', 'tool_calls'] as const).map((reason) => [reason, TAILS.map((tail) => utf8(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"${reason}"}${tail}`))]),
) as Record<'stop' | 'length' | 'tool_calls', Buffer[]>;
const DONE = utf8('data: [DONE]\n\n');

/**
 * WIRE A3: `data:` lines only (no `event:`), role chunk first, one chunk per token, a finish
 * chunk, the usage chunk with empty `choices` when asked for (and `"usage":null` on every other
 * chunk then), `data: [DONE]`.
 */
export class ChatStreamEncoder implements StreamEncoder {
  private readonly head: string;
  private readonly tail: string;
  private readonly tokenPrefix: string;
  /** The plain token frame around the token's text, as bytes: the prefix is the stream's own, the suffix one of two shared ones. */
  private readonly prefixBytes: Buffer;
  /** The head's bytes: the first and last events are the head and constant bytes (ROLE_CHUNK, FINISH_CHUNK). */
  private readonly headBytes: Uint8Array;
  private readonly suffixBytes: Buffer;
  /** The answer's text when its tokens are plain content (no tool calls, no logprobs), else null: one load a token, not three. */
  private readonly plainText: TokenText | null;
  readonly plainFrame: PlainFrame | null;
  constructor(
    id: string,
    created: number,
    model: string,
    private readonly sim: SimRequest,
    private readonly completion: Completion,
    private readonly includeUsage: boolean,
    /** top_logprobs per token when logprobs were asked for, else null: each content chunk then carries its token's entry. */
    private readonly topLogprobs: number | null = null,
  ) {
    const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${jsonString(model)},"service_tier":"default","system_fingerprint":"${systemFingerprint(sim.model.id)}","choices":[`;
    this.tail = TAILS[includeUsage ? 1 : 0];
    this.tokenPrefix = `${head}${CONTENT_DELTA}`;
    // Encoding the prefix flattens it in place (V8 keeps a join as a tree of its parts until then),
    // and the head is then a slice of that flat text: the stream's first and last events embed
    // it, and each would otherwise walk the head's tree again to encode it (~2k instructions a stream).
    this.prefixBytes = utf8(this.tokenPrefix);
    this.head = this.tokenPrefix.slice(0, head.length);
    this.headBytes = this.prefixBytes.subarray(0, this.prefixBytes.length - CONTENT_DELTA.length);
    this.suffixBytes = TOKEN_SUFFIX[includeUsage ? 1 : 0]!;
    this.plainText = completion.toolCalls.length === 0 && topLogprobs === null ? completion.text : null;
    this.plainFrame = this.plainText === null ? null : { prefix: this.prefixBytes, suffix: this.suffixBytes };
  }

  open(out: FrameBuffer): void {
    if (this.completion.toolCalls.length > 0) return out.text(this.head + deltaChunk(firstDelta(this.completion), this.tail));
    out.bytes(this.headBytes);
    out.bytes(ROLE_CHUNK[this.includeUsage ? 1 : 0]!);
  }

  token(i: number, out: FrameBuffer): void {
    const plain = this.plainText;
    if (plain !== null) return out.framed(this.prefixBytes, plain.jsonBytes(i), this.suffixBytes);
    const { text, toolCalls } = this.completion;
    // WIRE A3: tool calls stream their arguments as fragments of `function.arguments`.
    if (toolCalls.length > 0) {
      for (const delta of tokenDeltas(this.completion, i, text.json(i))) out.text(this.head + deltaChunk(delta, this.tail));
    } else {
      const entry = logprobEntry(text, i, this.sim.textSeed, this.topLogprobs!);
      out.text(`${this.tokenPrefix}${text.json(i)}},"logprobs":{"content":[${entry}],"refusal":null},"finish_reason":null}${this.tail}`);
    }
  }

  close(out: FrameBuffer): void {
    out.bytes(this.headBytes);
    out.bytes(FINISH_CHUNK[finishReason(this.completion)][this.includeUsage ? 1 : 0]!);
    if (this.includeUsage) out.text(`${this.head}],"usage":${chatUsageJson(this.sim.promptTokens, this.completion.text.length)}}\n\n`);
    out.bytes(DONE);
  }
}

export const totalTokens = (choices: readonly Completion[]): number => choices.reduce((sum, c) => sum + c.text.length, 0);

/** The longest choice: its schedule is the response's, as a server decodes all choices together. */
export const longest = (choices: readonly Completion[]): Completion => choices.reduce((a, b) => (b.text.length > a.text.length ? b : a));

/** The seed of a choice's logprobs (choice 0's is the request's, as with n = 1). */
export const choiceSeed = (sim: SimRequest, index: number): number => sim.textSeed ^ index;

/**
 * WIRE A3 with `n` > 1: every choice gets its role chunk, then the choices' tokens interleave, one
 * chunk per choice and token, step by step (the stream is driven by the longest choice); each
 * choice's finish chunk follows its last token, once.
 */
export class MultiChoiceStreamEncoder implements StreamEncoder {
  readonly plainFrame = null;
  private readonly head: string;
  private readonly tail: string;

  constructor(
    id: string,
    created: number,
    model: string,
    private readonly sim: SimRequest,
    private readonly choices: readonly Completion[],
    private readonly includeUsage: boolean,
    /** top_logprobs per token when logprobs were asked for, else null. */
    private readonly topLogprobs: number | null = null,
  ) {
    this.head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${jsonString(model)},"service_tier":"default","system_fingerprint":"${systemFingerprint(sim.model.id)}","choices":[`;
    this.tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  }

  private chunk(index: number, delta: string, finish: string, logprobs = 'null'): string {
    return `${this.head}{"index":${index},"delta":${delta},"logprobs":${logprobs},"finish_reason":${finish}}${this.tail}`;
  }

  private finish(index: number): string {
    return this.chunk(index, '{}', `"${finishReason(this.choices[index]!)}"`);
  }

  open(out: FrameBuffer): void {
    this.choices.forEach((c, i) => out.text(this.chunk(i, firstDelta(c), 'null')));
  }

  /** One step: token s of every choice that has one (the stream runs on the longest choice's schedule). */
  token(s: number, out: FrameBuffer): void {
    this.choices.forEach((c, i) => {
      if (s >= c.text.length) return;
      const logprobs = this.topLogprobs === null || c.toolCalls.length > 0 ? 'null' : `{"content":[${logprobEntry(c.text, s, choiceSeed(this.sim, i), this.topLogprobs)}],"refusal":null}`;
      for (const delta of tokenDeltas(c, s, c.text.json(s))) out.text(this.chunk(i, delta, 'null', logprobs));
      if (s === c.text.length - 1) out.text(this.finish(i));
    });
  }

  close(out: FrameBuffer): void {
    this.choices.forEach((c, i) => {
      if (c.text.length === 0) out.text(this.finish(i));
    });
    if (this.includeUsage) out.text(`${this.head}],"usage":${chatUsageJson(this.sim.promptTokens, totalTokens(this.choices))}}\n\n`);
    out.text('data: [DONE]\n\n');
  }
}
