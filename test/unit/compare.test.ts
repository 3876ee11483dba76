import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { compareResults, failures, parseGate } from '../../bench/compare.js';
import { quantiles, type GatewayResult, type StepResult } from '../../bench/scenarios/gateway.js';
import { distribution } from '../../bench/lib.js';
import { Rng } from '../../src/sim/rng.js';
import { MAIN } from '../helpers/cluster.js';

// `npm run bench -- compare`: differences with bootstrap intervals, and a gate that fails on a
// change but not on noise. Results are made here from known distributions.

const RUN = join(MAIN, '../../bench/run.js');

/** A one-step result whose paired overhead (and latency) is `n` draws of `draw`. */
function result(draw: (rng: Rng) => number, n: number, seed: number): GatewayResult {
  const rng = new Rng(seed);
  const xs = Array.from({ length: n }, () => draw(rng));
  const side = { requests: n, rps: 100, latencyMs: distribution(xs), statuses: { 200: n }, successRate: 1, upstream: { seen: n, amplification: 1, retried: 0, toldToWait: 0, honoured: 0, waitedMs: distribution([]) } };
  const step: StepResult = {
    load: '16 lanes',
    direct: side,
    gateway: side,
    overhead: { start: distribution(xs), firstToken: distribution(xs) },
    plots: { latency: { direct: quantiles(xs), gateway: quantiles(xs) }, overhead: { start: quantiles(xs), firstToken: quantiles(xs) }, timeline: [] },
  };
  return { steps: [step], unmatched: 0, warnings: [] };
}

const base = (rng: Rng): number => 1 + rng.next(); // 1–2 ms
const slower = (rng: Rng): number => 1.5 + rng.next(); // 0.5 ms more

t.test('the same distribution twice: every interval holds 0', async (t) => {
  const diffs = compareResults(result(base, 5000, 1), result(base, 5000, 2));
  t.ok(diffs.length >= 5, `${diffs.length} figures compared`);
  for (const d of diffs) t.ok(d.low <= 0 && d.high >= 0, `${d.metric}: ${d.low} … ${d.high}`);
  t.same(failures(diffs, parseGate('p99-overhead>+10%')), [], 'the gate passes');
});

t.test('half a millisecond more: found, and the gate fails', async (t) => {
  const diffs = compareResults(result(base, 5000, 1), result(slower, 5000, 2));
  const p99 = diffs.find((d) => d.metric === 'p99-overhead')!;
  t.ok(Math.abs(p99.diff - 0.5) < 0.05 && p99.low > 0.4 && p99.high < 0.6, `p99 overhead ${p99.a} → ${p99.b}: ${p99.low} … ${p99.high}`);
  t.equal(failures(diffs, parseGate('p99-overhead>+10%')).length, 1, '+25 % is past +10 %');
  t.equal(failures(diffs, parseGate('p99-overhead>+40%')).length, 0, 'but not past +40 %');
  t.equal(failures(diffs, parseGate('p50-latency > +0.3ms')).length, 1, 'a limit in ms');
  t.throws(() => parseGate('p99-speed>+10%'), /metric one of p50-overhead/);
});

t.test('too few requests to tell: a wide interval, and the gate does not fail on it', async (t) => {
  const diffs = compareResults(result(base, 30, 1), result((rng) => 1.1 + rng.next(), 30, 2));
  const p99 = diffs.find((d) => d.metric === 'p99-overhead')!;
  t.ok(p99.low < 0, `with 30 requests the interval ${p99.low} … ${p99.high} holds 0`);
  t.same(failures(diffs, parseGate('p99-overhead>+5%')), []);
});

t.test('the command: exit 1 past --fail-if, 0 otherwise', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  const [a, b] = [join(dir, 'a.json'), join(dir, 'b.json')];
  writeFileSync(a, JSON.stringify({ gateway: result(base, 5000, 1) }));
  writeFileSync(b, JSON.stringify({ gateway: result(slower, 5000, 2) }));
  const run = (...args: string[]) => spawnSync(process.execPath, [RUN, 'compare', ...args], { encoding: 'utf8', timeout: 30_000 });
  const failed = run(a, b, '--fail-if', 'p99-overhead>+10%');
  t.equal(failed.status, 1, 'regression: exit 1');
  t.match(failed.stdout, /FAIL 16 lanes p99-overhead/);
  const passed = run(a, a, '--fail-if', 'p99-overhead>+10%');
  t.equal(passed.status, 0, 'no change: exit 0');
  t.match(passed.stdout, /pass: no p99-overhead worse by more than 10%/);
  t.equal(run(a).status, 1, 'one file: an error');
});
