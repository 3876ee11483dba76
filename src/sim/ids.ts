import { randomBytes } from 'node:crypto';

/**
 * Identifiers unique across processes and runs without a random draw per request: a random
 * per-process prefix and a counter.
 */
const PROCESS_PREFIX = randomBytes(8).toString('hex');
let counter = 0;

/** 32 lowercase hex characters. */
export function uniqueHex(): string {
  counter = (counter + 1) % 0x1000000000000;
  return PROCESS_PREFIX + counter.toString(16).padStart(16, '0');
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PROCESS_PREFIX_62 = Array.from(randomBytes(12), (b) => BASE62[b % 62]).join('');

/** 24 base62-looking characters, the shape of Anthropic's ids (`msg_01…`, `req_011C…`). */
export function uniqueBase62(): string {
  counter = (counter + 1) % 0x1000000000000;
  return PROCESS_PREFIX_62 + counter.toString(36).padStart(12, '0');
}
