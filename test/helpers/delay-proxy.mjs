// A reverse proxy for the gateway benchmark's tests, run as its own process (as a gateway is):
// `node delay-proxy.mjs <upstream> <delayMs> [drop-ids]`. It holds each request `delayMs` before
// forwarding it (node:http, keep-alive) and passes the answer through chunk by chunk. It prints
// {"listening":port} once, then {"held":ms} per request: how long it really kept the request,
// from its arrival to the moment the forwarded request was handed to the kernel (timers fire late).
import { Agent, createServer, request } from 'node:http';

const [upstream, delayText, drop] = process.argv.slice(2);
const delayMs = Number(delayText);
const agent = new Agent({ keepAlive: true });
const server = createServer((req, res) => {
  const arrived = performance.now();
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    await new Promise((r) => setTimeout(r, delayMs));
    const headers = { 'content-type': String(req.headers['content-type']), authorization: String(req.headers.authorization ?? '') };
    if (drop !== 'drop-ids' && req.headers['x-request-id'] !== undefined) headers['x-request-id'] = String(req.headers['x-request-id']);
    const up = request(`${upstream}${req.url}`, { method: 'POST', headers, agent }, (answer) => {
      res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type']) });
      answer.on('data', (chunk) => res.write(chunk));
      answer.on('end', () => res.end());
    });
    up.on('finish', () => process.stdout.write(`${JSON.stringify({ held: performance.now() - arrived })}\n`));
    up.end(Buffer.concat(chunks));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`));
