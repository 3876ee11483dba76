import type { Config } from '../config/schema.js';
import type { JournalEntry } from '../faults/admission.js';
import type { ProcessStats } from '../metrics/metrics.js';
import type { BenchRecord } from '../http/records.js';
import { ControlError, nextConfig } from './reload.js';

/** What every process runs: the config, its version, and when its scenario and each fault rule started (one clock for the cluster). */
export interface LiveState {
  readonly config: Readonly<Config>;
  readonly version: number;
  readonly scenarioStartMs: number;
  /** When each of `config.faults.rules` became active (Unix ms): its `window` and `periodic` run from then. */
  readonly rulesSince: readonly number[];
}

/** The outcome of a reload: the version now live, and on how many workers. */
export interface Applied {
  readonly version: number;
  readonly workers: number;
}

/**
 * The control plane's operations, as the admin API calls them: in a cluster each goes to the
 * primary, which validates once and applies to every worker (src/cluster/primary.ts); a single
 * process applies to itself.
 */
export interface ControlPlane {
  configure(incoming: unknown, kind: 'replace' | 'merge'): Promise<Applied>;
  resetLimits(key: string | null): Promise<void>;
  /** The fault and rate-limit decisions of every worker, newest first. */
  journal(): Promise<JournalEntry[]>;
  /** Every worker's stats (GET /admin/stats). */
  stats(): Promise<WorkerStats[]>;
  /** Zeroes what the stats count on every worker (not the Prometheus counters). */
  resetStats(): Promise<void>;
  /** Every worker's bench records of requests that arrived since `since` (Unix ms), by arrival; null when `benchRecords` is 0. */
  records(since: number): Promise<BenchRecord[] | null>;
}

/** One worker's part of GET /admin/stats. */
export interface WorkerStats extends ProcessStats {
  readonly pid: number;
  readonly version: number;
  readonly uptimeS: number;
  /** Responses still being written (streams and delayed replies). */
  readonly open: number;
  readonly scenario: { readonly name: string; readonly since: string } | null;
}

/** The workers' stats summed: what GET /admin/stats reports as `total`. */
export function totalOf(workers: readonly WorkerStats[]): ProcessStats {
  const requests: Record<string, Record<string, number>> = {};
  const faults: Record<string, number> = {};
  let active = 0;
  let tokens = 0;
  let rateLimited = 0;
  for (const w of workers) {
    for (const [route, byStatus] of Object.entries(w.requests)) for (const [status, n] of Object.entries(byStatus)) (requests[route] ??= {})[status] = (requests[route]![status] ?? 0) + n;
    for (const [rule, n] of Object.entries(w.faults)) faults[rule] = (faults[rule] ?? 0) + n;
    active += w.active;
    tokens += w.tokens;
    rateLimited += w.rateLimited;
  }
  return { requests, active, tokens, faults, rateLimited };
}

/**
 * The state after a reload (throws ControlError when it cannot be made). A patch that names
 * `scenario` (re)starts it now; otherwise a scenario keeps running from when it started.
 */
export function advance(state: LiveState, incoming: unknown, kind: 'replace' | 'merge', now = Date.now()): LiveState {
  const config = nextConfig(state.config, incoming, kind);
  const named = kind === 'merge' && typeof incoming === 'object' && incoming !== null && 'scenario' in incoming;
  const restarted = named || config.scenario !== state.config.scenario;
  return { config, version: state.version + 1, scenarioStartMs: restarted ? now : state.scenarioStartMs, rulesSince: rulesSince(state, config, now) };
}

/**
 * When each rule of the next config became active: a rule that keeps its place and definition
 * keeps its time (its window goes on, as its count in the ledger does); one added or changed
 * starts now, so a window or period set at runtime runs from the reload that set it.
 */
function rulesSince(state: LiveState, next: Readonly<Config>, now: number): number[] {
  const before = state.config.faults.rules;
  return next.faults.rules.map((rule, i) => (i < before.length && JSON.stringify(before[i]) === JSON.stringify(rule) ? state.rulesSince[i]! : now));
}

/** How a ControlError crosses IPC (as its code) and becomes an HTTP status again. */
export const CONTROL_STATUS: Record<string, ControlError['status']> = { invalid_config: 400, restart_required: 409, unknown_scenario: 404 };
