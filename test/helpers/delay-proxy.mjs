// A reverse proxy for the gateway benchmark's tests, run as its own process (as a gateway is):
// `node delay-proxy.mjs <upstream> <delayMs> [options]`. It holds each request `delayMs` before
// forwarding it (node:http, keep-alive) and passes the answer and its headers through chunk by
// chunk. Options: `drop-ids` forwards no x-request-id; `serial` holds one request at a time (a
// gateway with capacity for 1000 / delayMs requests a second, whose queue grows beyond it);
// `stall=<n>:<ms>` blocks the proxy's event loop for <ms> when the <n>th request arrives, once (a
// long GC pause); `strip-headers` answers with content-type only; `buffer` sends the answer in one
// piece once it has all of it; `mangle` (with buffer) drops a stream's second content event and
// its `data: [DONE]`, and adds one to the usage's completion_tokens; `retries=<n>` tries a request
// again, up to n times, when the upstream answers 429 or 5xx, after the wait its `retry-after-ms`
// (else `retry-after`) says, or at once with `impatient`; `cancel` ends the upstream request when
// the client goes away (without it, the upstream answer is read to its end, as by a gateway that
// does not propagate cancellation); `fallback=<url>` sends a request the upstream answered with a
// 5xx to that second upstream at once (a gateway's failover). It prints {"listening":port} once, then {"held":ms} per request: how long it
// really kept the request, from its arrival to the moment the forwarded request was handed to the
// kernel (timers fire late).
import { Agent, createServer, request } from 'node:http';

const [upstream, delayText, ...options] = process.argv.slice(2);
const delayMs = Number(delayText);
const dropIds = options.includes('drop-ids');
const serial = options.includes('serial');
const strip = options.includes('strip-headers');
const buffer = options.includes('buffer');
const mangle = options.includes('mangle');
const retries = Number(options.find((o) => o.startsWith('retries='))?.slice(8) ?? 0);
const impatient = options.includes('impatient');
const cancel = options.includes('cancel');
const fallback = options.find((o) => o.startsWith('fallback='))?.slice(9);
const [stallAt, stallMs] = (options.find((o) => o.startsWith('stall='))?.slice(6).split(':') ?? ['0', '0']).map(Number);
const agent = new Agent({ keepAlive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let queue = Promise.resolve();
let arrivals = 0;
const server = createServer((req, res) => {
  const arrived = performance.now();
  if (++arrivals === stallAt) while (performance.now() - arrived < stallMs);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    if (serial) await (queue = queue.then(() => sleep(delayMs)));
    else await sleep(delayMs);
    // Every request header but the connection's own (and x-request-id with drop-ids).
    const { host, connection, 'content-length': _, 'x-request-id': id, ...headers } = req.headers;
    if (!dropIds && id !== undefined) headers['x-request-id'] = id;
    const forward = (attempt, base = upstream) => {
      const up = request(`${base}${req.url}`, { method: 'POST', headers, agent }, (answer) => {
        if (fallback !== undefined && base !== fallback && answer.statusCode >= 500) {
          answer.resume();
          answer.on('end', () => forward(attempt, fallback));
          return;
        }
        if (attempt < retries && (answer.statusCode === 429 || answer.statusCode >= 500)) {
          const ms = answer.headers['retry-after-ms'] ?? (answer.headers['retry-after'] === undefined ? undefined : Number(answer.headers['retry-after']) * 1000);
          answer.resume();
          answer.on('end', () => setTimeout(() => forward(attempt + 1, base), impatient ? 0 : Number(ms ?? 0)));
          return;
        }
        const { connection, 'keep-alive': _, 'transfer-encoding': __, 'content-length': ___, ...rest } = answer.headers;
        res.writeHead(answer.statusCode, strip ? { 'content-type': String(answer.headers['content-type']) } : rest);
        const body = [];
        answer.on('data', (chunk) => (buffer ? body.push(chunk) : res.write(chunk)));
        answer.on('end', () => res.end(buffer ? (mangle ? mangled(Buffer.concat(body).toString()) : Buffer.concat(body)) : undefined));
        if (cancel) res.on('close', () => res.writableFinished || up.destroy());
      });
      up.on('error', () => res.destroy());
      if (attempt === 0 && base === upstream) up.on('finish', () => process.stdout.write(`${JSON.stringify({ held: performance.now() - arrived })}\n`));
      up.end(Buffer.concat(chunks));
    };
    forward(0);
  });
});
function mangled(text) {
  const events = text.split('\n\n').filter((e) => e !== '' && e !== 'data: [DONE]');
  const second = events.findIndex((e, i) => i > 1 && e.includes('"content":'));
  if (second !== -1) events.splice(second, 1);
  return events.map((e) => `${e.replace(/"completion_tokens":(\d+)/, (_, n) => `"completion_tokens":${Number(n) + 1}`)}\n\n`).join('');
}

server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`));
