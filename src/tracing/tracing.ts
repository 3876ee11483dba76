import { createRequire } from 'node:module';
import type { Span, TextMapGetter, TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { z } from '#zod';

/**
 * OpenTelemetry traces (README "Traces"): one SERVER span per request, continuing the caller's
 * W3C `traceparent`, with the GenAI semantic conventions' attributes, exported over OTLP/HTTP.
 * Off by default; off, nothing here runs for a request (the exchange holds no span).
 */
export const tracingSchema = z
  .object({
    /** The OTLP/HTTP collector's base URL (spans go to `<endpoint>/v1/traces`); null: no tracing. */
    endpoint: z.string().url().nullable().default(null),
    /** The share of new traces recorded; a request that carries a `traceparent` follows its caller's decision. */
    sampleRatio: z.number().min(0).max(1).default(1),
    /** The resource's `service.name`. */
    serviceName: z.string().min(1).default('llm-simulator'),
  })
  .strict()
  .prefault({});

export type TracingConfig = z.infer<typeof tracingSchema>;

/** What a span says of its request when it ends (src/http/exchange.ts's Exchange). */
export interface TracedRequest {
  readonly route: string;
  readonly modelLabel: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** vLLM-style: stop, length, abort; '' when nothing was generated. */
  readonly finishReason: string;
  readonly ttftMs: number;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  readonly injected: string;
}

/** GenAI `gen_ai.operation.name` by route. */
const OPERATIONS: Record<string, string> = {
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'chat',
  '/v1/messages': 'chat',
  '/v1/completions': 'text_completion',
  '/v1/complete': 'text_completion',
  '/v1/embeddings': 'embeddings',
  '/v1/messages/count_tokens': 'count_tokens',
};

const HEADERS: TextMapGetter<{ traceparent: string; tracestate: string }> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (carrier, key) => (key === 'traceparent' ? carrier.traceparent || undefined : key === 'tracestate' ? carrier.tracestate || undefined : undefined),
};

/**
 * OpenTelemetry's packages, loaded by the first Tracing: loading them cost ~380 ms of every
 * process's start-up (primary and each worker) when they were imported whether tracing was on
 * or not. They are required synchronously so that a reload switches tracing on in one step.
 */
let otel:
  | {
      api: typeof import('@opentelemetry/api');
      w3c: TextMapPropagator;
      sdk: typeof import('@opentelemetry/sdk-trace-base');
      resources: typeof import('@opentelemetry/resources');
      exporter: typeof import('@opentelemetry/exporter-trace-otlp-http');
    }
  | undefined;

function loadOtel(): NonNullable<typeof otel> {
  if (otel === undefined) {
    const require = createRequire(import.meta.url);
    const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
    otel = {
      api: require('@opentelemetry/api'),
      w3c: new core.W3CTraceContextPropagator(),
      sdk: require('@opentelemetry/sdk-trace-base'),
      resources: require('@opentelemetry/resources'),
      exporter: require('@opentelemetry/exporter-trace-otlp-http'),
    };
  }
  return otel;
}

export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(readonly config: TracingConfig & { endpoint: string }) {
    const { sdk, resources, exporter } = loadOtel();
    const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } = sdk;
    const { resourceFromAttributes } = resources;
    const { OTLPTraceExporter } = exporter;
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${config.endpoint.replace(/\/$/, '')}/v1/traces` }), { scheduledDelayMillis: 1000 })],
    });
    this.tracer = this.provider.getTracer('llm-simulator');
  }

  /** A request's span, begun as it arrives, child of the caller's span when it sent a `traceparent`. */
  start(method: string, route: string, url: string, system: 'openai' | 'anthropic', traceparent: string, tracestate: string): Span {
    const { api, w3c } = otel!;
    const context = api.context;
    const parent = traceparent === '' ? context.active() : w3c.extract(context.active(), { traceparent, tracestate }, HEADERS);
    const operation = OPERATIONS[route];
    return this.tracer.startSpan(
      operation ?? `${method} ${route}`,
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': url,
          ...(operation === undefined ? {} : { 'gen_ai.system': system, 'gen_ai.operation.name': operation }),
        },
      },
      parent,
    );
  }

  /** Writes out the spans not yet exported and stops (a reload with other settings, or shutdown). */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** What the body asked for, as GenAI attributes (called once the body is parsed); the span is then named `{operation} {model}`. */
export function requested(span: Span, route: string, model: string, maxTokens: number | undefined): void {
  const operation = OPERATIONS[route];
  if (model !== '' && operation !== undefined) span.updateName(`${operation} ${model}`);
  span.setAttribute('gen_ai.request.model', model);
  if (maxTokens !== undefined) span.setAttribute('gen_ai.request.max_tokens', maxTokens);
}

/** Ends a request's span: its status, usage, finish reason, and its first token and injected fault as events. */
export function endSpan(span: Span, request: TracedRequest, status: number): void {
  span.setAttribute('http.response.status_code', status);
  if (request.modelLabel !== '' && request.modelLabel !== 'unknown') span.setAttribute('gen_ai.response.model', request.modelLabel);
  if (request.promptTokens >= 0) {
    span.setAttribute('gen_ai.usage.input_tokens', request.promptTokens);
    span.setAttribute('gen_ai.usage.output_tokens', request.completionTokens);
  }
  if (request.finishReason !== '') span.setAttribute('gen_ai.response.finish_reasons', [request.finishReason]);
  const epoch = performance.timeOrigin + request.startedAt;
  if (request.ttftMs >= 0) span.addEvent('gen_ai.first_token', { 'sim.ttft_ms': request.ttftMs }, epoch + request.ttftMs);
  if (request.injected !== '') span.addEvent('sim.fault_injected', { 'sim.fault': request.injected });
  // A span exists only once a Tracing has loaded OpenTelemetry.
  if (status >= 500) span.setStatus({ code: otel!.api.SpanStatusCode.ERROR });
  span.end();
}
