/**
 * `npm run bench [-- options]`: measures the built simulator against bare uWebSockets.js
 * baselines in the same run, and optionally a gateway in front of the simulator.
 *
 *   --scenario S        all (default) | chat | stream | capacity | memory | churn | burst
 *   --window MS         burst: the window every stream starts in (default 100); with --streams (default 500 for burst)
 *   --cold              burst: a fresh server per run, measuring its very first burst
 *   --requests N        instructions: N and 2N requests of each kind under callgrind (default 2000)
 *   --kinds a,b         instructions: only the kinds whose names contain one of these (e.g. chat,token)
 *   --runs N            repetitions of each chat run and capacity step; medians are reported (default 3)
 *   --duration S        seconds per throughput run or capacity step (default 8)
 *   --connections N     concurrent connections for chat (default 100)
 *   --workers N         simulator HTTP workers (default 1: ratios are per core)
 *   --streams N         concurrent streams for the stream scenario (default 1000)
 *   --steps a,b,c       stream counts for the capacity ramp (default 250,375,500,750,1000)
 *   --gap-ms G          capacity: the inter-token gap of every stream (default 10)
 *   --memory-streams N  open streams for the memory scenario (default 10000)
 *   --churn N           streams opened and aborted in the churn scenario (default 100000)
 *   --target URL        also load this URL in the chat scenario (a gateway in front of the simulator);
 *                       gateway: the gateway's base URL (e.g. http://127.0.0.1:4000)
 *   --sim URL           gateway: a simulator already running with --bench-records (default: start one on --sim-port)
 *   --stream            gateway: streamed chat completions
 *   --concurrency N     gateway: closed-loop lanes (default 16); a list 1,16,64 sweeps them
 *   --rate R            gateway: open loop instead, R requests/s on a schedule; a list or a ramp 100..2000
 *   --rate-steps N      gateway: the values of a --rate a..b ramp (default 5)
 *   --step 30s          gateway: each step's (and round's) length; same as --duration
 *   --arrival A         gateway: fixed (default) or poisson
 *   --max-in-flight N   gateway: open-loop requests in flight at most (default 10000)
 *   --seed N            gateway: seeds the Poisson schedule (default 1)
 *   --sim-port P        port of the simulator (default 18080), for --target setups
 *   --sim-flags "..."   extra simulator flags, e.g. --sim-flags="--access-log false"
 *   --variant-flags ".." chat: also a second simulator with these extra flags, interleaved, e.g.
 *                       --variant-flags="--config bench/limits.yaml" (what rate limits cost)
 *   --header "k: v"     chat: one more request header for every load (e.g. "accept-encoding: gzip")
 *   --out FILE          results file (default bench/results/<time>.json); gateway: the HTML report beside it (.html)
 *
 * Servers run in their own processes, pinned to CPU 0 with the load generator on CPU 1 when
 * `taskset` exists; wrk is used for chat when installed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { headerOption, PIN, ROOT, startProcess, stopProcess, waitHealthy } from './lib.js';
import { gatewayScenario, loadSteps, printGateway, stepSeconds } from './scenarios/gateway.js';
import { renderReport } from './report.js';
import { burstScenario } from './scenarios/burst.js';
import { chatScenario } from './scenarios/chat.js';
import { instructionsScenario } from './scenarios/instructions.js';
import { abortChurn, streamAccuracy, streamCapacity, streamMemory } from './scenarios/streams.js';

const { values: opt } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: '1' },
    streams: { type: 'string', default: '1000' },
    steps: { type: 'string', default: '250,375,500,750,1000' },
    'memory-streams': { type: 'string', default: '10000' },
    churn: { type: 'string', default: '100000' },
    target: { type: 'string' },
    'sim-port': { type: 'string', default: '18080' },
    'sim-flags': { type: 'string', default: '' },
    'variant-flags': { type: 'string' },
    header: { type: 'string' },
    out: { type: 'string' },
    window: { type: 'string', default: '100' },
    cold: { type: 'boolean', default: false },
    requests: { type: 'string', default: '2000' },
    'gap-ms': { type: 'string', default: '10' },
    kinds: { type: 'string', default: '' },
    sim: { type: 'string' },
    stream: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string' },
    'rate-steps': { type: 'string', default: '5' },
    step: { type: 'string' },
    arrival: { type: 'string', default: 'fixed' },
    'max-in-flight': { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
  },
});

const simArgs = [join(ROOT, 'dist/src/main.js'), '--host', '127.0.0.1', '--port', opt['sim-port']!, '--workers', opt.workers!, '--drain-timeout-ms', '1000', ...opt['sim-flags']!.split(' ').filter(Boolean)];
const duration = Number(opt.duration);
const out = opt.out ?? join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const want = (s: string): boolean => opt.scenario === 'all' || opt.scenario === s;

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), pinned: PIN, workers: Number(opt.workers) };
  if (want('chat')) results.chat = await chatScenario({ runs: Number(opt.runs), durationS: duration, connections: Number(opt.connections), simArgs, target: opt.target, variant: opt['variant-flags']?.split(' ').filter(Boolean), header: opt.header });
  if (want('stream')) results.stream = await streamAccuracy(simArgs, Number(opt.streams), duration);
  if (want('capacity')) results.capacity = await streamCapacity(simArgs, opt.steps!.split(',').map(Number), duration, Number(opt.runs), Number(opt['gap-ms']));
  if (want('memory')) results.memory = await streamMemory(simArgs, Number(opt['memory-streams']));
  if (want('churn')) results.churn = await abortChurn(simArgs, Number(opt.churn));
  // Not part of `all`: they restart servers per run (burst) or take minutes under valgrind (instructions).
  if (opt.scenario === 'instructions') results.instructions = await instructionsScenario(Number(opt.requests), opt.kinds!.split(',').filter(Boolean), opt['sim-flags']!.split(' ').filter(Boolean));
  if (opt.scenario === 'gateway') results.gateway = await runGateway();
  if (opt.scenario === 'burst') results.burst = await burstScenario(simArgs, opt.streams === '1000' ? 500 : Number(opt.streams), Number(opt.window), opt.cold!, Number(opt.runs));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${out}`);
}

/** The gateway benchmark against `--target`, with a simulator started here (bench records on) unless `--sim` names one. */
async function runGateway(): Promise<unknown> {
  if (opt.target === undefined) throw new Error('--scenario gateway needs --target URL (the gateway, whose upstream is the simulator)');
  const sim = opt.sim === undefined ? await startProcess([...simArgs, '--bench-records', '200000']) : null;
  if (sim !== null) await waitHealthy(sim.port);
  try {
    if (opt.arrival !== 'fixed' && opt.arrival !== 'poisson') throw new Error(`--arrival ${opt.arrival}: fixed or poisson`);
    const result = await gatewayScenario({
      sim: opt.sim ?? `http://127.0.0.1:${sim!.port}`,
      target: opt.target,
      stream: opt.stream,
      concurrency: loadSteps(opt.concurrency!),
      ...(opt.rate === undefined ? {} : { rate: loadSteps(opt.rate, Number(opt['rate-steps'])), arrival: opt.arrival, maxInFlight: Number(opt['max-in-flight']), seed: Number(opt.seed) }),
      durationS: opt.step === undefined ? duration : stepSeconds(opt.step),
      rounds: Number(opt.runs),
      headers: headerOption(opt.header),
      progress: (l) => console.log(l),
    });
    printGateway(result);
    const report = out.replace(/(\.json)?$/, '.html');
    mkdirSync(dirname(report), { recursive: true });
    writeFileSync(report, renderReport(result));
    console.log(`report written to ${report}`);
    return result;
  } finally {
    if (sim !== null) await stopProcess(sim);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
