import { randomBytes } from 'node:crypto';

/**
 * Identifiers unique across processes and runs without a random draw per request: a random
 * per-process prefix and a counter.
 */
const PROCESS_PREFIX = randomBytes(8).toString('hex');
let counter = 0;

/** Zeros to pad a counter with: a slice of them, since `padStart` built its padding with `repeat` each time. */
const ZEROS = '0000000000000000';
const padded = (digits: string, width: number): string => ZEROS.slice(0, width - digits.length) + digits;

/** 32 lowercase hex characters. */
export function uniqueHex(): string {
  counter = (counter + 1) % 0x1000000000000;
  return PROCESS_PREFIX + padded(counter.toString(16), 16);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PROCESS_PREFIX_62 = Array.from(randomBytes(12), (b) => BASE62[b % 62]).join('');

/** 24 base62-looking characters, the shape of Anthropic's ids (`msg_01…`, `req_011C…`). */
export function uniqueBase62(): string {
  counter = (counter + 1) % 0x1000000000000;
  return PROCESS_PREFIX_62 + padded(counter.toString(36), 12);
}
