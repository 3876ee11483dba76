import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';

/**
 * Start-up traffic, so the first real request finds every route's hot path compiled, the
 * tokenizer tables and frame buffers built and the heap sized: a cold simulator met with a burst
 * of 500 streams answered their first tokens 13 ms later than a bare server at p50 and 28 ms at
 * p99; warmed, −0.3 and +1.0 ms (bench/scenarios/burst.ts, --cold). The server sends this
 * traffic to itself on a private loopback port before it listens on the shared one, so no client
 * ever meets a cold worker; its metrics are then reset.
 */

/** Requests per variant: enough for V8 to optimise the functions every request runs (`--trace-opt`; bench/scenarios/burst.ts measures the effect). */
const ROUNDS = 100;
/** Requests of each variant in a round, each on a connection of its own: the server meets them all at once. */
const CONNECTIONS = 8;

/**
 * V8 optimises a function once it has run through its *interrupt budget* (bytecode executed)
 * a few times. At the default budget the warm-up left the request path itself in the baseline
 * tier (`chatCompletions`, `validate`, `deliver`): under 100 streams a second V8 optimised it
 * only 10–14 s into the load (`--trace-opt`), and meanwhile it cost several times more a request.
 * During the warm-up the budget is a quarter, so the rounds tier every path they run up; then
 * V8's default is restored, so nothing else is optimised sooner than it would be. The default is
 * known for Node 20's V8 (11.x, `node --v8-options`); elsewhere, or when the process was started
 * with its own `--interrupt-budget`, the budget is left alone.
 */
const DEFAULT_INTERRUPT_BUDGET = process.versions.v8.startsWith('11.') && !process.execArgv.some((a) => a.startsWith('--interrupt-budget')) ? 67584 : null;
const WARM_INTERRUPT_BUDGET = 16896;
/**
 * A pause after each round of requests: V8 compiles on a background thread from a queue of 8
 * functions, and a function marked while the queue is full is dropped until it is hot again
 * (`--trace-concurrent-recompilation` counted 16 such drops in one warm-up without the pauses;
 * `chatCompletions` was one of them).
 */
const SETTLE_MS = 3;

/** In every variant's prompt; each round puts its number after it (`RequestTemplate.bytes`). */
const PROMPT = 'Warm up';
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: `${PROMPT}, please.` }], max_tokens: 40 };
const ANTHROPIC = { 'anthropic-version': '2023-06-01' };
/**
 * Real waits, short: answers and streams that go through the timing wheel, as a load's do (the
 * instant profile skips it). These keep the model's own profile, the headers only setting its
 * waits, as a load tool's requests do: with the instant profile under them too, the first burst
 * of such streams met timings of shapes the warm-up never made, and `deliver`, `admit`, `flush`
 * and `rawGap` deoptimised in its first milliseconds (`--trace-deopt`).
 */
const TIMED = { 'x-sim-ttft-ms': '1', 'x-sim-itl-ms': '1' };

/** Whether a variant has real waits (TIMED): it keeps a profile of its own, the others run under the instant one. */
const isTimed = (v: { headers?: Record<string, string> }): boolean => v.headers?.['x-sim-ttft-ms'] !== undefined;

/** One request of each shape the routes serve: JSON and stream, both dialects. */
const VARIANTS: readonly { method: string; path: string; body?: object; headers?: Record<string, string> }[] = [
  { method: 'POST', path: '/v1/chat/completions', body: chat },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, stream: true, stream_options: { include_usage: true } } },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, max_tokens: 8 }, headers: TIMED },
  { method: 'POST', path: '/v1/chat/completions', body: { ...chat, max_tokens: 8, stream: true }, headers: TIMED },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: PROMPT, max_tokens: 40 } },
  { method: 'POST', path: '/v1/completions', body: { model: 'gpt-4o-mini', prompt: PROMPT, max_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: PROMPT, max_output_tokens: 40 } },
  { method: 'POST', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: PROMPT, max_output_tokens: 40, stream: true } },
  { method: 'POST', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: PROMPT, encoding_format: 'base64' } },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: PROMPT }] }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 40, messages: [{ role: 'user', content: PROMPT }], stream: true }, headers: ANTHROPIC },
  { method: 'POST', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: PROMPT }], stream: true }, headers: { ...ANTHROPIC, ...TIMED } },
  { method: 'POST', path: '/v1/messages/count_tokens', body: { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: PROMPT }] }, headers: ANTHROPIC },
  { method: 'GET', path: '/v1/models' },
];

/**
 * One keep-alive connection of the warm-up's own client: it sends a request, reads its answer to
 * the end and only then sends the next (uWebSockets.js serves pipelined requests only when
 * answered at once: README "HTTP edge"). Not node:http's client: that cost ~0.39 s of the ~1.4 s
 * of CPU a warm-up took (`--cpu-prof`), and with a worker on every core each worker's warm-up
 * CPU is start-up time. Tried and dropped (12-06): a new bare socket a request, which saved
 * ~0.2 s of CPU, but V8 then sized the young generation from less allocation and a cold burst
 * met TTFT +8.96 ms p50 / +12.03 ms p99 over the bare server instead of +2.82 / +3.84.
 */
class WarmConnection {
  private socket: Socket | null = null;
  private received: Buffer = EMPTY;
  /** The request in flight and what waits for its answer. */
  private pending: { request: Buffer; resolve: (status: number) => void; reject: (err: Error) => void; resent: boolean } | null = null;

  constructor(
    private readonly tls: boolean,
    private readonly port: number,
  ) {}

  /** Sends one request; resolves with its answer's status once the whole answer is in. */
  send(request: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending = { request, resolve, reject, resent: false };
      (this.socket ?? this.open()).write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private open(): Socket {
    // Over https when the server serves it (its own loopback port: its certificate need not name 127.0.0.1).
    const socket = this.tls ? tlsConnect({ host: '127.0.0.1', port: this.port, rejectUnauthorized: false }) : connect(this.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.closed(socket));
    this.socket = socket;
    return socket;
  }

  /**
   * The server closed the connection (after an answer that closes it: a 413 when the config's
   * body limit is below the warm-up's bodies). The next request opens another; a request sent
   * before the close was seen, and not answered at all, is sent once more on a new one.
   */
  private closed(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    const { pending } = this;
    if (pending === null) return;
    if (this.received.length === 0 && !pending.resent) {
      pending.resent = true;
      this.open().write(pending.request);
      return;
    }
    this.received = EMPTY;
    this.pending = null;
    pending.reject(new Error('the server closed a warm-up connection before its answer was complete'));
  }

  private read(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    const end = answerEnd(this.received);
    if (end < 0 || this.pending === null) return;
    const status = Number(this.received.toString('latin1', 9, 12));
    this.received = this.received.subarray(end);
    const { resolve } = this.pending;
    this.pending = null;
    resolve(status);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Where the HTTP/1.1 answer at the start of `bytes` ends, or -1 while it is incomplete. The
 * server's answers carry a content-length, or are chunked (streams) and end with the last chunk.
 */
export function answerEnd(bytes: Buffer): number {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return -1;
  const head = bytes.toString('latin1', 0, headEnd).toLowerCase();
  const bodyStart = headEnd + 4;
  const length = /\r\ncontent-length: *(\d+)/.exec(head);
  if (length !== null) {
    const end = bodyStart + Number(length[1]);
    return end <= bytes.length ? end : -1;
  }
  if (!/\r\ntransfer-encoding: *chunked/.test(head)) return bodyStart;
  let at = bodyStart;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return -1;
    const size = parseInt(bytes.toString('latin1', at, lineEnd), 16);
    // The last chunk (size 0) is followed by an empty trailer line.
    const next = lineEnd + 2 + size + 2;
    if (next > bytes.length) return -1;
    if (size === 0) return next;
    at = next;
  }
}

/**
 * A variant's request, but for its round's number: its head up to the content-length's value,
 * and its body split where the round's number goes. Built once, so what runs for each request
 * (`bytes`) is small: V8 optimises the warm-up's own code too, and compiling the first version
 * (headers merged for every request) took TurboFan ~41 ms of a worker's start (`--trace-opt`).
 */
class RequestTemplate {
  private readonly head: string;
  private readonly bodyParts: readonly string[];

  constructor(v: (typeof VARIANTS)[number], key: string) {
    const headers: Record<string, string> = {
      host: '127.0.0.1',
      'content-type': 'application/json',
      // The instant profile: no simulated waits (embeddings take no timing headers), but for the timed variants.
      ...(isTimed(v) ? {} : { 'x-sim-profile': 'instant' }),
      // The key as each vendor's clients present it.
      ...(v.path.startsWith('/v1/messages') ? { 'x-api-key': key } : { authorization: `Bearer ${key}` }),
      ...v.headers,
    };
    this.head = `${v.method} ${v.path} HTTP/1.1\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}content-length: `;
    this.bodyParts = v.body === undefined ? [''] : JSON.stringify(v.body).split(PROMPT);
  }

  /**
   * The request of round `i`. Each round's prompts differ, as a load's do: with one prompt every
   * round, its count came from the cache after the first, and a real load's first new prompt
   * deoptimised the count's path.
   */
  bytes(i: number): Buffer {
    const body = this.bodyParts.join(`${PROMPT} ${i}`);
    return Buffer.from(`${this.head}${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
}

/**
 * A timed variant as sent in turn with the model's own profile and under each of `profiles` (the
 * configuration's own, by `x-sim-profile`; its 1 ms waits still apply); any other variant alone.
 * Profiles from the configuration are built by zod, field by field, into hidden classes of their
 * own, and a load's first request under one deoptimised `simulate`, `admit`, `deliver` and the
 * capacity's `acquire` (`--trace-deopt`), which then ran unoptimised for seconds under a light load.
 */
function timedWith(v: (typeof VARIANTS)[number], profiles: readonly string[]): (typeof VARIANTS)[number][] {
  if (!isTimed(v)) return [v];
  // At most three beside the model's own: V8 keeps four shapes at a load site, and the rounds stay the model's own often enough.
  return [v, ...profiles.slice(0, 3).map((profile) => ({ ...v, headers: { ...v.headers, 'x-sim-profile': profile } }))];
}

/** What a warm-up took, and how many of its requests were refused (each left part of its path cold). */
export interface WarmUp {
  readonly ms: number;
  readonly refused: number;
}

/**
 * Sends every variant ROUNDS times over keep-alive connections, in rounds of CONNECTIONS requests
 * of each variant, presenting `key` as each vendor's clients do. `afterRound` runs whenever no request is in flight, after each round.
 */
export async function warmUp(port: number, key: string, tls = false, afterRound: () => void = () => {}, profiles: readonly string[] = []): Promise<WarmUp> {
  const started = performance.now();
  let refused = 0;
  if (DEFAULT_INTERRUPT_BUDGET !== null) setFlagsFromString(`--interrupt-budget=${WARM_INTERRUPT_BUDGET}`);
  // A connection for each variant's each request of a round, so a round's requests are all in
  // flight at once: one after another, the timed variants' waits left the process idle ~0.4 s.
  const connections = VARIANTS.map(() => Array.from({ length: CONNECTIONS }, () => new WarmConnection(tls, port)));
  const requests = VARIANTS.map((v) => timedWith(v, profiles).map((w) => new RequestTemplate(w, key)));
  try {
    for (let round = 0; round < ROUNDS; round += CONNECTIONS) {
      const batch: Promise<number>[] = [];
      for (let k = 0; k < CONNECTIONS && round + k < ROUNDS; k++) requests.forEach((r, j) => batch.push(connections[j]![k]!.send(r[(round + k) % r.length]!.bytes(round + k))));
      // Best effort: a config that changed these models may refuse some requests, which still warm the paths they take.
      for (const status of await Promise.all(batch)) if (status >= 400) refused++;
      afterRound();
      await delay(SETTLE_MS);
    }
  } finally {
    for (const c of connections.flat()) c.close();
    if (DEFAULT_INTERRUPT_BUDGET !== null) setFlagsFromString(`--interrupt-budget=${DEFAULT_INTERRUPT_BUDGET}`);
  }
  return { ms: performance.now() - started, refused };
}
