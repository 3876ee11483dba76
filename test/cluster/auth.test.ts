import t from 'tap';
import { startCluster } from '../helpers/cluster.js';

// No key ever reaches a log line: the access log names no key, and the warning and error paths
// (a wrong key, a missing one) print none either. Every line the process tree wrote is searched.

t.test('no API key appears in any log line', async (t) => {
  const secret = 'sk-secret-never-logged-0123';
  const wrong = 'sk-wrong-never-logged-4567';
  const c = await startCluster(['--workers', '2', '--auth.mode', 'keys', '--auth.keys', JSON.stringify([{ key: secret, name: 'ops' }]), '--time-scale', '0', '--log-level', 'debug']);
  t.teardown(() => void c.proc.kill('SIGKILL'));
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  const statuses: number[] = [];
  for (const key of [secret, wrong, '']) {
    for (let i = 0; i < 10; i++) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': `auth-${statuses.length}` };
      if (key !== '') headers.authorization = `Bearer ${key}`;
      statuses.push((await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers, body })).status);
    }
  }
  t.same([...new Set(statuses)], [200, 401]);
  // Access lines are batched: wait until all 30 have been written.
  await c.waitFor(() => c.lines.filter((l) => String(l.requestId).startsWith('auth-')).length >= 30, 5000).catch(() => undefined);
  t.equal(c.lines.filter((l) => String(l.requestId).startsWith('auth-')).length, 30, 'every request was logged');
  const text = c.lines.map((l) => JSON.stringify(l)).join('\n');
  t.notOk(text.includes(secret), 'the configured key is in no line');
  t.notOk(text.includes(wrong), 'a presented wrong key is in no line');
  t.notOk(text.includes('never-logged'), 'nor any part of either');
});
