import { request, Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';

export interface StreamResult {
  streams: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Microsecond histograms, summarised in milliseconds. */
  ttftMs: Percentiles;
  itlMs: Percentiles;
  errors: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const summarise = (h: hdr.Histogram): Percentiles => ({
  p50: h.getValueAtPercentile(50) / 1000,
  p90: h.getValueAtPercentile(90) / 1000,
  p99: h.getValueAtPercentile(99) / 1000,
  max: h.maxValue / 1000,
});

/**
 * Keeps `concurrency` streams open for `durationMs` (each ends after `maxTokens` tokens and is
 * replaced), measuring at the client the time to the first token and every gap between tokens.
 * Token events are counted by their frame prefix, so the client parses no JSON.
 */
export async function runStreams(opts: { url: string; concurrency: number; durationMs: number; maxTokens: number; ttftMs: number; itlMs: number; maxStreams: number }): Promise<StreamResult> {
  const ttft = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const itl = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'benchmark' }], max_tokens: opts.maxTokens, stream: true });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench', 'x-sim-ttft-ms': String(opts.ttftMs), 'x-sim-itl-ms': String(opts.itlMs) };
  const marker = '"delta":{"content":';
  const start = performance.now();
  const stopAt = start + opts.durationMs;
  let tokens = 0;
  let streams = 0;
  let errors = 0;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const sent = performance.now();
      let last = -1;
      let carry = '';
      const req = request(opts.url, { method: 'POST', agent, headers }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          const text = carry + chunk;
          let count = 0;
          for (let i = text.indexOf(marker); i !== -1; i = text.indexOf(marker, i + marker.length)) count++;
          carry = text.slice(-marker.length);
          if (count === 0) return;
          if (last < 0) ttft.recordValue(Math.round((now - sent) * 1000));
          else itl.recordValue(Math.round((now - last) * 1000));
          // Tokens coalesced into one read arrived together: their gaps are zero.
          for (let k = 1; k < count; k++) itl.recordValue(1);
          last = now;
          tokens += count;
        });
        res.on('end', () => {
          streams++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });

  const lane = async (): Promise<void> => {
    while (performance.now() < stopAt && streams + errors < opts.maxStreams) await one();
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  agent.destroy();
  const seconds = (performance.now() - start) / 1000;
  return { streams, tokens, seconds, tokensPerSecond: tokens / seconds, ttftMs: summarise(ttft), itlMs: summarise(itl), errors };
}
