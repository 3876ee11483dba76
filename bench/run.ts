/**
 * `npm run bench [-- options]`: measures the built simulator against bare uWebSockets.js
 * baselines in the same run, and optionally a gateway in front of the simulator.
 *
 *   --scenario S        all (default) | chat | stream | capacity | memory | churn | burst | store | startup
 *   --worker-counts a,b startup: the simulator's worker counts to start (default 0,1,2)
 *   --window MS         burst: the window every stream starts in (default 100); with --streams (default 500 for burst)
 *   --cold              burst: a fresh server per run, measuring its very first burst
 *   --requests N        instructions: N and 2N requests of each kind under callgrind (default 2000)
 *   --kinds a,b         instructions: only the kinds whose names contain one of these (e.g. chat,token)
 *   --repeat K          instructions: each count the least of K fresh runs (default 1)
 *   --cache-sim         instructions: also simulated cache misses and mispredicted branches a request
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
 *   --stream            gateway: streamed answers
 *   --route R           gateway: chat (default) | messages | responses | embeddings; --dialect anthropic means messages
 *   --model M           gateway: the model the body names (default: the route's)
 *   --body FILE         gateway: a JSON body of one's own for the route (--stream still sets "stream")
 *   --concurrency N     gateway: closed-loop lanes (default 16); a list 1,16,64 sweeps them
 *   --rate R            gateway: open loop instead, R requests/s on a schedule; a list or a ramp 100..2000;
 *                       store: the requests/s of its open loop (default 1000)
 *   --rate-steps N      gateway: the values of a --rate a..b ramp (default 5)
 *   --step 30s          gateway: each step's (and round's) length; same as --duration
 *   --arrival A         gateway: fixed (default) or poisson
 *   --max-in-flight N   gateway: open-loop requests in flight at most (default 10000)
 *   --seed N            gateway: seeds the Poisson schedule (default 1)
 *   --fault JSON        gateway: a fault rule put on the simulator for the run, e.g.
 *                       '{"fault":{"type":"rate_limit","retryAfterMs":200},"when":{"probability":0.2}}'
 *   --admin-key K       gateway: the admin key of a --sim simulator (for --fault)
 *   --target-pid PID    gateway: the gateway's process (and children): CPU µs per request and RSS over its phases
 *   --outage 5s         gateway: every phase, the simulator answers 503 for this long (--outage-at: from when; default a third in)
 *   --cancel N          gateway: abandon N streams after their first token, each way: does the gateway cancel upstream?
 *   --sim-port P        port of the simulator (default 18080), for --target setups
 *   --sim-flags "..."   extra simulator flags, e.g. --sim-flags="--access-log false"
 *   --variant-flags ".." chat: also a second simulator with these extra flags, interleaved, e.g.
 *                       --variant-flags="--config bench/limits.yaml" (what rate limits cost);
 *                       instructions: a second simulator counted beside the first, kind by kind
 *   --side-by-side      chat with --variant-flags: load both simulators at once, sharing CPU 0 (a
 *                       small cost difference that the machine's drift hides between runs)
 *   --header "k: v"     chat: one more request header for every load (e.g. "accept-encoding: gzip")
 *   --preset P          gateway: overhead | streaming | saturation | faults (README "Gateway benchmark"); later flags override
 *   compare a.json b.json [--fail-if "p99-overhead>+10%"]
 *                       two gateway results step by step with 95 % bootstrap intervals; exit 1 when
 *                       the whole interval of the named difference is past the limit
 *   --out FILE          results file (default bench/results/<time>.json); gateway: the HTML report beside it (.html)
 *
 * Servers run in their own processes, pinned to CPU 0 with the load generator on CPU 1 when
 * `taskset` exists; wrk is used for chat when installed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { headerOption, PIN, ROOT, startProcess, stopProcess, waitHealthy } from './lib.js';
import { gatewayScenario, type Live, loadSteps, PRESETS, printGateway, type Route, stepSeconds, WORKLOADS } from './scenarios/gateway.js';
import { renderReport } from './report.js';
import { compareResults, failures, parseGate, readResult } from './compare.js';
import { burstScenario } from './scenarios/burst.js';
import { chatScenario } from './scenarios/chat.js';
import { instructionsScenario } from './scenarios/instructions.js';
import { startupScenario } from './scenarios/startup.js';
import { storeScenario } from './scenarios/store.js';
import { abortChurn, streamAccuracy, streamCapacity, streamMemory } from './scenarios/streams.js';

const { values: opt, positionals } = parseArgs({
  args: withPreset(process.argv.slice(2)),
  allowPositionals: true,
  options: {
    scenario: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: '1' },
    'worker-counts': { type: 'string', default: '0,1,2' },
    streams: { type: 'string', default: '1000' },
    steps: { type: 'string', default: '250,375,500,750,1000' },
    'memory-streams': { type: 'string', default: '10000' },
    churn: { type: 'string', default: '100000' },
    target: { type: 'string' },
    'sim-port': { type: 'string', default: '18080' },
    'sim-flags': { type: 'string', default: '' },
    'variant-flags': { type: 'string' },
    'side-by-side': { type: 'boolean', default: false },
    header: { type: 'string' },
    out: { type: 'string' },
    window: { type: 'string', default: '100' },
    cold: { type: 'boolean', default: false },
    requests: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '1' },
    'cache-sim': { type: 'boolean', default: false },
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
    fault: { type: 'string' },
    'admin-key': { type: 'string' },
    cancel: { type: 'string', default: '0' },
    'fail-if': { type: 'string' },
    'target-pid': { type: 'string' },
    route: { type: 'string' },
    outage: { type: 'string' },
    'outage-at': { type: 'string' },
    dialect: { type: 'string' },
    model: { type: 'string' },
    body: { type: 'string' },
    preset: { type: 'string' },
  },
});

/** The arguments with a `--preset`'s flags put first, so the ones given override them. */
function withPreset(args: string[]): string[] {
  const at = args.findIndex((a) => a === '--preset' || a.startsWith('--preset='));
  if (at === -1) return args;
  const name = args[at]!.includes('=') ? args[at]!.slice('--preset='.length) : args[at + 1];
  const preset = PRESETS[name ?? ''];
  if (preset === undefined) throw new Error(`--preset ${name}: one of ${Object.keys(PRESETS).join(', ')}`);
  return [...preset.args, ...args];
}

const simArgs = [join(ROOT, 'dist/src/main.js'), '--host', '127.0.0.1', '--port', opt['sim-port']!, '--workers', opt.workers!, '--drain-timeout-ms', '1000', ...opt['sim-flags']!.split(' ').filter(Boolean)];
const duration = Number(opt.duration);
const TTY = process.stdout.isTTY === true;
// In the working directory: `npm run bench` runs in the project's root, `llm-simulator bench` where it is called.
const out = opt.out ?? join(process.cwd(), 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const want = (s: string): boolean => opt.scenario === 'all' || opt.scenario === s;

async function main(): Promise<void> {
  if (positionals[0] === 'compare') return compare();
  // `npm run bench -- gateway --target …` reads as `--scenario gateway`.
  if (positionals[0] !== undefined) opt.scenario = positionals[0];
  const results: Record<string, unknown> = { date: new Date().toISOString(), pinned: PIN, workers: Number(opt.workers) };
  if (want('chat')) results.chat = await chatScenario({ runs: Number(opt.runs), durationS: duration, connections: Number(opt.connections), simArgs, target: opt.target, variant: opt['variant-flags']?.split(' ').filter(Boolean), sideBySide: opt['side-by-side'], header: opt.header });
  if (want('stream')) results.stream = await streamAccuracy(simArgs, Number(opt.streams), duration);
  if (want('capacity')) results.capacity = await streamCapacity(simArgs, opt.steps!.split(',').map(Number), duration, Number(opt.runs), Number(opt['gap-ms']));
  if (want('memory')) results.memory = await streamMemory(simArgs, Number(opt['memory-streams']));
  if (want('churn')) results.churn = await abortChurn(simArgs, Number(opt.churn));
  // Not part of `all`: they restart servers per run (burst), take minutes under valgrind (instructions) or need redis-server (store).
  if (opt.scenario === 'instructions') results.instructions = await instructionsScenario(Number(opt.requests), opt.kinds!.split(',').filter(Boolean), opt['sim-flags']!.split(' ').filter(Boolean), { repeat: Number(opt.repeat), variantFlags: opt['variant-flags']?.split(' ').filter(Boolean), cacheSim: opt['cache-sim'] });
  if (opt.scenario === 'gateway') results.gateway = await runGateway();
  if (opt.scenario === 'store') results.store = await storeScenario(simArgs, { rate: Number(opt.rate ?? 1000), durationS: duration, runs: Number(opt.runs) });
  if (opt.scenario === 'startup') results.startup = await startupScenario(simArgs, opt['worker-counts']!.split(',').map(Number), Number(opt.runs));
  if (opt.scenario === 'burst') results.burst = await burstScenario(simArgs, opt.streams === '1000' ? 500 : Number(opt.streams), Number(opt.window), opt.cold!, Number(opt.runs));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${out}`);
}

/** The gateway benchmark against `--target`, with a simulator started here (bench records on) unless `--sim` names one. */
async function runGateway(): Promise<unknown> {
  if (opt.target === undefined) throw new Error('--scenario gateway needs --target URL (the gateway, whose upstream is the simulator)');
  // A simulator started here gets an admin key of its own, so --fault can put its rule on it.
  const adminKey = opt['admin-key'] ?? (opt.sim === undefined ? randomBytes(12).toString('hex') : undefined);
  const sim = opt.sim === undefined ? await startProcess([...simArgs, '--bench-records', '200000', '--admin.key', adminKey!]) : null;
  if (sim !== null) await waitHealthy(sim.port);
  try {
    if (opt.arrival !== 'fixed' && opt.arrival !== 'poisson') throw new Error(`--arrival ${opt.arrival}: fixed or poisson`);
    const route = opt.route ?? (opt.dialect === 'anthropic' ? 'messages' : 'chat');
    if (!(route in WORKLOADS)) throw new Error(`--route ${route}: one of ${Object.keys(WORKLOADS).join(', ')}`);
    const result = await gatewayScenario({
      sim: opt.sim ?? `http://127.0.0.1:${sim!.port}`,
      target: opt.target,
      stream: opt.stream,
      route: route as Route,
      ...(opt.model === undefined ? {} : { model: opt.model }),
      ...(opt.body === undefined ? {} : { body: JSON.parse(readFileSync(opt.body, 'utf8')) as Record<string, unknown> }),
      concurrency: loadSteps(opt.concurrency!),
      ...(opt.rate === undefined ? {} : { rate: loadSteps(opt.rate, Number(opt['rate-steps'])), arrival: opt.arrival, maxInFlight: Number(opt['max-in-flight']), seed: Number(opt.seed) }),
      durationS: opt.step === undefined ? duration : stepSeconds(opt.step),
      rounds: Number(opt.runs),
      headers: headerOption(opt.header),
      // On a terminal a live line (phase, elapsed, answers, errors) rewritten in place; plain lines per phase otherwise.
      progress: (l) => console.log(`${TTY ? '\r\x1b[K' : ''}${l}`),
      ...(TTY ? { live: (n: Live) => void process.stdout.write(`\r\x1b[K${n.load}, ${n.via}: ${n.elapsedS} s, ${n.sent} sent, ${n.ok} 2xx, ${n.failed} failed`) } : {}),
      ...(opt.fault === undefined ? {} : { fault: JSON.parse(opt.fault) as Record<string, unknown> }),
      ...(adminKey === undefined ? {} : { adminKey }),
      cancel: Number(opt.cancel),
      ...(opt.outage === undefined ? {} : { outage: { forS: stepSeconds(opt.outage), atS: opt['outage-at'] === undefined ? (opt.step === undefined ? duration : stepSeconds(opt.step)) / 3 : stepSeconds(opt['outage-at']) } }),
      ...(opt['target-pid'] === undefined ? {} : { targetPid: Number(opt['target-pid']) }),
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

/** `compare a.json b.json`: prints every difference with its interval; exits 1 when `--fail-if` fails. */
function compare(): void {
  const [a, b] = positionals.slice(1);
  if (a === undefined || b === undefined) throw new Error('compare needs two result files: npm run bench -- compare a.json b.json');
  const gate = opt['fail-if'] === undefined ? null : parseGate(opt['fail-if']);
  const diffs = compareResults(readResult(a), readResult(b));
  console.table(diffs.map((d) => ({ step: d.step, metric: d.metric, a: d.a, b: d.b, 'b − a': d.diff, '95 % interval': `${d.low} … ${d.high}`, '%': d.relative })));
  if (gate === null) return;
  const failed = failures(diffs, gate);
  for (const d of failed) console.log(`FAIL ${d.step} ${d.metric}: ${d.a} → ${d.b} (b − a ${d.low} … ${d.high}), past +${gate.limit}${gate.unit}`);
  if (failed.length > 0) process.exitCode = 1;
  else console.log(`pass: no ${gate.metric} worse by more than ${gate.limit}${gate.unit} with 95 % confidence`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
