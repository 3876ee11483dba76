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
