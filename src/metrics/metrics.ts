type Labels = Record<string, string | number>;

/** One series of a counter or gauge. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/**
 * One series of a histogram, whole: cumulative counts at its bounds (+Inf is `count`). A series
 * travels as one record, not as a sample per bucket: the primary merges ~30× fewer entries, and
 * the IPC message is a fraction of the size.
 */
export interface HistogramSample {
  readonly labels: Labels;
  readonly bounds: readonly number[];
  readonly cumulative: number[];
  sum: number;
  count: number;
}

/** One family as a worker sends it to the primary (JSON over IPC); `aggregator` says how the workers' series combine. */
export type Exposed = { readonly name: string; readonly help: string } & (
  | { readonly type: 'counter' | 'gauge'; readonly aggregator: 'sum' | 'max'; readonly samples: readonly Sample[] }
  | { readonly type: 'histogram'; readonly aggregator: 'sum'; readonly samples: readonly HistogramSample[] }
);

/** Every family of one process. */
export type MetricsSnapshot = Exposed[];

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];
/** Fine below 2 ms: the scheduler's promise is p99 lateness ≤ 2 ms. */
const LATENESS_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * vLLM's bucket layouts, as its Prometheus logger declares them (vllm/v1/metrics/loggers.py,
 * `PrometheusStatLogger`): time to first token; time per output token and inter-token latency;
 * e2e, queue, prefill and decode time of a request.
 */
export const VLLM_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
export const VLLM_ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
export const VLLM_REQUEST_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** vLLM's `build_1_2_5_buckets(max)`: 1, 2, 5, 10, 20, 50, … up to `max` (token-count histograms, up to the model's context). */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let exponent = 1; ; exponent *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * exponent > max) return out;
      out.push(m * exponent);
    }
  }
}

/**
 * Each latency histogram is recorded once, on the union of our buckets and vLLM's: the `llm_*`
 * family shows them all, and the `vllm:*` family is the same cells cut to vLLM's own bounds at
 * scrape time (exact, since every vLLM bound is one of ours).
 */
const union = (...layouts: number[][]): number[] => [...new Set(layouts.flat())].sort((a, b) => a - b);
const TTFT_BUCKETS = union(LATENCY_BUCKETS, VLLM_TTFT_BUCKETS);
const GAP_BUCKETS = union(ITL_BUCKETS, VLLM_ITL_BUCKETS);
const REQUEST_BUCKETS = union(LATENCY_BUCKETS, VLLM_REQUEST_BUCKETS);


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
    readonly bounds: readonly number[],
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

/**
 * How a family is shown under another name at scrape time (a seed's name, vLLM's): its series'
 * labels renamed or dropped (series that then coincide are summed), or the series left out (null).
 */
export type Relabel = (labels: Labels) => Labels | null;

/** Groups `cells` by their relabelled labels, in order of first appearance. */
function grouped<C extends { labels: Labels }>(cells: Iterable<C>, relabel: Relabel): Map<string, { labels: Labels; cells: C[] }> {
  const groups = new Map<string, { labels: Labels; cells: C[] }>();
  for (const cell of cells) {
    const labels = relabel(cell.labels);
    if (labels === null) continue;
    const key = Object.values(labels).join('\u0001');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { labels, cells: [cell] });
    else group.cells.push(cell);
  }
  return groups;
}

const SAME: Relabel = (labels) => labels;

abstract class Family<C extends { labels: Labels }> {
  protected readonly cells = new Map<string, C>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}
  protected abstract make(labels: Labels): C;
  /** The family as it is recorded. */
  snapshot(): Exposed {
    return this.view(this.name, this.help, SAME);
  }
  /** The family under another name and labels (see Relabel). */
  abstract view(name: string, help: string, relabel: Relabel): Exposed;
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
  view(name: string, help: string, relabel: Relabel): Exposed {
    const samples = [...grouped(this.cells.values(), relabel).values()].map((g) => ({ value: g.cells.reduce((n, c) => n + c.value, 0), labels: g.labels }));
    return exposed(name, help, this.type, samples);
  }
}

const exposed = (name: string, help: string, type: 'counter' | 'gauge', samples: Sample[], aggregator: 'sum' | 'max' = 'sum'): Exposed => ({ name, help, type, samples, aggregator });

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
  /** A series with its own bounds (token-count histograms follow each model's context window). */
  labelsWithBounds(bounds: readonly number[], ...values: string[]): HistogramCell {
    const key = values.join('\u0001');
    let cell = this.cells.get(key);
    if (cell === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.cells.set(key, (cell = new HistogramCell(labels, bounds)));
    }
    return cell;
  }
  view(name: string, help: string, relabel: Relabel, shownBounds: readonly number[] | null = null): Exposed {
    const samples: HistogramSample[] = [];
    for (const { labels, cells } of grouped(this.cells.values(), relabel).values()) {
      // Cells that coincide share their bounds (one family, or one model's context window).
      const { bounds } = cells[0]!;
      const counts = new Float64Array(bounds.length);
      let sum = 0;
      let count = 0;
      for (const c of cells) {
        for (let i = 0; i < counts.length; i++) counts[i]! += c.counts[i]!;
        sum += c.sum;
        count += c.count;
      }
      // Cumulative counts at every bound, or only at the bounds shown (each one of the recorded bounds).
      const shown: number[] = [];
      const cumulative: number[] = [];
      let acc = 0;
      for (let i = 0; i < bounds.length; i++) {
        acc += counts[i]!;
        if (shownBounds === null || shownBounds.includes(bounds[i]!)) {
          shown.push(bounds[i]!);
          cumulative.push(acc);
        }
      }
      samples.push({ labels, bounds: shown, cumulative, sum, count });
    }
    return { name, help, type: 'histogram', aggregator: 'sum', samples };
  }
}

/** Why a generation ended, as vLLM's `finished_reason` says it (its FinishReason: stop, length, abort). */
export type FinishedReason = 'stop' | 'length' | 'abort';

/** Keeps the series of API routes (they have a model label) and renames them for a seed's family. */
const byEndpoint =
  (withStatus: boolean): Relabel =>
  (l) => {
    if (l.model === '' || l.model === undefined) return null;
    const labels: Labels = { endpoint: l.path!, model: l.model };
    if (withStatus) labels.status = l.status!;
    return labels;
  };
const withoutModel: Relabel = (l) => {
  const { model: _model, ...rest } = l;
  return rest;
};
const modelName: Relabel = (l) => {
  const { model, ...rest } = l;
  return { model_name: model!, ...rest };
};

/**
 * The metrics of one process. Recording is a field update on a cached series (prom-client's
 * metric objects hashed their labels on every update, which cost ~2.4 µs a request). In a cluster
 * the primary sums every worker's snapshot on each scrape (src/cluster/primary.ts, `exposition`).
 * Each fact is recorded once: the seeds' names and vLLM's are views of the same cells, made at
 * scrape time (`snapshot`).
 */
export class Metrics {
  /** Requests answered, by method, route, status and (API routes) model: http_requests_total and the seeds' request counters are views of it. */
  private readonly requests = new CounterFamily('http_requests_total', 'HTTP requests answered, by route and status (499: the client went away).', ['method', 'path', 'status', 'model']);
  private readonly duration = new HistogramFamily('http_request_duration_seconds', 'Time from request to the last byte of the response.', ['method', 'path', 'model'], REQUEST_BUCKETS);
  private readonly tokens = new CounterFamily('llm_tokens_generated_total', 'Completion tokens sent to clients.', ['model']);
  private readonly promptTokens = new CounterFamily('llm_prompt_tokens_total', 'Prompt tokens received in generation requests.', ['model']);
  private readonly active = new CounterFamily('llm_active_requests', 'Generation requests in flight (waiting or running).', ['model'], 'gauge');
  private readonly running = new CounterFamily('llm_running_requests', 'Sequences holding one of the model\'s slots.', ['model'], 'gauge');
  private readonly waiting = new CounterFamily('llm_waiting_requests', 'Requests queued for a slot.', ['model'], 'gauge');
  private readonly kvTokens = new CounterFamily('llm_kv_cache_tokens', 'Simulated KV-cache occupancy: prompt and generated tokens of the sequences running.', ['model'], 'gauge');
  private readonly ttft = new HistogramFamily('llm_time_to_first_token_seconds', 'Server-side time from request to the first token sent (queue time included).', ['model'], TTFT_BUCKETS);
  private readonly itl = new HistogramFamily('llm_inter_token_latency_seconds', 'Server-side time between two tokens of a stream (0 for tokens sent together).', ['model'], GAP_BUCKETS);
  private readonly queueTime = new HistogramFamily('llm_queue_time_seconds', 'Time a request waited for a slot.', ['model'], REQUEST_BUCKETS);
  private readonly e2e = new HistogramFamily('llm_e2e_request_latency_seconds', 'Request to last token.', ['model'], REQUEST_BUCKETS);
  private readonly finished = new CounterFamily('llm_requests_finished_total', 'Generations ended, by why: stop, length, or abort (the client went away or the answer was cut).', ['model', 'finished_reason']);
  private readonly requestPromptTokens = new HistogramFamily('llm_request_prompt_tokens', 'Prompt tokens per generation request.', ['model'], []);
  private readonly requestGenerationTokens = new HistogramFamily('llm_request_generation_tokens', 'Completion tokens per generation request.', ['model'], []);
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
  /** Shown as they are (requests and durations are shown only through views: seedViews). */
  private readonly families: Family<{ labels: Labels }>[] = [this.reloads, this.authFailures, this.rateLimits, this.earlyRetries, this.storeErrors, this.concurrent, this.concurrencyQueued, this.concurrencyRejected, this.tokens, this.promptTokens, this.active, this.running, this.waiting, this.kvTokens, this.ttft, this.itl, this.queueTime, this.e2e, this.finished, this.requestPromptTokens, this.requestGenerationTokens, this.lateness, this.backpressure, this.stalled, this.faults, this.errorsInjected];

  /** config.metrics.vllm: the vLLM-compatible family is in every scrape. */
  vllm = true;
  /** The catalogue's model ids: vLLM's gauges show every served model, 0 before its first request. */
  servedModels: readonly string[] = [];

  /** By method, then route path: both strings are the server's own constants, so lookups hash nothing new (a `method + path` key built a string and hashed it per request). */
  private readonly requestCells = new Map<string, Map<string, RouteCells>>();
  private readonly modelCells = new Map<string, ModelCells>();

  /** One answered request; `model` is the catalogue id (or `unknown`) on the API routes, '' elsewhere. */
  request(method: string, path: string, status: number, seconds: number, model: string): void {
    if (method === this.lastMethod && path === this.lastPath && model === this.lastModel && status === this.lastStatus) {
      this.lastCounter!.inc();
      this.lastDuration!.observe(seconds);
      return;
    }
    let byPath = this.requestCells.get(method);
    if (byPath === undefined) this.requestCells.set(method, (byPath = new Map()));
    let route = byPath.get(path);
    if (route === undefined) byPath.set(path, (route = new Map()));
    let cells = route.get(model);
    if (cells === undefined) route.set(model, (cells = { duration: this.duration.labels(method, path, model), byStatus: new Map() }));
    let counter = cells.byStatus.get(status);
    if (counter === undefined) cells.byStatus.set(status, (counter = this.requests.labels(method, path, String(status), model)));
    counter.inc();
    cells.duration.observe(seconds);
    this.lastMethod = method;
    this.lastPath = path;
    this.lastModel = model;
    this.lastStatus = status;
    this.lastCounter = counter;
    this.lastDuration = cells.duration;
  }

  /** The last request's series, used again without a lookup while requests repeat its method, route, model and status (as a load tool's do: four map lookups a request). */
  private lastMethod = '';
  private lastPath = '';
  private lastModel = '';
  private lastStatus = -1;
  private lastCounter: Cell | null = null;
  private lastDuration: HistogramCell | null = null;

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
      if (n === 0) continue;
      const byStatus = (requests[`${c.labels.method} ${c.labels.path}`] ??= {});
      byStatus[c.labels.status!] = (byStatus[c.labels.status!] ?? 0) + n;
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

  /** The cells of one model; `contextWindow` bounds its token-count histograms (vLLM's 1-2-5 layout up to it). */
  model(id: string, contextWindow: number): ModelCells {
    let cells = this.modelCells.get(id);
    if (cells === undefined) {
      const tokenBuckets = buckets125(contextWindow);
      cells = {
        tokens: this.tokens.labels(id),
        promptTokens: this.promptTokens.labels(id),
        active: this.active.labels(id),
        running: this.running.labels(id),
        waiting: this.waiting.labels(id),
        kvTokens: this.kvTokens.labels(id),
        kvCapacity: 0,
        ttft: this.ttft.labels(id),
        itl: this.itl.labels(id),
        queueTime: this.queueTime.labels(id),
        e2e: this.e2e.labels(id),
        finished: { stop: this.finished.labels(id, 'stop'), length: this.finished.labels(id, 'length'), abort: this.finished.labels(id, 'abort') },
        requestPromptTokens: this.requestPromptTokens.labelsWithBounds(tokenBuckets, id),
        requestGenerationTokens: this.requestGenerationTokens.labelsWithBounds(tokenBuckets, id),
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
    for (const f of [...this.families, this.requests, this.duration]) f.reset();
    this.requestCells.clear();
    this.lastStatus = -1;
    this.modelCells.clear();
  }

  snapshot(): Promise<MetricsSnapshot> {
    return Promise.resolve([...this.families.map((f) => f.snapshot()), ...this.seedViews(), ...(this.vllm ? this.vllmViews() : [])]);
  }

  /** The seeds' names for what the families above record (README "Metrics"). */
  private seedViews(): Exposed[] {
    return [
      this.requests.view('http_requests_total', this.requests.help, withoutModel),
      this.duration.view('http_request_duration_seconds', this.duration.help, withoutModel),
      this.requests.view('llm_simulation_requests_total', 'API requests answered, by endpoint and model (seed 000).', byEndpoint(false)),
      this.duration.view('llm_simulation_duration_seconds', 'API request to the last byte of its response, by endpoint and model (seed 000).', byEndpoint(false)),
      this.requests.view('llm_requests_total', 'API requests answered, by endpoint, model and status (seed 001).', byEndpoint(true)),
      this.duration.view('llm_request_duration_seconds', 'API request to the last byte of its response, by endpoint and model (seed 001).', byEndpoint(false)),
    ];
  }

  /**
   * vLLM's names, types, labels (`model_name`) and buckets (vllm/v1/metrics/loggers.py), for
   * software that routes by them (inference gateways' endpoint pickers, autoscalers). vLLM v1
   * also labels each series with its `engine` index; a simulator is one engine, so that label
   * is left out.
   */
  private vllmViews(): Exposed[] {
    // Gauges for every served model (0 until its first request), as one vLLM server shows its model from the start.
    const gauge = (name: string, help: string, value: (cells: ModelCells | undefined) => number): Exposed =>
      exposed(name, help, 'gauge', this.servedIds().map((id) => ({ value: value(this.modelCells.get(id)), labels: { model_name: id } })));
    const kvUsage = (c: ModelCells | undefined): number => (c === undefined || c.kvCapacity === 0 ? 0 : c.kvTokens.value / c.kvCapacity);
    const h = (family: HistogramFamily, name: string, help: string, bounds: readonly number[] | null = null): Exposed => family.view(name, help, modelName, bounds);
    return [
      gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', (c) => c?.running.value ?? 0),
      gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', (c) => c?.waiting.value ?? 0),
      gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', kvUsage),
      gauge('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc instead.', kvUsage),
      this.promptTokens.view('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', modelName),
      this.tokens.view('vllm:generation_tokens_total', 'Number of generation tokens processed.', modelName),
      this.finished.view('vllm:request_success_total', 'Count of successfully processed requests.', modelName),
      exposed('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.', 'counter', this.servedIds().map((id) => ({ value: 0, labels: { model_name: id } }))),
      h(this.ttft, 'vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', VLLM_TTFT_BUCKETS),
      h(this.itl, 'vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', VLLM_ITL_BUCKETS),
      h(this.itl, 'vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', VLLM_ITL_BUCKETS),
      h(this.e2e, 'vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', VLLM_REQUEST_BUCKETS),
      h(this.queueTime, 'vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', VLLM_REQUEST_BUCKETS),
      h(this.requestPromptTokens, 'vllm:request_prompt_tokens', 'Number of prefill tokens processed.'),
      h(this.requestGenerationTokens, 'vllm:request_generation_tokens', 'Number of generation tokens processed.'),
      // An info gauge as vLLM writes it: its value is when it was written; no LoRA adapters here. The cluster keeps the newest.
      exposed('vllm:lora_requests_info', 'Running stats on lora requests.', 'gauge', [{ value: Date.now() / 1000, labels: { max_lora: '0', waiting_lora_adapters: '', running_lora_adapters: '' } }], 'max'),
    ];
  }

  /** The catalogue's models and any other model with cells (a reload may have removed one still running). */
  private servedIds(): string[] {
    return [...new Set([...this.servedModels, ...this.modelCells.keys()])];
  }

  async text(): Promise<string> {
    return exposition([await this.snapshot()]);
  }
}

/** One route's cells, by model ('' off the API routes). */
type RouteCells = Map<string, { readonly duration: HistogramCell; readonly byStatus: Map<number, Cell> }>;

export interface ModelCells {
  readonly tokens: Cell;
  readonly promptTokens: Cell;
  readonly active: Cell;
  readonly running: Cell;
  readonly waiting: Cell;
  /** Tokens the model's running sequences hold in the simulated KV cache, and its size (the profile's `kvCacheTokens`, set by each delivery). */
  readonly kvTokens: Cell;
  kvCapacity: number;
  readonly ttft: HistogramCell;
  readonly itl: HistogramCell;
  readonly queueTime: HistogramCell;
  readonly e2e: HistogramCell;
  readonly finished: Readonly<Record<FinishedReason, Cell>>;
  readonly requestPromptTokens: HistogramCell;
  readonly requestGenerationTokens: HistogramCell;
  readonly lateness: HistogramCell;
  readonly backpressure: Cell;
  readonly stalled: Cell;
}

/** The Prometheus text format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Sums per-process snapshots (each series by its labels; the largest value for a `max` family)
 * into one Prometheus text exposition. prom-client's aggregator, over a sample per bucket, took
 * 77 ms for three snapshots of 50 models (21,000 samples); this, over whole histogram series, 18.
 */
export function exposition(snapshots: readonly MetricsSnapshot[]): string {
  const families = new Map<string, { family: Exposed; series: Map<string, Sample | HistogramSample> }>();
  for (const snapshot of snapshots) {
    for (const family of snapshot) {
      let merged = families.get(family.name);
      if (merged === undefined) families.set(family.name, (merged = { family, series: new Map() }));
      const { series } = merged;
      for (const sample of family.samples) {
        const key = labelText(sample.labels);
        const seen = series.get(key);
        if (seen === undefined) series.set(key, family.type === 'histogram' ? { ...(sample as HistogramSample), cumulative: [...(sample as HistogramSample).cumulative] } : sample);
        else if (family.type === 'histogram') {
          const into = seen as HistogramSample;
          const from = sample as HistogramSample;
          for (let i = 0; i < into.cumulative.length; i++) into.cumulative[i]! += from.cumulative[i]!;
          into.sum += from.sum;
          into.count += from.count;
        } else series.set(key, { labels: seen.labels, value: family.aggregator === 'max' ? Math.max((seen as Sample).value, (sample as Sample).value) : (seen as Sample).value + (sample as Sample).value });
      }
    }
  }
  let out = '';
  for (const { family, series } of families.values()) {
    const { name } = family;
    out += `# HELP ${name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${family.type}\n`;
    for (const [labels, sample] of series) {
      if (family.type !== 'histogram') {
        out += `${name}${labels} ${formatValue((sample as Sample).value)}\n`;
        continue;
      }
      const h = sample as HistogramSample;
      // `le` first, then the series' own labels.
      const rest = labels === '' ? '}' : `,${labels.slice(1)}`;
      for (let i = 0; i < h.bounds.length; i++) out += `${name}_bucket{le="${h.bounds[i]}"${rest} ${h.cumulative[i]}\n`;
      out += `${name}_bucket{le="+Inf"${rest} ${h.count}\n${name}_sum${labels} ${formatValue(h.sum)}\n${name}_count${labels} ${h.count}\n`;
    }
  }
  return out;
}

/** `{name="value",…}` with the format's escapes, or '' without labels. */
function labelText(labels: Labels): string {
  let text = '';
  for (const name in labels) {
    const value = String(labels[name]);
    text += `${text === '' ? '{' : ','}${name}="${/[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value}"`;
  }
  return text === '' ? '' : `${text}}`;
}

const formatValue = (v: number): string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
