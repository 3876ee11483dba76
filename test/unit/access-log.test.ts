import t from 'tap';
import { AccessLog, type AccessEntry } from '../../src/log.js';

/** A destination that keeps what it is handed. */
function sink(): { written: string[]; write(line: string): boolean; flushSync(): void } {
  const written: string[] = [];
  return { written, write: (line: string) => written.push(line) > 0, flushSync: () => {} };
}

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
  const hostile = 'id "quoted" \\ back\u0001slash \u00e9';
  log.write(entry({ requestId: hostile, ownRequestId: false, url: '/v1/chat/completions?x="y"' }), 200, 5.06);
  log.write(entry({ key: { nameJson: '"team-a"' }, injected: 'server_error' }), 500, 1);
  log.flush();
  const lines = destination.written.join('').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 2);
  t.match(lines[0], { level: 30, worker: 1, method: 'POST', path: '/v1/chat/completions?x="y"', status: 200, ms: 5.1, requestId: hostile, model: 'gpt-4o-mini', promptTokens: 9, completionTokens: 3, ttftMs: 12.3, msg: 'request' });
  t.match(lines[1], { status: 500, requestId: 'chatcmpl-1', key: 'team-a', fault: 'server_error' });
  t.ok(Math.abs((lines[0]!.time as number) - Date.now()) < 60_000, 'the time is the current Unix time in ms');
});

t.test('while discarding (the start-up warm-up), lines are made but never written', async (t) => {
  const destination = sink();
  const log = new AccessLog(destination, { worker: 1 });
  log.write(entry({ requestId: 'before' }), 200, 1);
  log.discard(true);
  log.write(entry({ requestId: 'warm-1' }), 200, 1);
  log.flush(); // the 250 ms flush may come in the middle of the warm-up
  log.write(entry({ requestId: 'warm-2' }), 200, 1);
  log.discard(false);
  log.write(entry({ requestId: 'after' }), 200, 1);
  log.flush();
  const ids = destination.written.join('').trimEnd().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId);
  t.same(ids, ['after'], 'only the line made after discarding ended (what was pending when it began is dropped too)');
});
