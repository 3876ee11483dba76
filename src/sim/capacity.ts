import type { CompiledProfile } from './latency.js';

/** A request waiting for one of its model's slots. */
export interface Waiter {
  /** Called once a slot is taken for it; `utilisation` is running ÷ capacity just before. */
  admit(utilisation: number): void;
}

/** Running and waiting sequences of one model, as [running, waiting]. */
export type LoadCounts = Record<string, [number, number]>;

class ModelLoad {
  running = 0;
  readonly queue: Waiter[] = [];
  /** What the other workers last reported (through the primary). */
  remoteRunning = 0;
  remoteWaiting = 0;
  constructor(readonly profile: CompiledProfile) {}
}

export type SlotOutcome = 'running' | 'queued' | 'refused';

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

  private load(modelId: string, profile: CompiledProfile): ModelLoad {
    let load = this.loads.get(modelId);
    if (load === undefined) this.loads.set(modelId, (load = new ModelLoad(profile)));
    return load;
  }

  /** Whether `acquire` would refuse now: every slot taken and the queue full. Asked before a request is tokenized or planned. */
  refuses(modelId: string, profile: CompiledProfile): boolean {
    const max = profile.maxConcurrent;
    if (max === null) return false;
    const load = this.loads.get(modelId);
    if (load === undefined) return false;
    const free = load.running + load.remoteRunning < max && load.queue.length === 0;
    return !free && load.queue.length + load.remoteWaiting >= profile.queueLimit;
  }

  acquire(modelId: string, profile: CompiledProfile, waiter: Waiter): SlotOutcome {
    const load = this.load(modelId, profile);
    const max = profile.maxConcurrent;
    if (max === null) {
      load.running++;
      waiter.admit(0);
      return 'running';
    }
    const running = load.running + load.remoteRunning;
    if (running < max && load.queue.length === 0) {
      load.running++;
      this.changed(load);
      waiter.admit(running / max);
      return 'running';
    }
    if (load.queue.length + load.remoteWaiting >= profile.queueLimit) return 'refused';
    load.queue.push(waiter);
    this.changed(load);
    return 'queued';
  }

  /** A running sequence finished or was abandoned: its slot goes to the next in line. */
  release(modelId: string): void {
    const load = this.loads.get(modelId)!;
    load.running--;
    this.pump(load);
    this.changed(load);
  }

  /** A waiting request went away. */
  abandon(modelId: string, waiter: Waiter): void {
    const load = this.loads.get(modelId)!;
    const i = load.queue.indexOf(waiter);
    if (i !== -1) load.queue.splice(i, 1);
    this.changed(load);
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
    for (const load of this.loads.values()) this.pump(load);
  }

  /** Counts of the models with a capacity limit: the only ones the cluster coordinates. */
  counts(): LoadCounts {
    const out: LoadCounts = {};
    for (const [id, load] of this.loads) if (load.profile.maxConcurrent !== null) out[id] = [load.running, load.queue.length];
    return out;
  }

  running(modelId: string): number {
    return this.loads.get(modelId)?.running ?? 0;
  }

  waiting(modelId: string): number {
    return this.loads.get(modelId)?.queue.length ?? 0;
  }

  private pump(load: ModelLoad): void {
    const max = load.profile.maxConcurrent;
    while (load.queue.length > 0 && (max === null || load.running + load.remoteRunning < max)) {
      const waiter = load.queue.shift()!;
      const utilisation = max === null ? 0 : (load.running + load.remoteRunning) / max;
      load.running++;
      waiter.admit(utilisation);
    }
  }

  /** Unlimited models need no coordination: their changes cost no IPC. */
  private changed(load: ModelLoad): void {
    if (this.onChange !== null && load.profile.maxConcurrent !== null) this.onChange();
  }
}

/** How often a worker reports changed counts, and the primary forwards them. */
export const LOAD_SYNC_MS = 10;
