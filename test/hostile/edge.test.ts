import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { MAIN, startCluster } from '../helpers/cluster.js';
import { send, startHostile, type Hostile } from '../helpers/hostile.js';

/** The HTTP edge, signals, start-up and slow clients, against a real 2-worker cluster. */

let h: Hostile;
t.before(async () => {
  // Long natural answers, so a stream can outgrow a stuck client's socket buffers.
  h = await startHostile(['--time-scale', '1', '--stream-stall-timeout-ms', '500', '--response.min-tokens', '60000', '--response.max-tokens', '60000']);
});
t.teardown(() => h.close());

/** Writes raw bytes on a fresh connection; resolves with what came back and whether the server closed it within `waitMs`. */
function raw(port: number, bytes: string, waitMs = 1000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on('error', () => {});
    socket.write(bytes);
  });
}

const chatStream = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200, stream: true });

t.test('SIGHUP reloads and kills nothing: the primary and a stream in flight carry on', async (t) => {
  const started = performance.now();
  const stream = send(`${h.c.url}/v1/chat/completions`, chatStream, { 'x-sim-ttft-ms': '100', 'x-sim-itl-ms': '2' });
  await new Promise((r) => setTimeout(r, 50));
  h.c.proc.kill('SIGHUP');
  await h.c.waitFor((l) => l.msg === 'configuration reloaded' && l.trigger === 'SIGHUP');
  const r = await stream;
  t.equal(r.status, 200);
  t.match(r.text, /data: \[DONE\]\n\n$/, 'the stream finished');
  t.ok(performance.now() - started > 100);
  t.equal((await fetch(`${h.c.url}/health`)).status, 200);
  t.same(h.deaths(), []);
});

t.test('a second instance on a served port refuses to start; a port held by another program too', async (t) => {
  const second = spawnSync(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', String(h.c.port), '--workers', '2'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(second.status, 2);
  t.equal(second.stdout, '', 'nothing started');
  t.match(second.stderr, /^llm-simulator: 127\.0\.0\.1:\d+ is already in use [^\n]*--share-port[^\n]*\n$/, 'one line');
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as AddressInfo).port;
  t.teardown(() => void other.close());
  for (const args of [['--workers', '2'], ['--workers', '0'], ['--workers', '2', '--share-port', 'true']]) {
    const r = spawnSync(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', String(port), ...args], { encoding: 'utf8', timeout: 15_000 });
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, /^llm-simulator: [^\n]+\n$/, `${args.join(' ')}: one line, no stack trace`);
    t.notMatch(r.stderr, /EPIPE|at [A-Za-z]+ \(/);
  }
});

t.test('--share-port joins a running simulator on purpose', async (t) => {
  const joined = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', String(h.c.port), '--workers', '1', '--share-port', 'true'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void joined.kill('SIGKILL'));
  const listening = await new Promise<boolean>((resolve) => {
    let out = '';
    joined.stdout!.on('data', (d) => (out += d) && /llm-simulator listening/.test(out) && resolve(true));
    joined.on('exit', () => resolve(false));
  });
  t.ok(listening, 'started beside the first');
});

t.test('config delays beyond the bound exit 2 before anything starts', async (t) => {
  for (const [flag, value] of [
    ['--drain-timeout-ms', '3000000000'],
    ['--time-scale', '1e9'],
    ['--respawn-delay-ms', '1e7'],
  ]) {
    const r = spawnSync(process.execPath, [MAIN, '--workers', '1', flag, value], { encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 2, `${flag} ${value}`);
    t.match(r.stderr, /^config: [a-zA-Z]+: [^\n]+\n$/);
  }
});

t.test('the HTTP edge: bad escapes are 404s, HEAD answers like GET without a body, junk never crashes a worker', async (t) => {
  const escaped = await fetch(`${h.c.url}/v1/models/%E0%A4%A`);
  t.equal(escaped.status, 404);
  t.match(await escaped.text(), /does not exist/);
  for (const path of ['/health', '/live', '/ready', '/health/ready']) {
    const head = await raw(h.c.port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 300);
    t.match(head.text, /^HTTP\/1\.1 200 OK\r\n[^]*content-length: 1[58]\r\n\r\n$/i, `HEAD ${path}: headers, no body`);
  }
  // What uWebSockets.js does not answer (README "HTTP edge"): the connection is dropped or left to
  // its idle timeout, and the worker serves everyone else.
  for (const junk of ['GARBAGE\r\n\r\n', 'GET /health HTTP/1.1\nHost: x\n\n', 'BREW /health HTTP/1.1\r\nHost: x\r\n\r\n', `GET /health HTTP/1.1\r\n${'x-h: v\r\n'.repeat(60)}\r\n`, 'GET /health HTTP/1.0\r\n\r\n']) {
    await raw(h.c.port, junk, 200);
  }
  for (let i = 0; i < 4; i++) t.equal((await fetch(`${h.c.url}/v1/models`, { headers: { connection: 'close' } })).status, 200);
  t.same(h.deaths(), []);
});

t.test('pipelined requests: answers given at once are all sent; a paced one is not, and the worker serves everyone else', async (t) => {
  const health = await raw(h.c.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(3), 500);
  t.equal(health.text.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, 3, 'three pipelined requests answered synchronously: three answers');
  // uWebSockets.js aborts an answer still pending when the next request of the same read
  // arrives, and never hands the ones behind it to the server (README "HTTP edge").
  const chat = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${chatStream.length}\r\n\r\n${chatStream}`;
  const paced = await raw(h.c.port, chat + chat, 500);
  t.equal(paced.text, '', 'two pipelined streams: no bytes at all');
  for (let i = 0; i < 4; i++) t.equal((await fetch(`${h.c.url}/v1/models`, { headers: { connection: 'close' } })).status, 200);
  t.same(h.deaths(), []);
});

t.test('stream headers leave at admission, before the first token', async (t) => {
  const started = performance.now();
  const res = await fetch(`${h.c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-ttft-ms': '1500' }, body: chatStream });
  const headersAt = performance.now() - started;
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.ok(headersAt < 700, `headers after ${headersAt.toFixed(0)} ms (first token at 1500)`);
  const text = await res.text();
  t.match(text, /^: ping\n\ndata: \{/, 'an SSE comment ends the header block; the events follow');
  t.ok(performance.now() - started >= 1500);
});

t.test('a client that stops reading is cut off after streamStallTimeoutMs; the slot and stream are freed', async (t) => {
  // A long, fast stream into a socket nobody reads: the kernel buffers fill, uWS reports backpressure.
  const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 60_000, stream: true });
  const socket = connect(h.c.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  const started = performance.now();
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nx-sim-ttft-ms: 0\r\nx-sim-itl-ms: 0\r\nx-request-id: stuck-reader\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  const cut = await h.c.waitFor((l) => l.msg === 'stream closed: its client stopped reading', 10_000);
  const ms = performance.now() - started;
  t.ok(ms >= 500 && ms < 5000, `cut off after ${ms.toFixed(0)} ms (stalled ${cut.stalledMs} ms)`);
  // Reading again, the client finds the connection closed behind what was buffered.
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    socket.once('close', () => (clearTimeout(timer), resolve(true)));
  });
  socket.resume();
  t.ok(await closed, 'the server closed the connection');
  const access = await h.c.waitFor((l) => l.requestId === 'stuck-reader' && l.status !== undefined);
  t.equal(access.status, 499);
  const deadline = Date.now() + 5000;
  let metrics = '';
  while (Date.now() < deadline) {
    metrics = await (await fetch(`${h.c.url}/metrics`)).text();
    if (/^llm_stream_stalled_total\{model="gpt-4\.1"\} 1$/m.test(metrics) && /^llm_active_requests\{model="gpt-4\.1"\} 0$/m.test(metrics)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(metrics, /^llm_stream_stalled_total\{model="gpt-4\.1"\} 1$/m);
  t.match(metrics, /^llm_active_requests\{model="gpt-4\.1"\} 0$/m, 'nothing left in flight');
});

t.test('a body sent a few bytes per packet is read whole', async (t) => {
  const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'drip '.repeat(2000) }], max_tokens: 2 });
  const socket = connect(h.c.port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.on('data', (d) => (text += d));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nx-sim-ttft-ms: 0\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`);
  for (let i = 0; i < body.length; i += 50) {
    socket.write(body.slice(i, i + 50));
    await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 10_000;
  while (!/"usage"/.test(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  t.match(text, /^HTTP\/1\.1 200 OK/);
  t.match(text, /"prompt_tokens":\d+/);
});

const nginxMissing = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).error !== undefined;

t.test('HTTP/1.0 clients are served through a reverse proxy speaking HTTP/1.1 upstream (nginx), token by token', { skip: nginxMissing ? 'nginx is not installed (.ci/run installs nginx-light)' : false }, async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-nginx-'));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${h.c.port};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  const proc = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  t.teardown(() => void proc.kill('SIGKILL'));
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await raw(port, 'GET /health HTTP/1.0\r\n\r\n', 500).catch(() => ({ text: '', closed: true }));
    if (r.text.startsWith('HTTP/1.1 200')) break;
    if (Date.now() > deadline) return t.fail('nginx did not come up');
    await new Promise((r) => setTimeout(r, 50));
  }
  // An HTTP/1.0 client (nginx's own default upstream protocol, curl -0, old load tools) through nginx.
  const health = await raw(port, 'GET /health HTTP/1.0\r\n\r\n', 2000);
  t.match(health.text, /^HTTP\/1\.1 200 OK[^]*\{"status":"ok"\}$/);
  const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true });
  const arrivals: number[] = [];
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-ttft-ms': '50', 'x-sim-itl-ms': '100' }, body });
  t.equal(res.status, 200);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body!) {
    const part = decoder.decode(chunk, { stream: true });
    text += part;
    for (let i = 0; i < (part.match(/"delta":\{"content":/g) ?? []).length; i++) arrivals.push(performance.now() - started);
  }
  t.equal(arrivals.length, 10, 'ten tokens');
  t.match(text, /data: \[DONE\]\n\n$/);
  // 100 ms apart at the server: through an unbuffered proxy they still arrive one by one, not in one lump.
  const spread = arrivals[arrivals.length - 1]! - arrivals[0]!;
  t.ok(spread > 600, `tokens spread over ${spread.toFixed(0)} ms (900 ms scheduled)`);
});
