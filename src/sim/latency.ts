import { SimError } from '../errors.js';
import type { Model } from './catalogue.js';

/** Per-request override headers (constant milliseconds), for tests and clients that need fixed timing. */
export const TTFT_HEADER = 'x-sim-ttft-ms';
export const ITL_HEADER = 'x-sim-itl-ms';

function override(raw: string, header: string): number | null {
  if (raw === '') return null;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new SimError('invalid_value', `Header ${header} must be a non-negative number of milliseconds, got "${raw}".`, header);
  }
  return value;
}

export interface Delays {
  ttftMs: number;
  itlMs: number;
}

/** The simulated delays of one request: the model's profile or the override headers, times the time scale. */
export function requestDelays(model: Model, ttftHeader: string, itlHeader: string, timeScale: number): Delays {
  const ttft = override(ttftHeader, TTFT_HEADER) ?? model.latency.ttftMs;
  const itl = override(itlHeader, ITL_HEADER) ?? model.latency.itlMs;
  return { ttftMs: ttft * timeScale, itlMs: itl * timeScale };
}
