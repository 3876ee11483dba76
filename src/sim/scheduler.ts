import { performance } from 'node:perf_hooks';

/** Something due at an absolute time (performance.now() milliseconds). */
export interface Timed {
  due: number;
  /** Position in the scheduler's heap, -1 when not scheduled. Owned by the scheduler. */
  heapIndex: number;
  fire(now: number): void;
}

/**
 * One timer for every pending deadline in the process: a binary min-heap on `due`. Each wake-up
 * fires everything due, re-reading the clock as it goes, so work that falls due while a batch is
 * being sent goes out in the same turn instead of a timer tick later (measured: with 500 streams
 * at 10 ms, batches took ~1.6 ms and a timer tick ~1.1 ms more, so tokens waited ~2.8 ms). A turn
 * yields to I/O after BATCH_BUDGET_MS. Deadlines are absolute (start + offset), never "previous +
 * delay", so lateness does not accumulate.
 */
export class Scheduler {
  private readonly heap: Timed[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private armedFor = Infinity;
  private running = false;
  private readonly onWake = (): void => this.run();

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
    this.immediate = null;
    this.armedFor = Infinity;
    const heap = this.heap;
    let now = performance.now();
    const stopAt = now + BATCH_BUDGET_MS;
    this.running = true;
    while (heap.length > 0 && heap[0]!.due <= now + HORIZON_MS) {
      const item = heap[0]!;
      this.remove(item);
      item.fire(now);
      now = performance.now();
      if (now > stopAt) break;
    }
    this.running = false;
    if (heap.length > 0) this.arm();
  }

  /**
   * Node timers are millisecond-grained and fire ~1.1 ms after a 1 ms request: work due within
   * the horizon runs on the next turn of the event loop (after pending I/O); later work gets a
   * timer for the whole milliseconds until it is due, and is sent on the wake-up that first
   * finds it within the horizon.
   */
  private arm(): void {
    const due = this.heap[0]!.due;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = this.immediate = null;
    this.armedFor = due;
    const wait = due - performance.now();
    if (wait <= HORIZON_MS) this.immediate = setImmediate(this.onWake);
    else this.timer = setTimeout(this.onWake, Math.floor(wait));
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

/**
 * Work due this close is sent now rather than a timer tick (~1.1 ms) late: tokens leave at most
 * this early. Measured with 500 streams at 10 ms: 0.5 ms kept 94.7 % of tokens within 2 ms of
 * their deadline, 1 ms kept 97.2 %.
 */
export const HORIZON_MS = 1;
/** Longest stretch of sending before pending I/O (new requests, aborts) gets a turn. */
const BATCH_BUDGET_MS = 4;
