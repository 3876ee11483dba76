import type { Completion, SimRequest } from '../../sim/request.js';
import { hashString } from '../../sim/rng.js';
import { callArguments, callAt, callStart } from '../../sim/tool-calls.js';
import { utf8, type FrameBuffer } from '../../sim/frames.js';
import type { PlainFrame, StreamEncoder } from '../../sim/stream.js';
import { jsonString } from '../../json.js';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

/**
 * The message's answer blocks: one text block, or a tool_use block per call, whose input is the
 * call's JSON (`{}` if max_tokens cut it) and whose `caller` is the model itself (the spec requires it).
 */
export function contentBlocksJson(completion: Completion): string {
  if (completion.toolCalls.length === 0) return `{"type":"text","text":"${answerEscaped(completion)}","citations":null}`;
  return completion.toolCalls
    .map((call, k) => {
      let input = '{}';
      try {
        input = JSON.stringify(JSON.parse(callArguments(completion, k)));
      } catch {
        // Arguments cut short by max_tokens do not parse.
      }
      return `{"type":"tool_use","id":"toolu_01${call.id}","name":${JSON.stringify(call.name)},"input":${input},"caller":{"type":"direct"}}`;
    })
    .join(',');
}

const STOP_REASONS = { stop: 'end_turn', length: 'max_tokens', stop_sequence: 'stop_sequence', tool_call: 'tool_use' } as const;

export const stopReason = (completion: Completion): StopReason => STOP_REASONS[completion.finish];

/** `"stop_reason":…,"stop_sequence":…` of a finished message. */
export const stopFields = (completion: Completion | null): string =>
  completion === null ? '"stop_reason":null,"stop_sequence":null' : `"stop_reason":"${stopReason(completion)}","stop_sequence":${JSON.stringify(completion.stopSequence)}`;

/** The spec's `Usage` (every key required; null where there is nothing to say). */
export function usageJson(inputTokens: number, outputTokens: number): string {
  return (
    `{"input_tokens":${inputTokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,` +
    `"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},` +
    `"output_tokens":${outputTokens},"server_tool_use":null,"service_tier":"standard","inference_geo":null}`
  );
}

/** The spec's `MessageDeltaUsage`: cumulative totals at the end of the stream. */
function deltaUsageJson(inputTokens: number, outputTokens: number): string {
  return `{"input_tokens":${inputTokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":${outputTokens},"server_tool_use":null}`;
}

/** The `Message` object; `content` is JSON text; `completion` null while it is still streaming. */
export function messageJson(id: string, model: string, content: string, completion: Completion | null, usage: string): string {
  return messageHead(id) + messageRest(model, content, completion, usage);
}

/** A message object up to its model, which only its id precedes. */
export const messageHead = (id: string): string => `{"id":"${id}","type":"message","role":"assistant","model":`;

/** A message object from its model on. */
export function messageRest(model: string, content: string, completion: Completion | null, usage: string): string {
  return `${jsonString(model)},"content":${content},${stopFields(completion)},"stop_details":null,"container":null,"usage":${usage}}`;
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;

const deltaPrefix = (index: number, type: string, field: string): string =>
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"${type}","${field}":`;
/** The plain delta frames around a token's text, as bytes: thinking (block 0), text in block 0 or 1 (after thinking). */
const THINKING_PREFIX = utf8(deltaPrefix(0, 'thinking_delta', 'thinking'));
const TEXT_PREFIXES = [utf8(deltaPrefix(0, 'text_delta', 'text')), utf8(deltaPrefix(1, 'text_delta', 'text'))] as const;
const TOKEN_SUFFIX = utf8('}}\n\n');

/** A thinking block's signature: opaque to clients, deterministic like the thinking it signs. */
export function thinkingSignature(completion: Completion): string {
  const h = hashString(completion.text.plain(completion.thinking));
  const bytes = Buffer.alloc(48);
  for (let i = 0; i < 12; i++) bytes.writeUInt32LE(hashString(String(i), h), i * 4);
  return bytes.toString('base64');
}

/** The answer's text after any thinking, JSON-escaped. */
function answerEscaped(completion: Completion): string {
  const all = completion.text.escaped();
  return completion.thinking === 0 ? all : all.slice(completion.text.escaped(completion.thinking).length);
}

/** The thinking block of a non-stream message (WIRE B2). */
export function thinkingBlockJson(completion: Completion): string {
  return `{"type":"thinking","thinking":"${completion.text.escaped(completion.thinking)}","signature":"${thinkingSignature(completion)}"}`;
}

/**
 * WIRE B3: every event named; message_start, content_block_start, ping, one delta per token,
 * content_block_stop, message_delta with cumulative usage, message_stop. No [DONE]. With
 * extended thinking, block 0 is the thinking (thinking_delta per token, then signature_delta) and
 * the answer follows in block 1.
 */
export class MessageStreamEncoder implements StreamEncoder {
  /** Tokens encoded so far: the first `completion.thinking` belong to the thinking block. */
  private sent = 0;
  private readonly answerIndex: 0 | 1;
  /** Plain text (no thinking block, no tool call): every token a text_delta of block 0. */
  readonly plainFrame: PlainFrame | null;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly sim: SimRequest,
    private readonly completion: Completion,
  ) {
    this.answerIndex = completion.thinking > 0 ? 1 : 0;
    // `sent` is read only when there is a thinking block, so a stream that frames its own tokens leaves it behind.
    this.plainFrame = completion.thinking === 0 && completion.toolCalls.length === 0 ? { prefix: TEXT_PREFIXES[0], suffix: TOKEN_SUFFIX } : null;
  }

  open(out: FrameBuffer): void {
    const { sim, completion } = this;
    const start = messageJson(this.id, this.model, '[]', null, usageJson(sim.promptTokens, Math.min(1, completion.text.length)));
    const first = completion.thinking > 0 ? '{"type":"thinking","thinking":"","signature":""}' : this.answerBlock(0);
    out.text(
      event('message_start', `{"type":"message_start","message":${start}}`) +
        event('content_block_start', `{"type":"content_block_start","index":0,"content_block":${first}}`) +
        event('ping', '{"type":"ping"}'),
    );
  }

  /** WIRE B3: a text block starts empty; tool_use block k starts with `input: {}` and fills by input_json_delta. */
  private answerBlock(k: number): string {
    const call = this.completion.toolCalls[k];
    return call === undefined ? '{"type":"text","text":"","citations":null}' : `{"type":"tool_use","id":"toolu_01${call.id}","name":${JSON.stringify(call.name)},"input":{},"caller":{"type":"direct"}}`;
  }

  /** Ends the thinking block (its signature_delta just before content_block_stop) and opens the answer's. */
  private switchBlocks(): string {
    return (
      event('content_block_delta', `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"${thinkingSignature(this.completion)}"}}`) +
      event('content_block_stop', '{"type":"content_block_stop","index":0}') +
      event('content_block_start', `{"type":"content_block_start","index":1,"content_block":${this.answerBlock(0)}}`)
    );
  }

  token(i: number, out: FrameBuffer): void {
    this.sent = i + 1;
    const { text, thinking, toolCalls } = this.completion;
    if (toolCalls.length > 0) {
      // One tool_use block per call, one after the other (parallel calls).
      const k = callAt(this.completion, i);
      if (k > 0 && i === callStart(this.completion, k)) {
        out.text(event('content_block_stop', `{"type":"content_block_stop","index":${k - 1}}`) + event('content_block_start', `{"type":"content_block_start","index":${k},"content_block":${this.answerBlock(k)}}`));
      }
      out.text(deltaPrefix(k, 'input_json_delta', 'partial_json'));
    } else if (i < thinking) {
      out.bytes(THINKING_PREFIX);
    } else {
      if (i === thinking && thinking > 0) out.text(this.switchBlocks());
      out.bytes(TEXT_PREFIXES[this.answerIndex]);
    }
    out.bytes(text.jsonBytes(i));
    out.bytes(TOKEN_SUFFIX);
  }

  close(out: FrameBuffer): void {
    const { sim, completion } = this;
    // A thinking block with no answer tokens after it still needs its signature and a (empty) answer block.
    if (completion.thinking > 0 && this.sent <= completion.thinking) out.text(this.switchBlocks());
    out.text(
      event('content_block_stop', `{"type":"content_block_stop","index":${this.answerIndex + Math.max(0, completion.toolCalls.length - 1)}}`) +
        event('message_delta', `{"type":"message_delta","delta":{${stopFields(completion)},"stop_details":null,"container":null},"usage":${deltaUsageJson(sim.promptTokens, completion.text.length)}}`) +
        event('message_stop', '{"type":"message_stop"}'),
    );
  }
}
