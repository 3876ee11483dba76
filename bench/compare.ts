import { readFileSync } from 'node:fs';
import { Rng } from '../src/sim/rng.js';
import type { GatewayResult, StepResult } from './scenarios/gateway.js';

/**
 * `npm run bench -- compare a.json b.json [--fail-if "p99-overhead>+10%"]`: two gateway benchmark
 * results, step by step, with a 95 % bootstrap interval for each difference, so a regression
 * gate in CI fails on a change, not on noise. Each distribution is kept in a result as 201
 * quantiles and its size n; a bootstrap resample draws n values (at most MAX_DRAWS) from that
 * quantile function, for both results, and the interval is the 2.5th–97.5th percentile of the
 * differences over RESAMPLES resamples. Capping the draws only widens the interval (the gate is
 * then slower to fail, never quicker).
 */

const RESAMPLES = 400;
const MAX_DRAWS = 20_000;

/** The figures a gate can name: what they measure, and where a step keeps their quantiles. */
export const COMPARED = {
  'p50-overhead': { q: 0.5, what: 'added on the way in, p50 (ms)', of: (s: StepResult) => [s.plots.overhead.start, s.overhead.start.n] as const },
  'p99-overhead': { q: 0.99, what: 'added on the way in, p99 (ms)', of: (s: StepResult) => [s.plots.overhead.start, s.overhead.start.n] as const },
  'p99-first-token': { q: 0.99, what: 'added at the first token, p99 (ms)', of: (s: StepResult) => [s.plots.overhead.firstToken, s.overhead.firstToken.n] as const },
  'p50-latency': { q: 0.5, what: 'gateway latency p50 (ms)', of: (s: StepResult) => [s.plots.latency.gateway, s.gateway.latencyMs.n] as const },
  'p99-latency': { q: 0.99, what: 'gateway latency p99 (ms)', of: (s: StepResult) => [s.plots.latency.gateway, s.gateway.latencyMs.n] as const },
} as const;
export type Compared = keyof typeof COMPARED;

export interface Difference {
  readonly step: string;
  readonly metric: Compared;
  readonly a: number;
  readonly b: number;
  /** b − a, ms, and its 95 % interval. */
  readonly diff: number;
  readonly low: number;
  readonly high: number;
  /** The same relative to a, %. */
  readonly relative: number;
}

/** The value at quantile q of the distribution that 201 quantiles describe (linear between them). */
function at(qs: readonly number[], q: number): number {
  const x = q * (qs.length - 1);
  const i = Math.floor(x);
  return i >= qs.length - 1 ? qs[qs.length - 1]! : qs[i]! + (qs[i + 1]! - qs[i]!) * (x - i);
}

/** The q-quantile of n values drawn from the distribution (with replacement). */
function resampled(qs: readonly number[], n: number, q: number, rng: Rng): number {
  const draws = new Float64Array(Math.max(1, Math.min(n, MAX_DRAWS)));
  for (let i = 0; i < draws.length; i++) draws[i] = at(qs, rng.next());
  draws.sort();
  return draws[Math.min(draws.length - 1, Math.floor(q * draws.length))]!;
}

export function compareResults(a: GatewayResult, b: GatewayResult, seed = 1): Difference[] {
  const rng = new Rng(seed);
  const out: Difference[] = [];
  for (const sa of a.steps) {
    const sb = b.steps.find((s) => s.load === sa.load);
    if (sb === undefined) continue;
    for (const [metric, m] of Object.entries(COMPARED) as [Compared, (typeof COMPARED)[Compared]][]) {
      const [qa, na] = m.of(sa);
      const [qb, nb] = m.of(sb);
      if (qa.length === 0 || qb.length === 0) continue;
      const [va, vb] = [at(qa, m.q), at(qb, m.q)];
      const diffs = Array.from({ length: RESAMPLES }, () => resampled(qb, nb, m.q, rng) - resampled(qa, na, m.q, rng)).sort((x, y) => x - y);
      const round = (x: number): number => Math.round(x * 1000) / 1000;
      out.push({ step: sa.load, metric, a: round(va), b: round(vb), diff: round(vb - va), low: round(diffs[Math.floor(0.025 * RESAMPLES)]!), high: round(diffs[Math.floor(0.975 * RESAMPLES)]!), relative: Math.round(((vb - va) / Math.abs(va)) * 1000) / 10 });
    }
  }
  return out;
}

/** A gate: `p99-overhead>+10%` or `p99-latency>+2ms`, failing when b is worse than a by more, with 95 % confidence. */
export interface Gate {
  readonly metric: Compared;
  readonly limit: number;
  readonly unit: '%' | 'ms';
}

export function parseGate(text: string): Gate {
  const m = /^([a-z0-9-]+)>\+?(\d+(?:\.\d+)?)(%|ms)$/.exec(text.replace(/\s/g, ''));
  if (m === null || !(m[1]! in COMPARED)) throw new Error(`--fail-if "${text}": write <metric>>+<n>% or <metric>>+<n>ms, metric one of ${Object.keys(COMPARED).join(', ')}`);
  return { metric: m[1] as Compared, limit: Number(m[2]), unit: m[3] as '%' | 'ms' };
}

/** The differences a gate fails on: the whole interval past the limit (noise alone never fails it). */
export function failures(diffs: readonly Difference[], gate: Gate): Difference[] {
  return diffs.filter((d) => d.metric === gate.metric && (gate.unit === 'ms' ? d.low > gate.limit : (d.low / Math.abs(d.a)) * 100 > gate.limit));
}

/** Reads a result file: a bench run's JSON (its `gateway` entry) or a bare GatewayResult. */
export function readResult(file: string): GatewayResult {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { gateway?: GatewayResult; steps?: unknown };
  const result = json.gateway ?? (json.steps !== undefined ? (json as GatewayResult) : undefined);
  if (result === undefined) throw new Error(`${file} holds no gateway benchmark result`);
  return result;
}
