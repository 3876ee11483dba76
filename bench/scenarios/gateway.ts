import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

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
  readonly path?: string;
  readonly stream?: boolean;
  readonly model?: string;
  readonly concurrency?: number;
  /** Seconds per phase (one direct and one gateway phase per round). */
  readonly durationS?: number;
  readonly rounds?: number;
  /** Extra request headers on every request (a gateway's own routing headers). */
  readonly headers?: Record<string, string>;
  /** Called with a progress line per phase. */
  readonly progress?: (line: string) => void;
}

/** One request as the client saw it (Unix ms, to the microsecond). */
interface Sent {
  readonly id: string;
  readonly sent: number;
  first: number;
  end: number;
  status: number;
}

interface Phase {
  readonly via: 'direct' | 'gateway';
  readonly requests: Sent[];
  readonly seconds: number;
}

/** The paired figures for one span, in ms: the distribution over requests of what the gateway added. */
export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

export interface GatewayResult {
  readonly direct: { readonly requests: number; readonly rps: number; readonly latencyMs: Distribution; readonly statuses: Record<string, number> };
  readonly gateway: { readonly requests: number; readonly rps: number; readonly latencyMs: Distribution; readonly statuses: Record<string, number> };
  /** Gateway requests whose id the simulator never saw (the gateway did not forward `x-request-id`, or never called upstream). */
  readonly unmatched: number;
  /** What the gateway added per request, ms: on the way in, and at the first token. */
  readonly overhead: { readonly start: Distribution; readonly firstToken: Distribution };
  /** Loud facts a reader must not miss (non-2xx answers, unmatched requests). */
  readonly warnings: string[];
}

const now = (): number => performance.timeOrigin + performance.now();
const DATA = Buffer.from('data:');

function distribution(xs: number[]): Distribution {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: s.length, p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), mean: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

/** `concurrency` lanes, each sending its next request when the last one ends, for `seconds`. */
async function closedLoop(base: string, via: 'direct' | 'gateway', o: GatewayOptions, tag: string): Promise<Phase> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 16 });
  const body = JSON.stringify({ model: o.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: 'Gateway benchmark: say something short.' }], max_tokens: 16, ...(o.stream ? { stream: true } : {}) });
  const url = `${base}${o.path ?? '/v1/chat/completions'}`;
  const requests: Sent[] = [];
  const started = performance.now();
  const until = started + (o.durationS ?? 5) * 1000;
  let n = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const id = `${tag}-${via}-${n++}`;
      const sent: Sent = { id, sent: 0, first: 0, end: 0, status: 0 };
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer bench', 'x-request-id': id, ...o.headers } }, (res) => {
        sent.status = res.statusCode ?? 0;
        // The first token: a stream's first event (`data:`; the `: ping` comment that sends its
        // headers early is not a token), or a reply's first byte.
        res.on('data', (chunk: Buffer) => {
          if (sent.first === 0 && (!o.stream || chunk.includes(DATA))) sent.first = now();
        });
        res.on('end', () => {
          sent.end = now();
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => {
        sent.end = now();
        resolve();
      });
      requests.push(sent);
      (sent as { sent: number }).sent = now();
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: o.concurrency ?? 16 }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  agent.destroy();
  return { via, requests, seconds: (performance.now() - started) / 1000 };
}

const statusCounts = (phases: Phase[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const p of phases) for (const r of p.requests) out[r.status === 0 ? 'error' : String(r.status)] = (out[r.status === 0 ? 'error' : String(r.status)] ?? 0) + 1;
  return out;
};

export async function gatewayScenario(o: GatewayOptions): Promise<GatewayResult> {
  const since = Date.now() - 1000;
  const phases: Phase[] = [];
  const tag = `gw${Date.now().toString(36)}`;
  for (let round = 0; round < (o.rounds ?? 2); round++) {
    // Interleaved, so drift in the machine's load hits both alike.
    for (const via of ['direct', 'gateway'] as const) {
      const phase = await closedLoop(via === 'direct' ? o.sim : o.target, via, o, `${tag}r${round}`);
      phases.push(phase);
      o.progress?.(`round ${round + 1}: ${via} ${phase.requests.length} requests, ${(phase.requests.length / phase.seconds).toFixed(0)} req/s`);
    }
  }
  const res = await fetch(`${o.sim}/bench/records?since=${since}`);
  if (res.status !== 200) throw new Error(`GET ${o.sim}/bench/records answered ${res.status}: start the simulator with --bench-records N`);
  const { records } = (await res.json()) as { records: { id: string; status: number; arrived: number; first: number }[] };
  const byId = new Map(records.map((r) => [r.id, r]));

  const ok = (r: Sent): boolean => r.status >= 200 && r.status < 300;
  const direct = phases.filter((p) => p.via === 'direct');
  const gateway = phases.filter((p) => p.via === 'gateway');
  // The direct spans: client → simulator arrival, and simulator first token → client first byte.
  const spans = (r: Sent): { in: number; out: number } | null => {
    const rec = byId.get(r.id);
    return rec === undefined || !ok(r) ? null : { in: rec.arrived - r.sent, out: r.first - rec.first };
  };
  const directSpans = direct.flatMap((p) => p.requests.map(spans).filter((s) => s !== null));
  const median = (xs: number[]): number => distribution(xs).p50;
  const baseIn = median(directSpans.map((s) => s.in));
  const baseOut = median(directSpans.map((s) => s.out));
  const gatewayRequests = gateway.flatMap((p) => p.requests);
  const paired = gatewayRequests.map(spans).filter((s) => s !== null);
  const unmatched = gatewayRequests.filter((r) => ok(r) && !byId.has(r.id)).length;

  const summary = (ps: Phase[]) => {
    const rs = ps.flatMap((p) => p.requests);
    const good = rs.filter(ok);
    return { requests: rs.length, rps: Math.round(good.length / ps.reduce((s, p) => s + p.seconds, 0)), latencyMs: distribution(good.map((r) => r.end - r.sent)), statuses: statusCounts(ps) };
  };
  const warnings: string[] = [];
  for (const [via, ps] of [['direct', direct], ['gateway', gateway]] as const) {
    const counts = statusCounts(ps);
    const bad = Object.entries(counts).filter(([s]) => !s.startsWith('2'));
    if (bad.length > 0) warnings.push(`${via}: ${bad.map(([s, c]) => `${c} × ${s}`).join(', ')} of ${ps.reduce((n, p) => n + p.requests.length, 0)} requests were not 2xx; they are left out of the rates and latencies`);
  }
  if (unmatched > 0) warnings.push(`${unmatched} gateway requests never reached the simulator under their x-request-id: the gateway does not forward it (or answered itself); their overhead is not measured`);
  return {
    direct: summary(direct),
    gateway: summary(gateway),
    unmatched,
    overhead: { start: distribution(paired.map((s) => s.in - baseIn)), firstToken: distribution(paired.map((s) => s.out - baseOut)) },
    warnings,
  };
}

/** Prints a result as a reader should see it: warnings first, loudly. */
export function printGateway(r: GatewayResult): void {
  for (const w of r.warnings) console.log(`WARNING: ${w}`);
  console.table({ direct: { requests: r.direct.requests, 'req/s (2xx)': r.direct.rps, 'p50 ms': r.direct.latencyMs.p50, 'p99 ms': r.direct.latencyMs.p99 }, gateway: { requests: r.gateway.requests, 'req/s (2xx)': r.gateway.rps, 'p50 ms': r.gateway.latencyMs.p50, 'p99 ms': r.gateway.latencyMs.p99 } });
  console.log('what the gateway added per request (paired by x-request-id), ms:');
  console.table({ 'in (send → simulator)': r.overhead.start, 'first token (simulator → client)': r.overhead.firstToken });
}
