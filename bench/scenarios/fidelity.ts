import { StringDecoder } from 'node:string_decoder';
import type { BenchRecord } from '../../src/http/records.js';
import { hashString } from '../../src/sim/rng.js';

/**
 * Stream fidelity for the gateway benchmark (README "Gateway benchmark"): what a client received
 * of an OpenAI chat completion stream, compared with what the simulator recorded sending for the
 * same request id (`GET /bench/records`: per write its time and the tokens sent so far, a digest
 * of the text, the usage). The same checks run on the direct requests, where every count must be
 * 0; anything found there is the harness's or the simulator's fault, not the gateway's.
 */

/** What the client saw of one stream, event by event. */
export class StreamSeen {
  /** Content events (a delta with `content` and no `role`: the role event opens the stream). */
  tokens = 0;
  text = '';
  /** Unix ms each content event arrived (the read that completed it). */
  readonly times: number[] = [];
  usage: { readonly prompt: number; readonly completion: number } | null = null;
  /** `data: [DONE]` arrived. */
  terminated = false;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  read(chunk: Buffer, at: number): void {
    this.pending += this.decoder.write(chunk);
    for (let end = this.pending.indexOf('\n\n'); end !== -1; end = this.pending.indexOf('\n\n')) {
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      if (event.startsWith('data: ')) this.data(event.slice(6), at);
    }
  }

  private data(payload: string, at: number): void {
    if (payload === '[DONE]') {
      this.terminated = true;
      return;
    }
    let chunk: { choices?: { delta?: { role?: string; content?: unknown } }[]; usage?: { prompt_tokens: number; completion_tokens: number } | null };
    try {
      chunk = JSON.parse(payload) as typeof chunk;
    } catch {
      return; // not JSON: the content no longer matches, which the digest shows
    }
    const delta = chunk.choices?.[0]?.delta;
    if (delta !== undefined && delta.role === undefined && typeof delta.content === 'string') {
      this.tokens++;
      this.text += delta.content;
      this.times.push(at);
    }
    if (chunk.usage != null) this.usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
  }
}

/** The simulator's record of one request, as `GET /bench/records` serves it. */
export type SimRecord = BenchRecord;

/** Streams whose events arrived altered, by kind (README's fidelity table says what each means). */
export interface Fidelity {
  /** 2xx streams compared with their record. */
  checked: number;
  /** Fewer content events arrived than the simulator sent. */
  dropped: number;
  /** More content events arrived than it sent (split, duplicated). */
  added: number;
  /** As many events, but their text differs: re-ordered or rewritten. */
  altered: number;
  /** The usage chunk's numbers differ from what the simulator reported. */
  usageRewritten: number;
  /** No usage chunk arrived, though one was asked for (`stream_options.include_usage`). */
  usageMissing: number;
  /** No `data: [DONE]`. */
  noTerminator: number;
  /** Events the simulator spread over ≥ BUFFER_SPAN_MS arrived within a tenth of that time: held and sent together. */
  buffered: number;
}

export const emptyFidelity = (): Fidelity => ({ checked: 0, dropped: 0, added: 0, altered: 0, usageRewritten: 0, usageMissing: 0, noTerminator: 0, buffered: 0 });

/** Below this spread at the simulator, events arriving together says nothing about buffering. */
export const BUFFER_SPAN_MS = 50;

/**
 * Compares one stream with its record, counting what differs into `into`; returns, per content
 * event, the time from its write at the simulator to its arrival at the client (ms), or nothing
 * when the events no longer correspond one to one.
 */
export function compareStream(seen: StreamSeen, rec: SimRecord, into: Fidelity): number[] {
  into.checked++;
  const sent = rec.completionTokens ?? 0;
  if (!seen.terminated) into.noTerminator++;
  if (seen.usage === null) into.usageMissing++;
  else if (seen.usage.prompt !== rec.promptTokens || seen.usage.completion !== rec.completionTokens) into.usageRewritten++;
  if (seen.tokens < sent) into.dropped++;
  else if (seen.tokens > sent) into.added++;
  else if ((hashString(seen.text) >>> 0).toString(16) !== rec.digest) into.altered++;
  const chunks = rec.chunks ?? [];
  if (chunks.length >= 4) {
    const simSpan = chunks[chunks.length - 2]! - chunks[0]!;
    const clientSpan = seen.times.length > 0 ? seen.times[seen.times.length - 1]! - seen.times[0]! : 0;
    if (simSpan >= BUFFER_SPAN_MS && clientSpan < simSpan / 10) into.buffered++;
  }
  if (seen.tokens !== sent) return [];
  // Token i left with the first write whose running count passed i.
  const spans: number[] = [];
  for (let i = 0, w = 0; i < seen.times.length && w < chunks.length; i++) {
    while (w < chunks.length && chunks[w + 1]! <= i) w += 2;
    if (w < chunks.length) spans.push(seen.times[i]! - chunks[w]!);
  }
  return spans;
}

/** Headers that belong to one connection, not to the answer: a proxy may rightly change them. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'content-length', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** Header names the simulator's answer had (direct) that the same answer through the gateway lacks. */
export const strippedHeaders = (direct: readonly string[], gateway: readonly string[]): string[] => direct.filter((h) => !HOP_BY_HOP.has(h) && !gateway.includes(h));
