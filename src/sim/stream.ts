import type { Completion, SimRequest } from './request.js';

/**
 * One encoder per dialect behind this interface (GUIDE example 3). Each instance serves one
 * response and precomputes everything that does not change per token, so `token` costs two
 * concatenations.
 */
export interface StreamEncoder {
  /** Frames before the first token (role chunk, message_start, ...). */
  open(): string;
  /** The frame for one token; `json` is the token's text as a JSON string literal. */
  token(json: string): string;
  /** Frames after the last token (finish, usage, terminator). */
  close(): string;
}

/** What a generation route hands to the HTTP layer: the plan and both renderings of it. */
export interface Generation {
  readonly sim: SimRequest;
  readonly completion: Completion;
  /** The non-stream JSON body. */
  body(): string;
  encoder(): StreamEncoder;
}
