/**
 * Group commit for hot write paths: the calls made while the database is busy are run as one statement (or one
 * transaction) instead of one each. When 10,000 shoppers press "buy" in the same second, a per-request
 * INSERT … / UPDATE … costs 10,000 round trips and 10,000 commits; batched, it costs a few dozen, and each request
 * still gets its own answer.
 *
 * How a batch forms: calls made in one turn of the event loop are flushed together on the next turn; while
 * `maxInFlight` batches are running, later calls queue and go in the next batch (so batches grow exactly when the
 * database is the bottleneck, and a lone call waits one turn at most). `run` gets the items in call order and must
 * answer one result per item, in the same order, and be atomic (one statement, or one transaction): a batch that
 * fails has changed nothing.
 *
 * Isolation: when a batch of several items fails (a constraint one item breaks, a deadlock), every item is run
 * again on its own, one after another, so one bad item never fails the others; a single item's failure is that
 * caller's error. A `run` that answers the wrong number of results is a bug: every caller gets the error and
 * nothing is run again (its writes may have committed).
 */
export interface BatcherOptions {
  /** What the batches are, for metrics (`feedshop_batch_size{batcher}`), e.g. 'checkout.transition'. */
  name?: string;
  /** Items per batch (default 500): bounds statement size and the time a row lock is held. */
  maxBatch?: number;
  /** Batches running at once (default 3): one commits while the next ones fill. */
  maxInFlight?: number;
  /** Called with each batch's size. */
  onBatch?: (size: number) => void;
}

const observers = new Set<(name: string, size: number) => void>();

/**
 * Reports every batch of the process to `fn` (the composition root feeds /metrics with it); returns the way to stop.
 */
export function observeBatches(fn: (name: string, size: number) => void): () => void {
  observers.add(fn);
  return () => observers.delete(fn);
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

let groupCommit = true;

/**
 * Turns group commit on or off for the whole process (config GROUP_COMMIT, set by the composition root). Off, every
 * call runs alone, at once: the same results, one statement per call (the flash-sale benchmark's naive variant).
 */
export function setGroupCommit(enabled: boolean): void {
  groupCommit = enabled;
}

export class Batcher<I, O> {
  readonly #run: (items: readonly I[]) => Promise<readonly O[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #onBatch: ((size: number) => void) | undefined;
  readonly #name: string;
  #queue: Pending<I, O>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(run: (items: readonly I[]) => Promise<readonly O[]>, options: BatcherOptions = {}) {
    this.#run = run;
    this.#maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 3);
    this.#onBatch = options.onBatch;
    this.#name = options.name ?? 'unnamed';
  }

  /** Queues `item` for the next batch; resolves with its own result. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (!groupCommit) {
        void this.#settle([{ item, resolve, reject }]);
        return;
      }
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    // the next turn: every call made in this one joins the batch
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
        void this.#flush(this.#queue.splice(0, this.#maxBatch));
      }
    });
  }

  async #flush(batch: Pending<I, O>[]): Promise<void> {
    this.#inFlight++;
    this.#onBatch?.(batch.length);
    for (const observe of observers) observe(this.#name, batch.length);
    try {
      await this.#settle(batch);
    } finally {
      this.#inFlight--;
      this.#schedule();
    }
  }

  async #settle(batch: Pending<I, O>[]): Promise<void> {
    let results: readonly O[];
    try {
      results = await this.#run(batch.map((p) => p.item));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // isolate: one item's failure must not become everyone's; one at a time, inside this batch's slot
      for (const p of batch) await this.#settle([p]);
      return;
    }
    if (results.length !== batch.length) {
      // a bug in `run`, after its writes: never run them again, fail every caller
      const error = new Error(`batch answered ${results.length} results for ${batch.length} items`);
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
  }
}
