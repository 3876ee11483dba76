// Run under `node --trace-opt --trace-deopt-verbose scheduler-overrun.mjs <dist/src/sim/scheduler.js>`:
// warms a Scheduler with cheap slots until V8 optimises it, then gives it one slot whose work
// outlasts a turn's budget, then cheap slots again. Markers on stdout separate the phases; the
// last line says over how many event-loop turns the long slot was served.
import { performance } from 'node:perf_hooks';

const { Scheduler } = await import(process.argv[2]);
const scheduler = new Scheduler();
let fired = 0;
let turn = 0;
const turns = new Set();

class Item {
  constructor(workMs) {
    this.due = 0;
    this.slot = 0;
    this.position = -1;
    this.workMs = workMs;
  }
  // One path for cheap and slow items alike, so that the slow ones run no code the warm-up left cold.
  fire() {
    fired++;
    turns.add(turn);
    const until = performance.now() + this.workMs;
    while (performance.now() < until);
  }
  fail(err) {
    throw err;
  }
}

async function round(items) {
  const want = fired + items.length;
  const due = performance.now() + 0.3;
  for (const item of items) scheduler.add(item, due);
  const deadline = performance.now() + 5000;
  while (fired < want && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  if (fired < want) throw new Error('a round was not served within 5 s');
}

const ticker = setInterval(() => turn++, 0);
// A far deadline keeps the wheel from emptying, as a server's streams do: every turn re-arms it.
const far = new Item(0);
scheduler.add(far, performance.now() + 60_000);
const cheap = Array.from({ length: 64 }, () => new Item(0));
for (let r = 0; r < 3000; r++) await round(cheap);
console.log('--- warm');
turns.clear();
await round(Array.from({ length: 12 }, () => new Item(1))); // 12 ms of work in one slot; the budget is 4 ms
const overrunTurns = turns.size;
for (let r = 0; r < 10; r++) await round(cheap);
console.log('--- done');
console.log(`overrun turns: ${overrunTurns}`);
clearInterval(ticker);
scheduler.remove(far);
