import { performance } from 'node:perf_hooks';

/** Something due at an absolute time (performance.now() milliseconds). */
export interface Timed {
  due: number;
  /** The wheel slot holding it, or OVERFLOW. Owned by the scheduler. */
  slot: number;
  /** Its index in that slot's bucket (or in the overflow heap), -1 when not scheduled. Owned by the scheduler. */
  position: number;
  fire(now: number): void;
  /** What `fire` threw: the item ends its own work with an error (the process goes on). */
  fail(err: unknown): void;
}

/** Fires an item, containing what it throws to that item. */
function fireContained(item: Timed, now: number): void {
  try {
    item.fire(now);
  } catch (err) {
    try {
      item.fail(err);
    } catch (failure) {
      // Its own error handling failed too: nothing is left to tell but stderr.
      process.stderr.write(`llm-simulator: scheduled work failed twice: ${String((failure as Error)?.stack ?? failure)}\n`);
    }
  }
}

/**
 * Work due within this horizon is served now rather than a timer tick (~1.1 ms) late: tokens
 * leave at most this early. Measured with 500 streams at 10 ms: 0.5 ms kept 94.7 % of tokens
 * within 2 ms of their deadline, 1 ms kept 97.2 %.
 */
export const HORIZON_MS = 1;
/** Width of a wheel slot: deadlines within one slot are served together, in the order they were added (but a removal moves the slot's last entry into the gap). */
const SLOT_MS = 0.25;
/** Slots on the wheel: deadlines up to 16384 × SLOT_MS (4.1 s) ahead sit on it. */
const WHEEL_SLOTS = 16384;
/** `slot` of an entry too far ahead for the wheel: it waits in a heap and moves onto the wheel as it comes near. */
const OVERFLOW = -1;
/** Longest stretch of sending before pending I/O (new requests, aborts) gets a turn. */
const BATCH_BUDGET_MS = 4;
/** A bucket's fired prefix (see `heads`) is reclaimed once it is longer than this and than its live entries. */
const COMPACT_AFTER = 1024;

/** The longest delay Node's setTimeout takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const slotOf = (due: number): number => Math.floor(due / SLOT_MS);

/**
 * One timer for every pending deadline in the process, on a hashed timing wheel (Varghese &
 * Lauck): a deadline goes into the bucket of its 0.25 ms slot, so adding, removing and firing
 * cost O(1) and touch no other entry. A binary heap, tried first, cost ~1 µs a token at 500
 * streams: every pop sifts through ~9 levels of other streams' objects, each a cache miss after
 * the kernel's send path has evicted them. Deadlines beyond the wheel's span (long first-token
 * waits) wait in a small heap.
 *
 * Each wake-up serves every slot whose deadlines all fall within the horizon, re-reading the
 * clock as it goes, so work that falls due while a batch is being sent goes out in the same turn
 * instead of a timer tick later (measured: with 500 streams at 10 ms, batches took ~1.6 ms and a
 * timer tick ~1.1 ms more, so tokens waited ~2.8 ms). A turn yields to I/O after BATCH_BUDGET_MS.
 * Deadlines are absolute (start + offset), never "previous + delay", so lateness does not accumulate.
 */
export class Scheduler {
  private readonly slots: number;
  private readonly mask: number;
  /**
   * Made on first use: most slots of an idle or lightly loaded process never hold anything. A
   * bucket's entries are its elements [heads[slot], counts[slot]); the array never shrinks (a
   * cleared array gives up its storage and a refill reallocates it: 6 % of a streaming process's
   * allocation), and a slot that empties holds `undefined`, never a finished entry.
   */
  private readonly buckets: (Timed | undefined)[][];
  private readonly counts: Int32Array;
  /**
   * Where a bucket's live entries begin: above 0 only in a slot whose pass ran out of its budget.
   * Its remaining entries stay where they are rather than move to the front: that move ran only
   * under overload, so V8 had no feedback for it and `fireSlot` deoptimised the first time a
   * slot overran (then ran unoptimised for a while, under exactly the load that can least afford it).
   */
  private readonly heads: Int32Array;
  /** One bit per slot: its bucket is not empty. */
  private readonly occupied: Uint32Array;
  /** The earliest slot that may still hold entries; every entry on the wheel is in [cursor, cursor + slots). */
  private cursor = slotOf(performance.now());
  private onWheel = 0;
  private readonly overflow: Timed[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private armedFor = Infinity;
  private running = false;
  private readonly onWake = (): void => this.run();

  /** `slots`: a power of two, at least 32 (smaller wheels only to test the overflow). */
  constructor(slots = WHEEL_SLOTS) {
    if (slots < 32 || (slots & (slots - 1)) !== 0) throw new RangeError('wheel slots must be a power of two ≥ 32');
    this.slots = slots;
    this.mask = slots - 1;
    this.buckets = new Array(slots);
    this.counts = new Int32Array(slots);
    this.heads = new Int32Array(slots);
    this.occupied = new Uint32Array(slots / 32);
  }

  get size(): number {
    return this.onWheel + this.overflow.length;
  }

  add(item: Timed, due: number): void {
    // NaN or Infinity would sit on no slot and re-arm a 1 ms timer forever; bounded delays are the caller's job.
    if (!Number.isFinite(due)) throw new RangeError(`deadline must be finite, got ${due}`);
    item.due = due;
    if (this.onWheel === 0) this.restartAt(performance.now());
    const slot = Math.max(slotOf(due), this.cursor);
    if (slot - this.cursor < this.slots) this.place(item, slot);
    else this.heapPush(item);
    if (!this.running && readyAt(slot) < this.armedFor) this.arm();
  }

  remove(item: Timed): void {
    const i = item.position;
    if (i < 0) return;
    item.position = -1;
    this.unplace(item, i);
    if (this.size === 0 && !this.running) this.disarm(); // an idle process holds no timer
  }

  private unplace(item: Timed, i: number): void {
    if (item.slot === OVERFLOW) return this.heapRemove(i);
    const index = item.slot & this.mask;
    const bucket = this.buckets[index]!;
    const end = --this.counts[index]!;
    const last = bucket[end]!;
    bucket[end] = undefined;
    if (last !== item) {
      bucket[i] = last;
      last.position = i;
    }
    this.onWheel--;
    if (end === this.heads[index]) {
      this.heads[index] = this.counts[index] = 0;
      this.occupied[index >> 5]! &= ~(1 << (item.slot & 31));
    }
  }

  private place(item: Timed, slot: number): void {
    const index = slot & this.mask;
    const bucket = (this.buckets[index] ??= []);
    const end = this.counts[index]!;
    item.slot = slot;
    item.position = end;
    bucket[end] = item;
    this.counts[index] = end + 1;
    this.onWheel++;
    this.occupied[(slot & this.mask) >> 5]! |= 1 << (slot & 31);
  }

  private run(): void {
    this.timer = null;
    this.immediate = null;
    this.armedFor = Infinity;
    let now = performance.now();
    const stopAt = now + BATCH_BUDGET_MS;
    this.running = true;
    if (this.onWheel === 0) this.restartAt(now);
    while (this.onWheel > 0) {
      const slot = this.nextSlot();
      if (readyAt(slot) > now) break;
      this.cursor = slot;
      now = this.fireSlot(slot, now, stopAt);
      if (now > stopAt) break;
      this.cursor = slot + 1;
      this.admitNear();
    }
    this.running = false;
    if (this.size > 0) this.arm();
  }

  /**
   * Fires a slot's entries in their order in the bucket. Fired entries leave an empty prefix
   * (a removal meanwhile only ever swaps in a live entry from the end), and entries added to
   * this slot meanwhile are fired in the same pass. Out of budget, the rest stay put: the slot's
   * head marks where the next pass resumes. Returns the clock after the last one fired.
   */
  private fireSlot(slot: number, now: number, stopAt: number): number {
    const index = slot & this.mask;
    const bucket = this.buckets[index]!;
    const { counts, heads } = this;
    let i = heads[index]!;
    while (i < counts[index]!) {
      const item = bucket[i]!;
      bucket[i++] = undefined;
      item.position = -1;
      this.onWheel--;
      fireContained(item, now);
      now = performance.now();
      if (now > stopAt) break;
    }
    // Written the same way whether or not the slot drained, so that an overrun runs no code the
    // common case has not warmed (see `heads`).
    const end = counts[index]!;
    const drained = i >= end;
    heads[index] = drained ? 0 : i;
    counts[index] = drained ? 0 : end;
    // Under sustained overload the fired prefix would grow without bound: past COMPACT_AFTER
    // entries, and once it outnumbers the live ones, the live ones move to the front.
    const compact = i > COMPACT_AFTER && i > end - i && !drained;
    if (drained) this.occupied[index >> 5]! &= ~(1 << (slot & 31));
    else if (compact) this.compact(bucket, index);
    return now;
  }

  /** Moves a bucket's live entries to its front (see COMPACT_AFTER). */
  private compact(bucket: (Timed | undefined)[], index: number): void {
    const head = this.heads[index]!;
    const live = this.counts[index]! - head;
    for (let k = 0; k < live; k++) {
      const item = bucket[head + k]!;
      bucket[head + k] = undefined;
      bucket[k] = item;
      item.position = k;
    }
    this.heads[index] = 0;
    this.counts[index] = live;
  }

  /** The earliest occupied slot on the wheel, else the overflow's earliest, else Infinity. */
  private nextSlot(): number {
    if (this.onWheel > 0) {
      const start = this.cursor & this.mask;
      const words = this.slots / 32;
      let w = start >> 5;
      let bits = this.occupied[w]! & (~0 << (start & 31));
      for (let n = 0; n <= words; n++) {
        if (bits !== 0) {
          const index = (w << 5) | (31 - Math.clz32(bits & -bits));
          return this.cursor + ((index - start) & this.mask);
        }
        w = (w + 1) % words;
        bits = this.occupied[w]!;
      }
    }
    return this.overflow.length > 0 ? slotOf(this.overflow[0]!.due) : Infinity;
  }

  /**
   * An empty wheel moves on to the present slot (and takes the overflow entries now near). The
   * cursor never moves back: entries due before it wait in the cursor's slot, which is ready at
   * most two slots after the present.
   */
  private restartAt(now: number): void {
    this.cursor = Math.max(this.cursor, slotOf(now));
    this.admitNear();
  }

  /** Moves overflow entries that came within the wheel's span onto it. */
  private admitNear(): void {
    const heap = this.overflow;
    while (heap.length > 0 && slotOf(heap[0]!.due) - this.cursor < this.slots) {
      const item = heap[0]!;
      this.heapRemove(0);
      this.place(item, Math.max(slotOf(item.due), this.cursor));
    }
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = this.immediate = null;
    this.armedFor = Infinity;
  }

  /**
   * Node timers are millisecond-grained and fire ~1.1 ms after a 1 ms request: a slot ready now
   * runs on the next turn of the event loop (after pending I/O); a later one gets a timer for
   * the whole milliseconds until it is ready, and is served on the wake-up that first finds it ready.
   */
  private arm(): void {
    const at = readyAt(this.nextSlot());
    this.disarm();
    this.armedFor = at;
    const wait = at - performance.now();
    if (wait <= 0) this.immediate = setImmediate(this.onWake);
    // Node turns a delay beyond 2^31 − 1 ms into 1 ms (with a warning): far deadlines wake early and re-arm.
    else this.timer = setTimeout(this.onWake, Math.min(Math.floor(wait), MAX_TIMER_MS));
  }

  private heapPush(item: Timed): void {
    item.slot = OVERFLOW;
    item.position = this.overflow.length;
    this.overflow.push(item);
    this.up(item.position);
  }

  private heapRemove(i: number): void {
    const heap = this.overflow;
    heap[i]!.position = -1;
    const last = heap.pop()!;
    if (i < heap.length) {
      heap[i] = last;
      last.position = i;
      this.down(i);
      this.up(last.position);
    }
  }

  private up(i: number): void {
    const heap = this.overflow;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.due <= item.due) break;
      heap[i] = p;
      p.position = i;
      i = parent;
    }
    heap[i] = item;
    item.position = i;
  }

  private down(i: number): void {
    const heap = this.overflow;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.due < heap[child]!.due) child++;
      const c = heap[child]!;
      if (c.due >= item.due) break;
      heap[i] = c;
      c.position = i;
      i = child;
    }
    heap[i] = item;
    item.position = i;
  }
}

/** When a slot may be served: once every deadline in it is within the horizon. */
const readyAt = (slot: number): number => (slot + 1) * SLOT_MS - HORIZON_MS;
