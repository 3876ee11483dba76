import { z } from 'zod';
import { globRegExp, type FaultRoute } from '../faults/rules.js';
import type { Logger } from '../log.js';

/**
 * Rate limits like the vendors': token buckets that refill continuously, per client (API key
 * name, or IP without one), per model and per route; every bucket that applies must admit.
 *
 * Across workers the buckets live in one place, the cluster ledger (`Budget` below, held by the
 * primary; a single process holds its own). A worker never asks per request: it takes a *lease*
 * of budget (a tenth of the bucket's capacity per worker, at least what the request costs) and
 * spends it locally until it runs out or expires (LEASE_MS), then returns what is left. The
 * primary never grants more than a bucket holds, so the cluster never admits more than the
 * limit; budget leased to another worker and not yet spent can make it refuse early, by at most
 * one lease per other worker, for at most LEASE_MS.
 */

export const limitSpecSchema = z
  .object({
    requestsPerMinute: z.number().int().min(1).optional(),
    /** OpenAI TPM: prompt tokens + `max_tokens` reserved at admission. */
    tokensPerMinute: z.number().int().min(1).optional(),
    /** Anthropic ITPM: input tokens. */
    inputTokensPerMinute: z.number().int().min(1).optional(),
    /** Anthropic OTPM: `max_tokens` reserved at admission. */
    outputTokensPerMinute: z.number().int().min(1).optional(),
    /** Bucket capacity as a multiple of the per-minute limit (1: a minute's worth). */
    burst: z.number().min(0.01).max(60).default(1),
  })
  .strict();

export type LimitSpec = z.infer<typeof limitSpecSchema>;

export const limitsSchema = z
  .object({
    /** Every client's limits (per key, or per IP without a key); a key's own `limits` replace them. */
    default: limitSpecSchema.nullable().default(null),
    /** By model glob: per client and model. */
    models: z.record(z.string().min(1), limitSpecSchema).default({}),
    /** By route name (`chat.completions`, `embeddings`, …): per client and route. */
    routes: z.record(z.string().min(1), limitSpecSchema).default({}),
    /** Where the buckets live: `local` (this instance's primary), or `redis://host:port/db` shared by every instance using it. */
    store: z.union([z.literal('local'), z.string().regex(/^rediss?:\/\//, 'must be "local" or a redis:// URL')]).default('local'),
    /** While the store does not answer: `allow` admits (the limits are off), `deny` refuses with the 429. */
    onStoreError: z.enum(['allow', 'deny']).default('allow'),
    /** A client back before the `retry-after` it was given is refused again (it is counted either way). */
    penalizeEarlyRetry: z.boolean().default(false),
  })
  .strict()
  .prefault({});

export type LimitsConfig = z.infer<typeof limitsSchema>;

export const DIMENSIONS = ['requests', 'tokens', 'inputTokens', 'outputTokens'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
const PER_MINUTE: Record<Dimension, keyof LimitSpec> = { requests: 'requestsPerMinute', tokens: 'tokensPerMinute', inputTokens: 'inputTokensPerMinute', outputTokens: 'outputTokensPerMinute' };

/** What one request costs in each dimension. */
export type Cost = Readonly<Record<Dimension, number>>;

/** One bucket of one dimension: its identity across the cluster and its size. */
export interface BucketSpec {
  readonly id: string;
  readonly dimension: Dimension;
  readonly perMinute: number;
  readonly capacity: number;
}

/** The buckets' shared state: a token bucket per id. Held by the primary in a cluster. */
export class Budget {
  private readonly buckets = new Map<string, { level: number; at: number }>();

  /** Takes up to `want` (at least `need`, or nothing) from the bucket at `now`; gives what was taken and the level after. */
  take(spec: BucketSpec, need: number, want: number, now: number): Grant {
    const b = this.refilled(spec, now);
    if (b.level < need) return { granted: 0, level: b.level };
    const granted = Math.min(want, Math.floor(b.level));
    b.level -= granted;
    return { granted, level: b.level };
  }

  /** Returns unspent budget (an expired lease, a settled reservation). */
  give(spec: BucketSpec, amount: number, now: number): void {
    const b = this.refilled(spec, now);
    b.level = Math.min(spec.capacity, b.level + amount);
  }

  /** Forgets the buckets of `client` (a key's name, `ip:…`), or all of them: they start full again. */
  reset(client: string | null): void {
    for (const id of [...this.buckets.keys()]) if (client === null || bucketOf(id, client)) this.buckets.delete(id);
  }

  private refilled(spec: BucketSpec, now: number): { level: number; at: number } {
    let b = this.buckets.get(spec.id);
    if (b === undefined) this.buckets.set(spec.id, (b = { level: spec.capacity, at: now }));
    b.level = Math.min(spec.capacity, b.level + ((now - b.at) * spec.perMinute) / 60_000);
    b.at = now;
    return b;
  }
}

/** Whether bucket `id` (`client:<c>:…`, `model:<glob>:<c>:…`, `route:<r>:<c>:…`) is one of `client`'s. */
export const bucketOf = (id: string, client: string): boolean => id.startsWith(`client:${client}:`) || id.includes(`:${client}:`);

/** What a take got: budget granted, the bucket's level after, and whether the store was unreachable (the grant then follows `onStoreError`). */
export interface Grant {
  readonly granted: number;
  readonly level: number;
  readonly unavailable?: true;
}

/** The ledger operations the limiter needs: local calls, IPC to the primary, or Redis. */
export interface BudgetStore {
  take(spec: BucketSpec, need: number, want: number): Grant | Promise<Grant>;
  give(spec: BucketSpec, amount: number): void | Promise<void>;
  reset(client: string | null): void | Promise<void>;
  close?(): void;
}

/** A single process's own budget. */
export const localStore = (budget = new Budget()): BudgetStore => ({
  take: (spec, need, want) => budget.take(spec, need, want, Date.now()),
  give: (spec, amount) => budget.give(spec, amount, Date.now()),
  reset: (client) => budget.reset(client),
});

/**
 * The store `limits.store` names, for the process that holds the buckets (the primary, or a
 * single process). A remote store's failures never reach a request: `onStoreError` grants
 * everything asked (`allow`) or nothing (`deny`), and the outage is logged once when it starts
 * and once when it ends.
 */
export async function openStore(limits: LimitsConfig, log: Logger): Promise<BudgetStore> {
  if (limits.store === 'local') return localStore();
  const { RedisStore } = await import('./redis-store.js');
  const store = new RedisStore(limits.store);
  let down = false;
  const failed = (err: unknown): void => {
    if (down) return;
    down = true;
    log.error({ store: redactUrl(limits.store), err: (err as Error).message }, `rate-limit store unreachable; requests are ${limits.onStoreError === 'allow' ? 'allowed' : 'refused'} until it answers again`);
  };
  if (!(await store.ready(STORE_CONNECT_MS))) failed(new Error(`no connection within ${STORE_CONNECT_MS} ms of start-up`));
  const answered = (): void => {
    if (!down) return;
    down = false;
    log.info({ store: redactUrl(limits.store) }, 'rate-limit store reachable again');
  };
  const fallback = (spec: BucketSpec, want: number): Grant =>
    limits.onStoreError === 'allow' ? { granted: want, level: spec.capacity, unavailable: true } : { granted: 0, level: 0, unavailable: true };
  return {
    take: (spec, need, want) =>
      store.take(spec, need, want).then(
        (grant) => (answered(), grant),
        (err: unknown) => (failed(err), fallback(spec, want)),
      ),
    give: (spec, amount) => store.give(spec, amount).then(answered, failed),
    reset: (client) => store.reset(client).then(answered, failed),
    close: () => store.close(),
  };
}

/** How long start-up waits for a remote store before going on without it. */
const STORE_CONNECT_MS = 2_000;

/** A store URL as logs show it: without its password. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^@/]*)@/, '//…@');

/** Cached bucket lists (src/edge/limits.ts `Limiter.buckets`) before the cache starts over. */
const MAX_PLANS = 100_000;

/** How long a worker keeps leased budget before giving back what it did not spend. */
export const LEASE_MS = 250;

interface Lease {
  left: number;
  /** The shared bucket's level when the lease was taken (for the remaining-headers). */
  level: number;
  timer: NodeJS.Timeout | null;
}

/** The outcome of one request's admission by the limits. */
export type LimitDecision =
  | { readonly ok: true; readonly state: readonly BucketState[] }
  | { readonly ok: false; readonly refused: BucketState; readonly retryAfterMs: number; readonly state: readonly BucketState[] };

/** What the headers say about one dimension: the tightest bucket of that dimension. */
export interface BucketState {
  readonly dimension: Dimension;
  readonly limit: number;
  readonly remaining: number;
  /** Until the bucket is full again. */
  readonly resetMs: number;
}

/** A client told to wait: until when (Unix ms), and the refusal it got, to repeat when it comes back early. */
export interface Told {
  readonly until: number;
  readonly refused: BucketState;
  readonly requested: number;
}

/** Clients remembered as told to wait before the memory starts over (one entry per refused client, dropped when its wait is over). */
const MAX_TOLD = 100_000;

/** The limiter of one worker: compiled limits, the leases it holds, and the store behind them. */
export class Limiter {
  private readonly models: { glob: RegExp; spec: LimitSpec; name: string }[];
  private readonly leases = new Map<string, Lease>();
  private readonly told = new Map<string, Told>();
  /** Called for each grant made without the store (it was unreachable); counted by the metrics. */
  onUnavailable: (() => void) | null = null;
  /** Shares a refusal with the other workers (IPC in a cluster); they call `remember` with it. */
  onTold: ((client: string, told: Told) => void) | null = null;
  /** The buckets of each (client, model, route) seen, built once: they are the same for every request of the three. */
  private readonly plans = new Map<string, BucketSpec[]>();
  private readonly workers: number;

  constructor(
    private readonly config: LimitsConfig,
    readonly store: BudgetStore,
    workers: number,
  ) {
    this.models = Object.entries(config.models).map(([glob, spec]) => ({ glob: globRegExp(glob), spec, name: glob }));
    this.workers = Math.max(1, workers);
  }

  /** Whether any limit is configured (off: the limiter is never consulted). */
  get active(): boolean {
    return this.config.default !== null || this.models.length > 0 || Object.keys(this.config.routes).length > 0;
  }

  /** The buckets that apply to a request of `client` (with its own limits, if its key has any) for `model` on `route`. */
  buckets(client: string, own: LimitSpec | null, model: string, route: FaultRoute): BucketSpec[] {
    const key = `${client}\u0000${model}\u0000${route}`;
    let plan = this.plans.get(key);
    if (plan === undefined) {
      // Bounded: a client sending endless made-up model names must not grow it without end.
      if (this.plans.size >= MAX_PLANS) this.plans.clear();
      this.plans.set(key, (plan = this.plan(client, own, model, route)));
    }
    return plan;
  }

  private plan(client: string, own: LimitSpec | null, model: string, route: FaultRoute): BucketSpec[] {
    const out: BucketSpec[] = [];
    const add = (scope: string, spec: LimitSpec | null | undefined): void => {
      if (spec == null) return;
      for (const dimension of DIMENSIONS) {
        const perMinute = spec[PER_MINUTE[dimension]] as number | undefined;
        if (perMinute !== undefined) out.push({ id: `${scope}:${dimension}`, dimension, perMinute, capacity: Math.max(1, Math.round(perMinute * spec.burst)) });
      }
    };
    add(`client:${client}`, own ?? this.config.default);
    for (const m of this.models) if (m.glob.test(model)) add(`model:${m.name}:${client}`, m.spec);
    add(`route:${route}:${client}`, this.config.routes[route]);
    return out;
  }

  /** Admits `cost` against every bucket or none: at once from leases, or after the store granted more. */
  admit(buckets: readonly BucketSpec[], cost: Cost): LimitDecision | Promise<LimitDecision> {
    let pending: Promise<void>[] | null = null;
    for (const b of buckets) {
      const need = cost[b.dimension];
      if (need <= 0 || (this.leases.get(b.id)?.left ?? 0) >= need) continue;
      const refilled = this.refill(b, need);
      if (refilled instanceof Promise) (pending ??= []).push(refilled);
    }
    if (pending === null) return this.spend(buckets, cost);
    return Promise.all(pending).then(() => this.spend(buckets, cost));
  }

  /** Whether a client back early is refused again (`limits.penalizeEarlyRetry`). */
  get penalizes(): boolean {
    return this.config.penalizeEarlyRetry;
  }

  /** A client that comes back before the wait it was told is over: what it was told; null otherwise. */
  early(client: string): Told | null {
    if (this.told.size === 0) return null;
    const t = this.told.get(client);
    if (t === undefined) return null;
    if (Date.now() < t.until) return t;
    this.told.delete(client);
    return null;
  }

  /** Remembers that `client` was told to wait (by this worker, or another one). */
  remember(client: string, told: Told): void {
    if (this.told.size >= MAX_TOLD) this.told.clear();
    this.told.set(client, told);
  }

  /** A refusal this worker gave: remembered here and shared with the others. */
  tell(client: string, told: Told): void {
    this.remember(client, told);
    this.onTold?.(client, told);
  }

  /**
   * `limits.reset`: the buckets of one client (a key's name), or of every client, start full
   * again. This worker's leases of them are dropped at once; in a cluster the other workers'
   * run out within LEASE_MS. The one function the admin API calls.
   */
  reset(client: string | null = null): void | Promise<void> {
    this.forget(client);
    return this.store.reset(client);
  }

  /** Drops this worker's leases of `client`'s buckets (or all) without giving them back, and its refusals of it. */
  forget(client: string | null): void {
    for (const [id, lease] of this.leases) {
      if (client !== null && !bucketOf(id, client)) continue;
      if (lease.timer !== null) clearTimeout(lease.timer);
      this.leases.delete(id);
    }
    if (client === null) this.told.clear();
    else this.told.delete(client);
  }

  /** Gives back what a request reserved and did not use (its answer was shorter than `max_tokens`). */
  settle(buckets: readonly BucketSpec[], dimension: Dimension, unused: number): void {
    if (unused <= 0) return;
    for (const b of buckets) if (b.dimension === dimension) this.store.give(b, unused);
  }

  /**
   * Takes more budget for `b` (at least `need`, a tenth of the bucket per worker if there is
   * that much). Grants add to the lease: requests short at the same moment each take their own,
   * and whatever one of them took serves whichever spends first (the total never exceeds what
   * the store granted; a grant nobody spent goes back when the lease expires).
   */
  private refill(b: BucketSpec, need: number): void | Promise<void> {
    const want = Math.max(need, Math.ceil(b.capacity / (10 * this.workers)));
    const got = this.store.take(b, need, want);
    const apply = (r: Grant): void => {
      if (r.unavailable) this.onUnavailable?.();
      this.hold(b, r.granted, r.level);
    };
    return got instanceof Promise ? got.then(apply) : apply(got);
  }

  private hold(b: BucketSpec, granted: number, level: number): void {
    let lease = this.leases.get(b.id);
    if (lease === undefined) this.leases.set(b.id, (lease = { left: 0, level, timer: null }));
    lease.left += granted;
    lease.level = level;
    if (lease.timer === null && lease.left > 0) {
      const l = lease;
      l.timer = setTimeout(() => {
        l.timer = null;
        if (l.left > 0) this.store.give(b, l.left);
        l.left = 0;
      }, LEASE_MS).unref();
    }
  }

  private spend(buckets: readonly BucketSpec[], cost: Cost): LimitDecision {
    const refused = buckets.find((b) => cost[b.dimension] > 0 && (this.leases.get(b.id)?.left ?? 0) < cost[b.dimension]);
    if (refused === undefined) for (const b of buckets) if (cost[b.dimension] > 0) this.leases.get(b.id)!.left -= cost[b.dimension];
    const state = this.state(buckets);
    if (refused === undefined) return { ok: true, state };
    const lease = this.leases.get(refused.id);
    const available = (lease?.left ?? 0) + (lease?.level ?? 0);
    const missing = Math.max(1, cost[refused.dimension] - available);
    return { ok: false, refused: state.find((s) => s.dimension === refused.dimension)!, retryAfterMs: Math.ceil((missing * 60_000) / refused.perMinute), state };
  }

  /** The tightest bucket of each dimension, as the headers report it. */
  private state(buckets: readonly BucketSpec[]): BucketState[] {
    const tightest: BucketState[] = [];
    for (const b of buckets) {
      const lease = this.leases.get(b.id);
      const remaining = Math.min(b.capacity, Math.max(0, Math.floor((lease?.left ?? 0) + (lease?.level ?? b.capacity))));
      const s = { dimension: b.dimension, limit: b.perMinute, remaining, resetMs: Math.ceil(((b.capacity - remaining) * 60_000) / b.perMinute) };
      const i = tightest.findIndex((t) => t.dimension === b.dimension);
      if (i === -1) tightest.push(s);
      else if (s.remaining < tightest[i]!.remaining) tightest[i] = s;
    }
    return tightest;
  }
}
