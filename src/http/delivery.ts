import { performance } from 'node:perf_hooks';
import type { ModelCells } from '../metrics/metrics.js';
import type { Timed } from '../sim/scheduler.js';
import type { Generation, StreamEncoder } from '../sim/stream.js';
import { TOKEN_JSON } from '../sim/text.js';
import type { Exchange } from './exchange.js';
import { writeHead } from './uws.js';

const SSE_TYPE = 'text/event-stream; charset=utf-8';
const SSE_HEADERS: readonly (readonly [string, string])[] = [
  ['cache-control', 'no-cache'],
  // WIRE C3: proxies must not buffer the stream.
  ['x-accel-buffering', 'no'],
];

/** Starts delivering a planned generation: a stream, or one JSON body after the simulated total. */
export function deliver(ex: Exchange, gen: Generation): void {
  if (ex.aborted) return;
  const model = ex.services.metrics.model(gen.sim.model.id);
  model.active.inc();
  model.promptTokens.inc(gen.sim.promptTokens);
  if (gen.sim.stream) new SseStream(ex, gen, model).begin();
  else new DelayedReply(ex, gen, model).begin();
}

/**
 * Token i of a response leaves at start + ttft + i × itl: absolute deadlines, so a late wake-up
 * never shifts the tokens after it (GUIDE: chained delays lost 3–6 % of the rate).
 */
const dueAt = (start: number, gen: Generation, i: number): number => start + gen.sim.ttftMs + i * gen.sim.itlMs;

/** A non-stream reply: one deadline at the moment the last token would have been generated. */
class DelayedReply implements Timed {
  due = 0;
  heapIndex = -1;

  constructor(
    private readonly ex: Exchange,
    private readonly gen: Generation,
    private readonly model: ModelCells,
  ) {}

  begin(): void {
    const n = this.gen.completion.tokens.length;
    const due = dueAt(this.ex.startedAt, this.gen, Math.max(0, n - 1));
    if (due <= performance.now()) {
      this.send(false);
    } else {
      this.ex.delivery = this;
      this.ex.services.scheduler.add(this, due);
    }
  }

  fire(): void {
    this.send(true);
  }

  cancel(): void {
    this.ex.services.scheduler.remove(this);
    this.model.active.dec();
  }

  private send(corked: boolean): void {
    const { ex, gen, model } = this;
    ex.delivery = null;
    model.active.dec();
    const n = gen.completion.tokens.length;
    model.tokens.inc(n);
    model.ttft.observe((performance.now() - ex.startedAt - Math.max(0, n - 1) * gen.sim.itlMs) / 1000);
    if (corked) ex.replyJsonLater(200, gen.body());
    else ex.replyJson(200, gen.body());
  }
}

/**
 * One SSE response. Status and headers go out at once; tokens follow on their schedule. When the
 * client reads slowly (uWS reports backpressure), the stream stops writing and, once writable,
 * sends every token that fell due meanwhile in one write: memory stays bounded by one frame batch.
 */
class SseStream implements Timed {
  due = 0;
  heapIndex = -1;
  private sent = 0;
  private opened = false;
  private blocked = false;
  private watchingWritable = false;
  private readonly encoder: StreamEncoder;
  private readonly tokens: Uint16Array;
  private readonly flushCorked = (): void => this.flush();

  constructor(
    private readonly ex: Exchange,
    private readonly gen: Generation,
    private readonly model: ModelCells,
  ) {
    this.encoder = gen.encoder();
    this.tokens = gen.completion.tokens;
  }

  begin(): void {
    const { ex } = this;
    writeHead(ex.res, 200, SSE_TYPE, ex.headers);
    for (const [k, v] of SSE_HEADERS) ex.res.writeHeader(k, v);
    ex.delivery = this;
    const first = dueAt(ex.startedAt, this.gen, 0);
    if (first <= performance.now()) {
      this.flush();
    } else {
      ex.res.write(''); // sends status and headers now, before the first token
      ex.services.scheduler.add(this, first);
    }
  }

  fire(): void {
    this.ex.res.cork(this.flushCorked);
  }

  cancel(): void {
    this.ex.services.scheduler.remove(this);
    this.model.active.dec();
  }

  private flush(): void {
    const { ex, gen, tokens } = this;
    if (ex.aborted || ex.finished || this.blocked) return;
    const now = performance.now();
    const n = tokens.length;
    const itl = gen.sim.itlMs;
    const elapsed = now - ex.startedAt - gen.sim.ttftMs;
    // Tokens due by now (the scheduler fires up to half a millisecond early).
    const due = elapsed < -0.5 ? 0 : itl <= 0 ? n : Math.min(n, Math.floor((elapsed + 0.5) / itl) + 1);
    let out = '';
    if (!this.opened) {
      this.opened = true;
      out = this.encoder.open();
      this.model.ttft.observe((now - ex.startedAt) / 1000);
    }
    for (let i = this.sent; i < due; i++) out += this.encoder.token(TOKEN_JSON[tokens[i]!]!);
    this.model.tokens.inc(due - this.sent);
    this.sent = due;
    if (due === n) {
      out += this.encoder.close();
      this.model.active.dec();
      ex.delivery = null;
      ex.res.end(out);
      ex.finish(200);
      return;
    }
    if (out !== '' && !ex.res.write(out)) {
      this.blocked = true; // uWS keeps what it could not send; onWritable resumes
      if (!this.watchingWritable) {
        this.watchingWritable = true;
        ex.res.onWritable(() => {
          this.blocked = false;
          this.flush();
          return true;
        });
      }
      return;
    }
    ex.services.scheduler.add(this, dueAt(ex.startedAt, gen, due));
  }
}
