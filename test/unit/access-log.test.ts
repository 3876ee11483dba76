import t from 'tap';
import { AccessLog, LineSink, type AccessEntry } from '../../src/log.js';

/**
 * The sink over a destination that keeps the buffers it is handed as they are (read only at the
 * end, so a batch buffer reused after its hand-over would show), with what they hold as text.
 */
class KeptSink extends LineSink {
  readonly batches: Buffer[];

  constructor() {
    const batches: Buffer[] = [];
    super({ write: (bytes: Buffer) => batches.push(bytes) > 0, flushSync: () => {} });
    this.batches = batches;
  }

  get written(): string[] {
    return this.batches.map((b) => b.toString('utf8'));
  }
}
const sink = (): KeptSink => new KeptSink();

const entry = (over: Partial<AccessEntry>): AccessEntry => ({
  method: 'POST',
  url: '/v1/chat/completions',
  requestId: 'chatcmpl-1',
  ownRequestId: true,
  key: null,
  modelLabel: 'gpt-4o-mini',
  promptTokens: 9,
  completionTokens: 3,
  ttftMs: 12.34,
  injected: '',
  ...over,
});

t.test('access lines are JSON, whatever the client put in its request id and path', async (t) => {
  const destination = sink();
  const log = new AccessLog(destination, { worker: 1 });
  const hostile = 'id "quoted" \\ back\u0001slash \u00e9 \u{1F600} \u007f';
  log.write(entry({ requestId: hostile, ownRequestId: false, url: '/v1/chat/completions?x="y"&q=\u00fc' }), 200, 5.06);
  log.write(entry({ key: { nameJson: '"team-a"' }, injected: 'server_error' }), 500, 1);
  log.flush();
  const lines = destination.written.join('').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 2);
  t.ok(destination.batches.every((b) => b.every((byte) => byte < 0x80)), 'the lines are ASCII alone (what is not, escaped)');
  t.match(lines[0], { level: 30, worker: 1, method: 'POST', path: '/v1/chat/completions?x="y"&q=\u00fc', status: 200, ms: 5.1, requestId: hostile, model: 'gpt-4o-mini', promptTokens: 9, completionTokens: 3, ttftMs: 12.3, msg: 'request' });
  t.match(lines[1], { status: 500, requestId: 'chatcmpl-1', key: 'team-a', fault: 'server_error' });
  t.ok(Math.abs((lines[0]!.time as number) - Date.now()) < 60_000, 'the time is the current Unix time in ms');
  // Its text is the second's, converted once a second, and the millisecond's, padded.
  const clock = new KeptSink();
  const timed = new AccessLog(clock, {});
  const realNow = Date.now;
  t.teardown(() => void (Date.now = realNow));
  for (const now of [1_733_497_200_005, 1_733_497_200_999, 1_733_497_201_000, 1_733_497_201_042, 1_733_497_200_120]) {
    Date.now = () => now;
    timed.write(entry({}), 200, 1);
  }
  Date.now = realNow;
  timed.flush();
  const times = clock.written.join('').trimEnd().split('\n').map((l) => (JSON.parse(l) as { time: number }).time);
  t.same(times, [1_733_497_200_005, 1_733_497_200_999, 1_733_497_201_000, 1_733_497_201_042, 1_733_497_200_120], 'every millisecond as Date.now() gave it, padded, across seconds and back');
});

t.test('while discarding (the start-up warm-up), lines are made but never written', async (t) => {
  const destination = sink();
  const log = new AccessLog(destination, { worker: 1 });
  log.write(entry({ requestId: 'before' }), 200, 1);
  log.discard(true);
  log.write(entry({ requestId: 'warm-1' }), 200, 1);
  log.flush(); // the 250 ms flush may come in the middle of the warm-up
  log.write(entry({ requestId: 'warm-1b' }), 200, 1);
  destination.write('{"msg":"warmed up","requestId":"pino"}\n'); // and so may a pino line, which leaves at once
  log.write(entry({ requestId: 'warm-2' }), 200, 1);
  log.discard(false);
  log.write(entry({ requestId: 'after' }), 200, 1);
  log.flush();
  const ids = destination.written.join('').trimEnd().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId);
  t.same(ids, ['pino', 'after'], 'only the pino line and the line made after discarding ended (what was pending when it began is dropped too)');
});

t.test('the line sink hands over whole lines, encoded once, in batches of at most 64 KiB', async (t) => {
  const out = sink();
  const lines = Array.from({ length: 2000 }, (_, i) => `{"n":${i},"text":"caf\u00e9 \u{1F600} ${'x'.repeat(i % 97)}"}\n`);
  for (const line of lines) out.append(line);
  t.ok(out.batches.length >= 2, 'full batches were handed over before the end');
  out.handOver();
  out.handOver(); // nothing pending: nothing handed over
  t.ok(out.batches.every((b) => b.length <= 64 * 1024 && b[b.length - 1] === 0x0a), 'every batch ends at a line end and fits 64 KiB');
  t.equal(out.written.join(''), lines.join(''), 'every line, in order, as UTF-8 (é and an astral emoji included)');
});

t.test("pino's lines leave at once; a text larger than a batch stays whole; drop forgets the batch", async (t) => {
  const out = sink();
  out.append('{"access":1}\n');
  out.drop();
  out.write('{"msg":"draining"}\n');
  t.same(out.written, ['{"msg":"draining"}\n'], 'the dropped batch never left, the log line left without waiting');
  const huge = `{"big":"${'\u00e9'.repeat(40_000)}"}\n`;
  out.append('{"access":2}\n');
  out.append(huge);
  out.append('{"access":3}\n');
  out.handOver();
  t.same(out.written.slice(1), ['{"access":2}\n', `${huge}{"access":3}\n`], 'the pending batch first, then the large text whole, in a batch of its own size');
});

t.test('the parts a line repeats from the last one change with it', async (t) => {
  const destination = sink();
  const log = new AccessLog(destination, {});
  const team = { nameJson: '"team-a"' };
  const sent: [Partial<AccessEntry>, number][] = [
    [{}, 200],
    [{}, 200],
    [{ url: '/v1/messages' }, 200],
    [{ url: '/v1/messages' }, 429],
    [{ url: '/v1/messages', method: 'GET' }, 429],
    [{ key: team }, 200],
    [{ key: team, modelLabel: 'claude-haiku-4-5' }, 200],
    [{ key: team, modelLabel: '' }, 200],
    [{ modelLabel: '' }, 200],
    [{}, 200],
  ];
  for (const [over, status] of sent) log.write(entry(over), status, 1);
  log.flush();
  const lines = destination.written.join('').trimEnd().split('\n');
  t.equal(lines.length, sent.length);
  lines.forEach((line, i) => {
    const [over, status] = sent[i]!;
    const e = entry(over);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    t.match(parsed, { method: e.method, path: e.url, status, ms: 1, requestId: 'chatcmpl-1' }, `line ${i}`);
    t.equal(parsed.key, e.key === null ? undefined : 'team-a', `line ${i}: its key`);
    t.equal(parsed.model, e.modelLabel === '' ? undefined : e.modelLabel, `line ${i}: its model`);
    // pino's order of fields, whichever parts were kept.
    t.same(Object.keys(parsed), ['level', 'time', 'pid', 'method', 'path', 'status', 'ms', 'requestId', ...(e.key ? ['key'] : []), ...(e.modelLabel ? ['model'] : []), 'promptTokens', 'completionTokens', 'ttftMs', 'msg'], `line ${i}: its fields in order`);
  });
});
