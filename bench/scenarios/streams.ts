import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bucketStats, counter, cpuSeconds, histogram, median, ROOT, rssBytes, scrape, sleep, startProcess, stopProcess, waitHealthy, type Started } from '../lib.js';
import { driveStreams, percentilesMs } from './stream-driver.js';

const TOKENS = 100;
/** How long one capacity-ramp stream lasts: TTFT 50 ms + 99 gaps. */
const streamMs = (gapMs: number): number => 50 + (TOKENS - 1) * gapMs;
const Z90 = 1.2815515655446004;
const Z99 = 2.3263478740408408;

/** Lognormal percentiles from the median and p99 (what src/sim/distributions.ts does). */
const lognormalP = (median: number, p99: number) => ({ p50: median, p90: median * (p99 / median) ** (Z90 / Z99), p99 });

const Z = { p50: 0, p90: Z90, p99: Z99 } as const;
const P = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

/**
 * The standard error of a percentile measured from n draws of a lognormal (median, p99), relative
 * to the percentile: √(p(1−p)/n) / (x·f(x)) = σ·√(p(1−p)/n) / φ(z). With 10,000 streams the TTFT
 * p99 is only known to ±1.8 %, so a 2 % tolerance cannot be judged without it.
 */
function relativeSe(median: number, p99: number, q: keyof typeof Z, n: number): number {
  const sigma = Math.log(p99 / median) / Z99;
  const phi = Math.exp(-(Z[q] ** 2) / 2) / Math.sqrt(2 * Math.PI);
  return (sigma * Math.sqrt((P[q] * (1 - P[q])) / n)) / phi;
}

const ACCURACY = { ttft: { median: 200, p99: 600 }, itl: { median: 20, p99: 60 } };

function simConfig(): string {
  const file = join(tmpdir(), 'llmsim-bench-streams.yaml');
  const model = (id: string) => `  - { id: ${id}, provider: openai, kind: chat, displayName: ${id}, created: 1, contextWindow: 1000000, maxOutputTokens: 100000, profile: ${id} }`;
  writeFileSync(
    file,
    [
      `response: { minTokens: ${TOKENS}, maxTokens: ${TOKENS} }`,
      'profiles:',
      `  bench-accuracy: { prefillOverheadMs: { type: lognormal, median: ${ACCURACY.ttft.median}, p99: ${ACCURACY.ttft.p99} }, itlMs: { type: lognormal, median: ${ACCURACY.itl.median}, p99: ${ACCURACY.itl.p99} } }`,
      '  bench-steady: { prefillOverheadMs: 50, itlMs: 10 }',
      'models:',
      model('bench-accuracy'),
      model('bench-steady'),
      '',
    ].join('\n'),
  );
  return file;
}

const body = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'benchmark' }], stream: true });

async function startSim(simArgs: string[]): Promise<Started> {
  const sim = await startProcess([...simArgs, '--config', simConfig(), '--time-scale', '1']);
  await waitHealthy(sim.port);
  return sim;
}

/** N concurrent streams with a known profile: configured vs client-measured TTFT and ITL, and the server's lateness. */
export async function streamAccuracy(simArgs: string[], streams: number, durationS: number): Promise<object> {
  const sim = await startSim(simArgs);
  const before = await scrape(sim.port);
  const r = await driveStreams({ port: sim.port, streams, durationMs: durationS * 1000, body: body('bench-accuracy'), headers: {}, measure: true, staggerMs: 2000 });
  const after = await scrape(sim.port);
  await stopProcess(sim);
  const lateness = bucketStats(histogram(before, 'llm_token_lateness_seconds', 'bench-accuracy'), histogram(after, 'llm_token_lateness_seconds', 'bench-accuracy'), '0.002');
  const configured = { ttftMs: lognormalP(ACCURACY.ttft.median, ACCURACY.ttft.p99), itlMs: lognormalP(ACCURACY.itl.median, ACCURACY.itl.p99) };
  const measured = { ttftMs: percentilesMs(r.ttft), itlMs: percentilesMs(r.itl) };
  const rows: Record<string, object> = {};
  for (const metric of ['ttftMs', 'itlMs'] as const) {
    const spec = metric === 'ttftMs' ? ACCURACY.ttft : ACCURACY.itl;
    const n = (metric === 'ttftMs' ? r.ttft : r.itl).totalCount;
    for (const p of ['p50', 'p90', 'p99'] as const) {
      const c = configured[metric][p];
      const m = measured[metric][p];
      const se = relativeSe(spec.median, spec.p99, p, n);
      const tolerance = Math.max(1, 0.02 * c);
      rows[`${metric === 'ttftMs' ? 'TTFT' : 'ITL'} ${p}`] = {
        'configured ms': +c.toFixed(2),
        'measured ms': +m.toFixed(2),
        'diff ms': +(m - c).toFixed(2),
        'diff %': +(((m - c) / c) * 100).toFixed(2),
        'sampling SE %': +(se * 100).toFixed(2),
        'within 1 ms or 2 %': Math.abs(m - c) <= tolerance,
        'within that + 2 SE': Math.abs(m - c) <= tolerance + 2 * se * c,
      };
    }
  }
  console.log(`\nstream accuracy: ${streams} concurrent streams, ${r.streams} streams, ${r.tokens} tokens in ${r.seconds.toFixed(1)} s (${(r.tokens / r.seconds).toFixed(0)} tokens/s), ${r.errors} errors`);
  console.table(rows);
  console.log(`server lateness: ${(lateness.within * 100).toFixed(2)} % of ${lateness.count} tokens ≤ 2 ms late; p99 ≤ ${lateness.p99AtMost} s\n`);
  return { streams, completed: r.streams, tokens: r.tokens, tokensPerSecond: r.tokens / r.seconds, configured, measured, lateness, errors: r.errors };
}

interface CapacityStep {
  streams: number;
  tokensPerSecond: number;
  cpuUsPerToken: number;
  within2ms: number;
  /** Tokens whose lateness was measured. */
  counted: number;
}

/**
 * Repeated measurements of one step: rates are medians; lateness is pooled over every token of
 * every run (a p99 over the step, steadier than a median of per-run shares on a noisy machine).
 */
const combineRuns = (xs: CapacityStep[]): CapacityStep => {
  const counted = xs.reduce((sum, x) => sum + x.counted, 0);
  return {
    streams: xs[0]!.streams,
    tokensPerSecond: median(xs.map((x) => x.tokensPerSecond)),
    cpuUsPerToken: median(xs.map((x) => x.cpuUsPerToken)),
    within2ms: counted === 0 ? 1 : xs.reduce((sum, x) => sum + x.within2ms * x.counted, 0) / counted,
    counted,
  };
};

async function capacityStep(server: Started, streams: number, durationS: number, gapMs: number, stats: () => Promise<{ within2ms: number; tokens: number; counted: number }>): Promise<CapacityStep> {
  const headers = { 'x-sim-ttft-ms': '50', 'x-sim-itl-ms': String(gapMs) };
  await stats(); // resets the baseline's window; the simulator's is a diff of scrapes
  // The CPU window lies inside the two reads of the counts: a scrape of the simulator's /metrics
  // costs it ~10 ms of CPU (the bare server's /stats next to nothing), the harness's cost, not a token's.
  const t0 = (await stats()).tokens;
  const cpu0 = cpuSeconds(server.proc.pid!);
  const r = await driveStreams({ port: server.port, streams, durationMs: durationS * 1000, body: body('bench-steady'), headers, measure: false, staggerMs: streamMs(gapMs) });
  const cpu = cpuSeconds(server.proc.pid!) - cpu0;
  const s = await stats();
  const tokens = s.tokens - t0;
  return { streams, tokensPerSecond: r.tokens / r.seconds, cpuUsPerToken: (cpu / tokens) * 1e6, within2ms: s.within2ms, counted: s.counted };
}

/** Load before the ramp: V8 compiles the hot paths and sizes its heap (the simulator's first ~6 s at 500 streams are measurably worse). */
const WARM_UP_MS = 6_000;

/**
 * Simulator vs a bare uWS SSE server at rising stream counts (ITL 10 ms): server CPU per token
 * event, and the share of tokens sent at most 2 ms late, from `runs` interleaved measurements
 * after a warm-up of both servers. "Held" is the largest count with ≥ 99 %.
 */
export async function streamCapacity(simArgs: string[], steps: number[], durationS: number, runs: number, gapMs = 10): Promise<object> {
  const sim = await startSim(simArgs);
  const bare = await startProcess([join(ROOT, 'dist/bench/baseline-sse.js'), '0', String(TOKENS)]);
  let last = await scrape(sim.port);
  const simStats = async () => {
    const now = await scrape(sim.port);
    const l = bucketStats(histogram(last, 'llm_token_lateness_seconds', 'bench-steady'), histogram(now, 'llm_token_lateness_seconds', 'bench-steady'), '0.002');
    last = now;
    return { within2ms: l.within, counted: l.count, tokens: counter(now, 'llm_tokens_generated_total', 'bench-steady') };
  };
  const bareStats = async () => (await fetch(`http://127.0.0.1:${bare.port}/stats`)).json() as Promise<{ within2ms: number; tokens: number; counted: number }>;
  const warmUp = { streams: Math.min(500, Math.max(...steps)), durationMs: WARM_UP_MS, body: body('bench-steady'), headers: { 'x-sim-ttft-ms': '50', 'x-sim-itl-ms': String(gapMs) }, measure: false, staggerMs: streamMs(gapMs) };
  await driveStreams({ port: bare.port, ...warmUp });
  await driveStreams({ port: sim.port, ...warmUp });
  const rows: Record<string, object> = {};
  const results: { streams: number; simulator: CapacityStep; baseline: CapacityStep }[] = [];
  for (const n of steps) {
    const bs: CapacityStep[] = [];
    const ss: CapacityStep[] = [];
    for (let r = 0; r < runs; r++) {
      bs.push(await capacityStep(bare, n, durationS, gapMs, bareStats));
      ss.push(await capacityStep(sim, n, durationS, gapMs, simStats));
    }
    const b = combineRuns(bs);
    const s = combineRuns(ss);
    results.push({ streams: n, simulator: s, baseline: b });
    rows[`${n} streams`] = {
      'sim tokens/s': Math.round(s.tokensPerSecond),
      'sim µs/token': +s.cpuUsPerToken.toFixed(2),
      'sim ≤2 ms': `${(s.within2ms * 100).toFixed(2)} %`,
      'bare tokens/s': Math.round(b.tokensPerSecond),
      'bare µs/token': +b.cpuUsPerToken.toFixed(2),
      'bare ≤2 ms': `${(b.within2ms * 100).toFixed(2)} %`,
      'CPU ratio': +(s.cpuUsPerToken / b.cpuUsPerToken).toFixed(2),
    };
    console.log(`capacity step ${n}: simulator ${s.cpuUsPerToken.toFixed(2)} µs/token ${(s.within2ms * 100).toFixed(2)} % ≤2 ms; bare ${b.cpuUsPerToken.toFixed(2)} µs/token ${(b.within2ms * 100).toFixed(2)} % ≤2 ms`);
  }
  await stopProcess(sim);
  await stopProcess(bare);
  const held = (k: 'simulator' | 'baseline') => Math.max(0, ...results.filter((r) => r[k].within2ms >= 0.99).map((r) => r.streams));
  console.log(`\nstream capacity (ITL ${gapMs} ms, 100 tokens a stream)`);
  console.table(rows);
  const heldSim = held('simulator');
  const heldBare = held('baseline');
  console.log(`streams held at p99 lateness ≤ 2 ms: simulator ${heldSim}, bare ${heldBare} (ratio ${heldBare ? (heldSim / heldBare).toFixed(2) : '–'})\n`);
  return { steps: results, held: { simulator: heldSim, baseline: heldBare } };
}

/** Opens `streams` connections whose streams wait on a long TTFT; server memory per open stream. */
export async function streamMemory(simArgs: string[], streams: number): Promise<object> {
  const sim = await startSim(simArgs);
  const req = (() => {
    const b = body('bench-steady');
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nx-sim-ttft-ms: 600000\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
  })();
  // Warm-up: code paths and allocator pools, so the delta measures streams only.
  await openWaiting(sim.port, 500, req).then((s) => closeAll(s));
  await sleep(1000);
  const before = rssBytes(sim.proc.pid!);
  const sockets = await openWaiting(sim.port, streams, req);
  let active = 0;
  for (let i = 0; i < 100 && active < streams; i++) {
    active = counter(await scrape(sim.port), 'llm_active_requests', 'bench-steady');
    if (active < streams) await sleep(100);
  }
  await sleep(500);
  const after = rssBytes(sim.proc.pid!);
  closeAll(sockets);
  await sleep(500);
  await stopProcess(sim);
  const perStream = (after - before) / streams;
  console.log(`\nmemory: ${active} streams open and waiting; RSS ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB: ${(perStream / 1024).toFixed(2)} KB per stream\n`);
  return { streams: active, rssBeforeBytes: before, rssAfterBytes: after, bytesPerStream: perStream };
}

async function openWaiting(port: number, n: number, request: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, n - i) }, () => new Promise<Socket>((res) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(request);
          res(s);
        });
        s.on('error', () => {});
      })),
    );
    sockets.push(...batch);
  }
  return sockets;
}

const closeAll = (sockets: Socket[]): void => sockets.forEach((s) => s.destroy());

/** How long the churn scenario waits for RSS to come back to where it started. */
const SETTLE_S = 30;

/** Opens and aborts `total` streams; the server's RSS before, right after, and once back near the start (or after SETTLE_S). */
export async function abortChurn(simArgs: string[], total: number): Promise<object> {
  const sim = await startSim(simArgs);
  const headers = { 'x-sim-ttft-ms': '2', 'x-sim-itl-ms': '5' };
  await driveStreams({ port: sim.port, streams: 200, durationMs: 60_000, body: body('bench-steady'), headers, measure: false, abortAfterMs: 10, maxStreams: 5_000 });
  await sleep(1000);
  const before = rssBytes(sim.proc.pid!);
  const start = Date.now();
  const r = await driveStreams({ port: sim.port, streams: 200, durationMs: 300_000, body: body('bench-steady'), headers, measure: false, abortAfterMs: 10, maxStreams: total });
  const seconds = (Date.now() - start) / 1000;
  const right = rssBytes(sim.proc.pid!);
  // V8 gives memory back once the process goes idle (its memory reducer), some seconds later.
  let settled = right;
  let settledAfterS = 0;
  while (settled > before * 1.05 && settledAfterS < SETTLE_S) {
    await sleep(1000);
    settledAfterS++;
    settled = rssBytes(sim.proc.pid!);
  }
  const metrics = await scrape(sim.port);
  await stopProcess(sim);
  const active = counter(metrics, 'llm_active_requests', 'bench-steady');
  const aborted = Number(metrics.match(/^http_requests_total\{method="POST",path="\/v1\/chat\/completions",status="499"\} (\d+)$/m)?.[1] ?? 0);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`\nabort churn: ${r.streams} streams aborted in ${seconds.toFixed(1)} s (${aborted} seen as 499 by the server), ${active} left active; RSS ${mib(before)} → ${mib(right)} MiB right after → ${mib(settled)} MiB ${settled <= before * 1.05 ? `(back within 5 % of the start) after ${settledAfterS} s` : `after ${SETTLE_S} s, still above the start`}\n`);
  return { aborted: r.streams, serverSaw499: aborted, leftActive: active, rssBeforeBytes: before, rssRightAfterBytes: right, rssSettledBytes: settled, settledAfterSeconds: settledAfterS };
}
