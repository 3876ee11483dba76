import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { counter, median, ROOT, scrape, startProcess, stopProcess, waitHealthy, type Started } from '../lib.js';
import { driveStreams, percentilesMs } from './stream-driver.js';

/**
 * `--scenario burst`: N streams that all start within a window (default 500 within 100 ms), TTFT
 * 300 ms, ITL 20 ms, 60 tokens, against the simulator and the bare SSE server, interleaved,
 * `--runs` times. `--cold` starts a fresh server for every run and measures its very first
 * burst (what a load tool meets right after `/ready`); otherwise one unmeasured burst warms the
 * server first. Reported: client-measured TTFT and inter-token percentiles of both, the
 * simulator's excess over bare, and the simulator's own mean TTFT (llm_time_to_first_token_seconds),
 * which should show the same backlog the client saw.
 */
const TTFT_MS = 300;
const ITL_MS = 20;
const TOKENS = 60;

interface Round {
  ttft: { p50: number; p90: number; p99: number };
  itl: { p50: number; p90: number; p99: number };
  errors: number;
  startupMs: number;
  serverTtftMeanMs?: number;
}

async function burst(port: number, streams: number, windowMs: number): Promise<Omit<Round, 'startupMs'>> {
  const r = await driveStreams({
    port,
    streams,
    durationMs: 60_000,
    maxStreams: streams,
    staggerMs: windowMs,
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'burst' }], max_tokens: TOKENS, stream: true }),
    headers: { 'x-sim-ttft-ms': String(TTFT_MS), 'x-sim-itl-ms': String(ITL_MS) },
    measure: true,
  });
  return { ttft: percentilesMs(r.ttft), itl: percentilesMs(r.itl), errors: r.errors };
}

/** The simulator's own TTFT histogram: sum (s) and count so far. */
async function serverTtft(port: number): Promise<{ sum: number; count: number }> {
  const text = await scrape(port);
  return { sum: counter(text, 'llm_time_to_first_token_seconds_sum', 'gpt-4o-mini'), count: counter(text, 'llm_time_to_first_token_seconds_count', 'gpt-4o-mini') };
}

async function round(start: () => Promise<Started>, streams: number, windowMs: number, cold: boolean, sim: boolean): Promise<Round> {
  const t0 = performance.now();
  const s = await start();
  await waitHealthy(s.port);
  const startupMs = performance.now() - t0;
  try {
    if (!cold) await burst(s.port, streams, windowMs);
    const before = sim ? await serverTtft(s.port) : null;
    const measured = await burst(s.port, streams, windowMs);
    let serverTtftMeanMs: number | undefined;
    if (before !== null) {
      const after = await serverTtft(s.port);
      serverTtftMeanMs = after.count > before.count ? ((after.sum - before.sum) / (after.count - before.count)) * 1000 : NaN;
    }
    return { ...measured, startupMs, serverTtftMeanMs };
  } finally {
    await stopProcess(s);
  }
}

export async function burstScenario(simArgs: string[], streams: number, windowMs: number, cold: boolean, runs: number): Promise<unknown> {
  const startSim = () => startProcess([...simArgs, '--time-scale', '1', '--response.min-tokens', String(TOKENS), '--response.max-tokens', String(TOKENS)]);
  const startBare = () => startProcess([join(ROOT, 'dist/bench/baseline-sse.js'), '0', String(TOKENS)]);
  const simRounds: Round[] = [];
  const bareRounds: Round[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, the order alternating, so drift of the machine hits both alike.
    const order = i % 2 === 0 ? (['sim', 'bare'] as const) : (['bare', 'sim'] as const);
    for (const which of order) {
      if (which === 'sim') simRounds.push(await round(startSim, streams, windowMs, cold, true));
      else bareRounds.push(await round(startBare, streams, windowMs, cold, false));
    }
  }
  const med = (rs: Round[], f: (r: Round) => number) => median(rs.map(f));
  const row = (name: string, f: (r: Round) => number) => {
    const s = med(simRounds, f);
    const b = med(bareRounds, f);
    return { name, sim: s, bare: b, excess: s - b };
  };
  const rows = [
    row('TTFT p50', (r) => r.ttft.p50),
    row('TTFT p90', (r) => r.ttft.p90),
    row('TTFT p99', (r) => r.ttft.p99),
    row('ITL p50', (r) => r.itl.p50),
    row('ITL p90', (r) => r.itl.p90),
    row('ITL p99', (r) => r.itl.p99),
    row('start-up to /health (ms)', (r) => r.startupMs),
  ];
  console.log(`\nburst: ${streams} streams within ${windowMs} ms, ${cold ? 'cold (fresh server per run)' : 'warm (one unmeasured burst first)'}, TTFT ${TTFT_MS} ms, ITL ${ITL_MS} ms, ${TOKENS} tokens; medians of ${runs} interleaved runs (ms)`);
  console.log('| measure | simulator | bare uWS | excess |\n| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.sim.toFixed(2)} | ${r.bare.toFixed(2)} | ${r.excess >= 0 ? '+' : ''}${r.excess.toFixed(2)} |`);
  const serverMean = med(simRounds, (r) => r.serverTtftMeanMs ?? NaN);
  const clientMean = med(simRounds, (r) => r.ttft.p50);
  console.log(`server's own mean TTFT ${serverMean.toFixed(2)} ms (client p50 ${clientMean.toFixed(2)} ms); errors: sim ${simRounds.reduce((a, r) => a + r.errors, 0)}, bare ${bareRounds.reduce((a, r) => a + r.errors, 0)}`);
  return { streams, windowMs, cold, runs, rows, serverTtftMeanMs: serverMean, simRounds, bareRounds };
}
