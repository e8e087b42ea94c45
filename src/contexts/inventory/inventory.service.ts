import type { Kysely } from 'kysely';
import type { ContextDeps } from '../../platform/context';
import { Batcher } from '../../platform/batcher';
import { newId } from '../../platform/ids';
import type { Availability, Hold, InventoryService, ReservationLine, ReserveResult, StockActor, StockAudit, StockChangeResult, StockLevel } from './index';
import { HotSkuReservations, type HotAnswer, type HotAsk } from './inventory.hot-sku';
import { InventoryRepository, type ChangedRow, type InventoryTables, type SettledRow, type StockRow } from './inventory.repository';
import { MAX_ON_HAND } from './inventory.errors';
import './inventory.events';

/** PostgreSQL `integer`: the largest quantity a line may ask for. */
const MAX_QUANTITY = 2_147_483_647;
/** Holders the sweeper expires per statement. */
const EXPIRE_BATCH = 500;
/** Holders granted in this process that are remembered, so a retry is not refused by the sold-out memo. */
const LIVE_HOLDERS_CAP = 100_000;

/** Refuses malformed asks loudly (a caller bug, not a shopper's mistake) before anything touches the database. */
function normalizeLines(holderId: string, lines: readonly ReservationLine[], ttlMs: number): ReservationLine[] {
  if (typeof holderId !== 'string' || holderId.length === 0) throw new RangeError('inventory.reserve: holderId is required');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('inventory.reserve: ttlMs must be positive');
  if (!Array.isArray(lines) || lines.length === 0) throw new RangeError('inventory.reserve: at least one line is required');
  const bySku = new Map<string, number>();
  for (const line of lines) {
    if (typeof line.skuId !== 'string' || line.skuId.length === 0) throw new RangeError('inventory.reserve: skuId is required');
    if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0 || line.quantity > MAX_QUANTITY) {
      throw new RangeError(`inventory.reserve: quantity must be an integer from 1 to ${MAX_QUANTITY}, got ${line.quantity}`);
    }
    bySku.set(line.skuId, (bySku.get(line.skuId) ?? 0) + line.quantity);
  }
  const merged = [...bySku].map(([skuId, quantity]) => ({ skuId, quantity }));
  if (merged.some((l) => l.quantity > MAX_QUANTITY)) throw new RangeError('inventory.reserve: quantity too large');
  return merged;
}

export type InventoryServiceImpl = ReturnType<typeof createInventoryService>;

export function availabilityOf(available: number, lowStockThreshold: number): Availability {
  if (available <= 0) return 'sold_out';
  return available <= lowStockThreshold ? 'low' : 'in_stock';
}

/** Units available before a settle, from the row after it: only a commit leaves availability unchanged. */
function availableBeforeSettle(to: 'committed' | 'released' | 'expired', row: SettledRow): number {
  const after = row.on_hand - row.reserved;
  return to === 'committed' ? after : after - row.quantity;
}

export function createInventoryService(deps: ContextDeps) {
  const repo = new InventoryRepository(deps.db);
  const threshold = deps.config.lowStockThreshold;

  const toLevel = (skuId: string, row: StockRow | undefined): StockLevel => {
    const onHand = row?.on_hand ?? 0;
    const reserved = row?.reserved ?? 0;
    const available = onHand - reserved;
    return { skuId, onHand, reserved, available, availability: availabilityOf(available, threshold) };
  };

  /** Publishes a SKU's level in the change's transaction, and sold_out when this change took the last available unit. */
  const publishLevel = async (trx: Kysely<InventoryTables>, row: StockRow, availableBefore: number): Promise<StockLevel> => {
    const level = toLevel(row.sku_id, row);
    const { skuId, onHand, reserved, available } = level;
    await deps.outbox.publish(trx, 'inventory.stock.changed', { skuId, onHand, reserved, available });
    if (available <= 0 && availableBefore > 0) await deps.outbox.publish(trx, 'inventory.sku.sold_out', { skuId });
    return level;
  };

  /** Publishes what an on-hand change did. */
  const publishChange = (trx: Kysely<InventoryTables>, row: ChangedRow) => publishLevel(trx, row, row.previous_on_hand - row.reserved);

  const levelOf = async (skuId: string): Promise<StockLevel> => toLevel(skuId, (await repo.findStock([skuId]))[0]);

  const memoHits = deps.metrics.counter('feedshop_inventory_sold_out_memo_hits_total', 'Reservation asks refused from the sold-out memo, without a database round trip');
  const batches = deps.metrics.counter('feedshop_inventory_reserve_batches_total', 'Coalesced single-SKU reservation statements');
  const batchedAsks = deps.metrics.counter('feedshop_inventory_reserve_batched_asks_total', 'Reservation asks served by coalesced statements');

  /** One coalesced batch: a transaction of the grant statement plus its events, a fixed number of round trips. */
  const grantBatch = async (skuId: string, asks: readonly HotAsk[]) => {
    const at = deps.clock.now();
    const withIds = asks.map((a) => ({ ...a, reservationId: newId('reservation') }));
    const rows = await repo.db.transaction().execute(async (trx) => {
      const granted = await repo.grantBatch(trx, skuId, withIds, at);
      const first = granted[0];
      if (first && first.on_hand_after !== null && first.reserved_after !== null) {
        await publishLevel(trx, { sku_id: skuId, on_hand: first.on_hand_after, reserved: first.reserved_after }, first.available);
      }
      return granted;
    });
    const answers: HotAnswer[] = rows.map((r, i) => {
      if (r.prior_expires_at) return { ok: true, expiresAt: new Date(r.prior_expires_at) };
      return r.granted ? { ok: true, expiresAt: asks[i]!.expiresAt } : { ok: false, available: r.available };
    });
    const last = rows[rows.length - 1];
    const leftAfter = last ? (last.granted ? last.available - asks[rows.length - 1]!.quantity : last.available) : 0;
    return { answers, soldOut: leftAfter <= 0 };
  };

  const hot = new HotSkuReservations({
    grant: async (skuId, asks) => {
      try {
        return await grantBatch(skuId, asks);
      } catch (error) {
        // a holder racing itself from another process hit the one-live-hold index: serve this batch one by one
        if ((error as { code?: string }).code !== '23505') throw error;
        const answers: HotAnswer[] = [];
        for (const ask of asks) {
          const r = await holdLines(ask.holderId, [{ skuId, quantity: ask.quantity }], ask.expiresAt);
          answers.push(r.ok ? { ok: true, expiresAt: r.expiresAt } : { ok: false, available: r.available });
        }
        return { answers, soldOut: answers.every((a) => !a.ok && a.available === 0) };
      }
    },
    readAvailable: async (skuId) => {
      const [row] = await repo.findStock([skuId]);
      return row ? row.on_hand - row.reserved : 0;
    },
    onMemoHit: (n) => memoHits.inc(n),
    onBatch: (n) => {
      batches.inc();
      batchedAsks.inc(n);
    },
  });

  /** Holders granted by this process and not yet settled here (insertion-ordered, capped). */
  const liveHolders = new Set<string>();
  const rememberHolder = (holderId: string) => {
    if (liveHolders.size >= LIVE_HOLDERS_CAP) liveHolders.delete(liveHolders.values().next().value!);
    liveHolders.add(holderId);
  };
  /** In-flight reserve calls per holder: a double call in this process shares one answer. */
  const inFlight = new Map<string, Promise<ReserveResult>>();

  /** The multi-line path: one transaction holding every line or none (see InventoryRepository.holdLines). */
  const holdLines = async (holderId: string, lines: readonly ReservationLine[], expiresAt: Date): Promise<ReserveResult> => {
    const sorted = [...lines].sort((a, b) => (a.skuId < b.skuId ? -1 : a.skuId > b.skuId ? 1 : 0));
    const at = deps.clock.now();
    const withIds = sorted.map((l) => ({ ...l, reservationId: newId('reservation') }));
    let rows;
    try {
      rows = await repo.db.transaction().execute(async (trx) => {
        const result = await repo.holdLines(trx, holderId, withIds, expiresAt, at);
        for (const r of result) {
          if (r.granted && r.on_hand_after !== null && r.reserved_after !== null) {
            await publishLevel(trx, { sku_id: r.sku_id, on_hand: r.on_hand_after, reserved: r.reserved_after }, r.available);
          }
        }
        return result;
      });
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      // the same holder won a race from another process: answer with its hold
      const hold = await service.getHold(holderId);
      if (hold.status === 'held' || hold.status === 'committed') return { ok: true, holderId, expiresAt: hold.expiresAt! };
      throw error;
    }
    const prior = rows[0]?.prior_expires_at;
    if (prior) return { ok: true, holderId, expiresAt: new Date(prior) };
    if (rows[0]?.granted) return { ok: true, holderId, expiresAt };
    // report the first line (in the caller's order) that did not fit
    for (const line of lines) {
      const row = rows.find((r) => r.sku_id === line.skuId)!;
      if (row.available < line.quantity) {
        return { ok: false, code: row.available <= 0 ? 'sold_out' : 'insufficient_stock', skuId: line.skuId, available: Math.max(0, row.available) };
      }
    }
    throw new Error(`inventory: hold for ${holderId} refused without a line that did not fit`);
  };

  /** The first SKU the sold-out memo refuses now (counted as a memo refusal), or null. */
  const memoSoldOut = (skuIds: readonly string[]): string | null => {
    const sku = skuIds.find((id) => hot.isSoldOut(id));
    if (sku === undefined) return null;
    hot.countMemoHit();
    return sku;
  };

  const reserveNow = async (holderId: string, lines: ReservationLine[], expiresAt: Date): Promise<ReserveResult> => {
    // coalescing off (config.reservationCoalescing): one row-locked transaction per request, no memo
    if (!deps.config.reservationCoalescing) return holdLines(holderId, lines, expiresAt);
    const mayHold = liveHolders.has(holderId);
    const memoed = mayHold ? null : memoSoldOut(lines.map((l) => l.skuId));
    if (memoed !== null) return { ok: false, code: 'sold_out', skuId: memoed, available: 0 };
    let result: ReserveResult;
    if (lines.length === 1) {
      const [line] = lines as [ReservationLine];
      const answer = await hot.reserve(line.skuId, { holderId, quantity: line.quantity, expiresAt, mayHold });
      result = answer.ok
        ? { ok: true, holderId, expiresAt: answer.expiresAt }
        : { ok: false, code: answer.available <= 0 ? 'sold_out' : 'insufficient_stock', skuId: line.skuId, available: Math.max(0, answer.available) };
    } else {
      result = await holdLines(holderId, lines, expiresAt);
    }
    if (result.ok) rememberHolder(holderId);
    return result;
  };

  /** After holds moved: events in the same transaction; the memo forgets SKUs that got units back. */
  const settle = async (to: 'committed' | 'released' | 'expired', which: { holderIds: readonly string[] } | { dueAt: Date; limit: number }) => {
    const at = deps.clock.now();
    const settled = await repo.db.transaction().execute(async (trx) => {
      const r = await repo.settleHolds(trx, to, which, at);
      for (const row of r.rows) await publishLevel(trx, row, availableBeforeSettle(to, row));
      return r;
    });
    for (const holderId of settled.holders) liveHolders.delete(holderId);
    if (to !== 'committed') for (const row of settled.rows) hot.stockReturned(row.sku_id);
    return settled;
  };

  /**
   * Commits and releases of concurrent checkouts settle together (src/platform/batcher.ts): on a hot SKU every
   * settlement updates the same stock row, so one statement per batch replaces a queue of row-locked commits.
   * Each answer says whether that holder's hold moved in this batch.
   */
  const settler = (to: 'committed' | 'released') =>
    new Batcher<string, boolean>(async (holderIds) => {
      const { holders } = await settle(to, { holderIds: [...new Set(holderIds)] });
      const moved = new Set(holders);
      return holderIds.map((h) => moved.has(h));
    }, { name: `inventory.${to}` });
  const commits = settler('committed');
  const releases = settler('released');

  const service = {

    /**
     * Holds every line for the holder or nothing; idempotent per holder (a retry answers with the live hold).
     * A single-SKU hold goes through the per-SKU coalescer (one statement per batch, arrival order); a sold-out SKU
     * is refused from memory for up to SOLD_OUT_MEMO_MS. Throws RangeError on a malformed ask, changing nothing.
     */
    async reserve(holderId: string, lines: readonly ReservationLine[], opts: { ttlMs?: number } = {}): Promise<ReserveResult> {
      const ttlMs = opts.ttlMs ?? deps.config.reservationTtlMinutes * 60_000;
      const merged = normalizeLines(holderId, lines, ttlMs);
      const running = inFlight.get(holderId);
      if (running) return running;
      const expiresAt = new Date(deps.clock.now().getTime() + ttlMs);
      const promise = reserveNow(holderId, merged, expiresAt).finally(() => inFlight.delete(holderId));
      inFlight.set(holderId, promise);
      return promise;
    },

    /** Turns every held unit of the holder into a sold unit, once; a hold already committed answers ok, a released or expired one not_held. */
    async commitReservation(holderId: string): Promise<{ ok: true } | { ok: false; code: 'not_held' }> {
      if (await commits.submit(holderId)) return { ok: true };
      const hold = await service.getHold(holderId);
      return hold.status === 'committed' ? { ok: true } : { ok: false, code: 'not_held' };
    },

    /** Returns the holder's held units to availability, once; committed units are not touched. */
    async releaseReservation(holderId: string): Promise<void> {
      await releases.submit(holderId);
    },

    /** Releases every hold whose expiry has passed, holder by holder in batches; safe to run from several processes at once. */
    async expireReservations(): Promise<number> {
      const dueAt = deps.clock.now();
      let total = 0;
      for (;;) {
        const { holders } = await settle('expired', { dueAt, limit: EXPIRE_BATCH });
        total += holders.length;
        if (holders.length < EXPIRE_BATCH) return total;
      }
    },

    /**
     * Puts sold units back on hand exactly once per key (journaled with who and why); throws when more than were sold.
     * Never refused for MAX_ON_HAND: the units are back on the shelf (a cancellation cannot be undone, a parcel
     * returned is there), and the cap is for counts typed in. Going past it is logged; write-offs still work.
     */
    async restock(skuId: string, quantity: number, key: string, actor: StockActor): Promise<void> {
      if (!Number.isSafeInteger(quantity) || quantity <= 0 || quantity > MAX_QUANTITY) throw new RangeError(`inventory.restock: bad quantity ${quantity}`);
      if (typeof key !== 'string' || key.length === 0) throw new RangeError('inventory.restock: key is required');
      const changed = await repo.db.transaction().execute(async (trx) => {
        const row = await repo.restock(trx, { skuId, quantity, key, adjustmentId: newId('adjustment'), at: deps.clock.now(), ...actor });
        if (row) await publishChange(trx, row);
        return row;
      });
      if (changed && changed.on_hand > MAX_ON_HAND) deps.log.warn({ skuId, onHand: changed.on_hand, max: MAX_ON_HAND, key }, 'a restock left more on hand than MAX_ON_HAND');
      if (changed) return hot.stockReturned(skuId);
      if (!(await repo.hasAdjustmentKey(key))) throw new Error(`inventory: cannot restock ${skuId}, it has no stock row`);
    },

    /** The holder's current hold: its live lines if any, else its most recent settled lines, else status none. */
    async getHold(holderId: string): Promise<Hold> {
      const rows = await repo.findHolds(holderId);
      const live = rows.filter((r) => r.status === 'held' || r.status === 'committed');
      const lines = live.length > 0 ? live : rows.filter((r) => r.status === rows[0]?.status);
      const first = lines[0];
      if (!first) return { holderId, status: 'none', expiresAt: null, lines: [] };
      return {
        holderId,
        status: first.status,
        expiresAt: new Date(first.expires_at),
        lines: lines.map((r) => ({ skuId: r.sku_id, quantity: r.quantity })),
      };
    },

    /** The figures that must balance per SKU: journaled = onHand + sold and held = reserved (SKUs never stocked are absent). */
    async auditStock(skuIds: readonly string[]): Promise<StockAudit[]> {
      const rows = await repo.audit([...new Set(skuIds)]);
      return rows.map((r) => ({ skuId: r.sku_id, onHand: r.on_hand, reserved: r.reserved, sold: r.sold, journaled: r.journaled, held: r.held }));
    },

    /** Stock for many SKUs in one query; SKUs never stocked read as zero (sold out). */
    async getStockLevels(skuIds: readonly string[]): Promise<Map<string, StockLevel>> {
      const rows = await repo.findStock([...new Set(skuIds)]);
      const bySku = new Map(rows.map((r) => [r.sku_id, r]));
      return new Map(skuIds.map((id) => [id, toLevel(id, bySku.get(id))]));
    },

    /** Sets on-hand to an absolute count unless it is below what is reserved; the change, its journal row and its events commit together. */
    async trySetOnHand(
      skuId: string,
      onHand: number,
      actor: StockActor,
    ): Promise<{ ok: true; level: StockLevel } | { ok: false; code: 'insufficient_stock'; level: StockLevel }> {
      const changed = await repo.db.transaction().execute(async (trx) => {
        const row = await repo.setOnHand(trx, { skuId, onHand, adjustmentId: newId('adjustment'), at: deps.clock.now(), ...actor });
        return row ? publishChange(trx, row) : null;
      });
      if (changed) hot.stockReturned(skuId);
      return changed ? { ok: true, level: changed } : { ok: false, code: 'insufficient_stock', level: await levelOf(skuId) };
    },

    /** Sets on-hand to an absolute count (recorded as an adjustment with who and why); throws when below what is reserved. */
    async setOnHand(skuId: string, onHand: number, actor: StockActor): Promise<StockLevel> {
      const r = await service.trySetOnHand(skuId, onHand, actor);
      if (!r.ok) throw new Error(`inventory: cannot set ${skuId} to ${onHand}, ${r.level.reserved} are reserved`);
      return r.level;
    },

    /**
     * Adds (or removes, when negative) units in one conditional statement; refuses, changing nothing, to go below what
     * is reserved (`insufficient_stock`) or above MAX_ON_HAND (`stock_limit_exceeded`).
     */
    async adjust(skuId: string, delta: number, actor: StockActor): Promise<StockChangeResult> {
      const changed = await repo.db.transaction().execute(async (trx) => {
        const row = await repo.adjust(trx, { skuId, delta, adjustmentId: newId('adjustment'), at: deps.clock.now(), ...actor });
        return row ? publishChange(trx, row) : null;
      });
      if (changed) hot.stockReturned(skuId);
      if (changed) return { ok: true, level: changed };
      const level = await levelOf(skuId);
      return { ok: false, code: delta > 0 && level.onHand + delta > MAX_ON_HAND ? 'stock_limit_exceeded' : 'insufficient_stock', level };
    },

    /** Initial stock for many new SKUs in a fixed number of statements (seeding and bulk import); no per-SKU events. */
    async setOnHandMany(entries: ReadonlyArray<{ skuId: string; onHand: number }>, actor: StockActor): Promise<void> {
      const rows = entries.map((e) => ({ ...e, adjustmentId: newId('adjustment') }));
      await repo.db.transaction().execute((trx) => repo.setOnHandMany(trx, rows, actor, deps.clock.now()));
      for (const e of entries) hot.stockReturned(e.skuId);
    },

    /** The SKU's journal, newest first; `before` (the last entry of the previous page) pages on in the same order. */
    async listAdjustments(skuId: string, limit = 50, before?: { createdAt: Date; id: string } | null) {
      const rows = await repo.listAdjustments(skuId, limit, before);
      return rows.map((r) => ({
        id: r.id,
        delta: r.delta,
        onHandAfter: r.on_hand_after,
        accountId: r.account_id,
        reason: r.reason,
        createdAt: new Date(r.created_at),
      }));
    },
  } satisfies InventoryService & Record<string, unknown>;

  return service;
}
