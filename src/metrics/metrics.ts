import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The metrics of one process. Label children are cached, so recording a request costs map
 * look-ups rather than prom-client's label hashing. In a cluster every HTTP worker keeps its own
 * registry and the primary sums them on each scrape (see src/cluster/primary.ts).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route and status.', labelNames: ['method', 'path', 'status'], registers: [this.registry] });
  private readonly duration = new Histogram({ name: 'http_request_duration_seconds', help: 'Time from request to the last byte of the response.', labelNames: ['method', 'path'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'llm_tokens_generated_total', help: 'Completion tokens sent to clients.', labelNames: ['model'], registers: [this.registry] });
  private readonly promptTokens = new Counter({ name: 'llm_prompt_tokens_total', help: 'Prompt tokens received in generation requests.', labelNames: ['model'], registers: [this.registry] });
  private readonly active = new Gauge({ name: 'llm_active_requests', help: 'Generation requests in flight (waiting or streaming).', labelNames: ['model'], registers: [this.registry] });
  private readonly ttft = new Histogram({ name: 'llm_time_to_first_token_seconds', help: 'Server-side time from request to the first token sent.', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: [this.registry] });

  private readonly requestChildren = new Map<string, Counter.Internal>();
  private readonly durationChildren = new Map<string, Histogram.Internal<string>>();
  private readonly modelChildren = new Map<string, ModelChildren>();

  request(method: string, path: string, status: number, seconds: number): void {
    const key = `${method} ${path}`;
    const statusKey = `${key} ${status}`;
    let counter = this.requestChildren.get(statusKey);
    if (counter === undefined) this.requestChildren.set(statusKey, (counter = this.requests.labels(method, path, String(status))));
    counter.inc();
    let histogram = this.durationChildren.get(key);
    if (histogram === undefined) this.durationChildren.set(key, (histogram = this.duration.labels(method, path)));
    histogram.observe(seconds);
  }

  model(id: string): ModelChildren {
    let children = this.modelChildren.get(id);
    if (children === undefined) {
      children = {
        tokens: this.tokens.labels(id),
        promptTokens: this.promptTokens.labels(id),
        active: this.active.labels(id),
        ttft: this.ttft.labels(id),
      };
      this.modelChildren.set(id, children);
    }
    return children;
  }

  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface ModelChildren {
  readonly tokens: Counter.Internal;
  readonly promptTokens: Counter.Internal;
  readonly active: Gauge.Internal<string>;
  readonly ttft: Histogram.Internal<string>;
}

export const METRICS_CONTENT_TYPE = new Registry().contentType;

/** Sums per-process snapshots into one Prometheus text exposition. */
export function aggregateSnapshots(snapshots: MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots).metrics();
}
