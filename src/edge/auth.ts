import { hash, timingSafeEqual } from 'node:crypto';
import { z } from '#zod';
import { SimError } from '../errors.js';
import { globRegExp } from '../faults/rules.js';
import { limitSpecSchema, type LimitSpec } from './limits.js';

/** The paths that need no key unless `auth.public` says otherwise: health checks and the scrape. */
export const PUBLIC_PATHS = ['/health', '/live', '/ready', '/health/live', '/health/ready', '/metrics'];

export const keySchema = z
  .object({
    /** The key itself, or its SHA-256 digest (hex) so the config file holds no secret. */
    key: z.string().min(1).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits').optional(),
    /** Named in logs, metrics and fault rules (`match.key`); default `key<N>`. */
    name: z.string().regex(/^[\w.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').optional(),
    /** Globs of the models this key may use; absent: every model. */
    models: z.array(z.string().min(1)).min(1).optional(),
    /** This key's own rate limits, replacing `limits.default` for it. */
    limits: limitSpecSchema.optional(),
  })
  .strict()
  .refine((k) => (k.key === undefined) !== (k.sha256 === undefined), 'give key or sha256 (one of them)');

export const authSchema = z
  .object({
    /** `any`: any key or none; `required`: some key; `keys`: one of `auth.keys`. */
    mode: z.enum(['any', 'required', 'keys']).default('any'),
    keys: z.array(keySchema).max(100_000).default([]),
    /** Paths served without a key in every mode. */
    public: z.array(z.string().startsWith('/')).default(PUBLIC_PATHS),
  })
  .strict()
  .prefault({})
  .refine((a) => a.mode !== 'keys' || a.keys.length > 0, { message: 'mode keys needs at least one key in auth.keys', path: ['keys'] });

export type AuthConfig = z.infer<typeof authSchema>;

/**
 * `API_KEYS=sk-a,sk-b,sha256:<hex>`: keys from one environment variable (and mode `keys`), for
 * deployments that configure by environment.
 */
export function keysFromEnv(list: string): { mode: 'keys'; keys: { key?: string; sha256?: string }[] } {
  const keys = list
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '')
    .map((k) => (k.startsWith('sha256:') ? { sha256: k.slice('sha256:'.length) } : { key: k }));
  return { mode: 'keys', keys };
}

/** A configured key as the edge knows it: never the key, only its digest. */
export interface ApiKey {
  readonly name: string;
  /** The name as a JSON string literal, for the access log's line (made once, not per request). */
  readonly nameJson: string;
  readonly digest: Buffer;
  readonly models: readonly RegExp[] | null;
  readonly limits: LimitSpec | null;
}

export type AuthResult = { readonly ok: true; readonly key: ApiKey | null } | { readonly ok: false; readonly reason: 'missing' | 'invalid' };

const ANONYMOUS: AuthResult = { ok: true, key: null };

/** Verified keys remembered (KeyRing.verified) before the memory starts over. */
const MAX_VERIFIED = 10_000;

/** SHA-256 in one call (`crypto.hash`: ~1.1 µs a short key, against ~1.8 µs through a Hash object). */
const digestOf = (text: string): Buffer => hash('sha256', text, 'buffer') as unknown as Buffer;

/**
 * Whether two keys are the same, in time that does not depend on where they differ: both are
 * hashed to 32 bytes first, then compared with `timingSafeEqual` (a length or an early differing
 * byte changes nothing but the hashing, which depends only on the presented key's length).
 */
export function sameKey(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(digestOf(presented), digest);
}

/**
 * The key ring: which keys exist and what each may do. A presented key is hashed once; its digest
 * finds the candidate in a map (the lookup can only reveal timing about the digest, which says
 * nothing about any key) and is then compared in constant time.
 */
export class KeyRing {
  private readonly byDigest = new Map<string, ApiKey>();
  /**
   * Keys already verified, by the header value as sent (`Bearer sk-…`, or the `x-api-key`), so a
   * client's every request is neither parsed nor hashed again (SHA-256 through OpenSSL costs ~1 µs
   * a request, more than the rest of the check). Only keys that matched enter it. A lookup is a
   * hash-table probe on V8's seeded string hash, not a comparison that advances byte by byte, so
   * a wrong guess learns nothing about how close it came; that a key is valid, the response says
   * anyway. Bounded: cleared when full.
   */
  private readonly verified = new Map<string, AuthResult>();
  readonly mode: AuthConfig['mode'];
  /**
   * The public paths by their length: a request's URL (a new string each time) is compared only
   * with the paths as long as it, usually none; hashing it for a Set, or comparing it with every
   * path (`includes`, ~130 instructions a request), cost more.
   */
  private readonly publicByLength: (string[] | undefined)[] = [];

  constructor(config: AuthConfig) {
    this.mode = config.mode;
    for (const path of config.public) (this.publicByLength[path.length] ??= []).push(path);
    config.keys.forEach((k, i) => {
      const digest = k.sha256 !== undefined ? Buffer.from(k.sha256, 'hex') : digestOf(k.key!);
      const name = k.name ?? `key${i + 1}`;
      this.byDigest.set(digest.toString('latin1'), { name, nameJson: JSON.stringify(name), digest, models: k.models?.map(globRegExp) ?? null, limits: k.limits ?? null });
    });
  }

  isPublic(path: string): boolean {
    const sameLength = path.length < this.publicByLength.length ? this.publicByLength[path.length] : undefined;
    return sameLength !== undefined && sameLength.includes(path);
  }

  /** The key a request presents: `x-api-key`, else `Authorization: Bearer …` ('' for none). */
  static presented(authorization: string, xApiKey: string): string {
    if (xApiKey !== '') return xApiKey;
    return authorization.startsWith('Bearer ') || authorization.startsWith('bearer ') ? authorization.slice(7).trim() : '';
  }

  /** The check of a request's key headers (`presented` below says which one counts). */
  check(authorization: string, xApiKey: string): AuthResult {
    if (this.mode === 'any') return ANONYMOUS;
    const sent = xApiKey !== '' ? xApiKey : authorization;
    const known = this.verified.get(sent);
    if (known !== undefined) return known;
    const presented = KeyRing.presented(authorization, xApiKey);
    if (this.mode === 'required' && presented !== '') return ANONYMOUS;
    if (presented === '') return { ok: false, reason: 'missing' };
    const digest = digestOf(presented);
    const key = this.byDigest.get(digest.toString('latin1'));
    if (key === undefined || !timingSafeEqual(digest, key.digest)) return { ok: false, reason: 'invalid' };
    if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
    // The result itself is kept: a verified key's requests allocate nothing here.
    const result = { ok: true, key } as const;
    this.verified.set(sent, result);
    return result;
  }
}

/** May `key` use the model the request names? (A key without `models` may use any.) */
export const mayUse = (key: ApiKey | null, model: string): boolean => key === null || key.models === null || key.models.some((m) => m.test(model));

/** How OpenAI shows a wrong key in its error: the first 5 and last 4 characters, the rest starred. */
export function maskKey(key: string): string {
  if (key.length <= 9) return '*'.repeat(key.length);
  return `${key.slice(0, 5)}${'*'.repeat(Math.min(key.length - 9, 40))}${key.slice(-4)}`;
}

/** Each vendor's own 401 (WIRE A8, B7). */
export function authError(reason: 'missing' | 'invalid', dialect: 'openai' | 'anthropic', presented: string): SimError {
  if (dialect === 'anthropic') return new SimError('invalid_api_key', reason === 'missing' ? 'x-api-key header is required' : 'invalid x-api-key');
  if (reason === 'invalid') return new SimError('invalid_api_key', `Incorrect API key provided: ${maskKey(presented)}. You can find your API key at https://platform.openai.com/account/api-keys.`);
  // OpenAI's missing key is an invalid_request_error with a null code (WIRE A8).
  return new SimError(
    'missing_api_key',
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
  );
}
