import type { FrameBuffer } from './frames.js';
import type { Completion, SimRequest } from './request.js';

/**
 * One encoder per dialect behind this interface (GUIDE example 3). Each instance serves one
 * response and precomputes, as bytes, everything that does not change per token, so a plain
 * token's frame is two copies and the token's text.
 */
export interface StreamEncoder {
  /** Appends the frames before the first token (role chunk, message_start, ...). */
  open(out: FrameBuffer): void;
  /** Appends the frame(s) for token i of the answer (of every choice, with several). */
  token(i: number, out: FrameBuffer): void;
  /** Appends the frames after the last token (finish, usage, terminator). */
  close(out: FrameBuffer): void;
  /**
   * When every token's frame is a fixed prefix, the token's JSON text and a fixed suffix (plain
   * text: no tool calls, logprobs, thinking or per-token counter), those bytes: the stream then
   * frames its tokens itself, with the same bytes `token` writes. Else null.
   */
  readonly plainFrame: PlainFrame | null;
}

export interface PlainFrame {
  readonly prefix: Uint8Array;
  readonly suffix: Uint8Array;
}

/** What a generation route hands to the HTTP layer: the plan and both renderings of it. */
export interface Generation {
  readonly sim: SimRequest;
  readonly completion: Completion;
  /** The non-stream JSON body. */
  body(): string;
  encoder(): StreamEncoder;
}
