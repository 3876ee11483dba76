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

/** One counted run: its instruction total, and how many TurboFan compiles fell inside it. */
export interface Count {
  readonly instructions: number;
  readonly compiles: number;
}

/**
 * Starts `args` under callgrind, sends SETTLE_REQUESTS and then settling batches until V8 is
 * quiet, then `n` counted requests of `kind` (4 keep-alive connections), stops it; resolves with
 * its instruction total and the compiles seen while counting.
 */
export async function countRun(args: string[], kind: Kind, n: number): Promise<Count> {
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-callgrind-'));
  // V8 compiles and collects on helper threads whose timing under valgrind varies run to run:
  // --single-threaded keeps that work on the main thread, so the counts repeat.
  // Instrumentation is switched on (callgrind_control -i) only around the requests: start-up and warm-up are not counted.
  const proc = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dir}/out.%p`, '--trace-children=no', process.execPath, '--single-threaded', '--trace-opt', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  // callgrind writes "totals: <Ir>" into its output file ("summary" is 0 when instrumentation started off).
  const file = readdirSync(dir).find((f) => f.startsWith('out.'));
  const text = file === undefined ? '' : readFileSync(join(dir, file), 'utf8');
  const m = text.match(/^totals: (\d+)/m) ?? text.match(/^summary: (\d+)/m);
  if (m === null) throw new Error(`no callgrind totals for ${kind.name}`);
  return { instructions: Number(m[1]), compiles: compiled };
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
export async function instructionsScenario(n: number, kinds: readonly string[] = [], simFlags: readonly string[] = [], options: { repeat?: number; variantFlags?: readonly string[] } = {}): Promise<unknown> {
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
  const least = async (args: string[], kind: Kind, count: number): Promise<number> => {
    let best = Infinity;
    for (let r = 0; r < repeat; r++) {
      let run = await countRun(args, kind, count);
      for (let again = 0; again < MAX_RECOUNTS && run.compiles > 0; again++) {
        best = Math.min(best, run.instructions);
        run = await countRun(args, kind, count);
      }
      if (run.compiles > 0) unquiet++;
      best = Math.min(best, run.instructions);
    }
    return best;
  };
  // 2N requests counting no more than N cannot be the work's own figure: something ran inside
  // the N window (a bare 1-token stream once came out at −14.5k a request). Counted again, at
  // most twice, then reported as NaN rather than as a figure.
  const perRequest = async (args: string[], kind: Kind): Promise<number> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const per = ((await least(args, kind, 2 * n)) - (await least(args, kind, n))) / n;
      if (per > 0) return per;
    }
    return NaN;
  };
  const variant = options.variantFlags;
  const rows: { name: string; sim: number; bare: number; variant: number | null }[] = [];
  for (const kind of KINDS) {
    if (kinds.length > 0 && !kinds.some((k) => kind.name.includes(k))) continue;
    unquiet = 0;
    const sim = await perRequest(simArgs([]), kind);
    const withVariant = variant === undefined ? null : await perRequest(simArgs(variant), kind);
    const bare = await perRequest(bareArgs(kind), kind);
    rows.push({ name: kind.name, sim, bare, variant: withVariant });
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
  return { n, repeat, variantFlags: variant ?? null, rows };
}
