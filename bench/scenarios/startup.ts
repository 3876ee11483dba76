import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuSeconds, median, ROOT, startProcess, stopProcess } from '../lib.js';

/**
 * `--scenario startup`: how long a simulator takes from spawn to serving, for each worker count
 * of `--worker-counts` (default 0,1,2) beside the bare SSE server, interleaved `--runs` times.
 * A start ends at the "listening" line, which the simulator logs once every worker has warmed up
 * and listens (the primary's, in a cluster). Nothing is pinned: a cluster's workers start on
 * every core, as they do for a user. Reported per server: median, least and most of the times,
 * and the median CPU seconds the process tree had used by then (its warm-up's cost; with a
 * worker on every core, CPU is what the start waits for).
 */
interface Start {
  ms: number;
  cpuS: number;
}

async function startOnce(args: string[]): Promise<Start> {
  const t0 = performance.now();
  const s = await startProcess(args, { pin: false });
  const ms = performance.now() - t0;
  const cpuS = cpuSeconds(s.proc.pid!);
  await stopProcess(s);
  return { ms, cpuS };
}

export async function startupScenario(simArgs: string[], workerCounts: number[], runs: number): Promise<unknown> {
  const servers = [
    { name: 'bare uWS', args: [join(ROOT, 'dist/bench/baseline-sse.js'), '0', '1'] },
    // The run's own --port and --workers are overridden (the last flag wins): every start takes a free port.
    ...workerCounts.map((w) => ({ name: `simulator --workers ${w}`, args: [...simArgs, '--port', '0', '--workers', String(w)] })),
  ];
  const starts = new Map<string, Start[]>(servers.map((s) => [s.name, []]));
  for (let i = 0; i < runs; i++) {
    // Interleaved, the order reversed every other run, so drift of the machine hits all alike.
    for (const s of i % 2 === 0 ? servers : [...servers].reverse()) starts.get(s.name)!.push(await startOnce(s.args));
  }
  const rows = servers.map(({ name }) => {
    const ms = starts.get(name)!.map((s) => s.ms);
    return { name, medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), cpuS: median(starts.get(name)!.map((s) => s.cpuS)) };
  });
  console.log(`\nstart-up: spawn to the "listening" line, ${runs} interleaved runs each (nothing pinned)`);
  console.log('| server | median | least | most | CPU used by then (median) |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${(r.medianMs / 1000).toFixed(2)} s | ${(r.minMs / 1000).toFixed(2)} s | ${(r.maxMs / 1000).toFixed(2)} s | ${r.cpuS.toFixed(2)} s |`);
  return { runs, rows, starts: Object.fromEntries(starts) };
}
