import type { BudgetStore } from '../edge/limits.js';
import { LOAD_SYNC_MS, type LoadCounts } from '../sim/capacity.js';
import type { ToPrimary, ToWorker } from './ipc.js';

/**
 * The cluster ledger: counters every worker shares exactly (a rule's `first: 3` means three in
 * all, not three per worker). The primary holds the counts; a worker's `add` is one IPC round
 * trip (~0.1 ms on loopback), paid only by requests that a counting rule matched, and only while
 * the count can still change the rule's answer (src/faults/admission.ts stops asking once a
 * `first` rule is spent or an `after` rule has passed its threshold). A store across machines
 * (Redis) implements the same interface.
 */
export interface Ledger {
  /** Adds `by` to the counter `key` and gives its new value, as every worker sees it. */
  add(key: string, by: number): number | Promise<number>;
}

/** The counts themselves: the primary's copy, or a single process's own. */
export class LocalLedger implements Ledger {
  private readonly counts = new Map<string, number>();

  add(key: string, by: number): number {
    const value = (this.counts.get(key) ?? 0) + by;
    this.counts.set(key, value);
    return value;
  }
}

/** The ledger's messages, as the primary receives them from a worker. */
export type LedgerMessage = Extract<ToPrimary, { type: 'ledger.add' | 'budget.take' | 'budget.give' | 'budget.reset' | 'load.report' | 'limits.told' }>;

/** One member of the cluster as the ledger sees it: how to send to it and answer its requests. */
export interface Member {
  send(msg: ToWorker): void;
  answer(id: number, work: Promise<unknown>): void;
}

/**
 * The primary's side of the cluster ledger: every count the workers share, in one place. Fault
 * rules' sequences (`ledger.add`), the rate-limit buckets workers lease from (`budget.*`, here or
 * in Redis), the refusals they tell each other of (`limits.told`), and the capacity each one
 * holds (`load.report`: sent when it changes, summed per model and passed on to every other
 * worker at most every LOAD_SYNC_MS; see src/sim/capacity.ts).
 */
export class ClusterLedger {
  private readonly counts = new LocalLedger();
  private readonly loads = new Map<Member, LoadCounts>();
  private loadTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly budget: BudgetStore,
    private readonly members: () => Iterable<Member>,
  ) {}

  receive(from: Member, msg: LedgerMessage): void {
    switch (msg.type) {
      case 'ledger.add':
        return from.answer(msg.id, Promise.resolve(this.counts.add(msg.key, msg.by)));
      case 'budget.take':
        return from.answer(msg.id, Promise.resolve(this.budget.take(msg.spec, msg.need, msg.want)));
      case 'budget.give':
        return void this.budget.give(msg.spec, msg.amount);
      case 'budget.reset':
        return void this.resetBudget(msg.client);
      case 'limits.told':
        for (const other of this.members()) if (other !== from) other.send(msg);
        return;
      case 'load.report':
        this.loads.set(from, msg.counts);
        return this.scheduleLoadBroadcast();
    }
  }

  /** `limits.reset`: the buckets of one client (or all) start full again, in the store. */
  resetBudget(client: string | null): void | Promise<void> {
    return this.budget.reset(client);
  }

  /** A member left: its sequences no longer hold capacity. */
  leave(member: Member): void {
    this.loads.delete(member);
    this.scheduleLoadBroadcast();
  }

  private scheduleLoadBroadcast(): void {
    if (this.loadTimer !== null) return;
    this.loadTimer = setTimeout(() => {
      this.loadTimer = null;
      for (const member of this.members()) {
        const others: LoadCounts = {};
        for (const [other, load] of this.loads) {
          if (other === member) continue;
          for (const [model, [running, waiting]] of Object.entries(load)) {
            const sum = (others[model] ??= [0, 0]);
            sum[0] += running;
            sum[1] += waiting;
          }
        }
        member.send({ type: 'load.remote', counts: others });
      }
    }, LOAD_SYNC_MS);
  }
}
