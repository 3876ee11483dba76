import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** prom-client's JSON form of a registry (`getMetricsAsJSON`), which its AggregatorRegistry sums. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];
/** Fine below 2 ms: the scheduler's promise is p99 lateness ≤ 2 ms. */
const LATENESS_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

type Labels = Record<string, string>;

/** One process's part of GET /admin/stats. */
export interface ProcessStats {
  /** By `METHOD /path`, then status. */
  readonly requests: Record<string, Record<string, number>>;
  /** Generation requests in flight now. */
  readonly active: number;
  /** Completion tokens sent. */
  readonly tokens: number;
  /** Faults injected, by deciding rule (or `header`). */
  readonly faults: Record<string, number>;
  /** Requests refused by a rate limit. */
  readonly rateLimited: number;
}

/** One labelled series of a counter or gauge. */
export class Cell {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

/** One labelled series of a histogram: per-bucket counts (not cumulative), sum and count. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

abstract class Family<C extends { labels: Labels }> {
  protected readonly cells = new Map<string, C>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}
  protected abstract make(labels: Labels): C;
  /** The series for these label values (in labelNames order). Hold on to it: this look-up is the slow part. */
  labels(...values: string[]): C {
    const key = values.join('\u0001');
    let cell = this.cells.get(key);
    if (cell === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.cells.set(key, (cell = this.make(labels)));
    }
    return cell;
  }
  abstract snapshot(): MetricObjectWithValues<MetricValue<string>>;
  reset(): void {
    this.cells.clear();
  }
}

class CounterFamily extends Family<Cell> {
  /** Every series, for the admin API's stats. */
  series(): IterableIterator<Cell> {
    return this.cells.values();
  }

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly type: 'counter' | 'gauge' = 'counter',
  ) {
    super(name, help, labelNames);
  }
  protected make(labels: Labels): Cell {
    return new Cell(labels);
  }
  snapshot(): MetricObjectWithValues<MetricValue<string>> {
    const values = [...this.cells.values()].map((c) => ({ value: c.value, labels: c.labels }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' } as unknown as MetricObjectWithValues<MetricValue<string>>;
  }
}

class HistogramFamily extends Family<HistogramCell> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  protected make(labels: Labels): HistogramCell {
    return new HistogramCell(labels, this.bounds);
  }
  snapshot(): MetricObjectWithValues<MetricValue<string>> {
    const bucket = `${this.name}_bucket`;
    const values: object[] = [];
    for (const cell of this.cells.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += cell.counts[i]!;
        values.push({ value: acc, metricName: bucket, labels: { le, ...cell.labels } });
      });
      values.push({ value: cell.count, metricName: bucket, labels: { le: '+Inf', ...cell.labels } });
      values.push({ value: cell.sum, metricName: `${this.name}_sum`, labels: { ...cell.labels } });
      values.push({ value: cell.count, metricName: `${this.name}_count`, labels: { ...cell.labels } });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' } as unknown as MetricObjectWithValues<MetricValue<string>>;
  }
}

/**
 * The metrics of one process. Recording is a field update on a cached series (prom-client's own
 * metric objects hash their labels on every update, which cost ~2.4 µs a request); prom-client
 * does what it is good at: summing the snapshots of all workers and writing the exposition text.
 * In a cluster the primary sums every worker's snapshot on each scrape (src/cluster/primary.ts).
 */
export class Metrics {
  private readonly requests = new CounterFamily('http_requests_total', 'HTTP requests answered, by route and status (499: the client went away).', ['method', 'path', 'status']);
  private readonly duration = new HistogramFamily('http_request_duration_seconds', 'Time from request to the last byte of the response.', ['method', 'path'], LATENCY_BUCKETS);
  private readonly tokens = new CounterFamily('llm_tokens_generated_total', 'Completion tokens sent to clients.', ['model']);
  private readonly promptTokens = new CounterFamily('llm_prompt_tokens_total', 'Prompt tokens received in generation requests.', ['model']);
  private readonly active = new CounterFamily('llm_active_requests', 'Generation requests in flight (waiting or running).', ['model'], 'gauge');
  private readonly running = new CounterFamily('llm_running_requests', 'Sequences holding one of the model\'s slots.', ['model'], 'gauge');
  private readonly waiting = new CounterFamily('llm_waiting_requests', 'Requests queued for a slot.', ['model'], 'gauge');
  private readonly ttft = new HistogramFamily('llm_time_to_first_token_seconds', 'Server-side time from request to the first token sent (queue time included).', ['model'], LATENCY_BUCKETS);
  private readonly itl = new HistogramFamily('llm_inter_token_latency_seconds', 'Server-side time between two tokens of a stream (0 for tokens sent together).', ['model'], ITL_BUCKETS);
  private readonly queueTime = new HistogramFamily('llm_queue_time_seconds', 'Time a request waited for a slot.', ['model'], LATENCY_BUCKETS);
  private readonly e2e = new HistogramFamily('llm_e2e_request_latency_seconds', 'Request to last token.', ['model'], LATENCY_BUCKETS);
  private readonly backpressure = new CounterFamily('llm_stream_backpressure_total', 'Times a stream paused because its client read too slowly.', ['model']);
  private readonly stalled = new CounterFamily('llm_stream_stalled_total', 'Streams closed because their client read nothing for streamStallTimeoutMs.', ['model']);
  private readonly lateness = new HistogramFamily('llm_token_lateness_seconds', 'Send time minus scheduled time, per token (and per non-stream reply).', ['model'], LATENESS_BUCKETS);
  private readonly faults = new CounterFamily('llm_faults_injected_total', 'Faults the chaos engine injected, by fault type, deciding rule (or header), model as sent and route.', ['fault', 'rule', 'model', 'route']);
  private readonly errorsInjected = new CounterFamily('llm_errors_injected_total', 'Faults injected, by type (the seed simulator\'s name for the same count).', ['error_type']);
  private readonly authFailures = new CounterFamily('llm_auth_failures_total', 'Requests refused at the edge for their API key: missing, invalid, or a model the key may not use.', ['reason']);
  private readonly rateLimits = new CounterFamily('llm_rate_limit_exceeded_total', 'Requests refused by a rate limit, by the kind of limit (requests, tokens, inputTokens, outputTokens), key name (`ip` without one) and model.', ['kind', 'key', 'model']);
  private readonly earlyRetries = new CounterFamily('llm_retry_after_violations_total', 'Requests from a client that came back before the retry-after it was given, by key name (`ip` without one).', ['key']);
  private readonly concurrent = new CounterFamily('llm_concurrent_requests', 'Requests holding one of this worker\'s places under maxConcurrentRequests.', [], 'gauge');
  private readonly concurrencyQueued = new CounterFamily('llm_concurrency_queued_requests', 'Requests waiting for a place under maxConcurrentRequests (concurrency.mode queue).', [], 'gauge');
  private readonly concurrencyRejected = new CounterFamily('llm_concurrency_rejected_total', 'Requests refused at maxConcurrentRequests (mode reject, or the queue full).', []);
  private readonly storeErrors = new CounterFamily('llm_rate_limit_store_errors_total', 'Budget leases decided without the rate-limit store (it did not answer): granted or refused as limits.onStoreError says.', []);
  private readonly reloads = new CounterFamily('llm_config_reloads_total', 'Configuration reloads (admin API, SIGHUP, config file), by result: applied or invalid (nothing changed).', ['result']);
  private readonly families: Family<{ labels: Labels }>[] = [this.reloads, this.authFailures, this.rateLimits, this.earlyRetries, this.storeErrors, this.concurrent, this.concurrencyQueued, this.concurrencyRejected, this.requests, this.duration, this.tokens, this.promptTokens, this.active, this.running, this.waiting, this.ttft, this.itl, this.queueTime, this.e2e, this.lateness, this.backpressure, this.stalled, this.faults, this.errorsInjected];

  /** By method, then route path: both strings are the server's own constants, so lookups hash nothing new (a `method + path` key built a string and hashed it per request). */
  private readonly requestCells = new Map<string, Map<string, RouteCells>>();
  private readonly modelCells = new Map<string, ModelCells>();

  request(method: string, path: string, status: number, seconds: number): void {
    let byPath = this.requestCells.get(method);
    if (byPath === undefined) this.requestCells.set(method, (byPath = new Map()));
    let route = byPath.get(path);
    if (route === undefined) byPath.set(path, (route = { duration: this.duration.labels(method, path), byStatus: new Map() }));
    let counter = route.byStatus.get(status);
    if (counter === undefined) route.byStatus.set(status, (counter = this.requests.labels(method, path, String(status))));
    counter.inc();
    route.duration.observe(seconds);
  }

  rateLimited(kind: string, key: string, model: string): void {
    this.rateLimits.labels(kind, key, model).inc();
  }

  retryAfterViolated(key: string): void {
    this.earlyRetries.labels(key).inc();
  }

  /** Counter values at the last stats reset: the admin API's stats count from there, Prometheus's counters are left alone. */
  private readonly statsBase = new Map<Cell, number>();

  /** What GET /admin/stats reports for this process: counts since the last stats reset, and the gauges now. */
  stats(): ProcessStats {
    const since = (cell: Cell): number => cell.value - (this.statsBase.get(cell) ?? 0);
    const sum = (family: CounterFamily): number => [...family.series()].reduce((n, c) => n + since(c), 0);
    const requests: Record<string, Record<string, number>> = {};
    for (const c of this.requests.series()) {
      const n = since(c);
      if (n > 0) (requests[`${c.labels.method} ${c.labels.path}`] ??= {})[c.labels.status!] = n;
    }
    const faults: Record<string, number> = {};
    for (const c of this.faults.series()) {
      const n = since(c);
      if (n > 0) faults[c.labels.rule!] = (faults[c.labels.rule!] ?? 0) + n;
    }
    return { requests, active: sum(this.active), tokens: sum(this.tokens), faults, rateLimited: sum(this.rateLimits) };
  }

  resetStats(): void {
    for (const family of [this.requests, this.tokens, this.faults, this.rateLimits]) for (const c of family.series()) this.statsBase.set(c, c.value);
  }

  configReload(result: 'applied' | 'invalid'): void {
    this.reloads.labels(result).inc();
  }

  /** The cells the concurrency gate keeps (src/http/concurrency.ts). */
  concurrencyCells(): { running: Cell; queued: Cell; refused: Cell } {
    return { running: this.concurrent.labels(), queued: this.concurrencyQueued.labels(), refused: this.concurrencyRejected.labels() };
  }

  storeUnavailable(): void {
    this.storeErrors.labels().inc();
  }

  authFailure(reason: 'missing' | 'invalid' | 'model'): void {
    this.authFailures.labels(reason).inc();
  }

  /** Faults are rare next to requests: their series are looked up by label, not cached. */
  faultInjected(fault: string, rule: string, model: string, route: string): void {
    this.faults.labels(fault, rule, model, route).inc();
    this.errorsInjected.labels(fault).inc();
  }

  model(id: string): ModelCells {
    let cells = this.modelCells.get(id);
    if (cells === undefined) {
      cells = {
        tokens: this.tokens.labels(id),
        promptTokens: this.promptTokens.labels(id),
        active: this.active.labels(id),
        running: this.running.labels(id),
        waiting: this.waiting.labels(id),
        ttft: this.ttft.labels(id),
        itl: this.itl.labels(id),
        queueTime: this.queueTime.labels(id),
        e2e: this.e2e.labels(id),
        lateness: this.lateness.labels(id),
        backpressure: this.backpressure.labels(id),
        stalled: this.stalled.labels(id),
      };
      this.modelCells.set(id, cells);
    }
    return cells;
  }

  /** Forgets every series (after the start-up warm-up, whose traffic is nobody's). Only while nothing is in flight. */
  reset(): void {
    this.statsBase.clear();
    for (const f of this.families) f.reset();
    this.requestCells.clear();
    this.modelCells.clear();
  }

  snapshot(): Promise<MetricsSnapshot> {
    return Promise.resolve(this.families.map((f) => f.snapshot()));
  }

  async text(): Promise<string> {
    return aggregateSnapshots([await this.snapshot()]);
  }
}

interface RouteCells {
  readonly duration: HistogramCell;
  readonly byStatus: Map<number, Cell>;
}

export interface ModelCells {
  readonly tokens: Cell;
  readonly promptTokens: Cell;
  readonly active: Cell;
  readonly running: Cell;
  readonly waiting: Cell;
  readonly ttft: HistogramCell;
  readonly itl: HistogramCell;
  readonly queueTime: HistogramCell;
  readonly e2e: HistogramCell;
  readonly lateness: HistogramCell;
  readonly backpressure: Cell;
  readonly stalled: Cell;
}

export const METRICS_CONTENT_TYPE = new Registry().contentType;

/** Sums per-process snapshots into one Prometheus text exposition. */
export function aggregateSnapshots(snapshots: MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots).metrics();
}
