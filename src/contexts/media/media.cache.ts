/**
 * Least recently used entries up to a budget of bytes: the per-process cache of served files. Content never changes
 * (addressed by its hash, never rewritten), so the budget alone decides what stays; a deleted object's entries are
 * dropped by the process that deleted it, and re-checked by the others (MediaService.find).
 */
export class ByteBudgetLru<V> {
  // a Map iterates in insertion order: re-inserting on every hit keeps the least recently used first
  private readonly entries = new Map<string, { value: V; weight: number }>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps the value (replacing the key's previous one), then drops the least recently used until within budget. */
  set(key: string, value: V, weight: number): void {
    if (weight > this.budgetBytes) return;
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      this.used -= previous.weight;
    }
    this.entries.set(key, { value, weight });
    this.used += weight;
    for (const [oldest, entry] of this.entries) {
      if (this.used <= this.budgetBytes) break;
      this.entries.delete(oldest);
      this.used -= entry.weight;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.used -= entry.weight;
  }

  /** Bytes held now (for tests and metrics). */
  get usedBytes(): number {
    return this.used;
  }
}
