import { sql, type Kysely, type Transaction } from 'kysely';
import { MAX_ON_HAND } from './inventory.errors';
import type { AnyDb } from '../../platform/db';

export type HoldStatus = 'held' | 'committed' | 'released' | 'expired';

export interface InventoryTables {
  'inventory.stock': { sku_id: string; on_hand: number; reserved: number; sold: number; updated_at: Date };
  'inventory.adjustments': {
    id: string;
    sku_id: string;
    delta: number;
    sold_delta: number;
    on_hand_after: number;
    account_id: string;
    reason: string;
    idempotency_key: string | null;
    created_at: Date;
  };
  'inventory.reservations': {
    id: string;
    holder_id: string;
    sku_id: string;
    quantity: number;
    status: HoldStatus;
    expires_at: Date;
    created_at: Date;
    updated_at: Date;
  };
}

type Executor = Kysely<InventoryTables> | Transaction<InventoryTables>;

export interface StockRow {
  sku_id: string;
  on_hand: number;
  reserved: number;
}


/** The row after a change, and on-hand before it (to tell "reached sold out" from "was already"). */
export interface ChangedRow extends StockRow {
  previous_on_hand: number;
}

/** One caller's ask in a coalesced single-SKU batch, in arrival order. */
export interface BatchAsk {
  reservationId: string;
  holderId: string;
  quantity: number;
  expiresAt: Date;
}

/** The batch's answer per ask (same order), with the stock row after the batch when anything was granted. */
export interface BatchGrant {
  granted: boolean;
  /** Units available when this ask's turn came (after the grants before it in the batch). */
  available: number;
  /** Set when the holder already held this SKU (a retry): the existing hold's expiry, nothing new granted. */
  prior_expires_at: Date | null;
  on_hand_after: number | null;
  reserved_after: number | null;
}

/** A stock row after a hold changed, with the units that moved. */
export interface SettledRow extends StockRow {
  quantity: number;
}

export interface AdjustmentInput {
  adjustmentId: string;
  skuId: string;
  accountId: string;
  reason: string;
  at: Date;
}

/** All SQL of the inventory context. */
export class InventoryRepository {
  readonly db: Kysely<InventoryTables>;

  constructor(db: AnyDb) {
    this.db = db as unknown as Kysely<InventoryTables>;
  }

  /** One query for any number of SKUs. */
  async findStock(skuIds: readonly string[]): Promise<StockRow[]> {
    if (skuIds.length === 0) return [];
    return this.db
      .selectFrom('inventory.stock')
      .select(['sku_id', 'on_hand', 'reserved'])
      .where('sku_id', '=', sql<string>`ANY(${sql.val([...skuIds])}::text[])`)
      .execute();
  }

  /**
   * Sets on-hand to `onHand` unless that is below what is reserved, journaling the change in the same statement.
   * The FOR UPDATE subquery waits for a concurrent writer and reads its committed row, so the journaled delta is
   * exact. A SKU never stocked gets its first row. Returns no row when refused.
   */
  async setOnHand(trx: Executor, input: AdjustmentInput & { onHand: number }): Promise<ChangedRow | undefined> {
    const update = () => sql<ChangedRow>`
      WITH up AS (
        UPDATE inventory.stock s SET on_hand = ${input.onHand}::int, updated_at = ${input.at}
        FROM (SELECT sku_id, on_hand FROM inventory.stock WHERE sku_id = ${input.skuId} FOR UPDATE) old
        WHERE s.sku_id = old.sku_id AND s.reserved <= ${input.onHand}::int
        RETURNING s.sku_id, s.on_hand, s.reserved, old.on_hand AS previous_on_hand
      ), journal AS (${this.#journal(input, sql`up.on_hand - up.previous_on_hand`)})
      SELECT * FROM up
    `.execute(trx);
    const updated = (await update()).rows[0];
    if (updated) return updated;
    const inserted = (await this.#insertFirst(trx, input, input.onHand)).rows[0];
    // a concurrent first insert won the race: the row exists now, so the update decides
    return inserted ?? (await update()).rows[0];
  }

  /**
   * Adds `delta` (negative removes) only when the result stays at or above what is reserved (so never below zero)
   * and, when adding, at most MAX_ON_HAND, journaling it in the same statement: one conditional UPDATE, no
   * read-then-write to race. A removal is never refused for the cap: restocks may have left more on hand than it.
   * Both conditions add in bigint: from such a level the int sum would overflow (an error, not a refusal) before the
   * cap could refuse it, and the SET only runs once they hold. No row when refused.
   */
  async adjust(trx: Executor, input: AdjustmentInput & { delta: number }): Promise<ChangedRow | undefined> {
    const update = () => sql<ChangedRow>`
      WITH up AS (
        UPDATE inventory.stock SET on_hand = on_hand + ${input.delta}::int, updated_at = ${input.at}
        WHERE sku_id = ${input.skuId} AND on_hand::bigint + ${input.delta}::int >= reserved
          AND (${input.delta}::int <= 0 OR on_hand::bigint + ${input.delta}::int <= ${MAX_ON_HAND})
        RETURNING sku_id, on_hand, reserved, on_hand - ${input.delta}::int AS previous_on_hand
      ), journal AS (${this.#journal(input, sql`${input.delta}::int`)})
      SELECT * FROM up
    `.execute(trx);
    const updated = (await update()).rows[0];
    if (updated || input.delta < 0) return updated;
    return (await this.#insertFirst(trx, input, input.delta)).rows[0] ?? (await update()).rows[0];
  }

  /** The journal row of the change returned by the `up` CTE. */
  #journal(input: AdjustmentInput, delta: ReturnType<typeof sql>) {
    return sql`
      INSERT INTO inventory.adjustments (id, sku_id, delta, on_hand_after, account_id, reason, created_at)
      SELECT ${input.adjustmentId}, up.sku_id, ${delta}, up.on_hand, ${input.accountId}, ${input.reason}, ${input.at} FROM up
    `;
  }

  /** The first stock row of a SKU (from zero), journaled; no row when it already exists. */
  #insertFirst(trx: Executor, input: AdjustmentInput, onHand: number) {
    return sql<ChangedRow>`
      WITH up AS (
        INSERT INTO inventory.stock (sku_id, on_hand, reserved, updated_at)
        VALUES (${input.skuId}, ${onHand}::int, 0, ${input.at})
        ON CONFLICT (sku_id) DO NOTHING
        RETURNING sku_id, on_hand, reserved, 0 AS previous_on_hand
      ), journal AS (${this.#journal(input, sql`up.on_hand`)})
      SELECT * FROM up
    `.execute(trx);
  }

  /** Bulk initial stock for new SKUs (seeding): two statements whatever the count. */
  async setOnHandMany(
    trx: Executor,
    rows: ReadonlyArray<{ skuId: string; onHand: number; adjustmentId: string }>,
    actor: { accountId: string; reason: string },
    at: Date,
  ): Promise<void> {
    if (rows.length === 0) return;
    const skuIds = rows.map((r) => r.skuId);
    const counts = rows.map((r) => r.onHand);
    const adjIds = rows.map((r) => r.adjustmentId);
    await sql`
      INSERT INTO inventory.stock AS s (sku_id, on_hand, reserved, updated_at)
      SELECT sku_id, on_hand, 0, ${at} FROM unnest(${skuIds}::text[], ${counts}::int[]) AS t(sku_id, on_hand)
      ON CONFLICT (sku_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at
    `.execute(trx);
    await sql`
      INSERT INTO inventory.adjustments (id, sku_id, delta, on_hand_after, account_id, reason, created_at)
      SELECT id, sku_id, on_hand, on_hand, ${actor.accountId}, ${actor.reason}, ${at}
      FROM unnest(${adjIds}::text[], ${skuIds}::text[], ${counts}::int[]) AS t(id, sku_id, on_hand)
    `.execute(trx);
  }

  // ---------------------------------------------------------------- reservations

  /**
   * THE HOT PATH: grants a batch of single-SKU asks in one statement. The stock row is locked first (FOR UPDATE reads
   * the latest committed row, waiting for a writer in another process), then a recursive walk over the asks in
   * arrival order grants each ask that the units left after the earlier grants still cover, so a 20 that does not
   * fit is refused while a later 10 that does is granted. Holders that already hold (retries) are answered
   * with their hold and take nothing. The granted holds are inserted and the row's `reserved` raised by their sum in
   * the same statement; the CHECK constraints stay the last word.
   */
  async grantBatch(trx: Executor, skuId: string, asks: readonly BatchAsk[], at: Date): Promise<BatchGrant[]> {
    const ids = asks.map((a) => a.reservationId);
    const holders = asks.map((a) => a.holderId);
    const quantities = asks.map((a) => a.quantity);
    const expiries = asks.map((a) => a.expiresAt.toISOString());
    const r = await sql<BatchGrant>`
      WITH RECURSIVE
      locked AS (
        SELECT on_hand, reserved FROM inventory.stock WHERE sku_id = ${skuId} FOR UPDATE
      ),
      prior AS (
        SELECT holder_id, min(expires_at) AS expires_at FROM inventory.reservations
        WHERE holder_id = ANY (${holders}::text[]) AND status IN ('held', 'committed')
        GROUP BY holder_id
      ),
      ask AS (
        SELECT r.id, r.holder_id, r.quantity, r.expires_at, r.ord::int AS ord, prior.expires_at AS prior_expires_at
        FROM unnest(${ids}::text[], ${holders}::text[], ${quantities}::int[], ${expiries}::timestamptz[])
          WITH ORDINALITY AS r(id, holder_id, quantity, expires_at, ord)
        LEFT JOIN prior ON prior.holder_id = r.holder_id
      ),
      walk (ord, left_before, left_after, granted) AS (
        SELECT 0, 0, COALESCE((SELECT on_hand - reserved FROM locked), 0), false
        UNION ALL
        SELECT a.ord, w.left_after,
               CASE WHEN a.prior_expires_at IS NULL AND a.quantity <= w.left_after THEN w.left_after - a.quantity ELSE w.left_after END,
               a.prior_expires_at IS NULL AND a.quantity <= w.left_after
        FROM walk w JOIN ask a ON a.ord = w.ord + 1
      ),
      held AS (
        INSERT INTO inventory.reservations (id, holder_id, sku_id, quantity, status, expires_at, created_at, updated_at)
        SELECT a.id, a.holder_id, ${skuId}, a.quantity, 'held', a.expires_at, ${at}, ${at}
        FROM ask a JOIN walk w ON w.ord = a.ord WHERE w.granted
        RETURNING quantity
      ),
      up AS (
        UPDATE inventory.stock s SET reserved = s.reserved + t.total, updated_at = ${at}
        FROM (SELECT sum(quantity)::int AS total FROM held) t
        WHERE s.sku_id = ${skuId} AND t.total > 0
        RETURNING s.on_hand, s.reserved
      )
      SELECT w.granted, w.left_before AS available, a.prior_expires_at,
             (SELECT on_hand FROM up) AS on_hand_after, (SELECT reserved FROM up) AS reserved_after
      FROM ask a JOIN walk w ON w.ord = a.ord
      ORDER BY a.ord
    `.execute(trx);
    return r.rows;
  }

  /**
   * Holds every line for one holder or none, in one statement (the multi-line path, and the fallback of the hot
   * path): the SKUs' rows are locked in id order (so two holders never deadlock), and the holds are inserted and
   * `reserved` raised only when every line fits and the holder holds nothing yet. Returns one row per line.
   */
  async holdLines(
    trx: Executor,
    holderId: string,
    lines: ReadonlyArray<{ reservationId: string; skuId: string; quantity: number }>,
    expiresAt: Date,
    at: Date,
  ) {
    const ids = lines.map((l) => l.reservationId);
    const skus = lines.map((l) => l.skuId);
    const quantities = lines.map((l) => l.quantity);
    const r = await sql<{
      sku_id: string;
      available: number;
      granted: boolean;
      prior_expires_at: Date | null;
      on_hand_after: number | null;
      reserved_after: number | null;
    }>`
      WITH req AS (
        SELECT * FROM unnest(${ids}::text[], ${skus}::text[], ${quantities}::int[]) WITH ORDINALITY AS r(id, sku_id, quantity, ord)
      ),
      locked AS (
        SELECT sku_id, on_hand, reserved FROM inventory.stock WHERE sku_id = ANY (${skus}::text[]) ORDER BY sku_id FOR UPDATE
      ),
      prior AS (
        SELECT min(expires_at) AS expires_at FROM inventory.reservations WHERE holder_id = ${holderId} AND status IN ('held', 'committed')
      ),
      decision AS (
        SELECT (SELECT expires_at FROM prior) IS NULL
           AND (SELECT count(*) FROM req JOIN locked USING (sku_id) WHERE locked.on_hand - locked.reserved >= req.quantity) = ${lines.length}
           AS grant_all
      ),
      up AS (
        UPDATE inventory.stock s SET reserved = s.reserved + req.quantity, updated_at = ${at}
        FROM req WHERE s.sku_id = req.sku_id AND (SELECT grant_all FROM decision)
        RETURNING s.sku_id, s.on_hand, s.reserved
      ),
      held AS (
        INSERT INTO inventory.reservations (id, holder_id, sku_id, quantity, status, expires_at, created_at, updated_at)
        SELECT req.id, ${holderId}, req.sku_id, req.quantity, 'held', ${expiresAt}, ${at}, ${at}
        FROM req WHERE (SELECT grant_all FROM decision)
        RETURNING id
      )
      SELECT req.sku_id, COALESCE(locked.on_hand - locked.reserved, 0) AS available,
             (SELECT grant_all FROM decision) AND (SELECT count(*) FROM held) > 0 AS granted,
             (SELECT expires_at FROM prior) AS prior_expires_at,
             up.on_hand AS on_hand_after, up.reserved AS reserved_after
      FROM req LEFT JOIN locked USING (sku_id) LEFT JOIN up USING (sku_id)
      ORDER BY req.ord
    `.execute(trx);
    return r.rows;
  }

  /**
   * Moves held reservations to `to` and their units on the stock rows, in one statement: the holds are locked in id
   * order and re-checked (still held) under the lock, so a hold settles once however many callers race (commit vs
   * release vs the sweeper, in any process). Committed units leave on hand and reserved for sold; released and
   * expired units leave reserved only. Returns one row per SKU touched, with the holders that moved.
   */
  async settleHolds(
    trx: Executor,
    to: Exclude<HoldStatus, 'held'>,
    which: { holderIds: readonly string[] } | { dueAt: Date; limit: number },
    at: Date,
  ): Promise<{ rows: SettledRow[]; holders: string[] }> {
    const scope =
      'holderIds' in which
        ? sql`holder_id = ANY (${[...which.holderIds]}::text[])`
        : sql`expires_at <= ${which.dueAt} AND holder_id IN (
            SELECT holder_id FROM inventory.reservations WHERE status = 'held' AND expires_at <= ${which.dueAt}
            GROUP BY holder_id ORDER BY min(expires_at) LIMIT ${which.limit})`;
    const stockChange =
      to === 'committed'
        ? sql`on_hand = s.on_hand - p.quantity, reserved = s.reserved - p.quantity, sold = s.sold + p.quantity`
        : sql`reserved = s.reserved - p.quantity`;
    const r = await sql<SettledRow & { holders: string[] | null }>`
      WITH mine AS (
        SELECT id FROM inventory.reservations WHERE status = 'held' AND ${scope} ORDER BY id FOR UPDATE
      ),
      moved AS (
        UPDATE inventory.reservations r SET status = ${to}, updated_at = ${at}
        FROM mine WHERE r.id = mine.id
        RETURNING r.holder_id, r.sku_id, r.quantity
      ),
      per_sku AS (
        SELECT sku_id, sum(quantity)::int AS quantity FROM moved GROUP BY sku_id
      ),
      stock_locked AS (
        SELECT sku_id FROM inventory.stock WHERE sku_id IN (SELECT sku_id FROM per_sku) ORDER BY sku_id FOR UPDATE
      ),
      up AS (
        UPDATE inventory.stock s SET ${stockChange}, updated_at = ${at}
        FROM per_sku p JOIN stock_locked l USING (sku_id)
        WHERE s.sku_id = p.sku_id
        RETURNING s.sku_id, s.on_hand, s.reserved, p.quantity
      )
      SELECT up.*, (SELECT array_agg(DISTINCT holder_id) FROM moved) AS holders FROM up
    `.execute(trx);
    return { rows: r.rows.map(({ holders: _h, ...row }) => row), holders: r.rows[0]?.holders ?? [] };
  }

  /** A holder's reservation lines, newest first. */
  async findHolds(holderId: string) {
    return this.db
      .selectFrom('inventory.reservations')
      .select(['sku_id', 'quantity', 'status', 'expires_at', 'updated_at'])
      .where('holder_id', '=', holderId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
  }

  /**
   * Puts `quantity` sold units back on hand, once per key: the journal row (with the key, unique) is inserted from
   * the locked stock row and the stock moves only if that insert happened, all in one statement. A concurrent
   * duplicate waits on the key and then does nothing. No row when nothing moved (a repeat, or no stock row).
   */
  async restock(trx: Executor, input: AdjustmentInput & { quantity: number; key: string }): Promise<ChangedRow | undefined> {
    const r = await sql<ChangedRow>`
      WITH locked AS (
        SELECT sku_id, on_hand FROM inventory.stock WHERE sku_id = ${input.skuId} FOR UPDATE
      ),
      journal AS (
        INSERT INTO inventory.adjustments (id, sku_id, delta, sold_delta, on_hand_after, account_id, reason, idempotency_key, created_at)
        SELECT ${input.adjustmentId}, sku_id, ${input.quantity}::int, -${input.quantity}::int, on_hand + ${input.quantity}::int,
               ${input.accountId}, ${input.reason}, ${input.key}, ${input.at}
        FROM locked
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING sku_id
      )
      UPDATE inventory.stock s SET on_hand = s.on_hand + ${input.quantity}::int, sold = s.sold - ${input.quantity}::int, updated_at = ${input.at}
      FROM journal WHERE s.sku_id = journal.sku_id
      RETURNING s.sku_id, s.on_hand, s.reserved, s.on_hand - ${input.quantity}::int AS previous_on_hand
    `.execute(trx);
    return r.rows[0];
  }

  async hasAdjustmentKey(key: string): Promise<boolean> {
    const row = await this.db.selectFrom('inventory.adjustments').select('id').where('idempotency_key', '=', key).executeTakeFirst();
    return row !== undefined;
  }

  /** The figures that must balance for each SKU (see the 0002 migration): one query for any number of SKUs. */
  async audit(skuIds: readonly string[]) {
    if (skuIds.length === 0) return [];
    const r = await sql<{ sku_id: string; on_hand: number; reserved: number; sold: number; journaled: number; held: number }>`
      SELECT s.sku_id, s.on_hand, s.reserved, s.sold,
        COALESCE((SELECT sum(a.delta + a.sold_delta) FROM inventory.adjustments a WHERE a.sku_id = s.sku_id), 0)::int AS journaled,
        COALESCE((SELECT sum(r.quantity) FROM inventory.reservations r WHERE r.sku_id = s.sku_id AND r.status = 'held'), 0)::int AS held
      FROM inventory.stock s WHERE s.sku_id = ANY (${[...skuIds]}::text[])
    `.execute(this.db);
    return r.rows;
  }

  /** Newest first; `before` is the last one of the previous page (keyset on the adjustments_by_sku index). */
  async listAdjustments(skuId: string, limit: number, before?: { createdAt: Date; id: string } | null) {
    let q = this.db
      .selectFrom('inventory.adjustments')
      .select(['id', 'delta', 'on_hand_after', 'account_id', 'reason', 'created_at'])
      .where('sku_id', '=', skuId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit);
    if (before) q = q.where(sql<boolean>`(created_at, id) < (${before.createdAt}::timestamptz, ${before.id}::text)`);
    return q.execute();
  }
}
