import { z } from '#zod';
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

/**
 * Each dimension's rate-limit header names (limit, remaining count, reset) in DIMENSIONS order
 * (WIRE A9, B8); OpenAI names only two. Here, not beside the code that writes them
 * (src/http/limits.ts): the CORS config reads them too, and the primary process, which loads
 * the config, must not load the API and its tokenizer tables with them (~0.6 s of start-up).
 */
export const OPENAI_LIMIT_HEADERS: readonly (readonly [string, string, string] | undefined)[] = [
  ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
  undefined,
  undefined,
];
const anthropicNames = (n: string): readonly [string, string, string] => [`anthropic-ratelimit-${n}-limit`, `anthropic-ratelimit-${n}-remaining`, `anthropic-ratelimit-${n}-reset`];
export const ANTHROPIC_LIMIT_HEADERS: readonly (readonly [string, string, string])[] = [anthropicNames('requests'), anthropicNames('tokens'), anthropicNames('input-tokens'), anthropicNames('output-tokens')];

/** Every rate-limit header either dialect sends (what a browser page may read: src/edge/cors.ts). */
export const RATE_LIMIT_HEADERS: readonly string[] = [...OPENAI_LIMIT_HEADERS, ...ANTHROPIC_LIMIT_HEADERS].flatMap((names) => names ?? []);

/**
 * The buckets of `limits` (the same dimensions, model globs and routes), each too large to
 * refuse: the warm-up's limits (src/http/app.ts), so start-up compiles the path an admitted
 * request takes under the configured limits without spending any of their budget. With limits
 * on keys alone (`keyLimits`), the default gets their dimensions, for the warm-up's own key. A
 * billion a minute still fits V8's small integers, as real limits do.
 */
export function unrefusable(limits: LimitsConfig, keyLimits: readonly LimitSpec[] = []): LimitsConfig {
  const huge = (spec: LimitSpec): LimitSpec => {
    const out: LimitSpec = { burst: 1 };
    for (const dimension of DIMENSIONS) if (spec[PER_MINUTE[dimension]] !== undefined) (out as Record<string, number>)[PER_MINUTE[dimension]] = UNREFUSABLE_PER_MINUTE;
    return out;
  };
  const each = (specs: Record<string, LimitSpec>): Record<string, LimitSpec> => Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, huge(spec)]));
  const client = limits.default ?? (keyLimits.length === 0 ? null : (Object.assign({}, ...keyLimits) as LimitSpec));
  return { ...limits, store: 'local', penalizeEarlyRetry: false, default: client === null ? null : huge(client), models: each(limits.models), routes: each(limits.routes) };
}

const UNREFUSABLE_PER_MINUTE = 1_000_000_000;

/** What one request costs in each dimension. */
export type Cost = Readonly<Record<Dimension, number>>;

/**
 * A dimension's place in DIMENSIONS, and a cost's amount in it: switches, since `table[dimension]`
 * is a megamorphic keyed load. A bucket keeps its dimension's place, so the loops that run per
 * bucket per request switch on small integers rather than compare names.
 */
export function slotOf(dimension: Dimension): 0 | 1 | 2 | 3 {
  switch (dimension) {
    case 'requests':
      return 0;
    case 'tokens':
      return 1;
    case 'inputTokens':
      return 2;
    case 'outputTokens':
      return 3;
  }
}

/** A cost's amount in `dimension` (refusals). */
export function amountOf(cost: Cost, dimension: Dimension): number {
  return amountAt(cost, slotOf(dimension));
}

/** A cost's amount in the dimension at `slot`. */
export function amountAt(cost: Cost, slot: number): number {
  switch (slot) {
    case 0:
      return cost.requests;
    case 1:
      return cost.tokens;
    case 2:
      return cost.inputTokens;
    default:
      return cost.outputTokens;
  }
}

/** One bucket of one dimension: its identity across the cluster and its size. */
export interface BucketSpec {
  readonly id: string;
  readonly dimension: Dimension;
  /** The dimension's place in DIMENSIONS (`slotOf`). */
  readonly slot: 0 | 1 | 2 | 3;
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

/** Cached plans (`Limiter.plan`) before the cache starts over. */
const MAX_PLANS = 100_000;

/** How long a worker keeps leased budget before giving back what it did not spend. */
export const LEASE_MS = 250;

/** This worker's share of one bucket: budget the store granted it, spent locally. */
export interface Lease {
  readonly spec: BucketSpec;
  left: number;
  /** The shared bucket's level when the lease was taken (for the remaining-headers). */
  level: number;
  timer: NodeJS.Timeout | null;
  /** The store's answer this worker awaits for the bucket: requests short meanwhile wait for it rather than each asking. */
  refilling: Promise<void> | null;
  /** Whether a request spent from it since its last renewal (only such a lease is renewed when it expires). */
  used: boolean;
}

/**
 * What applies to requests of one (client, model, route): the buckets, each with this worker's
 * lease of it, and for each dimension the indexes of its buckets. Built once per triple, so a
 * request's admission allocates nothing but its cost.
 */
export interface Plan {
  readonly buckets: readonly BucketSpec[];
  readonly leases: readonly Lease[];
  readonly byDimension: readonly (readonly [Dimension, readonly number[]])[];
  /** Whether any bucket counts tokens (only those have a reservation to settle). */
  readonly settles: boolean;
  /**
   * When each dimension has one bucket (its limit is then the same on every answer): those
   * buckets' indexes in DIMENSIONS order (the headers read them straight off the leases), and
   * the limit header lines in each dialect, made by src/http/limits.ts the first time it writes them.
   */
  readonly sole: { readonly at: readonly number[]; openai: string | null; anthropic: string[] | null } | null;
}

/**
 * What the headers report of a plan: per dimension (in DIMENSIONS order) its tightest bucket's
 * limit, remaining count and time to reset, the first `count` entries. Each limiter holds one and
 * refills it on every `tightest` call, so an admitted request allocates nothing for it.
 */
export interface Tightest {
  /** The plan it was taken of (null: made from a refusal's state). */
  plan: Plan | null;
  count: number;
  /** Each entry's dimension as its place in DIMENSIONS (`slotOf`). */
  readonly slots: number[];
  readonly limits: number[];
  readonly remaining: number[];
  readonly resetMs: number[];
}

/** A Tightest of the dimensions of `state`. */
export function tightestOf(state: readonly BucketState[]): Tightest {
  return { plan: null, count: state.length, slots: state.map((s) => slotOf(s.dimension)), limits: state.map((s) => s.limit), remaining: state.map((s) => s.remaining), resetMs: state.map((s) => s.resetMs) };
}

/** A refused admission: the bucket that refused, how long until it holds the request's cost, and every dimension's state. */
export interface Refusal {
  readonly refused: BucketState;
  readonly retryAfterMs: number;
  readonly state: readonly BucketState[];
}

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

/** What a lease lets the headers report: what it holds plus what the store had, at most the bucket. */
export const remainingOf = (lease: Lease): number => Math.min(lease.spec.capacity, Math.max(0, Math.floor(lease.left + lease.level)));
export const resetMsOf = (spec: BucketSpec, remaining: number): number => Math.ceil(((spec.capacity - remaining) * 60_000) / spec.perMinute);

/** The limiter of one worker: compiled limits, the leases it holds, and the store behind them. */
export class Limiter {
  private readonly models: { glob: RegExp; spec: LimitSpec; name: string }[];
  private readonly leases = new Map<string, Lease>();
  private readonly told = new Map<string, Told>();
  /** Called for each grant made without the store (it was unreachable); counted by the metrics. */
  onUnavailable: (() => void) | null = null;
  /** Shares a refusal with the other workers (IPC in a cluster); they call `remember` with it. */
  onTold: ((client: string, told: Told) => void) | null = null;
  /** Plans by route, client and model (nested maps: a joined key cost a string per request). */
  private readonly plans = new Map<string, Map<string, Map<string, Plan>>>();
  private planCount = 0;
  private readonly workers: number;
  /** Whether any limit is configured (off: the limiter is never consulted). */
  readonly active: boolean;

  /** `keyLimits`: whether some key has limits of its own (`auth.keys[].limits`), which apply with no other limit configured. */
  constructor(
    private readonly config: LimitsConfig,
    readonly store: BudgetStore,
    workers: number,
    keyLimits = false,
  ) {
    this.models = Object.entries(config.models).map(([glob, spec]) => ({ glob: globRegExp(glob), spec, name: glob }));
    this.workers = Math.max(1, workers);
    this.active = keyLimits || config.default !== null || this.models.length > 0 || Object.keys(config.routes).length > 0;
  }

  /**
   * The last plan given, and what it was for: a client's requests mostly repeat one route and
   * model (a gateway sends with one key), and three compares cost less than three map lookups.
   */
  private last: { client: string; model: string; route: FaultRoute; plan: Plan } | null = null;

  /** What applies to a request of `client` (with its own limits, if its key has any) for `model` on `route`. */
  plan(client: string, own: LimitSpec | null, model: string, route: FaultRoute): Plan {
    const last = this.last;
    if (last !== null && last.client === client && last.model === model && last.route === route) return last.plan;
    const plan = this.cachedPlan(client, own, model, route);
    this.last = { client, model, route, plan };
    return plan;
  }

  private cachedPlan(client: string, own: LimitSpec | null, model: string, route: FaultRoute): Plan {
    let byClient = this.plans.get(route);
    if (byClient === undefined) this.plans.set(route, (byClient = new Map()));
    let byModel = byClient.get(client);
    if (byModel === undefined) byClient.set(client, (byModel = new Map()));
    let plan = byModel.get(model);
    if (plan === undefined) {
      // Bounded: a client sending endless made-up model names must not grow it without end.
      if (this.planCount >= MAX_PLANS) this.startOver();
      byModel.set(model, (plan = this.build(client, own, model, route)));
      this.planCount++;
    }
    return plan;
  }

  private build(client: string, own: LimitSpec | null, model: string, route: FaultRoute): Plan {
    const buckets: BucketSpec[] = [];
    const add = (scope: string, spec: LimitSpec | null | undefined): void => {
      if (spec == null) return;
      for (const dimension of DIMENSIONS) {
        const perMinute = spec[PER_MINUTE[dimension]] as number | undefined;
        if (perMinute !== undefined) buckets.push({ id: `${scope}:${dimension}`, dimension, slot: slotOf(dimension), perMinute, capacity: Math.max(1, Math.round(perMinute * spec.burst)) });
      }
    };
    add(`client:${client}`, own ?? this.config.default);
    for (const m of this.models) if (m.glob.test(model)) add(`model:${m.name}:${client}`, m.spec);
    add(`route:${route}:${client}`, this.config.routes[route]);
    const byDimension = DIMENSIONS.map((d) => [d, buckets.flatMap((b, i) => (b.dimension === d ? [i] : []))] as const).filter(([, at]) => at.length > 0);
    const sole = byDimension.every(([, at]) => at.length === 1) ? { at: byDimension.map(([, at]) => at[0]!), openai: null, anthropic: null } : null;
    return { buckets, leases: buckets.map((b) => this.lease(b)), byDimension, settles: buckets.some((b) => b.dimension !== 'requests'), sole };
  }

  /** Plans and leases start over (the plan cache is full): what the leases hold goes back to the store. */
  private startOver(): void {
    for (const lease of this.leases.values()) this.release(lease);
    this.leases.clear();
    this.plans.clear();
    this.last = null;
    this.planCount = 0;
  }

  private lease(spec: BucketSpec): Lease {
    let lease = this.leases.get(spec.id);
    if (lease === undefined) this.leases.set(spec.id, (lease = { spec, left: 0, level: spec.capacity, timer: null, refilling: null, used: false }));
    return lease;
  }

  /** Admits `cost` against every bucket of the plan or none: at once from leases (`true`), or after the store granted more. */
  admit(plan: Plan, cost: Cost, again = false): true | Refusal | Promise<true | Refusal> {
    let pending: Promise<void>[] | null = null;
    let held = true;
    const { buckets, leases } = plan;
    for (let i = 0; i < buckets.length; i++) {
      const need = amountAt(cost, buckets[i]!.slot);
      if (need <= 0 || leases[i]!.left >= need) continue;
      held = false;
      const refilled = this.refill(leases[i]!, need, !again);
      if (refilled instanceof Promise) (pending ??= []).push(refilled);
    }
    // Every lease held its part (the common case): spent without checking them again.
    if (held) return this.take(plan, cost);
    if (pending === null) return this.spend(plan, cost);
    // Still short after the shared answer, a request asks once more on its own: the answer it
    // waited for may have been sized for another request, or have said "nothing left" while this
    // worker's own expiring lease held the budget (given back since). Only its own answer refuses.
    return Promise.all(pending).then(() => (!again && this.short(plan, cost) !== -1 ? this.admit(plan, cost, true) : this.spend(plan, cost)));
  }

  /** The first bucket whose lease does not hold the request's cost, -1 when every one does. */
  private short(plan: Plan, cost: Cost): number {
    for (let i = 0; i < plan.buckets.length; i++) {
      const need = amountAt(cost, plan.buckets[i]!.slot);
      if (need > 0 && plan.leases[i]!.left < need) return i;
    }
    return -1;
  }

  /** Takes the cost out of every lease of the plan (each holds its part). */
  private take(plan: Plan, cost: Cost): true {
    for (let i = 0; i < plan.buckets.length; i++) {
      const lease = plan.leases[i]!;
      lease.left -= amountAt(cost, plan.buckets[i]!.slot);
      lease.used = true;
    }
    return true;
  }

  private spend(plan: Plan, cost: Cost): true | Refusal {
    const refused = this.short(plan, cost);
    if (refused === -1) return this.take(plan, cost);
    const spec = plan.buckets[refused]!;
    const lease = plan.leases[refused]!;
    const state = this.state(plan);
    const missing = Math.max(1, amountOf(cost, spec.dimension) - (lease.left + lease.level));
    return { refused: state.find((s) => s.dimension === spec.dimension)!, retryAfterMs: Math.ceil((missing * 60_000) / spec.perMinute), state };
  }

  /** The limiter's one Tightest (`tightest`). */
  private readonly tight: Tightest = tightestOf(DIMENSIONS.map((dimension) => ({ dimension, limit: 0, remaining: 0, resetMs: 0 })));

  /** The tightest bucket of each dimension of the plan, as the headers report it: the limiter's own Tightest, valid until the next call. */
  tightest(plan: Plan): Tightest {
    const { byDimension, leases, buckets } = plan;
    const t = this.tight;
    for (let d = 0; d < byDimension.length; d++) {
      const at = byDimension[d]![1];
      let best = at[0]!;
      let remaining = remainingOf(leases[best]!);
      for (let j = 1; j < at.length; j++) {
        const r = remainingOf(leases[at[j]!]!);
        if (r < remaining) {
          best = at[j]!;
          remaining = r;
        }
      }
      const bucket = buckets[best]!;
      t.slots[d] = bucket.slot;
      t.limits[d] = bucket.perMinute;
      t.remaining[d] = remaining;
      t.resetMs[d] = resetMsOf(bucket, remaining);
    }
    t.count = byDimension.length;
    t.plan = plan;
    return t;
  }

  /** The same as data (refusals carry it, and share it with the other workers). */
  state(plan: Plan): BucketState[] {
    const t = this.tightest(plan);
    return Array.from({ length: t.count }, (_, d) => ({ dimension: DIMENSIONS[t.slots[d]!]!, limit: t.limits[d]!, remaining: t.remaining[d]!, resetMs: t.resetMs[d]! }));
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

  /** Empties this worker's leases of `client`'s buckets (or all) without giving them back, and forgets its refusals of it. */
  forget(client: string | null): void {
    for (const [id, lease] of this.leases) {
      if (client !== null && !bucketOf(id, client)) continue;
      if (lease.timer !== null) clearTimeout(lease.timer);
      // Emptied, not deleted: plans hold their leases.
      lease.timer = null;
      lease.left = 0;
      lease.level = lease.spec.capacity;
    }
    if (client === null) this.told.clear();
    else this.told.delete(client);
  }

  /**
   * Gives back what a request reserved and did not use (its answer was shorter than `max_tokens`):
   * into this worker's lease of the bucket, where the next request spends it, and with the rest of
   * the lease back to the store when the lease expires. Giving it to the store at once was an IPC
   * message (or a Redis call) per request, most of what limits cost.
   */
  settle(plan: Plan, unusedTokens: number, unusedInput: number, unusedOutput: number): void {
    for (let i = 0; i < plan.buckets.length; i++) {
      const slot = plan.buckets[i]!.slot;
      const unused = slot === 1 ? unusedTokens : slot === 2 ? unusedInput : slot === 3 ? unusedOutput : 0;
      if (unused > 0) this.hold(plan.leases[i]!, unused, null);
    }
  }

  /**
   * Takes more budget for a lease (at least `need`, a tenth of the bucket per worker if there is
   * that much). A `shared` refill is one request to the store at a time: requests short while
   * it is out wait for its answer (a burst after a lease expired made one round trip each, and
   * leased the whole bucket to one worker). Grants add to the lease, and whatever was granted
   * serves whichever request spends first (the total never exceeds what the store granted; a
   * grant nobody spent goes back when the lease expires).
   */
  private refill(lease: Lease, need: number, shared: boolean): void | Promise<void> {
    if (shared && lease.refilling !== null) return lease.refilling;
    const b = lease.spec;
    // What the lease holds (settled reservations among it) counts: the store is asked for the rest.
    const missing = Math.max(1, need - lease.left);
    const want = Math.max(missing, this.leaseSize(b));
    const got = this.store.take(b, missing, want);
    const apply = (r: Grant): void => {
      if (shared) lease.refilling = null;
      if (r.unavailable) this.onUnavailable?.();
      this.hold(lease, r.granted, r.level);
    };
    if (!(got instanceof Promise)) return apply(got);
    const answered = got.then(apply, (err: unknown) => {
      if (shared) lease.refilling = null;
      throw err;
    });
    if (shared) lease.refilling = answered;
    return answered;
  }

  /** What a worker leases of a bucket at a time: a tenth of it shared among the workers. */
  private leaseSize(spec: BucketSpec): number {
    return Math.ceil(spec.capacity / (10 * this.workers));
  }

  /** Adds `granted` to a lease (from the store, whose level it then reports, or settled back: `level` null). */
  private hold(lease: Lease, granted: number, level: number | null): void {
    lease.left += granted;
    if (level !== null) lease.level = level;
    if (lease.timer === null && lease.left > 0) lease.timer = setTimeout(() => this.expire(lease), LEASE_MS).unref();
  }

  /**
   * The lease's time is up. One that requests spent from is renewed: the store is asked for a new
   * lease while requests go on spending what the old one holds, and what is left of that goes
   * back when the answer comes. Given back first and taken again on demand, every renewal made
   * the requests that arrived meanwhile wait for the store's round trip (p99 +1.7 ms at 1,000
   * req/s with Redis: `npm run bench -- --scenario store`). An idle lease goes back whole.
   */
  private expire(lease: Lease): void {
    lease.timer = null;
    if (lease.used && lease.left > 0 && lease.refilling === null) this.renew(lease);
    else this.release(lease);
  }

  /** What the lease holds goes back to the store now. */
  private release(lease: Lease): void {
    if (lease.timer !== null) clearTimeout(lease.timer);
    lease.timer = null;
    if (lease.left > 0) this.store.give(lease.spec, lease.left);
    lease.left = 0;
  }

  private renew(lease: Lease): void {
    lease.used = false;
    const { spec } = lease;
    const retiring = lease.left;
    const got = this.store.take(spec, 1, this.leaseSize(spec));
    const swap = (r: Grant): void => {
      lease.refilling = null;
      if (r.unavailable) this.onUnavailable?.();
      // What the old lease still holds (requests spend it first) goes back; the grant takes its place.
      const unspent = Math.min(retiring, lease.left);
      if (unspent > 0) {
        lease.left -= unspent;
        this.store.give(spec, unspent);
      }
      // The level the headers report from is the bucket's after that give: the grant's level
      // still counted the old lease as spent, and every renewal under load reported a whole
      // lease fewer remaining (a tenth of the bucket, and a reset seconds away on an idle bucket).
      this.hold(lease, r.granted, r.level + unspent);
    };
    if (!(got instanceof Promise)) return swap(got);
    // Requests the old lease cannot serve meanwhile wait for this answer, as for a refill.
    lease.refilling = got.then(swap, () => {
      lease.refilling = null;
      this.release(lease);
    });
  }
}
