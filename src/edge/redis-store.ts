import { Redis } from 'ioredis';
import { bucketOf, type BucketSpec, type BudgetStore, type Grant } from './limits.js';

/**
 * `limits.store: redis://…`: the rate-limit buckets in Redis, so that several simulator
 * instances behind one load balancer share one limit. Each decision is one Lua script, atomic
 * in Redis and timed by Redis's own clock (instances' clocks may differ). Workers still lease
 * (src/edge/limits.ts), so Redis sees one round trip per lease, not per request; the bound on
 * refusing early grows to one lease per worker of every instance.
 *
 * A bucket is a hash `{level, at}` under KEY_PREFIX + its id; it expires when it would be full
 * again, since a missing bucket is a full one.
 */
const KEY_PREFIX = 'llmsim:bucket:';

/** ARGV: capacity, perMinute, 'take' need want | 'give' amount. Returns {granted, level as text}. */
const BUCKET_SCRIPT = `
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = capacity
if state[1] then level = math.min(capacity, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * per_ms) end
local granted = 0
if ARGV[3] == 'take' then
  if level >= tonumber(ARGV[4]) then
    granted = math.min(tonumber(ARGV[5]), math.floor(level))
    level = level - granted
  end
else
  level = math.min(capacity, level + tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - level) / per_ms) + 1000)
return {granted, tostring(level)}
`;

/** How long one decision may take before the store counts as unreachable (`limits.onStoreError` then decides). */
const COMMAND_TIMEOUT_MS = 500;

interface Scripted {
  bucket(key: string, capacity: number, perMinute: number, op: 'take', need: number, want: number): Promise<[number, string]>;
  bucket(key: string, capacity: number, perMinute: number, op: 'give', amount: number): Promise<[number, string]>;
}

export class RedisStore implements BudgetStore {
  private readonly redis: Redis & Scripted;

  constructor(url: string) {
    this.redis = new Redis(url, {
      // A decision must fail fast while Redis is away, not wait in a queue for it to return.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    }) as Redis & Scripted;
    // Failures reach the caller of each command (and from there the outage log); this only keeps ioredis from printing them.
    this.redis.on('error', () => {});
    this.redis.defineCommand('bucket', { numberOfKeys: 1, lua: BUCKET_SCRIPT });
  }

  /** Resolves once connected, or after `deadlineMs` (start-up goes on either way; decisions then follow `onStoreError`). */
  ready(deadlineMs: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), deadlineMs);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      this.redis.on('ready', onReady);
    });
  }

  async take(spec: BucketSpec, need: number, want: number): Promise<Grant> {
    const [granted, level] = await this.redis.bucket(KEY_PREFIX + spec.id, spec.capacity, spec.perMinute, 'take', need, want);
    return { granted: Number(granted), level: Number(level) };
  }

  async give(spec: BucketSpec, amount: number): Promise<void> {
    await this.redis.bucket(KEY_PREFIX + spec.id, spec.capacity, spec.perMinute, 'give', amount);
  }

  /** Deletes one client's buckets (or every bucket): SCAN, not KEYS, so a large keyspace is not blocked. */
  async reset(client: string | null): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      const mine = client === null ? keys : keys.filter((k) => bucketOf(k.slice(KEY_PREFIX.length), client));
      if (mine.length > 0) await this.redis.del(...mine);
    } while (cursor !== '0');
  }

  close(): void {
    this.redis.disconnect();
  }
}
