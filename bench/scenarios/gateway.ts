import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Rng } from '../../src/sim/rng.js';
import { cpuSeconds, distribution, type Distribution, rssBytes, unixNow } from '../lib.js';
import { compareStream, emptyFidelity, type Fidelity, type SimRecord, StreamSeen, strippedHeaders } from './fidelity.js';
import { Attempts, cancelCheck, type Cancelled, installFault, type Upstream, upstreamOf } from './reaction.js';

/**
 * The gateway benchmark (README "Gateway benchmark"): the same closed-loop workload sent direct
 * to the simulator and through a gateway in front of it, interleaved in rounds, from one client.
 * Every request carries `x-request-id`; the simulator (started with `--bench-records`) records
 * when each arrived and when its first token left. Pairing those with the client's own times
 * gives, per request, what the gateway added: on the way in (client send → simulator arrival)
 * and at the first token (simulator's first token → client's first byte). The direct requests'
 * medians of the same two spans are subtracted, so what the client, the loopback and the clocks
 * cost is not blamed on the gateway.
 */
export interface GatewayOptions {
  /** The simulator's base URL (its `benchRecords` must be on). */
  readonly sim: string;
  /** The gateway's base URL: requests go to `<target><path>`, and it forwards them to the simulator. */
  readonly target: string;
  /** What is sent (WORKLOADS): chat (default), messages, responses or embeddings. */
  readonly route?: Route;
  readonly stream?: boolean;
  /** The model named in the body (default: the route's). */
  readonly model?: string;
  /** A body of one's own (parsed JSON) instead of the route's; `stream` is still set by `stream`. */
  readonly body?: Record<string, unknown>;
  /** Closed loop: lanes, each sending its next request when the last ends; several values make a sweep (default [16]). */
  readonly concurrency?: readonly number[];
  /** Open loop instead: requests per second, sent on a schedule whatever the answers do; several values make a ramp. */
  readonly rate?: readonly number[];
  /** Open loop: evenly spaced sends (`fixed`) or a Poisson process (`poisson`, exponential gaps, seeded). */
  readonly arrival?: 'fixed' | 'poisson';
  /** Open loop: requests in flight at most; a send that would exceed it waits, and is counted late. */
  readonly maxInFlight?: number;
  /** Seeds the Poisson schedule, so a run's arrivals repeat. */
  readonly seed?: number;
  /** Seconds per phase (one direct and one gateway phase per round, per step). */
  readonly durationS?: number;
  readonly rounds?: number;
  /** Extra request headers on every request (a gateway's own routing headers). */
  readonly headers?: Record<string, string>;
  /** Called with a progress line per phase. */
  readonly progress?: (line: string) => void;
  /** Called every LIVE_EVERY_MS during a phase with where it stands (a terminal's live line: bench/run.ts). */
  readonly live?: (now: Live) => void;
  /** A fault rule (the config's syntax, README "Rules") put on the simulator for the run through its admin API; both sides meet it. */
  readonly fault?: Record<string, unknown>;
  /** The simulator's admin key (`admin.key`), needed for `fault`. */
  readonly adminKey?: string;
  /** Streams to abandon after their first content event, each way, to see whether the gateway cancels upstream (0: no check). */
  readonly cancel?: number;
  /** The gateway's process (its children counted too): CPU per request and RSS over its phases, from /proc. */
  readonly targetPid?: number;
  /** An outage in every phase: from `atS` seconds after its start, for `forS`, the simulator answers every request 503 (admin API; needs `adminKey`). */
  readonly outage?: { readonly atS: number; readonly forS: number };
}

/**
 * The routes the harness can load, each as its vendor's client sends it: path, the key's header,
 * and a short answer's body. Streams of chat ask for the usage chunk, so the fidelity check can see
 * whether it arrives unaltered (messages and responses report usage in their own events).
 */
export const WORKLOADS = {
  chat: { path: '/v1/chat/completions', cap: 'max_tokens', headers: { authorization: 'Bearer bench' }, body: (model: string | undefined, stream: boolean) => ({ model: model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], max_tokens: 16, ...(stream ? { stream, stream_options: { include_usage: true } } : {}) }) },
  messages: { path: '/v1/messages', cap: 'max_tokens', headers: { 'x-api-key': 'bench', 'anthropic-version': '2023-06-01' }, body: (model: string | undefined, stream: boolean) => ({ model: model ?? 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: PROMPT }], ...(stream ? { stream } : {}) }) },
  responses: { path: '/v1/responses', cap: 'max_output_tokens', headers: { authorization: 'Bearer bench' }, body: (model: string | undefined, stream: boolean) => ({ model: model ?? 'gpt-4o-mini', input: PROMPT, max_output_tokens: 16, ...(stream ? { stream } : {}) }) },
  embeddings: { path: '/v1/embeddings', cap: null, headers: { authorization: 'Bearer bench' }, body: (model: string | undefined) => ({ model: model ?? 'text-embedding-3-small', input: PROMPT }) },
} as const;
export type Route = keyof typeof WORKLOADS;
const PROMPT = 'Gateway benchmark: say something short.';

/** A route's request: URL path, headers and body (a body of one's own replaces the route's, `stream` set on it). */
function workload(o: GatewayOptions, model?: string, stream = o.stream ?? false): { path: string; headers: Record<string, string>; body: Record<string, unknown> } {
  const w = WORKLOADS[o.route ?? 'chat'];
  return { path: w.path, headers: { 'content-type': 'application/json', ...w.headers, ...o.headers }, body: o.body !== undefined ? { ...o.body, ...(stream ? { stream } : {}) } : w.body(model ?? o.model, stream) };
}

/** What the client and the simulator saw of an outage. */
export interface Outage {
  /** Requests sent during the outage that the client got no 2xx for. */
  readonly errors: number;
  /** From the outage's start to the first request sent after it whose 2xx came back before it ended; null: none did (no failover). */
  readonly failoverMs: number | null;
  /** From the outage's end to the first request sent after it that got a 2xx. */
  readonly recoverMs: number | null;
  /** From the outage's end to the first attempt the simulator saw after it: when traffic came back to the upstream that failed. */
  readonly backMs: number | null;
}

/** Where a running phase stands. */
export interface Live {
  readonly load: string;
  readonly via: 'direct' | 'gateway';
  readonly elapsedS: number;
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
}

/** How often `live` is called. */
export const LIVE_EVERY_MS = 500;

/** One step's load: lanes of a closed loop, or an open loop's rate. */
type Load = { readonly kind: 'closed'; readonly concurrency: number } | { readonly kind: 'open'; readonly rate: number };

/** One request as the client saw it (Unix ms, to the microsecond). */
export interface Sent {
  readonly id: string;
  /** When the schedule meant it to be sent: latency counts from here (the send itself, in a closed loop). */
  readonly intended: number;
  sent: number;
  first: number;
  end: number;
  status: number;
  /** A stream's events as they arrived (streams only). */
  seen: StreamSeen | null;
}

interface Phase {
  readonly via: 'direct' | 'gateway';
  readonly requests: Sent[];
  readonly seconds: number;
  /** The header names of the phase's first 2xx answer (what a gateway may strip). */
  readonly headerNames: string[];
  /** With `outage`: when the simulator's outage was in force (Unix ms, from its rule's install to its removal). */
  readonly outage?: { readonly from: number; readonly until: number };
  /** With `targetPid`, gateway phases: the gateway's CPU seconds over the phase, and its RSS sampled every RSS_EVERY_MS (Unix ms, bytes). */
  readonly gatewayProcess?: { readonly cpuSeconds: number; readonly rss: readonly (readonly [number, number])[] };
}


export interface Side {
  readonly requests: number;
  /** 2xx answers per second: what failed is never throughput. */
  readonly rps: number;
  /** From the intended send (open loop) or the send (closed loop) to the last byte, 2xx only. */
  readonly latencyMs: Distribution;
  readonly statuses: Record<string, number>;
  /** Open loop: how far behind its schedule each send went out. */
  readonly lagMs?: Distribution;
  /** Open loop: sends more than LATE_MS behind their schedule (the client could not keep up, or hit maxInFlight). */
  readonly late?: number;
  /** 2xx answers ÷ requests. */
  readonly successRate: number;
  /** What the simulator saw of these requests: attempts per request, retries, waits kept. */
  readonly upstream: Upstream;
  /** With `outage` (medians over the side's phases; README "Outages"). */
  readonly outage?: Outage;
  /** Gateway side with `targetPid`: its CPU µs per request (every answer, 2xx or not) and RSS (MB) at its phases' start and end, and the most. */
  readonly process?: { readonly cpuUsPerRequest: number; readonly rssMb: { readonly start: number; readonly max: number; readonly end: number } };
  /** Streams, 2xx only (README "Definitions"). */
  readonly stream?: {
    /** Intended send → first content event. */
    readonly ttftMs: Distribution;
    /** Gaps between consecutive content events, pooled over every stream. */
    readonly itlMs: Distribution;
    /** Per stream: (last content event − first) ÷ (events − 1). */
    readonly tpotMs: Distribution;
    /** Content events received per second of the phases. */
    readonly tokensPerSecond: number;
  };
}

/** What the HTML report draws (bench/report.ts): distributions as quantiles, and counts per second. */
export interface Plots {
  /** 201 quantiles (0, 0.5 %, …, 100 %) of each distribution, by side. */
  readonly latency: Sides<number[]>;
  readonly ttft?: Sides<number[]>;
  readonly itl?: Sides<number[]>;
  /** The paired overhead's quantiles: in, at the first token, per event. */
  readonly overhead: { readonly start: number[]; readonly firstToken: number[]; readonly chunk?: number[] };
  /** With `targetPid`: the gateway's RSS over the run, seconds from the run's start and MB. */
  readonly rss?: readonly (readonly [number, number])[];
  /** Per phase, in run order: seconds from the run's start, and 2xx / other answers ending in each second. */
  readonly timeline: { readonly via: 'direct' | 'gateway'; readonly start: number; readonly ok: number[]; readonly failed: number[] }[];
}
type Sides<T> = { readonly direct: T; readonly gateway: T };

export interface StepResult {
  /** `16 lanes` or `500 req/s`. */
  readonly load: string;
  readonly direct: Side;
  readonly gateway: Side;
  /** What the gateway added per request, ms: on the way in, at the first token, and (streams) per content event. */
  readonly overhead: { readonly start: Distribution; readonly firstToken: Distribution; readonly chunk?: Distribution };
  /** Streams: what arrived altered, through the gateway and (a self-check: all 0) direct; the headers the gateway stripped. */
  readonly fidelity?: { readonly gateway: Fidelity; readonly direct: Fidelity; readonly headersStripped: string[] };
  readonly plots: Plots;
}

export interface GatewayResult {
  readonly steps: StepResult[];
  /** Gateway requests whose id the simulator never saw (the gateway did not forward `x-request-id`, or never called upstream). */
  readonly unmatched: number;
  /** A ramp's last rate kept up with before a step fell behind (README: "the knee"); undefined when none fell behind, or for a closed loop. */
  readonly knee?: number;
  /** Loud facts a reader must not miss (non-2xx answers, unmatched requests, late sends, saturation). */
  readonly warnings: string[];
  /** With `cancel`: what became of abandoned streams, direct (the simulator's own reaction) and through the gateway. */
  readonly cancel?: { readonly direct: Cancelled; readonly gateway: Cancelled };
}

/** A send this far behind its schedule is late (timers fire up to ~1 ms late on an idle machine). */
export const LATE_MS = 5;
/** A request that has not ended after this long is abandoned and counted as an error (status 0). */
const REQUEST_TIMEOUT_MS = 30_000;

const DATA = Buffer.from('data:');


export interface Target {
  readonly url: string;
  readonly via: 'direct' | 'gateway';
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly agent: Agent;
  readonly stream: boolean;
  readonly tag: string;
  headerNames: string[] | null;
}

/** Sends one request now, recording it in `requests`; resolves when it has ended, however it ended. */
function send(t: Target, requests: Sent[], intended: number): Promise<void> {
  return new Promise((resolve) => {
    const id = `${t.tag}-${t.via}-${requests.length}`;
    const r: Sent = { id, intended, sent: 0, first: 0, end: 0, status: 0, seen: t.stream ? new StreamSeen() : null };
    const finish = (): void => {
      if (r.end === 0) r.end = unixNow();
      resolve();
    };
    const req = request(t.url, { method: 'POST', agent: t.agent, timeout: REQUEST_TIMEOUT_MS, headers: { ...t.headers, 'x-request-id': id } }, (res) => {
      r.status = res.statusCode ?? 0;
      if (t.headerNames === null && r.status >= 200 && r.status < 300) t.headerNames = Object.keys(res.headers);
      // The first token: a stream's first event (`data:`; the `: ping` comment that sends its
      // headers early is not a token), or a reply's first byte.
      res.on('data', (chunk: Buffer) => {
        const at = unixNow();
        if (r.first === 0 && (!t.stream || chunk.includes(DATA))) r.first = at;
        r.seen?.read(chunk, at);
      });
      res.on('end', finish);
      res.on('error', finish);
    });
    req.on('timeout', () => {
      r.status = 0;
      req.destroy();
    });
    req.on('error', () => {
      r.status = 0;
      finish();
    });
    requests.push(r);
    r.sent = unixNow();
    req.end(t.body);
  });
}

/** `lanes` lanes, each sending its next request when the last one ends, for `seconds`. */
async function closedLoop(t: Target, lanes: number, seconds: number, requests: Sent[]): Promise<Sent[]> {
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < until) await send(t, requests, unixNow());
    }),
  );
  return requests;
}

/**
 * An open loop: request i is meant to go out at start + offset(i), whatever the answers before it
 * did, so a server that stalls meets the requests that arrive meanwhile instead of the client
 * politely waiting (coordinated omission). Latency counts from the intended time; a send the
 * client makes late (timers, a full `maxInFlight`) is recorded with its lag, never dropped.
 */
export async function openLoop(t: Target, rate: number, seconds: number, arrival: 'fixed' | 'poisson', maxInFlight: number, rng: Rng, requests: Sent[]): Promise<Sent[]> {
  const running = new Set<Promise<void>>();
  const start = unixNow();
  const end = start + seconds * 1000;
  const gap = (): number => (arrival === 'poisson' ? -Math.log(1 - rng.next()) : 1) * (1000 / rate);
  for (let intended = start + gap(); intended < end; intended += gap()) {
    // Never early (a timer may fire a fraction of a millisecond before its time): late is measured.
    for (let wait = intended - unixNow(); wait > 0; wait = intended - unixNow()) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    while (running.size >= maxInFlight) await Promise.race(running);
    const done: Promise<void> = send(t, requests, intended).then(() => void running.delete(done));
    running.add(done);
  }
  await Promise.all(running);
  return requests;
}

function standing(rs: readonly Sent[], load: string, via: 'direct' | 'gateway', elapsedS: number): Live {
  let okCount = 0;
  let failed = 0;
  for (const r of rs) if (r.end !== 0) ok(r) ? okCount++ : failed++;
  return { load, via, elapsedS: Math.round(elapsedS * 10) / 10, sent: rs.length, ok: okCount, failed };
}

async function runPhase(base: string, via: 'direct' | 'gateway', load: Load, label: string, o: GatewayOptions, tag: string, rng: Rng): Promise<Phase> {
  const lanes = load.kind === 'closed' ? load.concurrency : (o.maxInFlight ?? 10_000);
  const w = workload(o);
  const target: Target = {
    url: `${base}${w.path}`,
    via,
    body: JSON.stringify(w.body),
    headers: w.headers,
    agent: new Agent({ keepAlive: true, maxSockets: lanes }),
    stream: o.stream ?? false,
    tag,
    headerNames: null,
  };
  const started = performance.now();
  const seconds = o.durationS ?? 5;
  const watch = via === 'gateway' && o.targetPid !== undefined ? watchProcess(o.targetPid) : null;
  const sent: Sent[] = [];
  const live = o.live === undefined ? null : setInterval(() => o.live!(standing(sent, label, via, (performance.now() - started) / 1000)), LIVE_EVERY_MS);
  const outage = o.outage === undefined ? null : scheduleOutage(o, o.outage);
  const requests = load.kind === 'closed' ? await closedLoop(target, lanes, seconds, sent) : await openLoop(target, load.rate, seconds, o.arrival ?? 'fixed', lanes, rng, sent);
  if (live !== null) clearInterval(live);
  const window = outage === null ? null : await outage;
  target.agent.destroy();
  // Until the last answer: an open loop's rate falls below the offered one when answers lag behind.
  return { via, requests, seconds: (performance.now() - started) / 1000, headerNames: target.headerNames ?? [], ...(watch === null ? {} : { gatewayProcess: watch() }), ...(window === null ? {} : { outage: window }) };
}

/** Puts the simulator in an outage `atS` into the phase, for `forS`: resolves with when it surely was (its rule in force). */
async function scheduleOutage(o: GatewayOptions, outage: { atS: number; forS: number }): Promise<{ from: number; until: number }> {
  await new Promise((r) => setTimeout(r, outage.atS * 1000));
  const remove = await installFault(o.sim, o.adminKey, { fault: { type: 'service_unavailable' } }, OUTAGE_RULE);
  // Between the install's answer and the removal's request the rule is surely in force (every worker
  // has it before the admin API answers): requests sent then all meet it. Read on the clock the
  // requests' send times are (`unixNow`): `Date.now()` ran ~2 ms behind it here, and a request sent
  // just before the install, answered 2xx, then counted as sent during the outage (a failover
  // seen on the direct side, where none can be).
  const from = unixNow();
  await new Promise((r) => setTimeout(r, outage.forS * 1000));
  const until = unixNow();
  await remove();
  return { from, until };
}

const OUTAGE_RULE = 'gateway-bench-outage';

/** An outage as one phase's client and the simulator saw it. */
function outageOf(p: Phase, attempts: Attempts): Outage | null {
  if (p.outage === undefined) return null;
  const { from, until } = p.outage;
  const bySend = [...p.requests].sort((a, b) => a.sent - b.sent);
  const during = bySend.filter((r) => r.sent >= from && r.sent < until);
  // A failover's 2xx must be back before the outage ended: one sent just before its end may reach the
  // simulator after the rule is gone, and that is recovery, not failover.
  const firstOk = (rs: Sent[], since: number, answeredBy = Infinity): number | null => {
    const r = rs.find((x) => ok(x) && x.sent >= since && x.end < answeredBy);
    return r === undefined ? null : Math.round((r.sent - since) * 10) / 10;
  };
  const back = bySend.flatMap((r) => attempts.of(r.id).map((a) => a.arrived)).filter((t) => t >= until).sort((a, b) => a - b)[0];
  return { errors: during.filter((r) => !ok(r)).length, failoverMs: firstOk(during, from, until), recoverMs: firstOk(bySend, until), backMs: back === undefined ? null : Math.round((back - until) * 10) / 10 };
}

/** The median outage over a side's phases (each had one). */
function outages(ps: Phase[], attempts: Attempts): Pick<Side, 'outage'> {
  const seen = ps.map((p) => outageOf(p, attempts)).filter((x) => x !== null);
  if (seen.length === 0) return {};
  const mid = <T>(xs: T[]): T => xs[Math.floor(xs.length / 2)]!;
  const nullableMedian = (xs: (number | null)[]): number | null => mid([...xs].sort((a, b) => (a ?? Infinity) - (b ?? Infinity)));
  return { outage: { errors: mid(seen.map((x) => x.errors).sort((a, b) => a - b)), failoverMs: nullableMedian(seen.map((x) => x.failoverMs)), recoverMs: nullableMedian(seen.map((x) => x.recoverMs)), backMs: nullableMedian(seen.map((x) => x.backMs)) } };
}

/** How often the gateway's RSS is read during its phases. */
const RSS_EVERY_MS = 250;

/** Starts watching a process: the returned function stops, with its CPU seconds since and its RSS samples. */
function watchProcess(pid: number): () => { cpuSeconds: number; rss: [number, number][] } {
  const cpu = cpuSeconds(pid);
  const rss: [number, number][] = [[unixNow(), rssBytes(pid)]];
  const timer = setInterval(() => rss.push([unixNow(), rssBytes(pid)]), RSS_EVERY_MS);
  return () => {
    clearInterval(timer);
    rss.push([unixNow(), rssBytes(pid)]);
    return { cpuSeconds: cpuSeconds(pid) - cpu, rss };
  };
}

/**
 * Every 2xx stream of a step compared with its record; the per-event overhead is each gateway
 * event's time from the simulator's write to the client, less the direct events' median.
 */
function streamFidelity(direct: Phase[], gateway: Phase[], attempts: Attempts): { found: NonNullable<StepResult['fidelity']>; chunk: number[] } {
  const compare = (ps: Phase[], into: Fidelity): number[] =>
    ps.flatMap((p) =>
      p.requests.flatMap((r) => {
        const rec = attempts.last(r.id);
        return rec === undefined || r.seen === null || !ok(r) ? [] : compareStream(r.seen, rec, into);
      }),
    );
  const found = { gateway: emptyFidelity(), direct: emptyFidelity(), headersStripped: strippedHeaders(direct[0]?.headerNames ?? [], gateway[0]?.headerNames ?? []) };
  const base = median(compare(direct, found.direct));
  return { found, chunk: compare(gateway, found.gateway).map((x) => x - base) };
}

function fidelityWarnings(load: string, f: NonNullable<StepResult['fidelity']>): string[] {
  const said = (x: Fidelity): string =>
    (Object.entries(x) as [keyof Fidelity, number][])
      .filter(([k, n]) => k !== 'checked' && n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
  const out: string[] = [];
  if (said(f.gateway) !== '') out.push(`${load}: of ${f.gateway.checked} streams through the gateway, ${said(f.gateway)} (README: stream fidelity)`);
  if (said(f.direct) !== '') out.push(`${load}: direct streams differ from what the simulator recorded (${said(f.direct)}): the harness or the simulator is wrong, not the gateway`);
  if (f.headersStripped.length > 0) out.push(`${load}: the gateway stripped headers the simulator sent: ${f.headersStripped.join(', ')}`);
  return out;
}

const statusKey = (r: Sent): string => (r.status === 0 ? 'error' : String(r.status));
export const ok = (r: Sent): boolean => r.status >= 200 && r.status < 300;
const median = (xs: number[]): number => distribution(xs).p50;

function statusCounts(rs: Sent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) out[statusKey(r)] = (out[statusKey(r)] ?? 0) + 1;
  return out;
}

/** The samples a side's figures and plots are made of (2xx only). */
function samples(ps: Phase[]): { latency: number[]; ttft: number[]; itl: number[]; tpot: number[]; tokens: number } {
  const out = { latency: [] as number[], ttft: [] as number[], itl: [] as number[], tpot: [] as number[], tokens: 0 };
  for (const p of ps)
    for (const r of p.requests) {
      if (!ok(r)) continue;
      out.latency.push(r.end - r.intended);
      const times = r.seen?.times;
      if (times === undefined || times.length === 0) continue;
      out.tokens += times.length;
      out.ttft.push(times[0]! - r.intended);
      for (let i = 1; i < times.length; i++) out.itl.push(times[i]! - times[i - 1]!);
      if (times.length > 1) out.tpot.push((times[times.length - 1]! - times[0]!) / (times.length - 1));
    }
  return out;
}

function side(ps: Phase[], open: boolean, stream: boolean, attempts: Attempts): Side {
  const rs = ps.flatMap((p) => p.requests);
  const seconds = ps.reduce((s, p) => s + p.seconds, 0);
  const lags = rs.map((r) => r.sent - r.intended);
  const x = samples(ps);
  return {
    requests: rs.length,
    rps: Math.round(x.latency.length / seconds),
    latencyMs: distribution(x.latency),
    statuses: statusCounts(rs),
    successRate: rs.length === 0 ? NaN : Math.round((x.latency.length / rs.length) * 10_000) / 10_000,
    upstream: upstreamOf(rs.map((r) => r.id), attempts),
    ...processOf(ps, rs.length),
    ...outages(ps, attempts),
    ...(open ? { lagMs: distribution(lags), late: lags.filter((l) => l > LATE_MS).length } : {}),
    ...(stream ? { stream: { ttftMs: distribution(x.ttft), itlMs: distribution(x.itl), tpotMs: distribution(x.tpot), tokensPerSecond: Math.round(x.tokens / seconds) } } : {}),
  };
}

/** The gateway's CPU per request and RSS over the phases that watched it (none: nothing). */
function processOf(ps: Phase[], requests: number): Pick<Side, 'process'> {
  const watched = ps.flatMap((p) => (p.gatewayProcess === undefined ? [] : [p.gatewayProcess]));
  if (watched.length === 0) return {};
  const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
  const samples = watched.flatMap((w) => w.rss.map(([, b]) => b));
  const cpu = watched.reduce((sum, w) => sum + w.cpuSeconds, 0);
  return { process: { cpuUsPerRequest: Math.round((cpu * 1e6) / Math.max(1, requests) * 10) / 10, rssMb: { start: mb(watched[0]!.rss[0]![1]), max: mb(Math.max(...samples)), end: mb(watched[watched.length - 1]!.rss.at(-1)![1]) } } };
}

/** 201 quantiles of xs (0, 0.5 %, …, 100 %), rounded to the µs: enough for a CDF, small in the JSON. */
export function quantiles(xs: number[]): number[] {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? [] : Array.from({ length: 201 }, (_, i) => Math.round(s[Math.min(s.length - 1, Math.floor((i / 200) * (s.length - 1)))]! * 1000) / 1000);
}

/** Answers ending in each second of a phase, 2xx and not. */
function perSecond(p: Phase, runStart: number): Plots['timeline'][number] {
  const start = Math.min(...p.requests.map((r) => r.intended));
  const seconds = Math.max(1, Math.ceil(p.seconds));
  const okCounts = new Array<number>(seconds).fill(0);
  const failed = new Array<number>(seconds).fill(0);
  for (const r of p.requests) {
    const at = Math.min(seconds - 1, Math.max(0, Math.floor((r.end - start) / 1000)));
    if (ok(r)) okCounts[at]!++;
    else failed[at]!++;
  }
  return { via: p.via, start: Math.round((start - runStart) / 100) / 10, ok: okCounts, failed };
}

/**
 * Why an open-loop step stops meaning what it says, if it does: what it loaded fell behind (a
 * queue built up: the median latency of a phase's last quarter of requests is over twice its
 * first quarter's, and 5 ms more), or the client did (a tenth of its sends left more than half a
 * gap, and at least LATE_MS, behind the schedule: the rate offered was not the rate sent). A few
 * sends a little late now and then (a collection, another process taking the core) change
 * neither the rate nor, since latency counts from the intended time, the figures.
 */
function fellBehind(ps: Phase[], rate: number): 'queue' | 'late' | null {
  for (const p of ps) {
    const q = Math.floor(p.requests.length / 4);
    const latency = (rs: Sent[]): number => median(rs.map((r) => (r.end === 0 ? Infinity : r.end - r.intended)));
    if (q > 0 && latency(p.requests.slice(-q)) > 2 * latency(p.requests.slice(0, q)) + 5) return 'queue';
  }
  const lag = distribution(ps.flatMap((p) => p.requests.map((r) => r.sent - r.intended)));
  return lag.p90 > Math.max(LATE_MS, 500 / rate) ? 'late' : null;
}

export async function gatewayScenario(o: GatewayOptions): Promise<GatewayResult> {
  const loads: Load[] = o.rate !== undefined ? o.rate.map((rate) => ({ kind: 'open', rate })) : (o.concurrency ?? [16]).map((concurrency) => ({ kind: 'closed', concurrency }));
  const label = (l: Load): string => (l.kind === 'closed' ? `${l.concurrency} lanes` : `${l.rate} req/s`);
  const rng = new Rng(o.seed ?? 1);
  const tag = `gw${Date.now().toString(36)}`;
  // Records are read after every phase, so the simulator's ring need only hold one phase's.
  const attempts = new Attempts();
  const collect = async (since: number): Promise<Attempts> => {
    const res = await fetch(`${o.sim}/bench/records?since=${since}`);
    if (res.status !== 200) throw new Error(`GET ${o.sim}/bench/records answered ${res.status}: start the simulator with --bench-records N`);
    attempts.add(((await res.json()) as { records: SimRecord[] }).records.filter((r) => r.id.startsWith(tag)));
    return attempts;
  };
  const runStart = unixNow();
  await collect(Date.now()); // before any load: no records, no run
  if (o.route === 'embeddings' && (o.stream || o.cancel)) throw new Error('embeddings do not stream: --stream and --cancel need another --route');
  if (o.outage !== undefined && o.adminKey === undefined) throw new Error('--outage needs the simulator\'s admin key: --admin-key K (a simulator the harness starts gets one of its own)');
  const removeFault = o.fault === undefined ? null : await installFault(o.sim, o.adminKey, o.fault);
  try {
    const stepPhases = await runSteps(o, loads, label, tag, rng, collect);
    const cancel = o.cancel ? await cancelBothWays(o, tag, collect) : undefined;
    return summarise(o, loads, label, stepPhases, attempts, runStart, cancel);
  } finally {
    await removeFault?.();
  }
}

/** Every step's rounds of phases, direct and through the gateway, interleaved; a ramp stops where something fell behind. */
async function runSteps(o: GatewayOptions, loads: Load[], label: (l: Load) => string, tag: string, rng: Rng, collect: (since: number) => Promise<Attempts>): Promise<Phase[][]> {
  const stepPhases: Phase[][] = [];
  for (const [step, load] of loads.entries()) {
    const phases: Phase[] = [];
    for (let round = 0; round < (o.rounds ?? 2); round++) {
      // Interleaved, so drift in the machine's load hits both alike.
      for (const via of ['direct', 'gateway'] as const) {
        const since = Date.now() - 1000;
        const phase = await runPhase(via === 'direct' ? o.sim : o.target, via, load, label(load), o, `${tag}s${step}r${round}`, rng);
        await collect(since);
        phases.push(phase);
        o.progress?.(`${label(load)}, round ${round + 1}: ${via} ${phase.requests.length} requests, ${(phase.requests.filter(ok).length / phase.seconds).toFixed(0)} req/s (2xx)`);
      }
    }
    stepPhases.push(phases);
    // A ramp ends at the first step the gateway (or the client) fell behind in: higher rates only lengthen the queue.
    if (load.kind === 'open' && fellBehind(phases, load.rate) !== null) break;
  }
  return stepPhases;
}

/** The abandoned-streams check, direct and through the gateway (the client's own headers kept). */
async function cancelBothWays(o: GatewayOptions, tag: string, collect: (since: number) => Promise<Attempts>): Promise<{ direct: Cancelled; gateway: Cancelled }> {
  const since = Date.now() - 1000;
  const check = (base: string, via: string): Promise<Cancelled> => {
    const ids = Array.from({ length: o.cancel! }, (_, i) => `${tag}-cancel-${via}-${i}`);
    // A long answer: 4,096 tokens outlast the check on any realistic profile; a gateway that cancels ends it at once.
    const w = workload(o, undefined, true);
    return cancelCheck(`${base}${w.path}`, ids, w.headers, JSON.stringify({ ...w.body, [WORKLOADS[o.route ?? 'chat'].cap!]: 4096 }), CANCEL_WAIT_MS, () => collect(since));
  };
  return { direct: await check(o.sim, 'direct'), gateway: await check(o.target, 'gateway') };
}

/** How long an abandoned stream may take to end at the simulator before the gateway is said not to cancel it. */
export const CANCEL_WAIT_MS = 2000;

function summarise(o: GatewayOptions, loads: Load[], label: (l: Load) => string, stepPhases: Phase[][], attempts: Attempts, runStart: number, cancel: { direct: Cancelled; gateway: Cancelled } | undefined): GatewayResult {
  // The spans a gateway can add to: client send → simulator's first arrival of it, and the
  // simulator's first token of the attempt that answered → client first byte.
  const spans = (r: Sent): { in: number; out: number } | null => {
    const first = attempts.of(r.id)[0];
    const last = attempts.last(r.id);
    // Only when the simulator's last attempt answered: a gateway may have answered from elsewhere (a fallback upstream).
    return first === undefined || last === undefined || last.status >= 300 || !ok(r) ? null : { in: first.arrived - r.sent, out: r.first - last.first };
  };

  const warnings: string[] = [];
  let unmatched = 0;
  let knee: number | undefined;
  let saturated = false;
  const steps = loads.slice(0, stepPhases.length).map((load, i): StepResult => {
    const phases = stepPhases[i]!;
    const direct = phases.filter((p) => p.via === 'direct');
    const gateway = phases.filter((p) => p.via === 'gateway');
    const directSpans = direct.flatMap((p) => p.requests.map(spans).filter((s) => s !== null));
    const baseIn = median(directSpans.map((s) => s.in));
    const baseOut = median(directSpans.map((s) => s.out));
    const gatewayRequests = gateway.flatMap((p) => p.requests);
    const paired = gatewayRequests.map(spans).filter((s) => s !== null);
    unmatched += gatewayRequests.filter((r) => ok(r) && attempts.last(r.id) === undefined).length;
    const fidelity = o.stream ? streamFidelity(direct, gateway, attempts) : null;
    const open = load.kind === 'open';
    const stream = o.stream ?? false;
    const [d, g] = [samples(direct), samples(gateway)];
    const overhead = { start: paired.map((s) => s.in - baseIn), firstToken: paired.map((s) => s.out - baseOut) };
    const result: StepResult = {
      load: label(load),
      direct: side(direct, open, stream, attempts),
      gateway: side(gateway, open, stream, attempts),
      overhead: { start: distribution(overhead.start), firstToken: distribution(overhead.firstToken), ...(fidelity === null ? {} : { chunk: distribution(fidelity.chunk) }) },
      ...(fidelity === null ? {} : { fidelity: fidelity.found }),
      plots: {
        latency: { direct: quantiles(d.latency), gateway: quantiles(g.latency) },
        ...(stream ? { ttft: { direct: quantiles(d.ttft), gateway: quantiles(g.ttft) }, itl: { direct: quantiles(d.itl), gateway: quantiles(g.itl) } } : {}),
        overhead: { start: quantiles(overhead.start), firstToken: quantiles(overhead.firstToken), ...(fidelity === null ? {} : { chunk: quantiles(fidelity.chunk) }) },
        timeline: phases.map((p) => perSecond(p, runStart)),
        ...(o.targetPid === undefined ? {} : { rss: phases.flatMap((p) => (p.gatewayProcess?.rss ?? []).map(([at, b]): [number, number] => [Math.round(at - runStart) / 1000, Math.round(b / 1e5) / 10])) }),
      },
    };
    if (fidelity !== null) warnings.push(...fidelityWarnings(result.load, fidelity.found));
    for (const via of ['direct', 'gateway'] as const) {
      const { statuses, requests, late } = result[via];
      const bad = Object.entries(statuses).filter(([s]) => !s.startsWith('2'));
      if (bad.length > 0) warnings.push(`${result.load}, ${via}: ${bad.map(([s, c]) => `${c} × ${s}`).join(', ')} of ${requests} requests were not 2xx; they are left out of the rates and latencies`);
      // Named when they could move the figures (over 1 %); the table counts every late send.
      if (late !== undefined && late > 0.01 * requests) warnings.push(`${result.load}, ${via}: ${late} of ${requests} sends left over ${LATE_MS} ms behind their schedule (the client could not keep up, or --max-in-flight was reached); their latency still counts from the intended time`);
    }
    if (load.kind === 'open' && !saturated) {
      const [up, through] = [fellBehind(direct, load.rate), fellBehind(gateway, load.rate)];
      saturated = up !== null || through !== null;
      const kept = knee === undefined ? '' : `; the last rate kept up with: ${knee} req/s`;
      // A queue is the stronger fact: a client late beside a queue is the queue's doing (one machine).
      if (up === 'queue') warnings.push(`${result.load}: the simulator itself fell behind (a queue built up direct); the gateway cannot be judged at this rate${kept}`);
      else if (through === 'queue') warnings.push(`${result.load}: the gateway fell behind (a queue built up during the step)${kept}`);
      else if (up === 'late' || through === 'late') warnings.push(`${result.load}: the client could not send at this rate on time (a tenth of the sends left over half a gap late); this step measures the client${kept}`);
      else if (loads.length > 1) knee = load.rate;
    }
    return result;
  });
  if (unmatched > 0) warnings.push(`${unmatched} gateway requests never reached the simulator under their x-request-id: the gateway does not forward it (or answered itself); their overhead is not measured`);
  for (const s of steps) {
    const u = s.gateway.upstream;
    if (u.toldToWait > u.honoured) warnings.push(`${s.load}: the gateway retried ${u.toldToWait - u.honoured} of ${u.toldToWait} times before the wait the simulator told (retry-after)`);
  }
  if (cancel !== undefined && cancel.gateway.cancelled < cancel.gateway.aborted - cancel.gateway.finishedFirst)
    warnings.push(`of ${cancel.gateway.aborted} streams the client abandoned, the gateway cancelled ${cancel.gateway.cancelled} upstream within ${CANCEL_WAIT_MS} ms; the rest ran on at the simulator`);
  return { steps, unmatched, ...(saturated && knee !== undefined ? { knee } : {}), warnings, ...(cancel === undefined ? {} : { cancel }) };
}

/** Prints a result as a reader should see it: warnings first, loudly. */
export function printGateway(r: GatewayResult): void {
  for (const w of r.warnings) console.log(`WARNING: ${w}`);
  const row = (s: Side) => ({ ...(s.outage ? { 'outage errors': s.outage.errors, 'failover ms': s.outage.failoverMs ?? 'never', 'recover ms': s.outage.recoverMs, 'back ms': s.outage.backMs } : {}), ...(s.process ? { 'CPU µs/request': s.process.cpuUsPerRequest, 'RSS max MB': s.process.rssMb.max } : {}), requests: s.requests, '2xx share': s.successRate, 'req/s (2xx)': s.rps, 'p50 ms': s.latencyMs.p50, 'p99 ms': s.latencyMs.p99, 'attempts/request': s.upstream.amplification, ...(s.upstream.toldToWait > 0 ? { 'waits kept': `${s.upstream.honoured}/${s.upstream.toldToWait}` } : {}), ...(s.lagMs ? { 'lag p99 ms': s.lagMs.p99, late: s.late } : {}) });
  console.table(Object.fromEntries(r.steps.flatMap((s) => [[`${s.load} direct`, row(s.direct)], [`${s.load} gateway`, row(s.gateway)]])));
  console.log('what the gateway added per request (paired by x-request-id), ms:');
  console.table(Object.fromEntries(r.steps.flatMap((s) => [[`${s.load}: in (send → simulator)`, s.overhead.start], [`${s.load}: first token (simulator → client)`, s.overhead.firstToken], ...(s.overhead.chunk ? [[`${s.load}: each event (simulator → client)`, s.overhead.chunk]] : [])])));
  const checked = r.steps.filter((s) => s.fidelity !== undefined);
  if (checked.length > 0) {
    console.log('stream fidelity (streams that arrived altered, by kind):');
    console.table(Object.fromEntries(checked.flatMap((s) => [[`${s.load} gateway`, s.fidelity!.gateway], [`${s.load} direct`, s.fidelity!.direct]])));
  }
  if (r.cancel !== undefined) {
    console.log('abandoned streams (client left after the first token), as the simulator saw them end:');
    console.table({ direct: { ...r.cancel.direct, latencyMs: r.cancel.direct.latencyMs.p50 }, gateway: { ...r.cancel.gateway, latencyMs: r.cancel.gateway.latencyMs.p50 } });
  }
  if (r.knee !== undefined) console.log(`knee: ${r.knee} req/s, the last rate of the ramp kept up with (the warnings say what fell behind after it)`);
}

/**
 * `--rate` and `--concurrency` values: `500`, a list `1,16,64`, or a ramp `100..2000` of `steps`
 * evenly spaced values from the first to the last.
 */
export function loadSteps(text: string, steps = 5): number[] {
  const ramp = /^(\d+(?:\.\d+)?)\.\.(\d+(?:\.\d+)?)$/.exec(text);
  const values = ramp === null ? text.split(',').map(Number) : Array.from({ length: steps }, (_, i) => Math.round(Number(ramp[1]) + ((Number(ramp[2]) - Number(ramp[1])) * i) / Math.max(1, steps - 1)));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v <= 0)) throw new Error(`"${text}" is not a load: a number, a list (1,16,64) or a ramp (100..2000)`);
  return values;
}

/** `--step 30s`: a ramp step's length in seconds (`30s`, `500ms`, `2m`, or bare seconds). */
export function stepSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (m === null) throw new Error(`--step "${text}" is not a duration (30s, 500ms, 2m)`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
}

/**
 * `--preset <name>`: the flags a common question needs (README "Gateway benchmark" lists them
 * from here); flags given after it override its own.
 */
export const PRESETS: Record<string, { readonly question: string; readonly args: readonly string[] }> = {
  overhead: { question: "the gateway's own cost per request, with an instant upstream", args: ['--scenario', 'gateway', '--concurrency', '1,16,64', '--duration', '10', '--runs', '3', '--sim-flags=--time-scale 0'] },
  streaming: { question: 'what it does to streams under realistic timing: per-event overhead and fidelity', args: ['--scenario', 'gateway', '--stream', '--rate', '50', '--arrival', 'poisson', '--duration', '20', '--runs', '2'] },
  saturation: { question: 'the rate it stops keeping up with (open-loop ramp, instant upstream)', args: ['--scenario', 'gateway', '--rate', '100..2000', '--rate-steps', '6', '--step', '20s', '--runs', '1', '--sim-flags=--time-scale 0'] },
  faults: { question: 'its retries, the waits it keeps and whether it cancels, against 10 % rate limits', args: ['--scenario', 'gateway', '--stream', '--concurrency', '16', '--duration', '15', '--runs', '1', '--fault', '{"fault":{"type":"rate_limit","retryAfterMs":500},"when":{"probability":0.1}}', '--cancel', '8'] },
};
