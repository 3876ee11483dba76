import { performance } from 'node:perf_hooks';
import type { FinishedReason, ModelCells } from '../metrics/metrics.js';
import { tenths } from '../log.js';
import { FrameBuffer } from '../sim/frames.js';
import type { ModelLoad, Waiter } from '../sim/capacity.js';
import { HORIZON_MS, type Scheduler, type Timed } from '../sim/scheduler.js';
import type { Generation, StreamEncoder } from '../sim/stream.js';
import { vocabularyIds, vocabularyJsonBytes, type TokenText } from '../sim/text.js';
import type { Timing } from '../sim/latency.js';
import { hashString } from '../sim/rng.js';
import type { HttpResponse } from 'uWebSockets.js';
import { MAX_RECORDED_CHUNKS } from './records.js';
import type { JsonReply } from '../api/context.js';
import type { Exchange } from './exchange.js';

import { faultToken } from '../faults/catalogue.js';
import { overloadedError } from '../faults/render.js';
import { closeAfterWriting, closeWithoutResponse, errorEventFrame, faultedWait, HTML_TYPE, Later, ThrottledBody } from './faults.js';

/** Every stream of this process assembles its frames here (flushes never interleave). */
const frames = new FrameBuffer();

const SSE_TYPE = 'text/event-stream; charset=utf-8';
/** The stream's own header lines, joined once (src/http/uws.ts `writeHead`); WIRE C3: proxies must not buffer the stream. */
const SSE_HEADER_LINES = '\r\ncache-control: no-cache\r\nx-accel-buffering: no';

const HEADERS_NOW = ': ping\n\n';

/**
 * The most one flush writes. uWS buffers whatever the socket does not take, so without a ceiling
 * one flush of a long stream at ITL 0 could park megabytes per connection for a client that never
 * reads; with it a stream holds at most one flush beyond the kernel's buffers, then waits for
 * onWritable (or its stall deadline).
 */
const FLUSH_MAX_BYTES = 64 * 1024;

/**
 * Delivers a planned generation: takes a slot of the model's capacity (waiting for one if need
 * be, or answering "overloaded"), then streams it or sends it whole after the simulated time.
 */
export function deliver(ex: Exchange, gen: Generation): void {
  if (ex.aborted) return;
  const { model, timing } = gen.sim;
  const cells = ex.services.metrics.model(model.id, model.contextWindow);
  cells.kvCapacity = timing.profile.kvCacheTokens;
  cells.active.inc();
  cells.promptTokens.inc(gen.sim.promptTokens);
  cells.requestPromptTokens.observe(gen.sim.promptTokens);
  const delivery = gen.sim.stream ? new SseStream(ex, gen, cells) : new DelayedReply(ex, gen, cells);
  ex.delivery = delivery;
  const admission = delivery.load.acquire(timing.profile, delivery);
  delivery.inline = false;
  if (admission === 'refused') {
    ex.delivery = null;
    cells.active.dec();
    // Admission refused this before planning when the queue was already full (src/api/generation.ts);
    // this is the rare case of a queue that filled while the request was planned in the pool.
    ex.replyError(overloadedError(ex.dialect.name));
  }
  delivery.updateGauges();
}

/** A JSON reply sent after its simulated work (embeddings and the like), on the shared scheduler. */
export function replyAfter(ex: Exchange, reply: JsonReply): void {
  // A stream fault on a JSON route acts on its one deadline (README "Faults": non-stream mapping).
  const delay = faultedWait(ex.fault, reply.delayMs * ex.services.timeScale, 0);
  if (delay <= 0) return ex.replyJson(reply.status, reply.body);
  new Later(ex, () => ex.replyJson(reply.status, reply.body)).start(ex.startedAt + delay);
}

/** What both deliveries share: the slot, the admission, cancellation and the final accounting. */
abstract class Delivery implements Waiter, Timed {
  due = 0;
  slot = 0;
  position = -1;
  /** True while `deliver` runs: admission then happens inside the request's own cork. */
  inline = true;
  protected state: 'waiting' | 'running' | 'done' = 'waiting';
  protected admittedAt = 0;
  /** What this sequence holds in the model's simulated KV cache (its prompt, then its tokens as they are generated). */
  protected kvHeld = 0;
  private readonly beginCorked = (): void => this.begin();
  /** The model's load, where this delivery takes and gives back its slot. */
  readonly load: ModelLoad;

  constructor(
    protected readonly ex: Exchange,
    protected readonly gen: Generation,
    protected readonly cells: ModelCells,
  ) {
    this.load = ex.services.capacity.model(gen.sim.model.id, gen.sim.timing.profile);
  }

  admit(utilisation: number): void {
    const { ex, gen } = this;
    const { profile } = gen.sim.timing;
    this.state = 'running';
    this.admittedAt = performance.now();
    // A scenario phase may scale latency (1 without one).
    const phase = ex.services.admission.latencyFactor();
    gen.sim.timing.admit(profile.ttftFactor(utilisation) * phase, profile.itlFactor(utilisation) * phase, ex.services.timeScale);
    this.cells.queueTime.observe((this.admittedAt - ex.startedAt) / 1000);
    this.hold(gen.sim.promptTokens);
    this.updateGauges();
    // A slot freed by another request (or by the primary's sync) is not this response's cork.
    if (this.inline) this.begin();
    else ex.later(this.beginCorked);
  }

  cancel(): void {
    const { ex } = this;
    if (this.state === 'waiting') this.load.abandon(this);
    else if (this.state === 'running') {
      ex.services.scheduler.remove(this);
      this.load.release();
    }
    this.state = 'done';
    this.cells.active.dec();
    this.ended('abort');
    this.updateGauges();
    this.settle();
  }

  /** Tokens enter the model's KV cache (the prompt at admission, generated tokens as they go). */
  protected hold(tokens: number): void {
    this.kvHeld += tokens;
    this.cells.kvTokens.inc(tokens);
  }

  /** The sequence is over: its KV cache is freed, why it ended is counted (vLLM's request_success, token histograms), and its tokens go to the access line. */
  private ended(reason: FinishedReason): void {
    const { ex } = this;
    const generated = this.generated();
    this.cells.kvTokens.dec(this.kvHeld);
    this.kvHeld = 0;
    this.cells.finished[reason].inc();
    this.cells.requestGenerationTokens.observe(generated);
    ex.promptTokens = this.gen.sim.promptTokens;
    ex.completionTokens = generated;
    ex.finishReason = reason;
  }

  /**
   * W3C `server-timing` for a delivered generation (`metrics.serverTiming`): the simulated queue and prefill (time to
   * first token once admitted), and the total when it is known (a non-stream reply; a stream's
   * headers leave before its end, and uWS sends no trailers), in ms.
   */
  protected serverTiming(totalMs: number): string {
    return `queue;dur=${tenths(this.admittedAt - this.ex.startedAt)}, prefill;dur=${tenths(this.gen.sim.timing.ttftMs)}${totalMs >= 0 ? `, total;dur=${tenths(totalMs)}` : ''}`;
  }

  /** The first token left `now` (performance.now()): its metric and the access line's. */
  protected firstToken(now: number): void {
    const ms = now - this.ex.startedAt;
    this.cells.ttft.observe(ms / 1000);
    this.ex.ttftMs = ms;
  }

  /** The rate limits' reservation, settled to the tokens really counted and sent. */
  private settle(): void {
    const { ex } = this;
    if (ex.reservation === null) return;
    ex.reservation.settle(this.gen.sim.promptTokens, this.generated());
    ex.reservation = null;
  }

  /** Tokens of the answer sent (or, cut short, sent so far). */
  protected abstract generated(): number;

  /**
   * Accounts the end of a delivered response (`tokens` not yet counted); the caller then ends it.
   * `cut`: a fault ended it before its answer was whole (vLLM would call that an abort). `now`:
   * performance.now(), when the caller has just read it (each read is a call into node).
   */
  protected complete(tokens: number, cut = false, now = performance.now()): void {
    const { ex, gen } = this;
    this.state = 'done';
    ex.delivery = null;
    this.load.release();
    this.cells.active.dec();
    this.cells.tokens.inc(tokens);
    this.cells.e2e.observe((now - ex.startedAt) / 1000);
    this.ended(cut ? 'abort' : gen.completion.finish === 'length' ? 'length' : 'stop');
    this.updateGauges();
    this.settle();
  }

  updateGauges(): void {
    this.cells.running.value = this.load.running;
    this.cells.waiting.value = this.load.waiting;
  }

  fail(err: unknown): void {
    this.ex.fail(err);
  }

  protected abstract begin(): void;
  abstract fire(now: number): void;
}

/** A non-stream reply: one deadline, when the last token would have been generated. */
class DelayedReply extends Delivery {
  protected generated(): number {
    return this.gen.completion.text.length;
  }

  protected begin(): void {
    const { ex, gen } = this;
    const { timing } = gen.sim;
    const n = gen.completion.text.length;
    // Its tokens are sent together at the end: the cache holds them for the reply's whole time.
    this.hold(n);
    const generating = faultedWait(ex.fault, n > 1 ? gen.completion.rawGapSum * timing.gapScale : 0, n);
    this.due = this.admittedAt + timing.ttftMs + generating;
    const now = performance.now();
    if (this.due <= now) this.send(now);
    else ex.services.scheduler.add(this, this.due);
  }

  fire(now: number): void {
    this.ex.res.cork(() => this.send(now));
  }

  private send(now: number): void {
    const { ex, gen } = this;
    this.cells.lateness.observe(Math.max(0, now - this.due) / 1000);
    this.firstToken(this.admittedAt + gen.sim.timing.ttftMs);
    this.complete(gen.completion.text.length, false, now);
    if (ex.services.serverTiming) ex.headers.push(['server-timing', this.serverTiming(now - ex.startedAt)]);
    ex.replyJson(200, gen.body());
  }
}

/**
 * One SSE response. Token i leaves at admission + ttft + the sum of the first i gaps: absolute
 * deadlines, so a late wake-up never shifts the tokens after it (GUIDE: chained delays lost 3–6 %
 * of the rate). Each gap is drawn when the previous token is due, so the stream holds O(1) state.
 * When the client reads slowly (uWS reports backpressure), the stream stops writing and, once
 * writable, sends every token that fell due meanwhile in one write.
 */
class SseStream extends Delivery {
  private sent = 0;
  private opened = false;
  private blocked = false;
  private blockedAt = 0;
  /** The next token's deadline, kept while `due` holds the stall deadline. */
  private dueWhenBlocked = 0;
  private watchingWritable = false;
  private lastSentAt = -1;
  /** The token index a stream fault fires at (README "Faults"), -1 for none. */
  private faultAt = -1;
  private readonly encoder: StreamEncoder;
  private readonly tokens: TokenText;
  /**
   * What a token reaches, kept here: at 200 streams a token's state is out of the CPU's caches
   * since its last token, and each object it reads is a miss (`perf annotate`: the samples of
   * `flush`, `token` and `fireSlot` sit on their first loads of each object). So a token reads
   * neither the exchange (its response, its compressor, whether it records), nor the request's
   * `gen.sim`, nor the encoder and the text for a plain answer, nor a closure of its own.
   */
  private readonly timing: Timing;
  private readonly res: HttpResponse;
  private readonly scheduler: Scheduler;
  private readonly recording: boolean;
  /** Set at `begin`: its events go through the exchange's compressor. */
  private compressed = false;
  /** A plain answer's frame (StreamEncoder.plainFrame) and vocabulary ids; null when the encoder frames each token. */
  private readonly plainPrefix: Uint8Array | null = null;
  private readonly plainSuffix: Uint8Array | null = null;
  private readonly plainIds: Uint16Array | null = null;

  /** The stream whose flush the next cork runs: one callback for every stream rather than a closure each. */
  private static corked: SseStream | null = null;
  private static readonly flushCorked = (): void => SseStream.corked!.flush();

  protected generated(): number {
    return this.sent;
  }

  constructor(ex: Exchange, gen: Generation, cells: ModelCells) {
    super(ex, gen, cells);
    this.encoder = gen.encoder();
    this.tokens = gen.completion.text;
    this.timing = gen.sim.timing;
    this.res = ex.res;
    this.scheduler = ex.services.scheduler;
    this.recording = ex.chunks !== null;
    const frame = this.encoder.plainFrame;
    const ids = vocabularyIds(this.tokens);
    if (frame !== null && ids !== null) {
      this.plainPrefix = frame.prefix;
      this.plainSuffix = frame.suffix;
      this.plainIds = ids;
    }
    const { fault } = ex;
    if (fault !== null) this.faultAt = fault.type === 'no_terminator' ? this.tokens.length : faultToken(fault, this.tokens.length);
  }

  protected begin(): void {
    const { ex } = this;
    const timing = ex.services.serverTiming ? `\r\nserver-timing: ${this.serverTiming(-1)}` : '';
    ex.writeHead(200, ex.fault?.type === 'wrong_content_type' ? HTML_TYPE : SSE_TYPE, SSE_HEADER_LINES + timing + ex.compressStream());
    ex.streaming = true;
    this.compressed = ex.compressing;
    if (ex.fault?.type === 'empty_body') {
      ex.res.end();
      this.complete(0, true);
      return ex.finish(200);
    }
    this.due = this.admittedAt + this.gen.sim.timing.ttftMs;
    if (this.due <= performance.now()) {
      this.flush();
    } else {
      // uWS ends the header block only with the first non-empty chunk: an SSE comment (WIRE C2,
      // ignored by both SDKs' decoders) sends status and headers now, as a provider does, so a
      // gateway's header timeout measures the connection, not the time to first token.
      ex.write(HEADERS_NOW);
      this.scheduler.add(this, this.due);
    }
  }

  fire(now: number): void {
    // While blocked, the stream's deadline on the wheel is its stall deadline.
    if (this.blocked) return this.stall(now);
    SseStream.corked = this;
    this.res.cork(SseStream.flushCorked);
  }

  /** The client has read nothing for stallTimeoutMs: close the connection (the abort frees the slot). */
  private stall(now: number): void {
    const { ex } = this;
    this.cells.stalled.inc();
    ex.services.log.warn({ requestId: ex.requestId, stalledMs: Math.round(now - this.blockedAt) }, 'stream closed: its client stopped reading');
    ex.res.close();
  }

  private flush(): void {
    // An aborted or cut-short exchange has cancelled its delivery (state 'done'): its flag need not be read.
    if (this.state !== 'running' || this.blocked) return;
    const { ex, tokens, cells } = this;
    const now = performance.now();
    const n = tokens.length;
    const { timing } = this;
    const out = frames;
    out.reset();
    if (!this.opened) {
      if (ex.fault !== null && this.faultAtStart()) return;
      this.opened = true;
      this.encoder.open(out);
      this.firstToken(now);
    }
    // Every token due by now, or within the scheduler's horizon, up to FLUSH_MAX_BYTES a write.
    const horizon = now + HORIZON_MS;
    const first = this.sent;
    const ids = this.plainIds;
    while (this.sent < n && this.sent !== this.faultAt && this.due <= horizon && out.length < FLUSH_MAX_BYTES) {
      if (ids !== null) out.framed(this.plainPrefix!, vocabularyJsonBytes(ids[this.sent]!), this.plainSuffix!);
      else this.encoder.token(this.sent, out);
      cells.lateness.observe(now > this.due ? (now - this.due) / 1000 : 0);
      if (this.lastSentAt >= 0) cells.itl.observe((now - this.lastSentAt) / 1000);
      this.lastSentAt = now;
      if (++this.sent < n) this.due += timing.rawGap() * timing.gapScale;
    }
    cells.tokens.inc(this.sent - first);
    this.hold(this.sent - first);
    if (this.recording && this.sent > first) this.recordChunk(now, first);
    if (this.sent === this.faultAt && this.faultMidStream(out)) return;
    if (this.sent === n) {
      this.encoder.close(out);
      // Sent before complete(): freeing the slot may start a waiting stream, which reuses `frames`.
      ex.end(out.view());
      this.complete(0); // tokens were counted as they went
      ex.finish(200);
      return;
    }
    if (out.length > 0 && !(this.compressed ? ex.write(out.view()) : this.res.write(out.view()))) {
      // uWS keeps what it could not send (at most one flush: nothing more is written while
      // blocked); onWritable resumes, or the stall deadline closes the connection.
      this.blocked = true;
      this.blockedAt = now;
      this.dueWhenBlocked = this.due;
      cells.backpressure.inc();
      this.scheduler.add(this, now + ex.services.stallTimeoutMs);
      if (!this.watchingWritable) {
        this.watchingWritable = true;
        ex.res.onWritable(() => {
          this.blocked = false;
          this.scheduler.remove(this);
          this.due = this.dueWhenBlocked;
          this.flush();
          return true;
        });
      }
      return;
    }
    this.scheduler.add(this, this.due);
  }

  /** For the bench records: this write's time and tokens [first, sent), and the text digest continued over them. */
  private recordChunk(now: number, first: number): void {
    const { ex } = this;
    if (ex.chunks!.length < 2 * MAX_RECORDED_CHUNKS) ex.chunks!.push(now, this.sent);
    for (let i = first; i < this.sent; i++) ex.sentDigest = hashString(this.tokens.piece(i), ex.sentDigest);
  }

  /** The faults that act when the first token is due: `close` and `throttle`. True when the stream is over. */
  private faultAtStart(): boolean {
    const { ex } = this;
    if (ex.fault!.type === 'close') {
      this.complete(0, true);
      closeWithoutResponse(ex);
      return true;
    }
    if (ex.fault!.type !== 'throttle') return false;
    // The whole stream, every event at once, then sent at the fault's byte rate.
    const out = new FrameBuffer();
    this.encoder.open(out);
    for (let i = 0; i < this.tokens.length; i++) this.encoder.token(i, out);
    this.encoder.close(out);
    this.cells.tokens.inc(this.tokens.length);
    this.complete(0);
    new ThrottledBody(ex, out.view().slice(), ex.fault!.bytesPerSecond!, 200).start();
    return true;
  }

  /**
   * The stream fault whose token has come (the tokens before it are in `out`). True when it
   * ended the stream; otherwise the stream goes on (stall, slow, malformed_chunk).
   */
  private faultMidStream(out: FrameBuffer): boolean {
    const { ex, gen } = this;
    const fault = ex.fault!;
    this.faultAt = -1;
    switch (fault.type) {
      case 'cut':
        ex.res.write(out.view());
        this.complete(0, true);
        closeAfterWriting(ex, 200);
        return true;
      case 'error_event':
        out.text(errorEventFrame(ex, fault, gen.sim.model.id));
        ex.res.end(out.view());
        this.complete(0, true);
        ex.finish(200);
        return true;
      case 'no_terminator':
        ex.res.end(out.view());
        this.complete(0, true);
        ex.finish(200);
        return true;
      case 'stall':
        this.due += fault.ms!;
        return false;
      case 'slow':
        gen.sim.timing.gapScale *= fault.factor!;
        return false;
      case 'malformed_chunk': {
        // The next token's event with its JSON cut short; that token is then sent as usual.
        if (this.sent === this.tokens.length) return false;
        const broken = new FrameBuffer();
        this.encoder.token(this.sent, broken);
        const text = Buffer.from(broken.view()).toString('utf8');
        out.text(`${text.slice(0, Math.floor(text.length / 2)).replace(/\n+$/, '')}\n\n`);
        return false;
      }
      default:
        return false;
    }
  }
}
