/**
 * The baseline: a bare uWebSockets.js server doing the least a JSON API can do: read the POST
 * body, JSON.parse it, answer a fixed body of the size the simulator answers. Run as its own
 * process by bench/run.ts: `node dist/bench/baseline-uws.js <port> <bodyBytes>`.
 */
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 0);
const bodyBytes = Number(process.argv[3] ?? 600);
const reply = JSON.stringify({ id: 'x', text: 'y'.repeat(Math.max(0, bodyBytes - 20)) });

uWS
  .App()
  .post('/*', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    let body = Buffer.alloc(0);
    res.onData((chunk, isLast) => {
      body = Buffer.concat([body, Buffer.from(chunk)]);
      if (!isLast || aborted) return;
      JSON.parse(body.toString('utf8'));
      res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(reply));
    });
  })
  .get('/health', (res) => void res.end('ok'))
  .listen('127.0.0.1', port, (socket) => {
    if (socket === false) process.exit(1);
    process.stdout.write(`${JSON.stringify({ msg: 'baseline listening', port: uWS.us_socket_local_port(socket) })}\n`);
  });
