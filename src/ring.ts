/** The newest `size` entries of something recorded without end (the fault journal, the bench records), in a fixed ring. */
export class Ring<T> {
  private readonly entries: (T | undefined)[];
  private next = 0;
  private total = 0;

  constructor(readonly size: number) {
    this.entries = new Array<T | undefined>(size);
  }

  record(entry: T): void {
    if (this.size === 0) return;
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.size;
    this.total++;
  }

  /** Oldest first. */
  read(): T[] {
    const n = Math.min(this.total, this.size);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(this.entries[(this.next - n + i + this.size) % this.size]!);
    return out;
  }
}
