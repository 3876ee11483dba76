import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync, inflateSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { negotiate } from '../../src/http/compress.js';
import { MAIN } from '../helpers/cluster.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, startServer } from '../helpers/server.js';

// `compression`: JSON bodies by accept-encoding, streams only when asked, decoded by real clients.

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A POST whose body comes back as sent on the wire (node:http decodes nothing). */
function raw(url: string, body: unknown, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'compress me' }], max_tokens: 200 };
const DECODE = { gzip: gunzipSync, br: brotliDecompressSync, deflate: inflateSync } as const;

t.test('accept-encoding is negotiated by q-value, ties by br, gzip, deflate', async (t) => {
  t.equal(negotiate(''), null);
  t.equal(negotiate('gzip, deflate'), 'gzip');
  t.equal(negotiate('gzip, deflate, br'), 'br');
  t.equal(negotiate('deflate'), 'deflate');
  t.equal(negotiate('gzip;q=0.9, br;q=0.5'), 'gzip');
  t.equal(negotiate('br;q=0, gzip'), 'gzip');
  t.equal(negotiate('identity'), null);
  t.equal(negotiate('*'), 'br');
  t.equal(negotiate('*;q=0.1, gzip;q=0.5'), 'gzip');
  t.equal(negotiate('gzip;q=0, *;q=0'), null);
  t.equal(negotiate('GZIP ; Q=0.3'), 'gzip', 'names and q are case-insensitive');
  t.equal(negotiate('zstd'), null, 'only what is offered');
});

t.test('JSON bodies above minBytes are compressed in each encoding; smaller ones and other clients get them as they are', async (t) => {
  const s = await startServer({ compression: { enabled: true, minBytes: 300 }, seed: 7 });
  t.teardown(() => s.close());
  const url = `${s.url}/v1/chat/completions`;
  const plain = await raw(url, CHAT, OPENAI_HEADERS);
  t.equal(plain.status, 200);
  t.equal(plain.headers['content-encoding'], undefined, 'no accept-encoding: not compressed');
  t.equal(plain.headers.vary, 'accept-encoding', 'but marked as varying by it');
  t.ok(plain.body.length >= 300, `a body above minBytes (${plain.body.length} bytes)`);
  for (const encoding of ['gzip', 'br', 'deflate'] as const) {
    const r = await raw(url, CHAT, { ...OPENAI_HEADERS, 'accept-encoding': encoding });
    t.equal(r.headers['content-encoding'], encoding, `${encoding}: content-encoding`);
    t.equal(r.headers.vary, 'accept-encoding');
    t.equal(Number(r.headers['content-length']), r.body.length, 'content-length counts the compressed bytes');
    const decoded = JSON.parse(DECODE[encoding](r.body).toString('utf8'));
    t.equal(decoded.object, 'chat.completion', `${encoding}: decodes to the completion`);
    t.ok(r.body.length < plain.body.length, `${encoding}: ${r.body.length} bytes instead of ${plain.body.length}`);
  }
  // A short body (an error: 400 with a few dozen bytes) goes as it is, without vary.
  const small = await raw(url, { model: 'gpt-4o-mini' }, { ...OPENAI_HEADERS, 'accept-encoding': 'gzip' });
  t.equal(small.status, 400);
  t.equal(small.headers['content-encoding'], undefined, 'a body below minBytes is not compressed');
  t.equal(small.headers.vary, undefined);
  t.equal(JSON.parse(small.body.toString()).error.type, 'invalid_request_error');
  // A fault that mangles the body keeps its bytes as the fault makes them.
  const faulted = await raw(url, CHAT, { ...OPENAI_HEADERS, 'accept-encoding': 'gzip', 'x-sim-fault': 'invalid_json' });
  t.equal(faulted.headers['content-encoding'], undefined, 'a faulted body is never compressed');
});

t.test('compression off (the default): nothing changes', async (t) => {
  const s = await startServer({});
  t.teardown(() => s.close());
  const r = await raw(`${s.url}/v1/chat/completions`, CHAT, { ...OPENAI_HEADERS, 'accept-encoding': 'gzip, br' });
  t.equal(r.headers['content-encoding'], undefined);
  t.equal(r.headers.vary, undefined);
  t.equal(JSON.parse(r.body.toString()).object, 'chat.completion');
});

t.test('the official SDKs decode compressed bodies (their fetch asks for them)', async (t) => {
  const s = await startServer({ compression: { enabled: true, minBytes: 100 } });
  t.teardown(() => s.close());
  const encodings: string[] = [];
  const watching = (async (url: string, init: RequestInit) => {
    const res = await fetch(url, init);
    encodings.push(res.headers.get('content-encoding') ?? 'none');
    return res;
  }) as typeof fetch;
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${s.url}/v1`, fetch: watching, maxRetries: 0 });
  const chat = await openai.chat.completions.create(CHAT as OpenAI.ChatCompletionCreateParamsNonStreaming);
  t.ok(chat.choices[0]!.message.content!.length > 0, 'openai: the completion');
  const vectors = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two', 'three'] });
  t.equal(vectors.data.length, 3, 'openai: the embeddings');
  t.equal(vectors.data[0]!.embedding.length, 1536);
  const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: s.url, fetch: watching, maxRetries: 0 });
  const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'compress me' }] });
  t.equal(message.type, 'message', 'anthropic: the message');
  t.same(encodings, ['gzip', 'gzip', 'gzip'], 'every answer came compressed (node 20 fetch sends accept-encoding: gzip, deflate)');
});

t.test('streams: as they are unless compression.streams; then compressed and flushed event by event', async (t) => {
  const off = await startServer({ compression: { enabled: true, minBytes: 0 } });
  t.teardown(() => off.close());
  const sse = await raw(`${off.url}/v1/chat/completions`, { ...CHAT, stream: true }, { ...OPENAI_HEADERS, 'accept-encoding': 'gzip' });
  t.equal(sse.headers['content-encoding'], undefined, 'streams.false: SSE goes uncompressed');
  t.match(sse.body.toString(), /data: \[DONE\]\n\n$/);

  const on = await startServer({ compression: { enabled: true, streams: true }, timeScale: 1 });
  t.teardown(() => on.close());
  // Ten events 100 ms apart: each must be readable when it is sent, not when the stream ends.
  const seen: { at: number; text: string }[] = [];
  const started = performance.now();
  const ended = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
    const headers = { ...ANTHROPIC_HEADERS, 'accept-encoding': 'gzip', 'x-sim-ttft-ms': '50', 'x-sim-itl-ms': '100' };
    const req = request(`${on.url}/v1/messages`, { method: 'POST', headers }, (res) => {
      const gunzip = createGunzip();
      res.pipe(gunzip);
      gunzip.on('data', (d: Buffer) => seen.push({ at: performance.now() - started, text: d.toString() }));
      gunzip.on('end', () => resolve(res.headers));
      gunzip.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'stream' }] }));
  });
  t.equal(ended['content-encoding'], 'gzip', 'the stream is gzip-encoded');
  t.equal(ended['content-type'], 'text/event-stream; charset=utf-8');
  const text = seen.map((s) => s.text).join('');
  t.match(text, /^event: message_start\n/m, 'it decodes to the Anthropic stream');
  t.match(text, /event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/);
  const firstDelta = seen.find((s) => s.text.includes('content_block_delta'));
  const last = seen[seen.length - 1]!;
  t.ok(firstDelta !== undefined && last.at - firstDelta.at >= 700, `the first token was readable ${Math.round(last.at - firstDelta!.at)} ms before the end (nine gaps of 100 ms)`);

  // The openai SDK reads a compressed stream token by token.
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${on.url}/v1`, maxRetries: 0 });
  const { data: stream, response } = await openai.chat.completions.create({ ...(CHAT as OpenAI.ChatCompletionCreateParamsNonStreaming), max_tokens: 8, stream: true }).withResponse();
  t.equal(response.headers.get('content-encoding'), 'gzip');
  let tokens = 0;
  for await (const chunk of stream) tokens += chunk.choices[0]?.delta?.content ? 1 : 0;
  t.equal(tokens, 8, 'openai SDK: every token of the gzip stream');

  // brotli streams flush too (a raw reader, decoding as it goes).
  const br = await new Promise<string>((resolve, reject) => {
    const req = request(`${on.url}/v1/chat/completions`, { method: 'POST', headers: { ...OPENAI_HEADERS, 'accept-encoding': 'br', 'x-sim-itl-ms': '5' } }, (res) => {
      const out: Buffer[] = [];
      const decoder = createBrotliDecompress();
      res.pipe(decoder);
      decoder.on('data', (d: Buffer) => out.push(d));
      decoder.on('end', () => resolve(Buffer.concat(out).toString()));
      decoder.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ ...CHAT, max_tokens: 5, stream: true }));
  });
  t.match(br, /data: \[DONE\]\n\n$/, 'br: the whole chat stream');
});

t.test('bad compression settings stop start-up with exit 2, naming the option', async (t) => {
  const r = spawnSync(process.execPath, [MAIN, '--check-config', '--compression.min-bytes', '-1'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /compression\.minBytes/);
  const e = spawnSync(process.execPath, [MAIN, '--check-config', '--compression.enabled', 'maybe'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(e.status, 2);
  t.match(e.stderr, /compression\.enabled/);
});
