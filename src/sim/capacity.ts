import type { CompiledProfile } from './latency.js';

/** A request waiting for one of its model's slots. */
export interface Waiter {
  /** Called once a slot is taken for it; `utilisation` is running ÷ capacity just before. */
  admit(utilisation: number): void;
}

/** Running and waiting sequences of one model, as [running, waiting]. */
export type LoadCounts = Record<string, [number, number]>;

export type SlotOutcome = 'running' | 'queued' | 'refused';

/**
 * One model's sequences on this worker, and what the other workers last reported. A request's
 * delivery holds its model's load from admission to its end (`Capacity.model`), so taking and
 * giving back a slot and reading the gauges look nothing up (eight map lookups a request did).
 */
export class ModelLoad {
  running = 0;
  readonly queue: Waiter[] = [];
  /** What the other workers last reported (through the primary). */
  remoteRunning = 0;
  remoteWaiting = 0;
  constructor(
    readonly profile: CompiledProfile,
    private readonly capacity: Capacity,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Whether `acquire` would refuse now: every slot taken and the queue full. Asked before a request is tokenized or planned. */
  refuses(profile: CompiledProfile): boolean {
    const max = profile.maxConcurrent;
    if (max === null) return false;
    const free = this.running + this.remoteRunning < max && this.queue.length === 0;
    return !free && this.queue.length + this.remoteWaiting >= profile.queueLimit;
  }

  /** A slot for `waiter` under the request's `profile`: admitted now, queued, or refused. */
  acquire(profile: CompiledProfile, waiter: Waiter): SlotOutcome {
    const max = profile.maxConcurrent;
    if (max === null) {
      this.running++;
      waiter.admit(0);
      return 'running';
    }
    const running = this.running + this.remoteRunning;
    if (running < max && this.queue.length === 0) {
      this.running++;
      this.changed();
      waiter.admit(running / max);
      return 'running';
    }
    if (this.queue.length + this.remoteWaiting >= profile.queueLimit) return 'refused';
    this.queue.push(waiter);
    this.changed();
    return 'queued';
  }

  /** A running sequence finished or was abandoned: its slot goes to the next in line. */
  release(): void {
    this.running--;
    this.pump();
    this.changed();
  }

  /** A waiting request went away. */
  abandon(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter);
    if (i !== -1) this.queue.splice(i, 1);
    this.changed();
  }

  /** Admits waiters while slots are free. */
  pump(): void {
    const max = this.profile.maxConcurrent;
    while (this.queue.length > 0 && (max === null || this.running + this.remoteRunning < max)) {
      const waiter = this.queue.shift()!;
      const utilisation = max === null ? 0 : (this.running + this.remoteRunning) / max;
      this.running++;
      waiter.admit(utilisation);
    }
  }

  /** Unlimited models need no coordination: their changes cost no IPC. */
  private changed(): void {
    const { onChange } = this.capacity;
    if (onChange !== null && this.profile.maxConcurrent !== null) onChange();
  }
}

/**
 * Each model's virtual capacity: at most `maxConcurrent` sequences run across the cluster, up to
 * `queueLimit` more wait (FIFO, the wait counting into time to first token), the rest are refused.
 *
 * Workers do not ask the primary per request: each reports its own counts when they change (at
 * most every LOAD_SYNC_MS) and the primary sends each worker the sum of the others'. Admission
 * uses local counts plus the last remote sums, so the cluster can run more than `maxConcurrent`
 * by at most the sequences the other workers admitted within one sync round (≈ 2 × LOAD_SYNC_MS
 * plus IPC latency); with one worker (or none) the bound is exact.
 */
export class Capacity {
  private readonly loads = new Map<string, ModelLoad>();
  /** Called after local counts change (the HTTP worker reports them to the primary). */
  onChange: (() => void) | null = null;

  /** The model's load, made on its first request (with the profile that request runs under). */
  model(modelId: string, profile: CompiledProfile): ModelLoad {
    let load = this.loads.get(modelId);
    if (load === undefined) this.loads.set(modelId, (load = new ModelLoad(profile, this)));
    return load;
  }

  /** `ModelLoad.refuses`, false for a model not served yet (nothing runs or waits). */
  refuses(modelId: string, profile: CompiledProfile): boolean {
    return this.loads.get(modelId)?.refuses(profile) ?? false;
  }

  /** The other workers' counts, summed by the primary. */
  setRemote(counts: LoadCounts): void {
    for (const load of this.loads.values()) load.remoteRunning = load.remoteWaiting = 0;
    for (const [modelId, [running, waiting]] of Object.entries(counts)) {
      const load = this.loads.get(modelId);
      if (load === undefined) continue; // this worker has not served the model: nothing to gate
      load.remoteRunning = running;
      load.remoteWaiting = waiting;
    }
    for (const load of this.loads.values()) load.pump();
  }

  /** Counts of the models with a capacity limit: the only ones the cluster coordinates. */
  counts(): LoadCounts {
    const out: LoadCounts = {};
    for (const [id, load] of this.loads) if (load.profile.maxConcurrent !== null) out[id] = [load.running, load.queue.length];
    return out;
  }
}

/** How often a worker reports changed counts, and the primary forwards them. */
export const LOAD_SYNC_MS = 10;
