import { randomUUID } from 'node:crypto';
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { complete } from '../api/anthropic/complete.js';
import { countTokens } from '../api/anthropic/count-tokens.js';
import { anthropic } from '../api/anthropic/errors.js';
import { messages } from '../api/anthropic/messages.js';
import * as anthropicModels from '../api/anthropic/models.js';
import type { GetContext, JsonReply, RequestHeaders, RouteContext } from '../api/context.js';
import type { Dialect } from '../api/dialect.js';
import { chatCompletions } from '../api/openai/chat-completions.js';
import { openai } from '../api/openai/errors.js';
import { completions } from '../api/openai/completions.js';
import { embeddings } from '../api/openai/embeddings.js';
import * as openaiModels from '../api/openai/models.js';
import { responses } from '../api/openai/responses.js';
import { parseJson } from '../api/validate.js';
import type { Config } from '../config/schema.js';
import { SimError } from '../errors.js';
import type { Logging } from '../log.js';
import { METRICS_CONTENT_TYPE, Metrics } from '../metrics/metrics.js';
import { Catalogue } from '../sim/catalogue.js';
import type { CpuPool } from '../sim/pool.js';
import { Capacity } from '../sim/capacity.js';
import { Profiles } from '../sim/profiles.js';
import { Scheduler } from '../sim/scheduler.js';
import { warmTokenizers } from '../sim/tokens.js';
import type { Generation } from '../sim/stream.js';
import { deliver, replyAfter } from './delivery.js';
import { Exchange, JSON_TYPE, OpenExchanges, type Services } from './exchange.js';
import { warmUp, type WarmUp } from './warmup.js';
import { Admission, parseFaultHeader, type AdmissionInput, type Decision } from '../faults/admission.js';
import type { FaultRoute } from '../faults/rules.js';
import { findScenario } from '../faults/scenarios.js';
import { LocalLedger, type Ledger } from '../cluster/ledger.js';
import { injectFault, journal } from './faults.js';
import { lastPrompt } from '../api/generation.js';
import { authError, KeyRing, mayUse, type ApiKey } from '../edge/auth.js';
import { Cors } from '../edge/cors.js';
import { sslOptions } from '../edge/tls.js';
import { ConcurrencyGate } from './concurrency.js';
import { negotiate } from './compress.js';
import { BenchRecords } from './records.js';
import { faultError } from '../faults/render.js';
import { ADMIN_ROUTES, adminRequest, localControl } from '../control/admin.js';
import type { ControlPlane, LiveState, WorkerStats } from '../control/plane.js';
import { Limiter, localStore, unrefusable, type BudgetStore, type LimitSpec, type Told } from '../edge/limits.js';
import { limitRequest, requestedMaxTokens } from './limits.js';
import { requested, Tracing, tracingSchema } from '../tracing/tracing.js';
import { BodyResult, contentLengthOf, HEADER, readBody, methodOf, readHeaders, writeBodiless, writeResponse } from './uws.js';

/** A POST route: a generation to deliver, or a JSON body (possibly after simulated work). */
type PostHandler = (body: unknown, ctx: RouteContext) => Generation | JsonReply | Promise<Generation | JsonReply>;
type GetHandler = (ctx: GetContext, dialect: Dialect) => string;

interface Route {
  readonly path: string;
  /** POST routes: the name fault rules match on (`match.route`). */
  readonly name?: FaultRoute;
  /** The dialect of the route's answers (and errors), which may depend on the request's headers. */
  readonly dialect: (headers: RequestHeaders) => Dialect;
  readonly post?: PostHandler;
  readonly get?: GetHandler;
}

const OPENAI = (): Dialect => openai;
const ANTHROPIC = (): Dialect => anthropic;
/**
 * Paths both vendors serve, and unknown ones, answer in the dialect the headers suggest: an
 * Anthropic client always sends `anthropic-version` (or `x-api-key`), an OpenAI client never (WIRE B0a).
 */
const BY_HEADERS = (headers: RequestHeaders): Dialect => (headers.anthropicVersion !== '' || headers.xApiKey !== '' ? anthropic : openai);

const ROUTES: readonly Route[] = [
  { path: '/v1/chat/completions', name: 'chat.completions', dialect: OPENAI, post: chatCompletions },
  { path: '/v1/completions', name: 'completions', dialect: OPENAI, post: completions },
  { path: '/v1/embeddings', name: 'embeddings', dialect: OPENAI, post: embeddings },
  { path: '/v1/responses', name: 'responses', dialect: OPENAI, post: responses },
  { path: '/v1/complete', name: 'complete', dialect: ANTHROPIC, post: complete },
  { path: '/v1/messages', name: 'messages', dialect: ANTHROPIC, post: messages },
  { path: '/v1/messages/count_tokens', name: 'messages.count_tokens', dialect: ANTHROPIC, post: countTokens },
  { path: '/v1/models', dialect: BY_HEADERS, get: (ctx, d) => (d === anthropic ? anthropicModels.listModels(ctx) : openaiModels.listModels(ctx)) },
  { path: '/v1/models/:id', dialect: BY_HEADERS, get: (ctx, d) => (d === anthropic ? anthropicModels.retrieveModel(ctx) : openaiModels.retrieveModel(ctx)) },
];

const HEALTH_PATHS = ['/health', '/live', '/health/live'];
const READY_PATHS = ['/ready', '/health/ready'];
const METRICS_PATH = '/metrics';
/** The gateway benchmark's records (`benchRecords`); 404 when none are kept. */
const RECORDS_PATH = '/bench/records';

/** The methods a route takes. */
const methodsOf = (r: Route): string[] => [...(r.post ? ['POST'] : []), ...(r.get ? ['GET'] : [])];

/** Every method and path the server answers (`:id` marks a parameter): what the README's endpoint table must list. */
export function routeTable(): { method: string; path: string }[] {
  return [
    ...ROUTES.flatMap((r) => methodsOf(r).map((method) => ({ method, path: r.path }))),
    ...[...HEALTH_PATHS, ...READY_PATHS].flatMap((path) => [
      { method: 'GET', path },
      { method: 'HEAD', path },
    ]),
    { method: 'GET', path: METRICS_PATH },
    { method: 'GET', path: RECORDS_PATH },
    ...ADMIN_ROUTES,
  ];
}

/** The keys' own limits (`auth.keys[].limits`): they apply even with no `limits` section. */
const keyLimits = (config: Readonly<Config>): LimitSpec[] => config.auth.keys.flatMap((k) => k.limits ?? []);

/** What the limiter is made from: the `limits` section and each key's own limits (a reload that changes either makes a new one). */
const limitsSource = (config: Readonly<Config>): string => JSON.stringify([config.limits, config.auth.keys.map((k) => [k.name, k.limits])]);

const isGeneration = (result: Generation | JsonReply): result is Generation => 'encoder' in result;

export interface ServerOptions {
  readonly config: Readonly<Config>;
  readonly logging: Logging;
  readonly pool: CpuPool | null;
  /** The Prometheus text for GET /metrics; defaults to this process's own registry. */
  readonly collectMetrics?: (local: Metrics) => Promise<string>;
  /** The counters fault rules count with; defaults to this process's own (no cluster). */
  readonly ledger?: Ledger;
  /** This worker's number (1…), mixed into seeded fault draws; 0 without a cluster. */
  readonly worker?: number;
  /** Where rate-limit buckets live: the primary's Budget over IPC in a cluster; defaults to this process's own. */
  readonly budget?: BudgetStore;
  /** The admin API's operations: the primary's over IPC in a cluster; defaults to this process applying to itself. */
  readonly control?: ControlPlane;
  /**
   * The runtime snapshot's version, its scenario's start and its rules' (LiveState), when this
   * process joins a cluster's config (every worker is given the primary's); default: now.
   */
  readonly version?: number;
  readonly scenarioStartMs?: number;
  readonly rulesSince?: readonly number[];
  /** Shares a refusal (a client told to wait) with the other workers; see Server.remembered. */
  readonly tell?: (client: string, told: Told) => void;
}

/** One uWebSockets.js app serving every route; a cluster runs one per HTTP worker on a shared port. */
export class Server {
  /**
   * The runtime snapshot: the config and what is built from it, replaced as a whole by
   * `apply` (a reload). A request reads these once, when it arrives, and keeps them: a stream
   * that began before a reload finishes on its old profile and catalogue.
   */
  config: Readonly<Config>;
  version: number;
  private scenarioStartMs: number;
  private rulesSince: readonly number[];
  // Built from the snapshot by apply() (the constructor calls it).
  catalogue!: Catalogue;
  profiles!: Profiles;
  readonly services: Services;
  port = 0;
  /** The admin listener's port (`admin.port`), null when the main port serves the admin API. */
  adminPort: number | null = null;
  draining = false;
  /** config.control.headers: whether the x-sim-* request headers are read at all. */
  private simHeaders!: boolean;
  private cors!: Cors;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly gate: ConcurrencyGate;
  /** This process's place among the workers (its share of cluster-wide counts). */
  private readonly workerIndex: number;
  /** Whether the listeners serve https (`tls`, fixed for the process's life). */
  readonly tls: boolean;
  private keys!: KeyRing;
  private limiter: Limiter;
  private readonly app: TemplatedApp;
  /** The admin API's own app when `admin.port` is set (it then has no route on the main port). */
  private readonly adminApp: TemplatedApp | null;
  private adminSocket: us_listen_socket | null = null;
  private listenSocket: us_listen_socket | null = null;

  constructor(private readonly options: ServerOptions) {
    const { config } = options;
    // The "previous" snapshot for apply() below: what it rebuilds only on change is built here.
    this.config = config;
    const now = Date.now();
    this.version = options.version ?? 1;
    this.scenarioStartMs = options.scenarioStartMs ?? now;
    this.rulesSince = options.rulesSince ?? config.faults.rules.map(() => now);
    this.workerIndex = options.worker ?? 0;
    this.limiter = new Limiter(config.limits, options.budget ?? localStore(), config.workers, keyLimits(config).length > 0);
    warmTokenizers();
    this.services = {
      metrics: new Metrics(),
      log: options.logging.log,
      scheduler: new Scheduler(),
      capacity: new Capacity(),
      // Its rules come from apply() below, like every reload's.
      admission: new Admission([], [], {
        seed: config.seed,
        worker: this.workerIndex,
        ledger: options.ledger ?? new LocalLedger(),
        journalSize: config.faults.journalSize,
      }),
      // Set from the snapshot by apply().
      access: null,
      announceFaults: false,
      timeScale: 1,
      stallTimeoutMs: 0,
      compression: null,
      tracing: null,
      serverTiming: false,
      records: null,
      active: 0,
      open: new OpenExchanges(),
      onIdle: null,
    };
    this.gate = new ConcurrencyGate(this.services.metrics.concurrencyCells());
    this.limiter.onTold = options.tell ?? null;
    this.limiter.onUnavailable = () => this.services.metrics.storeUnavailable();
    if (config.scenario !== null) this.services.admission.activate(config.scenario, findScenario(config.scenario, config.scenarios)!, this.scenarioStartMs);
    this.apply({ config, version: this.version, scenarioStartMs: this.scenarioStartMs, rulesSince: this.rulesSince });
    const control = options.control ?? localControl(this);
    const ssl = sslOptions(config.tls);
    this.tls = ssl !== null;
    this.app = ssl !== null ? uWS.SSLApp(ssl) : uWS.App();
    this.adminApp = config.admin.port === null ? null : ssl !== null ? uWS.SSLApp(ssl) : uWS.App();
    for (const route of ROUTES) {
      // uWS matches a static path exactly (the query is part of neither), so its URL is the path;
      // and a POST handler of its own (uWS prefers it to `any`) knows its method: two native calls
      // a request fewer (~650 instructions).
      const fixedUrl = route.path.includes(':') ? null : route.path;
      if (route.post !== undefined) this.app.post(route.path, (res, req) => this.dispatch(route, res, req, 'POST', fixedUrl ?? req.getUrl()));
      this.app.any(route.path, (res, req) => this.dispatch(route, res, req, methodOf(req), fixedUrl ?? req.getUrl()));
    }
    // HEAD answers like GET without the body (load balancers' health checks use either).
    for (const path of HEALTH_PATHS) {
      this.app.get(path, (res, req) => void (this.guarded(res, req, path) && this.health(res, 200, 'ok', true)));
      this.app.head(path, (res, req) => void (this.guarded(res, req, path) && this.health(res, 200, 'ok', false)));
    }
    for (const path of READY_PATHS) {
      this.app.get(path, (res, req) => void (this.guarded(res, req, path) && (this.draining ? this.health(res, 503, 'draining', true) : this.health(res, 200, 'ready', true))));
      this.app.head(path, (res, req) => void (this.guarded(res, req, path) && (this.draining ? this.health(res, 503, 'draining', false) : this.health(res, 200, 'ready', false))));
    }
    // Every path of the admin listener is the admin API's (unknown ones get its 404).
    if (this.adminApp !== null) this.adminApp.any('/*', (res, req) => adminRequest(this, control, res, req));
    else this.app.any('/admin/*', (res, req) => adminRequest(this, control, res, req));
    this.app.get(METRICS_PATH, (res, req) => void (this.guarded(res, req, METRICS_PATH) && this.metrics(res)));
    this.app.get(RECORDS_PATH, (res, req) => void (this.guarded(res, req, RECORDS_PATH) && this.records(res, control, Number(new URLSearchParams(req.getQuery() ?? '').get('since') ?? 0) || 0)));
    this.app.any('/*', (res, req) => {
      const method = methodOf(req);
      if (method === 'OPTIONS' && this.cors.on) return this.cors.preflight(res, req);
      const headers = readHeaders(req, this.simHeaders);
      const url = req.getUrl();
      const ex = this.exchange(res, req, BY_HEADERS(headers), method, 'unmatched', url, headers);
      if (this.authorize(ex, headers)) ex.replyError(new SimError('route_not_found', `Invalid URL (${method} ${url})`));
    });
  }

  /**
   * Sends the start-up warm-up traffic (src/http/warmup.ts) through this app on a private
   * loopback port, then forgets it: no access lines, no metrics. Call before listen().
   */
  async warm(): Promise<WarmUp> {
    const { services } = this;
    const access = services.access;
    const admission = services.admission;
    const tracing = services.tracing;
    const records = services.records;
    const keys = this.keys;
    const limiter = this.limiter;
    const simHeaders = this.simHeaders;
    const timeScale = services.timeScale;
    access?.discard(true);
    // Its requests set their own waits (the instant profile, 1 ms ones) also where clients may
    // not (`control.headers: false`), and they are not stretched by a time scale above 1: with
    // the models' own latencies a warm-up took 24 s, at `timeScale: 100` 10.8 s.
    this.simHeaders = true;
    services.timeScale = Math.min(timeScale, 1);
    services.tracing = null;
    services.records = null;
    // Warm-up traffic passes the edge as configured, so the key check, the limits' buckets and
    // their headers are compiled too (left cold, they were first compiled under real load, and
    // `--trace-deopt` showed them and the request path around them deoptimising in its first
    // seconds). It presents a key of its own, valid only in this ring, and spends a private
    // budget of the same buckets, too large to refuse, not the configured one.
    const warmKey = randomUUID();
    this.keys = new KeyRing({ mode: keys.mode, keys: [{ key: warmKey, name: 'warm-up' }], public: this.config.auth.public });
    this.limiter = new Limiter(unrefusable(this.config.limits, keyLimits(this.config)), localStore(), 1);
    // Warm-up traffic is never faulted (nor counted by the rules' ledger).
    services.admission = new Admission([], [], { seed: null, worker: 0, ledger: new LocalLedger(), journalSize: 0 });
    const socket = await listenOn(this.app, '127.0.0.1', 0);
    try {
      // The metrics are forgotten after every round, not only at the end: a real load's first
      // request then finds their series made on a path the warm-up compiled (once at the end,
      // the first burst's requests deoptimised `deliver`, `flush` and `finish` on it).
      return await warmUp(uWS.us_socket_local_port(socket), warmKey, this.tls, () => services.metrics.reset(), Object.keys(this.config.profiles));
    } finally {
      uWS.us_listen_socket_close(socket);
      access?.discard(false);
      services.admission = admission;
      services.tracing = tracing;
      services.records = records;
      this.keys = keys;
      this.limiter = limiter;
      this.simHeaders = simHeaders;
      services.timeScale = timeScale;
      services.metrics.reset();
    }
  }

  /** Listens on `admin.host`:`admin.port` when the admin API has its own listener (a no-op otherwise). */
  async listenAdmin(host: string, port: number): Promise<void> {
    if (this.adminApp === null) return;
    this.adminSocket = await listenOn(this.adminApp, host, port);
    this.adminPort = uWS.us_socket_local_port(this.adminSocket);
  }

  async listen(host: string, port: number): Promise<number> {
    this.listenSocket = await listenOn(this.app, host, port);
    this.port = uWS.us_socket_local_port(this.listenSocket);
    return this.port;
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
      const timer = setTimeout(() => {
        // Deadline passed: what still runs ends with an error its client can see, not a cut connection.
        services.onIdle = null;
        resolve(false);
        const err = new SimError('shutting_down', 'The server is shutting down; this request was still running at its drain deadline.');
        for (const ex of services.open.all()) ex.cutShort(err);
      }, deadlineMs);
      services.onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /**
   * Makes `config` (validated, and already checked to need no restart) this process's runtime
   * snapshot `version`. Requests already running keep what they read; the next ones see the new.
   * The running scenario, the fault journal, rule counts (in the ledger) and rate-limit budget
   * carry over; a changed `limits` section, or a key's own limits changed, starts a new limiter
   * (old leases go back on expiry).
   */
  apply(state: LiveState): void {
    const { config, version, scenarioStartMs, rulesSince } = state;
    const previous = this.config;
    this.catalogue = new Catalogue(config.models);
    this.profiles = new Profiles(config);
    this.keys = new KeyRing(config.auth);
    if (limitsSource(previous) !== limitsSource(config)) {
      const limiter = new Limiter(config.limits, this.limiter.store, config.workers, keyLimits(config).length > 0);
      limiter.onTold = this.limiter.onTold;
      limiter.onUnavailable = this.limiter.onUnavailable;
      this.limiter = limiter;
    }
    const { services } = this;
    services.admission.replaceRules(config.faults.rules, rulesSince);
    this.rulesSince = rulesSince;
    if (config.scenario !== previous.scenario || scenarioStartMs !== this.scenarioStartMs || JSON.stringify(config.scenarios) !== JSON.stringify(previous.scenarios)) {
      const scenario = config.scenario === null ? null : findScenario(config.scenario, config.scenarios)!;
      services.admission.activate(config.scenario ?? '', scenario, scenarioStartMs);
    }
    this.scenarioStartMs = scenarioStartMs;
    services.access = config.accessLog ? this.options.logging.access : null;
    services.announceFaults = config.faults.announce;
    services.timeScale = config.timeScale;
    services.stallTimeoutMs = config.streamStallTimeoutMs;
    services.compression = config.compression.enabled ? config.compression : null;
    if (JSON.stringify(config.tracing) !== JSON.stringify(services.tracing?.config ?? tracingSchema.parse({}))) {
      // Spans of requests still running end on the old provider, which exports them as it shuts down.
      const old = services.tracing;
      services.tracing = config.tracing.endpoint === null ? null : new Tracing({ ...config.tracing, endpoint: config.tracing.endpoint });
      void old?.shutdown().catch((err: unknown) => services.log.warn({ err }, 'spans could not be exported'));
    }
    services.metrics.vllm = config.metrics.vllm;
    services.serverTiming = config.metrics.serverTiming;
    if (config.benchRecords !== (services.records?.capacity ?? 0)) services.records = config.benchRecords === 0 ? null : new BenchRecords(config.benchRecords);
    services.metrics.servedModels = this.catalogue.models.map((m) => m.id);
    this.simHeaders = config.control.headers;
    this.sweepEvery(config.timeouts);
    this.gate.configure(config.maxConcurrentRequests, config.concurrency, config.workers, this.workerIndex);
    this.cors = new Cors(config.cors);
    this.config = config;
    this.version = version;
  }

  /** This process's part of GET /admin/stats. */
  stats(): WorkerStats {
    const running = this.services.admission.running();
    return {
      pid: process.pid,
      version: this.version,
      uptimeS: Math.round(process.uptime()),
      open: this.services.open.size,
      scenario: running === null ? null : { name: running.name, since: new Date(running.startMs).toISOString() },
      ...this.services.metrics.stats(),
    };
  }

  /** What this process runs, as the control plane advances it. */
  get live(): LiveState {
    return { config: this.config, version: this.version, scenarioStartMs: this.scenarioStartMs, rulesSince: this.rulesSince };
  }

  /** `limits.reset(key?)`: the rate-limit buckets of the key named (or of every client) start full again. */
  resetLimits(keyName: string | null = null): void | Promise<void> {
    return this.limiter.reset(keyName);
  }

  /** `limits.reset` reached the store from another worker: this one's leases and refusals of `client` (or all) go too. */
  forget(client: string | null): void {
    this.limiter.forget(client);
  }

  /** Another worker refused `client` and told it to wait (early retries are then seen here too). */
  remembered(client: string, told: Told): void {
    this.limiter.remember(client, told);
  }

  /** Stops accepting connections; open ones end with their last response. */
  close(): void {
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    if (this.adminSocket !== null) uWS.us_listen_socket_close(this.adminSocket);
    this.adminSocket = null;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /**
   * `timeouts`: one sweep over the open exchanges every quarter of the shorter deadline (at most
   * every second, at least every 10 ms), rather than a timer per request. A body still arriving
   * after `bodyMs` gets the 408 and the connection closes; a request older than `requestMs` ends
   * with the dialect's 504, in-band once its stream has begun.
   */
  private sweepEvery(timeouts: Config['timeouts']): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    const everyMs = Math.min(1000, Math.max(10, Math.min(timeouts.requestMs, timeouts.bodyMs) / 4));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      const { requestMs, bodyMs } = this.config.timeouts;
      for (const ex of this.services.open.all()) {
        const age = now - ex.startedAt;
        if (ex.readingBody && age > bodyMs) ex.cutShort(new SimError('request_timeout', `The request body did not arrive within ${bodyMs} ms.`), true);
        else if (age > requestMs) ex.cutShort(new SimError('gateway_timeout', `The request did not complete within ${requestMs} ms.`));
      }
    }, everyMs).unref();
  }

  /**
   * The edge's key check, before anything else of the request is read: true when it may go on
   * (the key, if configured, is then on the exchange); otherwise it has been answered with the
   * dialect's 401. Public paths (`auth.public`) pass without one.
   */
  private authorize(ex: Exchange, headers: RequestHeaders): boolean {
    const checked = this.checkKey(ex.url, headers, ex.dialect.name);
    if (checked instanceof SimError) {
      ex.replyError(checked);
      return false;
    }
    ex.key = checked;
    return true;
  }

  /**
   * The key check for the health and metrics paths, which are public by default: one that
   * `auth.public` leaves out needs a key like the API routes (answered without an exchange, so
   * probes never show in the request metrics). True when it may be served.
   */
  private guarded(res: HttpResponse, req: HttpRequest, path: string): boolean {
    if (this.keys.mode === 'any' || this.keys.isPublic(path)) return true;
    const headers = readHeaders(req, false);
    const dialect = BY_HEADERS(headers);
    const checked = this.checkKey(path, headers, dialect.name);
    if (!(checked instanceof SimError)) return true;
    writeResponse(res, dialect.status(checked), JSON_TYPE, '', [], dialect.errorBody(checked, dialect.newRequestId()));
    return false;
  }

  /** The one key check behind both: the configured key (null when none applies), or the dialect's 401 to answer with (counted). Allocates nothing for a key it has verified before. */
  private checkKey(path: string, headers: RequestHeaders, dialect: 'openai' | 'anthropic'): ApiKey | null | SimError {
    if (this.keys.mode === 'any' || this.keys.isPublic(path)) return null;
    const auth = this.keys.check(headers.authorization, headers.xApiKey);
    if (auth.ok) return auth.key;
    this.services.metrics.authFailure(auth.reason);
    return authError(auth.reason, dialect, KeyRing.presented(headers.authorization, headers.xApiKey));
  }

  private exchange(res: HttpResponse, req: HttpRequest, dialect: Dialect, method: string, route: string, url: string, headers: RequestHeaders): Exchange {
    const requestId = headers.requestId !== '' ? headers.requestId : dialect.newRequestId();
    const { cors } = this;
    const edgeLines = (cors.on ? cors.responseLines(req.getHeader(HEADER.origin)) : null) ?? dialect.exposeLines;
    const ex = new Exchange(res, this.services, method, route, url, dialect, requestId, headers.requestId, edgeLines);
    const { compression, tracing } = this.services;
    if (tracing !== null) ex.span = tracing.start(method, route, url, dialect.name, req.getHeader(HEADER.traceparent), req.getHeader(HEADER.tracestate));
    if (compression !== null) {
      ex.compression = compression;
      ex.encoding = negotiate(req.getHeader(HEADER.acceptEncoding));
    }
    return ex;
  }

  private dispatch(route: Route, res: HttpResponse, req: HttpRequest, method: string, url: string): void {
    if (method === 'OPTIONS' && this.cors.on) return this.cors.preflight(res, req);
    const openaiOnly = route.dialect === OPENAI;
    const headers = readHeaders(req, this.simHeaders, !openaiOnly || this.keys.mode !== 'any', !openaiOnly);
    const ex = this.exchange(res, req, route.dialect(headers), method, route.path, url, headers);
    if (!this.authorize(ex, headers)) return;
    try {
      if (method === 'POST' && route.post !== undefined) this.post(ex, route, route.post, headers, req);
      else if (method === 'GET' && route.get !== undefined) {
        const param = route.path.includes(':') ? decodePathParameter(req.getParameter(0)) : '';
        ex.replyJson(200, route.get({ catalogue: this.catalogue, param, query: req.getQuery() ?? '' }, ex.dialect));
      }
      else {
        // RFC 9110: a 405 lists the methods the resource does take.
        ex.headers.push(['allow', methodsOf(route).join(', ')]);
        ex.replyError(new SimError('method_not_allowed', `Invalid method for URL (${method} ${url})`));
      }
    } catch (err) {
      ex.fail(err);
    }
  }

  private post(ex: Exchange, route: Route, handler: PostHandler, headers: RequestHeaders, req: HttpRequest): void {
    const limit = this.config.bodyLimitBytes;
    // Counted by endpoint from here on: `unknown` until the body names a model of the catalogue.
    ex.modelLabel = 'unknown';
    const declared = contentLengthOf(req);
    if (declared > limit) {
      // Answer before reading a byte; close, since the rest of the body will not be read.
      ex.replyError(tooLarge(limit), true);
      return;
    }
    const ctx: RouteContext = { config: this.config, catalogue: this.catalogue, profiles: this.profiles, pool: this.options.pool, headers, requestId: ex.requestId, capacity: this.services.capacity, scripted: null };
    const { admission } = this.services;
    // The edge, in order: the key (checked in dispatch), the key's models, the rate limits, then
    // faults and scripted replies; all before the request is validated, tokenized or planned.
    // Only the headers some rule matches on are read (none without rules).
    const ruleHeaders = admission.headerNames.length === 0 ? null : new Map(admission.headerNames.map((name) => [name, req.getHeader(name)]));
    // onData callbacks run with the socket already corked, like the route handler itself.
    ex.readingBody = true;
    readBody(ex.res, limit, declared, (result, text) => {
      ex.readingBody = false;
      if (ex.aborted) return;
      if (result === BodyResult.TooLarge) return ex.replyError(tooLarge(limit), true);
      try {
        const body = parseJson(text);
        const model = modelOf(body);
        ex.modelLabel = this.modelLabel(model);
        if (ex.span !== null) requested(ex.span, route.path, model, body !== null && typeof body === 'object' ? requestedMaxTokens(body as Record<string, unknown>) : undefined);
        if (!mayUse(ex.key, model)) {
          this.services.metrics.authFailure('model');
          // As the vendors answer a model the key's organisation cannot use: the unknown-model 404.
          return ex.replyError(faultError('model_not_found', { type: 'model_not_found' }, ex.dialect.name, model).err);
        }
        const limited = this.limiter.active ? limitRequest(ex, this.limiter, route.name!, model, ex.modelLabel, body, this.config) : true;
        if (limited === true) return this.faulted(ex, route, handler, body, model, ctx, ruleHeaders);
        if (limited !== false) void limited.then((go) => go && ex.later(() => this.faulted(ex, route, handler, body, model, ctx, ruleHeaders)));
      } catch (err) {
        ex.fail(err);
      }
    });
  }

  /** The fault stage of admission, then the request itself. */
  private faulted(ex: Exchange, route: Route, handler: PostHandler, body: unknown, model: string, ctx: RouteContext, ruleHeaders: Map<string, string> | null): void {
    const { admission } = this.services;
    const { headers } = ctx;
    // Off (no rules, no scenario, no x-sim-fault) it is this one check.
    if (!admission.hasRules && headers.fault === '') return this.run(ex, handler, body, ctx);
    const input = admissionInput(route.name!, ex.dialect.name, body, model, ex.modelLabel, ruleHeaders, ex.key);
    const decision = admission.decide(input, headers.fault === '' ? null : parseFaultHeader(headers.fault));
    if (!(decision instanceof Promise)) return this.admitted(ex, decision, input, handler, body, ctx);
    decision.then(
      (d) => ex.later(() => this.admitted(ex, d, input, handler, body, ctx)),
      (err: unknown) => {
        // The ledger did not answer (the primary is gone or stalled): the request goes unfaulted.
        this.services.log.warn({ err, requestId: ex.requestId }, 'fault rule could not count this request; answered without a fault');
        ex.later(() => this.run(ex, handler, body, ctx));
      },
    );
  }

  /** Carries out admission's decision: none, a scripted reply (planned as usual, with its content), or a fault. */
  private admitted(ex: Exchange, decision: Decision | null, input: AdmissionInput, handler: PostHandler, body: unknown, ctx: RouteContext): void {
    if (decision === null) return this.run(ex, handler, body, ctx);
    if (decision.reply !== undefined) {
      journal(ex, decision.source, 'reply', input);
      return this.run(ex, handler, body, { ...ctx, scripted: decision.reply });
    }
    injectFault(ex, decision.fault, decision.source, input, () => this.run(ex, handler, body, ctx));
  }

  /** A model name as a metrics label: the catalogue's id, never an arbitrary client string. */
  private modelLabel(model: string): string {
    return this.catalogue.find(model)?.id ?? 'unknown';
  }

  /** Runs an admitted request once it has a place under `maxConcurrentRequests` (it may wait for one, or be refused). */
  private run(ex: Exchange, handler: PostHandler, body: unknown, ctx: RouteContext): void {
    if (this.gate.tryEnter(ex)) return this.execute(ex, handler, body, ctx);
    this.gate.waitOrRefuse(ex, () => this.execute(ex, handler, body, ctx));
  }

  /** Validates, plans and delivers a request. */
  private execute(ex: Exchange, handler: PostHandler, body: unknown, ctx: RouteContext): void {
    const result = handler(body, ctx);
    if (result instanceof Promise) {
      result.then(
        (r) => ex.later(() => this.answer(ex, r)),
        (err: unknown) => ex.later(() => ex.fail(err)),
      );
    } else this.answer(ex, result);
  }

  private answer(ex: Exchange, result: Generation | JsonReply): void {
    if (isGeneration(result)) deliver(ex, result);
    else replyAfter(ex, result);
  }

  private health(res: HttpResponse, status: number, state: string, withBody: boolean): void {
    const body = `{"status":"${state}"}`;
    if (withBody) writeResponse(res, status, JSON_TYPE, '', [], body);
    else writeBodiless(res, status, JSON_TYPE, body.length);
  }

  /** GET /bench/records?since=<Unix ms>: every worker's records, by arrival; 404 when `benchRecords` is 0. */
  private records(res: HttpResponse, control: ControlPlane, since: number): void {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    control.records(since).then(
      (records) => !aborted && res.cork(() => (records === null ? writeResponse(res, 404, JSON_TYPE, '', [], '{"error":{"message":"No bench records are kept: start with --bench-records N.","code":"not_found"}}') : writeResponse(res, 200, JSON_TYPE, '', [], JSON.stringify({ records })))),
      (err) => {
        this.services.log.error({ err }, 'bench records could not be read');
        if (!aborted) res.cork(() => writeResponse(res, 500, 'text/plain', '', [], 'bench records could not be read\n'));
      },
    );
  }

  private metrics(res: HttpResponse): void {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const local = this.services.metrics;
    const collect = this.options.collectMetrics ?? ((m: Metrics) => m.text());
    collect(local).then(
      (text) => !aborted && res.cork(() => writeResponse(res, 200, METRICS_CONTENT_TYPE, '', [], text)),
      (err) => {
        this.services.log.error({ err }, 'metrics collection failed');
        if (!aborted) res.cork(() => writeResponse(res, 500, 'text/plain', '', [], 'metrics collection failed\n'));
      },
    );
  }
}

/**
 * What admission decides on, read from the parsed body without validating it (a body the route
 * would refuse may still be faulted, as a provider's edge refuses before it parses).
 */
function admissionInput(route: FaultRoute, dialect: 'openai' | 'anthropic', body: unknown, model: string, modelId: string, headers: Map<string, string> | null, key: ApiKey | null): AdmissionInput {
  const fields = body !== null && typeof body === 'object' ? (body as { stream?: unknown }) : {};
  return {
    route,
    dialect,
    model,
    key: key?.name ?? '',
    modelId,
    stream: fields.stream === true,
    header: (name) => headers?.get(name) ?? '',
    prompt: () => lastPrompt(body),
  };
}

/** The body's `model` as sent, read before validation ('' when it is not a string). */
function modelOf(body: unknown): string {
  const model = body !== null && typeof body === 'object' ? (body as { model?: unknown }).model : undefined;
  return typeof model === 'string' ? model : '';
}

/** A malformed percent-escape names no model: kept as sent, it is answered with the route's 404. */
function decodePathParameter(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** One listen of a uWS app: its socket, or an error naming the address. */
const listenOn = (app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> =>
  new Promise((resolve, reject) => app.listen(host, port, (socket) => (socket === false ? reject(new Error(`cannot listen on ${host}:${port}`)) : resolve(socket))));

const tooLarge = (limit: number): SimError => new SimError('body_too_large', `Request body exceeds the limit of ${limit} bytes.`);
