/**
 * The hot-SKU path (design.md §5): when a celebrity post sends thousands of shoppers to "buy now" on one product,
 * one row-locked transaction per request collapses (~160/s at 1,000 clients on this machine class) while a batched
 * single writer does tens of thousands of units per second. So, per process and per SKU, one writer takes every
 * single-SKU ask that arrived, runs them as ONE statement (granted in arrival order, see
 * InventoryRepository.grantBatch), and the asks that arrive meanwhile wait for the next batch.
 *
 * Once a SKU answers sold out, asks are refused from memory (no database round trip) until this process adds or
 * returns stock for it, or for at most SOLD_OUT_MEMO_MS after the database last said so (a refused batch, or the
 * memo's background confirmation): another process's restock is seen within that time. The
 * memo is only a shortcut for refusals; every grant still goes through the database, which stays the truth.
 */

/** How long a sold-out answer is trusted without asking the database (bounds how stale another process's restock can look). */
export const SOLD_OUT_MEMO_MS = 500;
/**
 * Asks per statement; the rest wait for the next batch (keeps the row lock short and the walk small). 500 like the
 * group-commit batches (src/platform/batcher.ts): at 100, a flash sale of 9,999 units took 100 round trips on this
 * one row, and every later step's batches were as small as the grants that fed them (6.0 s instead of 7.2 s at 500).
 */
export const MAX_BATCH = 500;

export interface HotAsk {
  holderId: string;
  quantity: number;
  expiresAt: Date;
  /** The holder may already hold this SKU (granted by this process): it must ask the database, never the memo. */
  mayHold?: boolean;
}

export type HotAnswer = { ok: true; expiresAt: Date } | { ok: false; available: number };

/** Grants one batch of asks for one SKU; answers in the same order, and whether nothing is left after it. */
export type GrantBatch = (skuId: string, asks: readonly HotAsk[]) => Promise<{ answers: HotAnswer[]; soldOut: boolean }>;

/** Units of the SKU available now, read from the database (no lock): confirms a sold-out memo. */
export type ReadAvailable = (skuId: string) => Promise<number>;

interface Pending extends HotAsk {
  resolve(answer: HotAnswer): void;
  reject(error: unknown): void;
}

interface Writer {
  queue: Pending[];
  /** Set when stock was added while a batch was in flight: that batch's "sold out" is already stale. */
  stockReturned: boolean;
}

export class HotSkuReservations {
  readonly #writers = new Map<string, Writer>();
  /** SKU → when its sold-out answer stops being trusted (performance.now() time). */
  readonly #soldOutUntil = new Map<string, number>();
  /** SKUs whose sold-out memo is being confirmed (see isSoldOut). */
  readonly #confirming = new Set<string>();
  readonly #grant: GrantBatch;
  readonly #readAvailable: ReadAvailable | undefined;
  readonly #onMemoHit: (count: number) => void;
  readonly #onBatch: (size: number) => void;

  constructor(opts: { grant: GrantBatch; readAvailable?: ReadAvailable; onMemoHit: (count: number) => void; onBatch: (size: number) => void }) {
    this.#grant = opts.grant;
    this.#readAvailable = opts.readAvailable;
    this.#onMemoHit = opts.onMemoHit;
    this.#onBatch = opts.onBatch;
  }

  /**
   * True when this process saw the SKU sold out less than SOLD_OUT_MEMO_MS ago and has not added stock since.
   * A memo asked for in the second half of its life is confirmed in the background (one read of the SKU's
   * availability; still none: trusted for SOLD_OUT_MEMO_MS from the read), so a flood on a sold-out SKU is not sent
   * to the database in a burst each time the memo lapses (measured before checkouts held first: the ones arriving
   * in that gap were each started and then refused; now they would each go to the reservation statement).
   */
  isSoldOut(skuId: string): boolean {
    const until = this.#soldOutUntil.get(skuId);
    if (until === undefined) return false;
    const now = performance.now();
    if (now < until) {
      if (now > until - SOLD_OUT_MEMO_MS / 2) this.#confirm(skuId);
      return true;
    }
    this.#soldOutUntil.delete(skuId);
    return false;
  }

  #confirm(skuId: string): void {
    if (!this.#readAvailable || this.#confirming.has(skuId)) return;
    this.#confirming.add(skuId);
    const asked = performance.now();
    this.#readAvailable(skuId)
      .then((available) => {
        // only a memo still standing is extended (stock this process returned meanwhile cleared it), and from the
        // moment of the question: the read is no older than that
        if (available <= 0 && this.#soldOutUntil.has(skuId)) this.#soldOutUntil.set(skuId, asked + SOLD_OUT_MEMO_MS);
      })
      .catch(() => undefined) // unconfirmed: the memo lapses as it would have
      .finally(() => this.#confirming.delete(skuId));
  }

  /** Counts a refusal answered from the memo. */
  countMemoHit(): void {
    this.#onMemoHit(1);
  }

  /** Forgets the sold-out memo: this process added or returned stock for the SKU. */
  stockReturned(skuId: string): void {
    this.#soldOutUntil.delete(skuId);
    const writer = this.#writers.get(skuId);
    if (writer) writer.stockReturned = true;
  }

  /**
   * Queues the ask synchronously (so callers are served in the order they called) and answers it from the next
   * batch, or from the memo when the SKU is known sold out.
   */
  reserve(skuId: string, ask: HotAsk): Promise<HotAnswer> {
    if (!ask.mayHold && this.isSoldOut(skuId)) {
      this.countMemoHit();
      return Promise.resolve({ ok: false, available: 0 });
    }
    return new Promise<HotAnswer>((resolve, reject) => {
      let writer = this.#writers.get(skuId);
      const idle = !writer;
      if (!writer) {
        writer = { queue: [], stockReturned: false };
        this.#writers.set(skuId, writer);
      }
      writer.queue.push({ ...ask, resolve, reject });
      // start on the next turn of the event loop so that every ask made in this turn joins the first batch
      if (idle) setImmediate(() => void this.#drain(skuId, writer));
    });
  }

  async #drain(skuId: string, writer: Writer): Promise<void> {
    while (writer.queue.length > 0) {
      if (this.isSoldOut(skuId)) {
        // asks that queued behind the batch that sold the SKU out: answered without a round trip
        const refused = writer.queue.filter((p) => !p.mayHold);
        writer.queue = writer.queue.filter((p) => p.mayHold);
        this.#onMemoHit(refused.length);
        for (const p of refused) p.resolve({ ok: false, available: 0 });
        if (writer.queue.length === 0) break;
      }
      const batch = writer.queue.splice(0, MAX_BATCH);
      writer.stockReturned = false;
      this.#onBatch(batch.length);
      try {
        const { answers, soldOut } = await this.#grant(skuId, batch);
        if (soldOut && !writer.stockReturned) this.#rememberSoldOut(skuId);
        batch.forEach((p, i) => p.resolve(answers[i]!));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    this.#writers.delete(skuId);
  }

  #rememberSoldOut(skuId: string): void {
    if (this.#soldOutUntil.size >= 10_000) this.#soldOutUntil.clear(); // a bound, not a policy: entries live < 1 s
    this.#soldOutUntil.set(skuId, performance.now() + SOLD_OUT_MEMO_MS);
  }
}
