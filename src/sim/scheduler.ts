import { performance } from 'node:perf_hooks';

/** Something due at an absolute time (performance.now() milliseconds). */
export interface Timed {
  due: number;
  /** Position in the scheduler's heap, -1 when not scheduled. Owned by the scheduler. */
  heapIndex: number;
  fire(now: number): void;
}

/**
 * One timer for every pending deadline in the process: a binary min-heap on `due`, with a single
 * setTimeout armed for the earliest entry. Each wake-up fires everything already due, so streams
 * whose tokens fall in the same millisecond share one wake-up, and a deadline is always absolute
 * (start + offset), never "previous + delay", so lateness does not accumulate.
 */
export class Scheduler {
  private readonly heap: Timed[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private running = false;
  private readonly onTimer = (): void => this.run();

  get size(): number {
    return this.heap.length;
  }

  add(item: Timed, due: number): void {
    item.due = due;
    item.heapIndex = this.heap.length;
    this.heap.push(item);
    this.up(item.heapIndex);
    if (!this.running && due < this.armedFor) this.arm();
  }

  remove(item: Timed): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.heap.pop()!;
    item.heapIndex = -1;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  private run(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = performance.now();
    // Timers are millisecond-grained: anything due within the next half millisecond goes now
    // rather than a whole tick late.
    const horizon = now + 0.5;
    const heap = this.heap;
    this.running = true;
    while (heap.length > 0 && heap[0]!.due <= horizon) {
      const item = heap[0]!;
      this.remove(item);
      item.fire(now);
    }
    this.running = false;
    if (heap.length > 0) this.arm();
  }

  private arm(): void {
    const due = this.heap[0]!.due;
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.floor(due - performance.now())));
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.due <= item.due) break;
      heap[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.due < heap[child]!.due) child++;
      const c = heap[child]!;
      if (c.due >= item.due) break;
      heap[i] = c;
      c.heapIndex = i;
      i = child;
    }
    heap[i] = item;
    item.heapIndex = i;
  }
}
