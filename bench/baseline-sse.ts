/**
 * The streaming baseline: a bare uWebSockets.js SSE server with one write per token and nothing
 * else: no parsing beyond the headers, no encoder, no metrics. Tokens follow absolute deadlines
 * (start + ttft + i × itl, from `x-sim-ttft-ms` / `x-sim-itl-ms`) on a shared 1 ms timer wheel,
 * and every token's lateness goes into a histogram that GET /stats returns (and resets).
 * `node dist/bench/baseline-sse.js <port> <tokensPerStream>`
 */
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import uWS, { type HttpResponse } from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 0);
const tokensPerStream = Number(process.argv[3] ?? 100);
const EVENT = `data: ${JSON.stringify({ id: 'chatcmpl-baseline000000000000', object: 'chat.completion.chunk', created: 1767225600, model: 'gpt-4o-mini', service_tier: 'default', system_fingerprint: 'fp_0000000000', choices: [{ index: 0, delta: { content: ' token' }, logprobs: null, finish_reason: null }] })}\n\n`;
const lateness = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
let tokens = 0;
let late = 0; // tokens more than 2 ms late since the last /stats
let counted = 0;

class Stream {
  sent = 0;
  aborted = false;
  constructor(
    readonly res: HttpResponse,
    readonly start: number,
    readonly ttft: number,
    readonly itl: number,
  ) {}
}
const streams = new Set<Stream>();

setInterval(() => {
  for (const s of streams) {
    if (s.aborted) {
      streams.delete(s);
      continue;
    }
    // Read per stream, as the simulator does: a token's lateness includes the time spent
    // sending the ones before it in the same tick.
    const now = performance.now();
    let out = '';
    while (s.sent < tokensPerStream && s.start + s.ttft + s.sent * s.itl <= now + 0.5) {
      const lateUs = Math.max(1, Math.round((now - (s.start + s.ttft + s.sent * s.itl)) * 1000));
      lateness.recordValue(lateUs);
      if (lateUs > 2000) late++;
      counted++;
      out += EVENT;
      s.sent++;
      tokens++;
    }
    if (out === '') continue;
    s.res.cork(() => {
      if (s.sent === tokensPerStream) {
        s.res.end(`${out}data: [DONE]\n\n`);
        streams.delete(s);
      } else s.res.write(out);
    });
  }
}, 1);

uWS
  .App()
  .post('/*', (res, req) => {
    const ttft = Number(req.getHeader('x-sim-ttft-ms') || 0);
    const itl = Number(req.getHeader('x-sim-itl-ms') || 10);
    const stream = new Stream(res, performance.now(), ttft, itl);
    res.onAborted(() => (stream.aborted = true));
    res.onData((_chunk, isLast) => {
      if (!isLast) return;
      res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream; charset=utf-8').write('');
      streams.add(stream);
    });
  })
  .get('/stats', (res) => {
    const within2ms = counted === 0 ? 1 : 1 - late / counted;
    res.writeHeader('content-type', 'application/json').end(JSON.stringify({ tokens, counted, p50Ms: lateness.getValueAtPercentile(50) / 1000, p99Ms: lateness.getValueAtPercentile(99) / 1000, within2ms, open: streams.size }));
    lateness.reset();
    late = counted = 0;
  })
  .get('/health', (res) => void res.end('ok'))
  .listen('127.0.0.1', port, (socket) => {
    if (socket === false) process.exit(1);
    process.stdout.write(`${JSON.stringify({ msg: 'baseline listening', port: uWS.us_socket_local_port(socket) })}\n`);
  });

