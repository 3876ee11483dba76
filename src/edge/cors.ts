import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { z } from '#zod';
import { INJECTED_HEADER } from '../faults/admission.js';
import { RATE_LIMIT_HEADERS } from './limits.js';
import { writeNoContent } from '../http/uws.js';

/**
 * CORS, so a browser app can call the simulator as it calls the vendors (`openai` with
 * `dangerouslyAllowBrowser`, Anthropic with `anthropic-dangerous-direct-browser-access`).
 * Preflights (`OPTIONS` on any path) are answered 204 before the key check (browsers send them
 * without credentials); every API response carries the allowed origin and the headers a page
 * may read.
 */
export const corsSchema = z
  .object({
    /** Origins a browser may call from: `*` (any, as seed 000's permissive layer), or a list (the request's `Origin` is echoed when listed); `[]`: no CORS headers, and `OPTIONS` is an unknown method again. */
    origins: z.union([z.literal('*'), z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin such as http://localhost:5173'))]).default('*'),
    /** How long a browser may reuse a preflight's answer (`access-control-max-age`). */
    maxAgeSeconds: z.number().int().min(0).max(86_400).default(600),
  })
  .strict()
  .prefault({});

export type CorsConfig = z.infer<typeof corsSchema>;

/**
 * Request headers a preflight allows when it names none. It normally lists them and is answered
 * with its own list, which is how every `x-stainless-*` and `x-sim-*` header a client sends is allowed.
 */
const DEFAULT_ALLOWED_HEADERS = 'authorization, content-type, x-api-key, anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, openai-organization, openai-project, x-request-id';

/** What a page may read of a response: the request ids, the rate-limit headers of both vendors, `retry-after`, the fault marker. */
export const EXPOSED_HEADERS = ['x-request-id', 'request-id', 'openai-version', 'retry-after', ...RATE_LIMIT_HEADERS, INJECTED_HEADER];

const METHODS = 'GET, POST, DELETE, OPTIONS';
/** A header list as a preflight sends it: names of token characters, comma-separated (anything else is not echoed). */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;

export class Cors {
  /** Whether CORS is on at all (`origins` not empty). */
  readonly on: boolean;
  /** Whether the allowed origin depends on the request's (a list of origins, not `*`). */
  private readonly byOrigin: boolean;
  private readonly origins: ReadonlySet<string>;
  /** The lines every API response gets with `origins: *`, made once. */
  private readonly anyOrigin: string;
  private readonly exposeLine: string;

  constructor(private readonly config: CorsConfig) {
    this.on = config.origins === '*' || config.origins.length > 0;
    this.byOrigin = config.origins !== '*';
    this.origins = new Set(config.origins === '*' ? [] : config.origins);
    this.exposeLine = `\r\naccess-control-expose-headers: ${EXPOSED_HEADERS.join(', ')}`;
    this.anyOrigin = `\r\naccess-control-allow-origin: *${this.exposeLine}`;
  }

  /**
   * The joined header lines (src/http/uws.ts) an API response gets for a request from `origin`:
   * null when CORS is off or the request has no `Origin` (not a browser's cross-origin request:
   * the dialect's own headers then go out, and a benchmark's responses carry no extra bytes).
   */
  responseLines(origin: string): string | null {
    if (!this.on || origin === '') return null;
    if (!this.byOrigin) return this.anyOrigin;
    return this.origins.has(origin) ? `\r\naccess-control-allow-origin: ${origin}\r\nvary: Origin${this.exposeLine}` : '\r\nvary: Origin';
  }

  /** Answers a preflight: 204 with what may be sent (an origin not listed gets no allow-origin, so the browser refuses). */
  preflight(res: HttpResponse, req: HttpRequest): void {
    const origin = req.getHeader('origin');
    const requested = req.getHeader('access-control-request-headers');
    const allowed = !this.byOrigin || this.origins.has(origin);
    let lines = allowed ? `\r\naccess-control-allow-origin: ${this.byOrigin ? origin : '*'}` : '';
    if (this.byOrigin) lines += '\r\nvary: Origin';
    if (allowed) {
      lines += `\r\naccess-control-allow-methods: ${METHODS}\r\naccess-control-allow-headers: ${HEADER_LIST.test(requested) ? requested : DEFAULT_ALLOWED_HEADERS}\r\naccess-control-max-age: ${this.config.maxAgeSeconds}`;
    }
    res.cork(() => writeNoContent(res, lines));
  }
}
