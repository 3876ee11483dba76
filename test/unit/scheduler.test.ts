import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { Scheduler, type Timed } from '../../src/sim/scheduler.js';

class Probe implements Timed {
  due = 0;
  slot = 0;
  position = -1;
  firedAt = -1;
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  fire(now: number): void {
    this.firedAt = now;
    this.log.push(this.name);
  }
  fail(err: unknown): void {
    throw err;
  }
}

t.test('fires in deadline order, never early by more than a millisecond', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const start = performance.now();
  const probes = [50, 10, 30, 20, 40, 10].map((ms, i) => {
    const p = new Probe(`${ms}-${i}`, log);
    s.add(p, start + ms);
    return p;
  });
  await new Promise((r) => setTimeout(r, 90));
  t.same(log, ['10-1', '10-5', '20-3', '30-2', '40-4', '50-0']);
  for (const p of probes) t.ok(p.firedAt >= p.due - 1, `${p.name} not early`);
  t.equal(s.size, 0);
});

t.test('remove takes an entry out from anywhere in the heap', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const start = performance.now();
  const probes = Array.from({ length: 50 }, (_, i) => {
    const p = new Probe(String(i), log);
    s.add(p, start + 5 + ((i * 37) % 50));
    return p;
  });
  for (const p of probes.filter((_, i) => i % 3 === 0)) s.remove(p);
  s.remove(probes[0]!); // twice is harmless
  t.equal(s.size, 50 - 17);
  await new Promise((r) => setTimeout(r, 80));
  t.equal(log.length, 33);
  t.notOk(log.some((name) => Number(name) % 3 === 0), 'removed entries never fire');
  const fired = log.map((name) => probes[Number(name)]!.due);
  t.same(fired, [...fired].sort((a, b) => a - b), 'in order');
});

t.test('an entry can reschedule itself from fire()', async (t) => {
  const s = new Scheduler();
  let count = 0;
  const start = performance.now();
  const item: Timed = {
    due: 0,
    slot: 0,
    position: -1,
    fire() {
      if (++count < 5) s.add(item, start + count * 5);
    },
    fail: (err) => {
      throw err;
    },
  };
  s.add(item, start);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(count, 5);
});

t.test('deadlines beyond the wheel wait in the overflow and fire on time', async (t) => {
  const s = new Scheduler(32); // 32 slots of 0.25 ms: an 8 ms wheel
  const log: string[] = [];
  const start = performance.now();
  const probes = [30, 3, 20, 12, 45].map((ms) => {
    const p = new Probe(String(ms), log);
    s.add(p, start + ms);
    return p;
  });
  const gone = new Probe('gone', log);
  s.add(gone, start + 25);
  t.equal(s.size, 6);
  s.remove(gone);
  t.equal(s.size, 5);
  await new Promise((r) => setTimeout(r, 70));
  t.same(log, ['3', '12', '20', '30', '45']);
  for (const p of probes) t.ok(p.firedAt >= p.due - 1 && p.firedAt <= p.due + 15, `${p.name} fired at +${(p.firedAt - p.due).toFixed(2)} ms`);
  t.equal(s.size, 0);
});

t.test('an entry removed by another entry firing in the same slot does not fire', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const due = performance.now() + 5;
  const victims = Array.from({ length: 5 }, (_, i) => new Probe(`v${i}`, log));
  const killer: Timed = {
    due: 0,
    slot: 0,
    position: -1,
    fire() {
      log.push('killer');
      for (const v of victims.slice(1, 4)) s.remove(v);
    },
    fail: (err) => {
      throw err;
    },
  };
  s.add(victims[0]!, due);
  s.add(killer, due);
  for (const v of victims.slice(1)) s.add(v, due);
  await new Promise((r) => setTimeout(r, 20));
  t.same(log, ['v0', 'killer', 'v4']);
  t.equal(s.size, 0);
});

t.test('a long idle stretch and an overdue deadline', async (t) => {
  const s = new Scheduler(32);
  const log: string[] = [];
  s.add(new Probe('first', log), performance.now() + 1);
  await new Promise((r) => setTimeout(r, 30)); // the wheel empties and its cursor falls behind
  const late = new Probe('late', log);
  s.add(late, performance.now() - 5); // already due: served at once
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 2));
  t.same(log, ['first', 'late']);
});

t.test('a slot longer than one turn’s budget is finished on the next turn', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const due = performance.now() + 3;
  const turns = new Set<number>();
  let turn = 0;
  const tick = setInterval(() => turn++, 0);
  const slow = Array.from({ length: 12 }, (_, i) => {
    const p = new Probe(String(i), log);
    p.fire = (now: number) => {
      p.firedAt = now;
      log.push(p.name);
      turns.add(turn);
      const until = performance.now() + 1; // 1 ms of work each: the 4 ms budget runs out
      while (performance.now() < until);
    };
    s.add(p, due);
    return p;
  });
  s.remove(slow[5]!);
  await new Promise((r) => setTimeout(r, 60));
  clearInterval(tick);
  // Insertion order, but a removal moves the slot's last entry into the gap (all are due within 0.25 ms).
  t.same(log, ['0', '1', '2', '3', '4', '11', '6', '7', '8', '9', '10']);
  t.ok(turns.size >= 2, `spread over ${turns.size} turns of the event loop`);
  t.equal(s.size, 0);
});

t.test('an overrun resumes where it stopped; removals and additions meanwhile; a long fired prefix is reclaimed', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const due = performance.now() + 2;
  const items = Array.from({ length: 3000 }, (_, i) => new Probe(String(i), log));
  // Item 2000 outlasts the budget: the pass stops after it with 999 live entries behind 2001 fired ones.
  items[2000]!.fire = (now: number) => {
    items[2000]!.firedAt = now;
    log.push('2000');
    const until = performance.now() + 5;
    while (performance.now() < until);
    s.remove(items[2500]!); // removed while its slot is half served
  };
  for (const p of items) s.add(p, due);
  const deadline = performance.now() + 5000;
  while (log.length < 2001 && performance.now() < deadline) await new Promise((r) => setImmediate(r));
  t.equal(log.length, 2001, 'the pass stopped after the long item');
  // Moved to the front when the pass stopped after 2001 fired entries (or, on a machine slow
  // enough to stop an earlier pass past 1,500, then: either way by more than 1,000).
  t.ok(items[2001]!.position < 1000, `the fired prefix was reclaimed (item 2001 at ${items[2001]!.position})`);
  const late = new Probe('late', log);
  s.add(late, performance.now() - 1); // overdue: joins the unfinished slot
  while (late.firedAt < 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  const expected = items.map((p) => p.name).filter((n) => n !== '2500');
  expected.splice(expected.indexOf('2999'), 1);
  expected.splice(2500, 0, '2999'); // the removal moved the slot's last entry into its place
  t.same(log, [...expected, 'late']);
  t.equal(s.size, 0);
});

t.test('a slot that outlasts its turn does not deoptimise the optimised scheduler', async (t) => {
  const helper = join(dirname(fileURLToPath(import.meta.url)), '../helpers/scheduler-overrun.mjs');
  const dist = join(dirname(fileURLToPath(import.meta.url)), '../../dist/src/sim/scheduler.js');
  const { stdout } = await promisify(execFile)(process.execPath, ['--trace-opt', '--trace-deopt-verbose', helper, dist], { maxBuffer: 256 * 1024 * 1024 });
  const [warming, rest = ''] = stdout.split('--- warm');
  const [after = '', summary = ''] = rest.split('--- done');
  t.match(warming, /completed optimizing [^\n]*<JSFunction fireSlot/, 'the warm-up optimised fireSlot');
  t.ok(Number(/overrun turns: (\d+)/.exec(summary)?.[1]) >= 2, 'the long slot was served over more than one turn');
  // A bailout's next line says where it happened (innermost first, when inlined).
  const lines = after.split('\n');
  const ours = lines.filter((line, i) => line.startsWith('[bailout') && /deoptimize at <[^>]*\/dist\/src\/sim\/scheduler\.js:/.test(lines[i + 1] ?? ''));
  t.same(ours, [], 'no deoptimisation of the scheduler after the overrun');
});

t.test('what an item throws stays with that item; the others still fire', async (t) => {
  const s = new Scheduler();
  const log: string[] = [];
  const due = performance.now() + 2;
  const failures: unknown[] = [];
  const bad: Timed = {
    due: 0,
    slot: 0,
    position: -1,
    fire() {
      throw new RangeError('boom');
    },
    fail: (err) => void failures.push(err),
  };
  const after = new Probe('after', log);
  s.add(bad, due);
  s.add(after, due);
  const deadline = performance.now() + 2000;
  while (after.firedAt < 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  t.same(log, ['after']);
  t.equal(failures.length, 1);
  t.match(String(failures[0]), /boom/);
});

t.test('non-finite deadlines are refused; far ones arm a timer Node accepts', async (t) => {
  const s = new Scheduler();
  const p = new Probe('far', []);
  t.throws(() => s.add(p, NaN), RangeError);
  t.throws(() => s.add(p, Infinity), RangeError);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  s.add(p, performance.now() + 1e12);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 5));
  process.off('warning', onWarning);
  t.same(warnings, [], 'no TimeoutOverflowWarning');
  t.equal(s.size, 1);
  s.remove(p);
  t.equal(s.size, 0);
});
