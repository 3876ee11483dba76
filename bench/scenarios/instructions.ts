import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { has, ROOT } from '../lib.js';

/**
 * `--scenario instructions`: instructions per request and per streamed token, counted by
 * valgrind's callgrind (Debian package `valgrind`), which repeat run to run whatever else the
 * machine does, unlike wall-clock figures here. Each kind of work runs N and 2N times in fresh
 * processes of the simulator (single process, `--workers 0`) and of the bare uWebSockets.js
 * servers; the difference over N is the cost of one more, start-up and JIT warm-up cancelled.
 * Slow (each process starts in ~15 s under valgrind): run it to decide an optimisation, not in CI.
 */

interface Kind {
  readonly name: string;
  readonly path: string;
  readonly body: object;
  readonly headers?: Record<string, string>;
  /** The bare server that does the least this kind of work needs. */
  readonly bare: 'uws' | 'sse';
  /** Streamed tokens per request: per-token figures divide by the token difference of two kinds. */
  readonly tokens: number;
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count my instructions.' }] };
const KINDS: readonly Kind[] = [
  { name: 'non-stream chat', path: '/v1/chat/completions', body: { ...chat, max_tokens: 16 }, bare: 'uws', tokens: 0 },
  { name: 'stream of 1 token', path: '/v1/chat/completions', body: { ...chat, max_tokens: 1, stream: true }, bare: 'sse', tokens: 1 },
  { name: 'stream of 101 tokens', path: '/v1/chat/completions', body: { ...chat, max_tokens: 101, stream: true }, bare: 'sse', tokens: 101 },
  { name: 'non-stream messages', path: '/v1/messages', body: { model: 'claude-haiku-4-5', max_tokens: 16, messages: chat.messages }, headers: { 'anthropic-version': '2023-06-01' }, bare: 'uws', tokens: 0 },
  { name: 'embeddings (base64)', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'Count my instructions.', encoding_format: 'base64' }, bare: 'uws', tokens: 0 },
];

/**
 * Requests sent before counting starts. Start-up warm-up alone left TurboFan compiling and inline
 * caches settling during the counted requests (compiler and LoadIC frames were ~40 % of a
 * 400-request count, 514k instructions a chat request against ~75k that its CPU time allows), so
 * each counted run is preceded by this many of its own kind.
 */
const SETTLE_REQUESTS = 3000;

/**
 * After the settling requests, batches of this many go on until one passes without TurboFan
 * compiling anything (`--trace-opt` lines on the process's stdout), at most MAX_SETTLE_BATCHES:
 * 3,000 settling requests left small functions (`checkKey`, `compressStream`) to be optimised
 * inside the counted window of a 1-token stream, ~7k instructions a request of compiler frames,
 * which the N and 2N runs did not share.
 */
const SETTLE_BATCH = 250;
/** Counts again of a run during which V8 compiled (see `least` below). */
const MAX_RECOUNTS = 2;
const MAX_SETTLE_BATCHES = 12;
/** A `--trace-opt` line: a function marked for TurboFan, or its optimised code installed. */
const COMPILE_LINE = /\[(marking|completed optimizing) /g;

/** One counted run: its instruction total, every event callgrind counted (by its name: Ir, I1mr, …), and how many TurboFan compiles fell inside it. */
export interface Count {
  readonly instructions: number;
  readonly events: Readonly<Record<string, number>>;
  readonly compiles: number;
}

/**
 * What `--cache-sim` reports beside instructions: callgrind's simulated cache misses and branch
 * mispredictions (its first-level caches and last level after the host's, no prefetching), in
 * events per request. On 2026-12-08 they explained the simulator's CPU a request where
 * instructions did not: a chat request at 1.88× the bare server's instructions, but 2.14× its
 * instruction-cache misses, 3.91× its data-cache misses and 3.06× its mispredicted branches, and
 * 2.5–3× its user time.
 */
const MISSES: readonly { readonly label: string; readonly events: readonly string[] }[] = [
  { label: 'instruction cache misses (I1)', events: ['I1mr'] },
  { label: 'data cache misses (D1, read and write)', events: ['D1mr', 'D1mw'] },
  { label: 'last-level misses (instructions and data)', events: ['ILmr', 'DLmr', 'DLmw'] },
  { label: 'mispredicted branches (conditional and indirect)', events: ['Bcm', 'Bim'] },
];

/**
 * Starts `args` under callgrind, sends SETTLE_REQUESTS and then settling batches until V8 is
 * quiet, then `n` counted requests of `kind` (4 keep-alive connections), stops it; resolves with
 * its instruction total and the compiles seen while counting.
 */
export async function countRun(args: string[], kind: Kind, n: number, cacheSim = false): Promise<Count> {
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-callgrind-'));
  // V8 compiles and collects on helper threads whose timing under valgrind varies run to run:
  // --single-threaded keeps that work on the main thread, so the counts repeat.
  // Instrumentation is switched on (callgrind_control -i) only around the requests: start-up and warm-up are not counted.
  const proc = spawn('valgrind', ['--tool=callgrind', ...(cacheSim ? ['--cache-sim=yes', '--branch-sim=yes'] : []), '--instr-atstart=no', `--callgrind-out-file=${dir}/out.%p`, '--trace-children=no', process.execPath, '--single-threaded', '--trace-opt', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let compiles = 0;
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    let listening = false;
    proc.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      compiles += text.match(COMPILE_LINE)?.length ?? 0;
      if (listening) return;
      buf += text;
      const m = buf.match(/"port":(\d+)/);
      if (m === null) return;
      listening = true;
      buf = '';
      resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code} under valgrind`)));
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  // A key on every request: the simulator's default (auth any) ignores it, a `--sim-flags` config with keys needs it.
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-key', 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '0', ...kind.headers };
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: kind.path, agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${kind.name}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(JSON.stringify(kind.body));
    });
  const send = async (count: number): Promise<void> => {
    for (let sent = 0; sent < count; sent += 4) await Promise.all(Array.from({ length: Math.min(4, count - sent) }, one));
  };
  await send(SETTLE_REQUESTS);
  for (let batch = 0; batch < MAX_SETTLE_BATCHES; batch++) {
    const before = compiles;
    await send(SETTLE_BATCH);
    if (compiles === before) break;
  }
  spawnSync('callgrind_control', ['-i', 'on', String(proc.pid)]);
  const compilesBefore = compiles;
  await send(n);
  spawnSync('callgrind_control', ['-i', 'off', String(proc.pid)]);
  const compiled = compiles - compilesBefore;
  agent.destroy();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  // callgrind writes "events: Ir …" and "totals: <Ir> …" into its output file ("summary" is 0 when instrumentation started off).
  const file = readdirSync(dir).find((f) => f.startsWith('out.'));
  const text = file === undefined ? '' : readFileSync(join(dir, file), 'utf8');
  const names = text.match(/^events: (.+)$/m)?.[1]!.split(' ') ?? ['Ir'];
  const totals = (text.match(/^totals: (.+)$/m) ?? text.match(/^summary: (.+)$/m))?.[1]!.split(' ').map(Number);
  if (totals === undefined) throw new Error(`no callgrind totals for ${kind.name}`);
  const events = Object.fromEntries(names.map((name, i) => [name, totals[i] ?? 0]));
  return { instructions: events.Ir!, events, compiles: compiled };
}

/**
 * The simulator runs its default configuration (access log on, as the chat goal is stated), plus
 * `simFlags` (`--sim-flags`), to compare two settings; with `variantFlags` (`--variant-flags`) a
 * second simulator with those flags too is counted beside it, kind by kind, with the ratio.
 * `kinds`: substrings of the kinds to count (all when empty); the per-token row needs both stream kinds.
 * `repeat` (`--repeat`): each count is the least of that many fresh runs. Runs of one build
 * differ by up to ~2 % of a chat request when V8 happens to re-optimise a function, or a lease
 * timer fires, inside the counted window; such events only ever add instructions, so the least
 * is the count of the work itself.
 */
export async function instructionsScenario(n: number, kinds: readonly string[] = [], simFlags: readonly string[] = [], options: { repeat?: number; variantFlags?: readonly string[]; cacheSim?: boolean } = {}): Promise<unknown> {
  if (!has('valgrind')) throw new Error('the instructions scenario needs valgrind (apt-get install valgrind)');
  const repeat = Math.max(1, options.repeat ?? 1);
  const simArgs = (extra: readonly string[]): string[] => [join(ROOT, 'dist/src/main.js'), '--host', '127.0.0.1', '--port', '0', '--workers', '0', '--time-scale', '0', '--response.min-tokens', '200', '--response.max-tokens', '200', ...simFlags, ...extra];
  // The bare SSE server streams as many tokens a request as its command line says.
  const bareArgs = (kind: Kind): string[] => (kind.bare === 'uws' ? [join(ROOT, 'dist/bench/baseline-uws.js'), '0', '600'] : [join(ROOT, 'dist/bench/baseline-sse.js'), '0', String(kind.tokens)]);
  // Counted runs during which V8 still compiled (a few small functions can reach TurboFan's
  // threshold late) carry compiler work (12-07: a keys-and-limits chat at 1.206× the simulator,
  // with compiles in two of its counted runs): such a run is counted again, at most twice, and
  // the least kept; the line says how many counts still had compiles in them.
  let unquiet = 0;
  const cacheSim = options.cacheSim === true;
  // The run of fewest instructions, with its other events (misses are read from the same run).
  const least = async (args: string[], kind: Kind, count: number): Promise<Count> => {
    let best: Count | null = null;
    const keep = (run: Count): void => {
      if (best === null || run.instructions < best.instructions) best = run;
    };
    for (let r = 0; r < repeat; r++) {
      let run = await countRun(args, kind, count, cacheSim);
      for (let again = 0; again < MAX_RECOUNTS && run.compiles > 0; again++) {
        keep(run);
        run = await countRun(args, kind, count, cacheSim);
      }
      if (run.compiles > 0) unquiet++;
      keep(run);
    }
    return best!;
  };
  // 2N requests counting no more than N cannot be the work's own figure: something ran inside
  // the N window (a bare 1-token stream once came out at −14.5k a request). Counted again, at
  // most twice, then reported as NaN rather than as a figure.
  const perRequest = async (args: string[], kind: Kind): Promise<{ instructions: number; misses: number[] }> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [twice, once] = [await least(args, kind, 2 * n), await least(args, kind, n)];
      const per = (event: string): number => ((twice.events[event] ?? 0) - (once.events[event] ?? 0)) / n;
      if (per('Ir') > 0) return { instructions: per('Ir'), misses: MISSES.map((m) => m.events.reduce((sum, e) => sum + per(e), 0)) };
    }
    return { instructions: NaN, misses: MISSES.map(() => NaN) };
  };
  const variant = options.variantFlags;
  const rows: { name: string; sim: number; bare: number; variant: number | null }[] = [];
  const missRows: { name: string; sim: number[]; bare: number[] }[] = [];
  for (const kind of KINDS) {
    if (kinds.length > 0 && !kinds.some((k) => kind.name.includes(k))) continue;
    unquiet = 0;
    const simCounts = await perRequest(simArgs([]), kind);
    const sim = simCounts.instructions;
    const withVariant = variant === undefined ? null : (await perRequest(simArgs(variant), kind)).instructions;
    const bareCounts = await perRequest(bareArgs(kind), kind);
    const bare = bareCounts.instructions;
    rows.push({ name: kind.name, sim, bare, variant: withVariant });
    if (cacheSim) missRows.push({ name: kind.name, sim: simCounts.misses, bare: bareCounts.misses });
    console.log(`${kind.name}: simulator ${Math.round(sim)} instructions, bare ${Math.round(bare)} (${(sim / bare).toFixed(2)}×)${withVariant === null ? '' : `, variant ${Math.round(withVariant)} (${(withVariant / sim).toFixed(3)}× the simulator)`}${unquiet > 0 ? ` (V8 still compiled in ${unquiet} counted run${unquiet > 1 ? 's' : ''})` : ''}`);
  }
  const one = rows.find((r) => r.name === 'stream of 1 token');
  const many = rows.find((r) => r.name === 'stream of 101 tokens');
  if (one !== undefined && many !== undefined) {
    const perToken = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : (b - a) / 100);
    rows.push({ name: 'one streamed token', sim: perToken(one.sim, many.sim)!, bare: perToken(one.bare, many.bare)!, variant: perToken(one.variant, many.variant) });
  }
  console.log(`\ninstructions, N = ${n} and ${2 * n} requests${repeat > 1 ? `, each count the least of ${repeat} runs` : ''} (callgrind; per request, per token for the last row)`);
  if (variant === undefined) {
    console.log('| work | simulator | bare uWS | ratio |\n| --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.sim)} | ${Math.round(r.bare)} | ${(r.sim / r.bare).toFixed(2)} |`);
  } else {
    console.log(`variant: ${variant.join(' ')}\n| work | simulator | variant | variant / simulator | bare uWS |\n| --- | --- | --- | --- | --- |`);
    for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.sim)} | ${Math.round(r.variant!)} | ${(r.variant! / r.sim).toFixed(3)} | ${Math.round(r.bare)} |`);
  }
  if (cacheSim) {
    console.log('\nsimulated misses a request (callgrind --cache-sim --branch-sim)\n| work | event | simulator | bare uWS | ratio |\n| --- | --- | --- | --- | --- |');
    for (const r of missRows) MISSES.forEach((m, i) => console.log(`| ${r.name} | ${m.label} | ${Math.round(r.sim[i]!)} | ${Math.round(r.bare[i]!)} | ${(r.sim[i]! / r.bare[i]!).toFixed(2)} |`));
  }
  return { n, repeat, variantFlags: variant ?? null, rows, misses: cacheSim ? missRows.map((r) => ({ name: r.name, events: MISSES.map((m, i) => ({ event: m.label, sim: r.sim[i], bare: r.bare[i] })) })) : null };
}
