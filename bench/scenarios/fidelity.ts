import { StringDecoder } from 'node:string_decoder';
import type { BenchRecord } from '../../src/http/records.js';
import { hashString } from '../../src/sim/rng.js';

/**
 * Stream fidelity for the gateway benchmark (README "Gateway benchmark"): what a client received
 * of a stream (chat completions, messages or responses), compared with what the simulator recorded sending for the
 * same request id (`GET /bench/records`: per write its time and the tokens sent so far, a digest
 * of the text, the usage). The same checks run on the direct requests, where every count must be
 * 0; anything found there is the harness's or the simulator's fault, not the gateway's.
 */

/** What the client saw of one stream, event by event, in any of the three streaming dialects. */
export class StreamSeen {
  /**
   * Content events: chat's deltas with `content` and no `role` (the role event opens the stream),
   * messages' `content_block_delta` with a `text_delta`, responses' `response.output_text.delta`.
   */
  tokens = 0;
  text = '';
  /** Unix ms each content event arrived (the read that completed it). */
  readonly times: number[] = [];
  usage: { readonly prompt: number; readonly completion: number } | null = null;
  /** The terminator arrived: chat's `data: [DONE]`, messages' `message_stop`, responses' `response.completed` (or `.incomplete`, `.failed`). */
  terminated = false;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  read(chunk: Buffer, at: number): void {
    this.pending += this.decoder.write(chunk);
    for (let end = this.pending.indexOf('\n\n'); end !== -1; end = this.pending.indexOf('\n\n')) {
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      // An `event:` line may come first (messages, responses).
      const data = event.startsWith('data: ') ? 0 : event.indexOf('\ndata: ') + 1;
      if (data !== 0 || event.startsWith('data: ')) this.data(event.slice(data + 6), at);
    }
  }

  private token(text: unknown, at: number): void {
    if (typeof text !== 'string') return;
    this.tokens++;
    this.text += text;
    this.times.push(at);
  }

  private data(payload: string, at: number): void {
    if (payload === '[DONE]') {
      this.terminated = true;
      return;
    }
    let e: StreamEvent;
    try {
      e = JSON.parse(payload) as StreamEvent;
    } catch {
      return; // not JSON: the content no longer matches, which the digest shows
    }
    switch (e.type) {
      case undefined: {
        const delta = e.choices?.[0]?.delta;
        if (delta !== undefined && delta.role === undefined) this.token(delta.content, at);
        if (e.usage != null) this.usage = { prompt: e.usage.prompt_tokens!, completion: e.usage.completion_tokens! };
        return;
      }
      case 'content_block_delta':
        if (typeof e.delta === 'object' && e.delta.type === 'text_delta') this.token(e.delta.text, at);
        return;
      case 'message_start':
        this.usage = { prompt: e.message?.usage?.input_tokens ?? NaN, completion: NaN };
        return;
      case 'message_delta':
        this.usage = { prompt: this.usage?.prompt ?? NaN, completion: e.usage?.output_tokens ?? NaN };
        return;
      case 'message_stop':
        this.terminated = true;
        return;
      case 'response.output_text.delta':
        this.token(e.delta, at);
        return;
      case 'response.completed':
      case 'response.incomplete': // the answer reached max_output_tokens
      case 'response.failed':
        this.usage = { prompt: e.response?.usage?.input_tokens ?? NaN, completion: e.response?.usage?.output_tokens ?? NaN };
        this.terminated = true;
        return;
    }
  }
}

/** The fields of the three dialects' stream events that the comparison reads. */
interface StreamEvent {
  readonly type?: string;
  readonly choices?: { readonly delta?: { readonly role?: string; readonly content?: unknown } }[];
  readonly usage?: { readonly prompt_tokens?: number; readonly completion_tokens?: number; readonly output_tokens?: number } | null;
  readonly delta?: { readonly type?: string; readonly text?: unknown } | string;
  readonly message?: { readonly usage?: { readonly input_tokens?: number } };
  readonly response?: { readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number } };
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
  if (seen.usage === null || Number.isNaN(seen.usage.prompt) || Number.isNaN(seen.usage.completion)) into.usageMissing++;
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
