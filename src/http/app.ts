import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { messages } from '../api/anthropic/messages.js';
import { anthropic } from '../api/anthropic/errors.js';
import type { RequestHeaders, RouteContext } from '../api/context.js';
import type { Dialect } from '../api/dialect.js';
import { chatCompletions } from '../api/openai/chat-completions.js';
import { openai } from '../api/openai/errors.js';
import { listModels, retrieveModel } from '../api/openai/models.js';
import { parseJson } from '../api/validate.js';
import type { Config } from '../config/schema.js';
import { SimError } from '../errors.js';
import type { Logging } from '../log.js';
import { METRICS_CONTENT_TYPE, Metrics } from '../metrics/metrics.js';
import { Catalogue } from '../sim/catalogue.js';
import type { CpuPool } from '../sim/pool.js';
import { Capacity } from '../sim/capacity.js';
import { Profiles } from '../sim/latency.js';
import { Scheduler } from '../sim/scheduler.js';
import type { Generation } from '../sim/stream.js';
import { deliver } from './delivery.js';
import { Exchange, JSON_TYPE, type Services } from './exchange.js';
import { BodyResult, readBody, readHeaders, writeResponse } from './uws.js';

type GenerationHandler = (body: unknown, ctx: RouteContext) => Generation | Promise<Generation>;
type GetHandler = (server: Server, req: HttpRequest) => string;

interface Route {
  readonly path: string;
  readonly dialect: Dialect;
  readonly post?: GenerationHandler;
  readonly get?: GetHandler;
}

const ROUTES: readonly Route[] = [
  { path: '/v1/chat/completions', dialect: openai, post: chatCompletions },
  { path: '/v1/messages', dialect: anthropic, post: messages },
  { path: '/v1/models', dialect: openai, get: (s) => listModels(s.catalogue) },
  { path: '/v1/models/:id', dialect: openai, get: (s, req) => retrieveModel(s.catalogue, decodeURIComponent(req.getParameter(0))) },
];

const HEALTH_PATHS = ['/health', '/live', '/health/live'];
const READY_PATHS = ['/ready', '/health/ready'];

/** Requests to no known route answer in the dialect their headers suggest (WIRE B0a). */
const guessDialect = (headers: RequestHeaders): Dialect => (headers.anthropicVersion !== '' || headers.xApiKey !== '' ? anthropic : openai);

export interface ServerOptions {
  readonly config: Readonly<Config>;
  readonly logging: Logging;
  readonly pool: CpuPool | null;
  /** The Prometheus text for GET /metrics; defaults to this process's own registry. */
  readonly collectMetrics?: (local: Metrics) => Promise<string>;
}

/** One uWebSockets.js app serving every route; a cluster runs one per HTTP worker on a shared port. */
export class Server {
  readonly catalogue: Catalogue;
  readonly profiles: Profiles;
  readonly services: Services;
  port = 0;
  draining = false;
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;

  constructor(private readonly options: ServerOptions) {
    const { config } = options;
    this.catalogue = new Catalogue(config.models);
    this.profiles = new Profiles(config);
    this.services = {
      metrics: new Metrics(),
      log: options.logging.log,
      access: config.accessLog ? options.logging.access : null,
      scheduler: new Scheduler(),
      capacity: new Capacity(),
      timeScale: config.timeScale,
      active: 0,
      onIdle: null,
    };
    this.app = uWS.App();
    for (const route of ROUTES) this.app.any(route.path, (res, req) => this.dispatch(route, res, req));
    for (const path of HEALTH_PATHS) this.app.get(path, (res) => this.health(res, 200, 'ok'));
    for (const path of READY_PATHS) this.app.get(path, (res) => (this.draining ? this.health(res, 503, 'draining') : this.health(res, 200, 'ready')));
    this.app.get('/metrics', (res) => this.metrics(res));
    this.app.any('/*', (res, req) => {
      const headers = readHeaders(req);
      const method = req.getMethod().toUpperCase();
      const url = req.getUrl();
      const ex = this.exchange(res, guessDialect(headers), method, 'unmatched', url, headers);
      ex.replyError(new SimError('route_not_found', `Invalid URL (${method} ${url})`));
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) return reject(new Error(`cannot listen on ${host}:${port}`));
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        resolve(this.port);
      });
    });
  }

  /** Stops accepting connections, answers /ready with 503, and resolves once in-flight requests finish or the deadline passes. */
  drain(deadlineMs: number): Promise<boolean> {
    this.draining = true;
    if (this.listenSocket !== null) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    const { services } = this;
    if (services.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), deadlineMs);
      services.onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** Stops accepting connections; open ones end with their last response. */
  close(): void {
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
  }

  private exchange(res: HttpResponse, dialect: Dialect, method: string, route: string, url: string, headers: RequestHeaders): Exchange {
    const requestId = headers.requestId !== '' ? headers.requestId : dialect.newRequestId();
    return new Exchange(res, this.services, method, route, url, dialect, requestId, headers.requestId);
  }

  private dispatch(route: Route, res: HttpResponse, req: HttpRequest): void {
    const headers = readHeaders(req);
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    const ex = this.exchange(res, route.dialect, method, route.path, url, headers);
    try {
      if (method === 'POST' && route.post !== undefined) this.generate(ex, route.post, headers, req);
      else if (method === 'GET' && route.get !== undefined) ex.replyJson(200, route.get(this, req));
      else ex.replyError(new SimError('method_not_allowed', `Invalid method for URL (${method} ${url})`));
    } catch (err) {
      this.fail(ex, err);
    }
  }

  private generate(ex: Exchange, handler: GenerationHandler, headers: RequestHeaders, req: HttpRequest): void {
    const limit = this.options.config.bodyLimitBytes;
    const declared = Number(req.getHeader('content-length'));
    if (declared > limit) {
      // Answer before reading a byte; close, since the rest of the body will not be read.
      ex.replyError(tooLarge(limit), true);
      return;
    }
    const ctx: RouteContext = { config: this.options.config, catalogue: this.catalogue, profiles: this.profiles, pool: this.options.pool, headers, requestId: ex.requestId };
    // onData callbacks run with the socket already corked, like the route handler itself.
    readBody(ex.res, limit, (result, text) => {
      if (ex.aborted) return;
      if (result === BodyResult.TooLarge) return ex.replyError(tooLarge(limit), true);
      try {
        const gen = handler(parseJson(text), ctx);
        if (gen instanceof Promise) gen.then((g) => ex.res.cork(() => deliver(ex, g)), (err) => ex.res.cork(() => this.fail(ex, err)));
        else deliver(ex, gen);
      } catch (err) {
        this.fail(ex, err);
      }
    });
  }

  private fail(ex: Exchange, err: unknown): void {
    if (ex.aborted) return;
    if (err instanceof SimError) return ex.replyError(err);
    this.services.log.error({ err, requestId: ex.requestId }, 'unhandled error in route');
    ex.replyError(new SimError('internal_error', 'The server had an error while processing your request. Sorry about that!'));
  }

  private health(res: HttpResponse, status: number, state: string): void {
    writeResponse(res, status, JSON_TYPE, [], `{"status":"${state}"}`);
  }

  private metrics(res: HttpResponse): void {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const local = this.services.metrics;
    const collect = this.options.collectMetrics ?? ((m: Metrics) => m.text());
    collect(local).then(
      (text) => !aborted && res.cork(() => writeResponse(res, 200, METRICS_CONTENT_TYPE, [], text)),
      (err) => {
        this.services.log.error({ err }, 'metrics collection failed');
        if (!aborted) res.cork(() => writeResponse(res, 500, 'text/plain', [], 'metrics collection failed\n'));
      },
    );
  }
}

const tooLarge = (limit: number): SimError => new SimError('body_too_large', `Request body exceeds the limit of ${limit} bytes.`);
