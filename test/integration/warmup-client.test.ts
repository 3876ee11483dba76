import { connect } from 'node:net';
import t from 'tap';
import { answerEnd } from '../../src/http/warmup.js';
import { startServer } from '../helpers/server.js';

// The start-up warm-up's own client reads each answer to its end before it sends the next
// request on the connection (uWebSockets.js serves pipelined requests only when answered at once:
// README "HTTP edge"): `answerEnd` must find that end in the server's real bytes, and not before
// them, however they arrive.

/**
 * Two answers on one keep-alive connection, the second request sent once `answerEnd` found the
 * first answer's end (as the warm-up's client does): bytes of the first answer found after that
 * end would stand before the second answer's status line.
 */
async function twoAnswers(port: number, request: string): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let arrived: () => void = () => {};
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    arrived();
  });
  const deadline = Date.now() + 5000;
  const until = async (done: (bytes: Buffer) => boolean): Promise<Buffer> => {
    for (;;) {
      const bytes = Buffer.concat(chunks);
      if (done(bytes)) return bytes;
      if (Date.now() > deadline) throw new Error(`no whole answer within 5 s: ${bytes.length} bytes`);
      await new Promise<void>((r) => {
        arrived = r;
        setTimeout(r, 100);
      });
    }
  };
  try {
    socket.write(request);
    const first = await until((bytes) => answerEnd(bytes) > 0);
    socket.write(request);
    const end = answerEnd(first);
    return await until((bytes) => bytes.length > end && answerEnd(bytes.subarray(end)) > 0);
  } finally {
    socket.destroy();
  }
}

const request = (body: object, headers = ''): string => {
  const json = JSON.stringify(body);
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nauthorization: Bearer sk-test\r\n${headers}content-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
};

t.test('answerEnd finds the end of a JSON answer and of a chunked stream, never within them', async (t) => {
  // Real time, so a stream paced by the timing headers is written token by token (chunked).
  const s = await startServer({ timeScale: 1 });
  t.teardown(() => s.close());
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12 };
  const paced = 'x-sim-ttft-ms: 1\r\nx-sim-itl-ms: 1\r\n';
  for (const [name, body, headers] of [['JSON', chat, ''], ['stream', { ...chat, stream: true }, paced]] as const) {
    const bytes = await twoAnswers(s.port, request(body, headers));
    const end = answerEnd(bytes);
    const text = bytes.toString('latin1');
    // The second answer starts right where the first one ends.
    t.equal(text.indexOf('HTTP/1.1 200', 1), end, `${name}: the first answer ends where the second begins`);
    t.equal(end + answerEnd(bytes.subarray(end)), bytes.length, `${name}: the second answer ends with the bytes`);
    if (name === 'stream') t.match(text.slice(0, end), /transfer-encoding: chunked/i, 'the stream is chunked');
    else t.match(text.slice(0, end), /content-length: \d+/i, 'the JSON answer has a length');
    // However the first answer's bytes were split, no shorter prefix is taken for the whole.
    let early = 0;
    for (let cut = 0; cut < end; cut++) if (answerEnd(bytes.subarray(0, cut)) >= 0) early++;
    t.equal(early, 0, `${name}: every one of its ${end} shorter prefixes is incomplete`);
  }
});

t.test('a warm-up whose answers close their connections carries on over new ones', async (t) => {
  // A body limit below most warm-up bodies: those get 413 and the server closes the connection.
  const s = await startServer({ warmUp: true, bodyLimitBytes: 150 });
  t.teardown(() => s.close());
  t.ok(s.warmed !== null && s.warmed.refused > 0, `requests over the limit were refused (${s.warmed?.refused})`);
  t.ok(s.warmed !== null && s.warmed.refused < 1400, 'and the small ones were served (of 100 rounds of 14 requests)');
  const models = await fetch(`${s.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  t.equal(models.status, 200, 'the server serves after its warm-up');
});

t.test('the warm-up sets its own waits whatever the config says of timing headers and time scale', async (t) => {
  // With the models' own latencies (headers off) the warm-up took 24 s; at time scale 100, 10.8 s.
  const s = await startServer({ warmUp: true, control: { headers: false }, timeScale: 100 });
  t.teardown(() => s.close());
  t.equal(s.warmed?.refused, 0);
  t.ok(s.warmed !== null && s.warmed.ms < 5000, `it took ${Math.round(s.warmed?.ms ?? NaN)} ms, not the models' latencies stretched 100 times`);
  t.equal(s.server.services.timeScale, 100, 'the configured time scale is back for clients');
});
