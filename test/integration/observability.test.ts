import t from 'tap';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer, until } from '../helpers/server.js';

// What a response tells about its own timing: OpenAI's openai-processing-ms, and server-timing
// with the simulated queue, prefill and total.

const timing = (header: string | null): Record<string, number> =>
  Object.fromEntries((header ?? '').split(', ').map((part) => [part.slice(0, part.indexOf(';')), Number(part.slice(part.indexOf('dur=') + 4))]));

t.test('openai-processing-ms always; server-timing with metrics.serverTiming', async (t) => {
  const s = await startServer({ timeScale: 1, metrics: { serverTiming: true } });
  t.teardown(() => s.close());
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'time me' }], max_tokens: 5 };
  const sim = { 'x-sim-ttft-ms': '60', 'x-sim-itl-ms': '10' };

  const whole = await post(`${s.url}/v1/chat/completions`, chat, { ...OPENAI_HEADERS, ...sim });
  const processing = Number(whole.headers.get('openai-processing-ms'));
  t.ok(Number.isInteger(processing) && processing >= 60 + 4 * 10, `a completion's openai-processing-ms: ${processing} (at least its 60 ms + four 10 ms gaps)`);
  const st = timing(whole.headers.get('server-timing'));
  t.same(Object.keys(st), ['queue', 'prefill', 'total'], `server-timing: ${whole.headers.get('server-timing')}`);
  t.equal(st.prefill, 60, 'prefill is the simulated time to first token');
  t.ok(st.queue! >= 0 && st.queue! < 50, 'queue: nothing waited');
  t.ok(st.total! >= st.prefill! + 40 && st.total! <= processing + 1, 'total covers prefill and the gaps, as far as the response');

  const stream = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { ...OPENAI_HEADERS, ...sim }, body: JSON.stringify({ ...chat, stream: true }) });
  const early = Number(stream.headers.get('openai-processing-ms'));
  t.ok(early < 60, `a stream's headers leave at admission: openai-processing-ms ${early}, before its first token`);
  t.same(Object.keys(timing(stream.headers.get('server-timing'))), ['queue', 'prefill'], 'and its server-timing has no total (it is not known yet)');
  await stream.text();

  const message = await post(`${s.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'time me' }] }, { ...ANTHROPIC_HEADERS, ...sim });
  t.equal(message.headers.get('openai-processing-ms'), null, 'Anthropic sends no openai-processing-ms');
  t.equal(timing(message.headers.get('server-timing')).prefill, 60, 'but server-timing, as every generation');

  const error = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini' });
  t.equal(error.status, 400);
  t.ok(error.headers.get('openai-processing-ms') !== null, 'OpenAI errors carry openai-processing-ms too');
  t.equal(error.headers.get('server-timing'), null, 'but no server-timing: nothing was simulated');

  const plain = await startServer({ timeScale: 0 });
  t.teardown(() => plain.close());
  t.equal((await post(`${plain.url}/v1/chat/completions`, chat)).headers.get('server-timing'), null, 'metrics.serverTiming off (the default): no server-timing');
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  events?: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
}

/** A real OTLP/HTTP receiver (JSON, as the exporter sends it): every span posted to /v1/traces, with its resource's service.name. */
async function otlpReceiver(): Promise<{ url: string; spans: (OtlpSpan & { service: string })[]; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const spans: (OtlpSpan & { service: string })[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = rs.resource.attributes.find((a: { key: string }) => a.key === 'service.name')?.value.stringValue;
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ ...span, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, close: () => new Promise((r) => server.close(() => r())) };
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (value === undefined) return undefined;
  if ('arrayValue' in value) return (value.arrayValue as { values: { stringValue: string }[] }).values.map((v) => v.stringValue);
  const [v] = Object.values(value);
  return typeof v === 'string' && /^\d+$/.test(v) && 'intValue' in value ? Number(v) : v;
};

t.test('traces: a span per request, continuing the caller\'s traceparent, with GenAI attributes, exported to a real OTLP/HTTP receiver', async (t) => {
  const receiver = await otlpReceiver();
  t.teardown(() => receiver.close());
  const s = await startServer({ tracing: { endpoint: receiver.url, serviceName: 'sim-under-test' }, timeScale: 1 });
  t.teardown(() => s.close());
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';
  const traced = { ...OPENAI_HEADERS, traceparent: `00-${traceId}-${parent}-01`, 'x-sim-ttft-ms': '30', 'x-sim-itl-ms': '1' };
  const chat = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'trace me' }], max_tokens: 7 }, traced);
  t.equal(chat.status, 200);
  const faulted = await post(`${s.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { ...ANTHROPIC_HEADERS, 'x-sim-fault': 'overloaded' });
  t.equal(faulted.status, 529);
  // No traceparent, sampled out by the caller: not recorded.
  await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'not me' }] }, { ...OPENAI_HEADERS, traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00` });

  // The batch processor exports within about a second.
  t.ok(await until(() => receiver.spans.length >= 2, 10_000, 50), `spans arrived at the receiver (${receiver.spans.length})`);
  const span = receiver.spans.find((x) => x.traceId === traceId)!;
  t.ok(span, 'the chat span carries the caller\'s trace id');
  t.equal(span.parentSpanId, parent, 'and is a child of the caller\'s span');
  t.equal(span.service, 'sim-under-test');
  t.equal(span.name, 'chat gpt-4o-mini', 'named {operation} {model}, as the GenAI conventions say');
  t.equal(span.kind, 2, 'a SERVER span');
  t.equal(attr(span, 'gen_ai.system'), 'openai');
  t.equal(attr(span, 'gen_ai.operation.name'), 'chat');
  t.equal(attr(span, 'gen_ai.request.model'), 'gpt-4o-mini');
  t.equal(attr(span, 'gen_ai.request.max_tokens'), 7);
  t.equal(attr(span, 'gen_ai.usage.input_tokens'), chat.json.usage.prompt_tokens, 'usage as the client was told');
  t.equal(attr(span, 'gen_ai.usage.output_tokens'), chat.json.usage.completion_tokens);
  t.same(attr(span, 'gen_ai.response.finish_reasons'), ['length']);
  t.equal(attr(span, 'http.response.status_code'), 200);
  t.ok(span.events?.some((e) => e.name === 'gen_ai.first_token'), 'the simulated first token is an event');

  const fault = receiver.spans.find((x) => attr(x, 'gen_ai.system') === 'anthropic')!;
  t.ok(fault, 'a span for the request without a traceparent (a new trace)');
  t.equal(fault.parentSpanId ?? '', '', 'with no parent');
  t.equal(attr(fault, 'http.response.status_code'), 529);
  t.equal(fault.events?.find((e) => e.name === 'sim.fault_injected')?.attributes[0]?.value.stringValue, 'overloaded', 'the injected fault is an event');
  t.notOk(receiver.spans.some((x) => x.traceId === '1'.repeat(32)), 'a caller that did not sample its trace gets no span');
});
