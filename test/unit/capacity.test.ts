import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { Capacity, type Waiter } from '../../src/sim/capacity.js';
import { slowdown } from '../../src/sim/latency.js';
import { Profiles } from '../../src/sim/profiles.js';

const profiles = new Profiles(validateConfig({ profiles: { small: { maxConcurrent: 2, queueLimit: 2 }, open: {} } }));
const small = profiles.get('small')!;

class Recorder implements Waiter {
  admitted: number | null = null;
  admit(u: number) {
    this.admitted = u;
  }
}

t.test('runs up to capacity, queues up to the limit, refuses beyond', async (t) => {
  const c = new Capacity();
  const m = c.model('m', small);
  t.equal(c.model('m', small), m, 'one load per model');
  const w = Array.from({ length: 6 }, () => new Recorder());
  t.same(w.slice(0, 5).map((x) => m.acquire(small, x)), ['running', 'running', 'queued', 'queued', 'refused']);
  t.same([m.running, m.waiting], [2, 2]);
  t.ok(c.refuses('m', small), 'refused before planning once the queue is full');
  t.notOk(c.refuses('other', small), 'a model not served yet is never refused');
  t.same([w[0]!.admitted, w[1]!.admitted], [0, 0.5], 'utilisation before each admission');
  t.same(c.counts(), { m: [2, 2] });
  m.release();
  t.equal(w[2]!.admitted, 0.5, 'first in line gets the freed slot');
  t.equal(w[3]!.admitted, null);
  m.abandon(w[3]!);
  t.same(c.counts(), { m: [2, 0] });
  t.equal(m.acquire(small, w[5]!), 'queued');
});

t.test('remote counts from other workers gate admission', async (t) => {
  const c = new Capacity();
  const m = c.model('m', small);
  const a = new Recorder();
  m.acquire(small, a);
  c.setRemote({ m: [1, 0] });
  const b = new Recorder();
  t.equal(m.acquire(small, b), 'queued', '1 local + 1 remote = capacity');
  c.setRemote({ m: [0, 0] });
  t.equal(b.admitted, 0.5, 'admitted once the remote slot frees');
  c.setRemote({ m: [0, 1] });
  t.equal(m.acquire(small, new Recorder()), 'queued');
  t.equal(m.acquire(small, new Recorder()), 'refused', 'remote waiting counts toward the queue limit');
});

t.test('unlimited models always run', async (t) => {
  const c = new Capacity();
  const open = profiles.get('open')!;
  const m = c.model('m', open);
  for (let i = 0; i < 100; i++) t.equal(m.acquire(open, new Recorder()), 'running');
  t.equal(m.running, 100);
  t.same(c.counts(), {}, 'and are not coordinated across workers');
});

t.test('slowdown curves', async (t) => {
  t.equal(slowdown(1, 0.7), 1);
  t.equal(slowdown(3, 0), 1);
  t.equal(slowdown(3, 0.5), 2);
  t.equal(slowdown(3, 1), 3);
  t.equal(slowdown(3, 4), 3, 'linear curves stop at capacity');
  const points: [number, number][] = [[0, 1], [0.5, 1.2], [1, 3]];
  t.equal(slowdown(points, 0.25), 1.1);
  t.equal(slowdown(points, 0.75), 2.1);
  t.equal(slowdown(points, 2), 3);
});
