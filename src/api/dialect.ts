import type { SimError } from '../errors.js';

/** What differs between the two API families outside the routes themselves. */
export interface Dialect {
  readonly name: 'openai' | 'anthropic';
  /** The response header that carries the request id (WIRE A9, B8). */
  readonly requestIdHeader: string;
  newRequestId(): string;
  /** The HTTP status of an error in this dialect (Anthropic's overload is 529). */
  status(err: SimError): number;
  /** The wire error body for an error. */
  errorBody(err: SimError, requestId: string): string;
  /** An error reported inside a stream whose 200 has been sent (WIRE C7). */
  streamErrorFrame(err: SimError, requestId: string): string;
  /** Headers on every response of this dialect, beside content-type and the request id, as joined header lines (`\r\nname: value…`, src/http/uws.ts). */
  readonly staticLines: string;
  /** The vendor's own `access-control-expose-headers` line, sent when CORS (src/edge/cors.ts) sends none of its own. */
  readonly exposeLines: string;
}
