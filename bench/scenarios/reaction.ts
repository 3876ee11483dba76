import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { distribution, type Distribution, unixNow } from '../lib.js';
import type { SimRecord } from './fidelity.js';

/**
 * How a gateway reacts to upstream failures (README "Gateway benchmark", fault reaction): what
 * the simulator saw of each client request (one record per attempt, all under the request's
 * `x-request-id`), whether the waits it told were kept, and whether a client that goes away
 * makes the gateway cancel its upstream stream.
 */

/** Every attempt the simulator recorded, by request id, oldest first (a record read twice is kept once). */
export class Attempts {
  private readonly byId = new Map<string, SimRecord[]>();

  add(records: readonly SimRecord[]): void {
    for (const r of records) {
      const list = this.byId.get(r.id);
      if (list === undefined) this.byId.set(r.id, [r]);
      else if (!list.some((x) => x.arrived === r.arrived)) list.push(r);
    }
  }

  of(id: string): readonly SimRecord[] {
    return this.byId.get(id) ?? [];
  }

  /** The attempt whose answer the client got: the last. */
  last(id: string): SimRecord | undefined {
    const list = this.byId.get(id);
    return list?.[list.length - 1];
  }
}

/** What the simulator saw of one side's requests. */
export interface Upstream {
  /** Client requests the simulator saw at least once. */
  readonly seen: number;
  /** Attempts the simulator saw ÷ client requests it saw (1: no retries). */
  readonly amplification: number;
  /** Requests tried more than once. */
  readonly retried: number;
  /** Retries after a refusal that told a wait (`retry-after-ms` / `retry-after`), and how many waited at least that long. */
  readonly toldToWait: number;
  readonly honoured: number;
  /** The time between such a refusal's end and the next attempt's arrival, ms. */
  readonly waitedMs: Distribution;
}

export function upstreamOf(ids: readonly string[], attempts: Attempts): Upstream {
  let seen = 0;
  let total = 0;
  let retried = 0;
  let told = 0;
  let honoured = 0;
  const waited: number[] = [];
  for (const id of ids) {
    const list = attempts.of(id);
    if (list.length === 0) continue;
    seen++;
    total += list.length;
    if (list.length > 1) retried++;
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1]!;
      if (before.retryAfterMs === undefined) continue;
      told++;
      const gap = list[i]!.arrived - before.done;
      waited.push(gap);
      // A millisecond of slack: the two times come from the simulator's clock, its end from after the last write.
      if (gap >= before.retryAfterMs - 1) honoured++;
    }
  }
  return { seen, amplification: seen === 0 ? NaN : Math.round((total / seen) * 1000) / 1000, retried, toldToWait: told, honoured, waitedMs: distribution(waited) };
}

const FIRST_CONTENT = /"content":"|text_delta|output_text\.delta/;

/** What became of streams the client abandoned after their first content event. */
export interface Cancelled {
  readonly aborted: number;
  /** The simulator saw the stream end as 499 (the client went away) within the wait. */
  readonly cancelled: number;
  /** It had already finished when the client left: says nothing (make the answers longer). */
  readonly finishedFirst: number;
  /** From the client's abort to the simulator's end of the stream, ms. */
  readonly latencyMs: Distribution;
}

/**
 * Opens `n` long streams (4 at a time), abandons each once its first content event arrives, and
 * then reads how the simulator saw each end: a gateway that cancels its upstream request makes it
 * a 499 within milliseconds; one that does not leaves it running (no record within `waitMs`).
 */
export async function cancelCheck(
  url: string,
  ids: readonly string[],
  headers: Record<string, string>,
  body: string,
  waitMs: number,
  read: () => Promise<Attempts>,
): Promise<Cancelled> {
  const agent = new Agent({ keepAlive: false });
  const abortedAt = new Map<string, number>();
  const one = (id: string): Promise<void> =>
    new Promise((resolve) => {
      const req = request(url, { method: 'POST', agent, headers: { ...headers, 'x-request-id': id } }, (res) => {
        res.on('data', (chunk: Buffer) => {
          // The first content: chat's `"content":"…`, messages' `text_delta`, responses' `output_text.delta`.
          if (abortedAt.has(id) || !FIRST_CONTENT.test(chunk.toString('latin1'))) return;
          abortedAt.set(id, unixNow());
          req.destroy();
          resolve();
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  for (let i = 0; i < ids.length; i += 4) await Promise.all(ids.slice(i, i + 4).map(one));
  agent.destroy();
  const deadline = performance.now() + waitMs;
  let attempts = await read();
  const ended = (id: string): boolean => attempts.last(id) !== undefined;
  while (performance.now() < deadline && ![...abortedAt.keys()].every(ended)) {
    await new Promise((r) => setTimeout(r, 50));
    attempts = await read();
  }
  let cancelled = 0;
  let finishedFirst = 0;
  const latency: number[] = [];
  for (const [id, at] of abortedAt) {
    const rec = attempts.last(id);
    if (rec === undefined) continue;
    if (rec.status === 499) {
      cancelled++;
      latency.push(rec.done - at);
    } else if (rec.done <= at) finishedFirst++;
  }
  return { aborted: abortedAt.size, cancelled, finishedFirst, latencyMs: distribution(latency) };
}

/** Installs a fault rule on the simulator for the run (admin API); returns what removes it. */
export async function installFault(sim: string, adminKey: string | undefined, rule: Record<string, unknown>, name = 'gateway-bench'): Promise<() => Promise<void>> {
  if (adminKey === undefined) throw new Error('--fault needs the simulator\'s admin key: --admin-key K (a simulator the harness starts gets one of its own)');
  const headers = { 'content-type': 'application/json', 'x-admin-key': adminKey };
  const res = await fetch(`${sim}/admin/faults`, { method: 'POST', headers, body: JSON.stringify({ ...rule, name }) });
  if (res.status >= 300) throw new Error(`the simulator refused the fault rule (${res.status}): ${await res.text()}`);
  return async () => void (await fetch(`${sim}/admin/faults/${name}`, { method: 'DELETE', headers }));
}
