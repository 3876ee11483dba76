import type { Config } from '../config/schema.js';
import type { Catalogue } from '../sim/catalogue.js';
import type { Profiles } from '../sim/profiles.js';
import type { CpuPool } from '../sim/pool.js';
import type { Capacity } from '../sim/capacity.js';
import type { ReplySpec } from '../faults/rules.js';

/** The request headers the routes read, copied out of uWS before any asynchronous step. Absent is ''. */
export interface RequestHeaders {
  readonly authorization: string;
  readonly xApiKey: string;
  readonly anthropicVersion: string;
  readonly requestId: string;
  readonly ttftMs: string;
  readonly itlMs: string;
  readonly profile: string;
  readonly mode: string;
  /** `x-sim-fault`: a fault forced for this request (src/faults/admission.ts). */
  readonly fault: string;
}

/** What a route handler may use: no uWS, no response object. */
export interface RouteContext {
  readonly config: Readonly<Config>;
  readonly catalogue: Catalogue;
  readonly profiles: Profiles;
  readonly pool: CpuPool | null;
  readonly headers: RequestHeaders;
  /** The id this response carries in its dialect's request-id header. */
  readonly requestId: string;
  /** The models' slots: a request whose model's queue is full is refused before it is tokenized. */
  readonly capacity: Capacity;
  /** A rule's scripted reply for this request (src/faults/rules.ts), or null: generate as usual. */
  readonly scripted: ReplySpec | null;
}

/** The route answered with a complete JSON body, to be sent after `delayMs` of simulated work. */
export interface JsonReply {
  readonly status: number;
  readonly body: string;
  readonly delayMs: number;
}

/** What a GET route may use. */
export interface GetContext {
  readonly catalogue: Catalogue;
  /** The route's `:id` parameter, URL-decoded ('' when it has none). */
  readonly param: string;
  /** The query string without the `?`. */
  readonly query: string;
}
