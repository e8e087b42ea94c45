import { sql, type Kysely, type Transaction } from 'kysely';
import { Batcher } from '../../platform/batcher';
import type { AnyDb } from '../../platform/db';
import type { Outbox } from '../../platform/events';
import { newId } from '../../platform/ids';
import type { PricedLine, StoredClaims } from './checkout.pricing';

export type AttemptStatus = 'started' | 'reserved' | 'authorized' | 'committed' | 'ordered' | 'completed' | 'failed';

export interface CartRow {
  id: string;
  account_id: string | null;
  device_id: string;
  status: 'open' | 'merged';
  created_at: Date;
  updated_at: Date;
}

export interface CartLineRow {
  id: string;
  cart_id: string;
  sku_id: string;
  quantity: number;
  referral: StoredClaims | null;
  /** When the referral was stamped (null without one, or on a line referred before this was recorded). */
  referred_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface AttemptRow {
  id: string;
  idempotency_scope: string;
  idempotency_key: string;
  /** The hash of the request that started it (see requestHash): the same key with another request is refused. */
  request_hash: string | null;
  account_id: string | null;
  device_id: string;
  source: 'cart' | 'buy_now';
  cart_id: string | null;
  status: AttemptStatus;
  failure_code: string | null;
  failure_details: unknown;
  undone: boolean;
  committed: boolean;
  lines: PricedLine[];
  shipping: unknown;
  currency: string;
  subtotal_minor: number;
  tax_minor: number;
  total_minor: number;
  holder_id: string;
  payment_id: string | null;
  order_ids: string[];
  locked_until: Date;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export interface CheckoutTables {
  'checkout.carts': CartRow;
  'checkout.cart_lines': CartLineRow;
  'checkout.attempts': AttemptRow;
}

export type Db = Kysely<CheckoutTables>;
export type Trx = Transaction<CheckoutTables>;

export interface Shopper {
  accountId: string | null;
  deviceId: string;
  /**
   * The request named its device (`x-device-id` or the `fs_device` cookie) rather than getting one minted for it: a
   * signed-in shopper's cart then first takes in what that device's anonymous cart still holds (service, withDeviceCart).
   */
  deviceNamed?: boolean;
}

export const MAX_LINE_QUANTITY = 99;

/** A cart line's referral claims with the time they were stamped, as a priced line carries them. */
export function claimsOfLine(l: Pick<CartLineRow, 'referral' | 'referred_at'>): StoredClaims | null {
  if (!l.referral) return null;
  return l.referred_at ? { ...l.referral, referredAt: new Date(l.referred_at).toISOString() } : l.referral;
}

/** A cart line's `referral` JSON: the claims without their time (which is the `referred_at` column). */
function referralJson(claims: StoredClaims | null): string | null {
  return claims ? JSON.stringify({ ...claims, referredAt: undefined }) : null;
}

/** A new attempt: started, or already failed and undone when it is refused before it holds anything (sold out). */
export type NewAttempt = Omit<AttemptRow, 'request_hash' | 'failure_code' | 'failure_details' | 'undone' | 'committed' | 'payment_id' | 'order_ids' | 'finished_at'> &
  Partial<Pick<AttemptRow, 'request_hash' | 'failure_code' | 'failure_details' | 'undone' | 'finished_at'>>;

export type AttemptPatch = Partial<Pick<AttemptRow, 'status' | 'failure_code' | 'undone' | 'committed' | 'holder_id' | 'payment_id' | 'order_ids' | 'finished_at'>> & {
  failure_details?: unknown;
};

export interface TransitionItem {
  id: string;
  from: readonly AttemptStatus[];
  patch: AttemptPatch;
  /** The attempt as the caller holds it: its columns that never change after the insert are taken from here. */
  base: AttemptRow;
  /**
   * When set, the move also requires this to be the attempt's current holder: a runner that replaces the holder
   * (a re-hold) must have seen the one it replaces, so a runner a re-hold behind loses instead of moving it back.
   */
  holder?: string;
}

/** The columns a transition can change (the rest, lines and totals among them, are fixed at the insert). */
const MUTABLE_COLUMNS = ['status', 'failure_code', 'failure_details', 'undone', 'committed', 'holder_id', 'payment_id', 'order_ids', 'locked_until', 'updated_at', 'finished_at'] as const;
type MutableColumns = Pick<AttemptRow, (typeof MUTABLE_COLUMNS)[number]>;

/**
 * An attempt row built as one object literal, `base`'s immutable columns with `m`'s mutable ones. Spelled out on
 * purpose: `{ ...row, x }` on a 25-column row made V8 build slow (dictionary-mode) objects, which then cost again
 * in every JSON.stringify and property read on the checkout's hot path (~5% of a flash sale's CPU).
 */
function attemptRow(base: NewAttempt, m: MutableColumns): AttemptRow {
  return {
    id: base.id,
    idempotency_scope: base.idempotency_scope,
    idempotency_key: base.idempotency_key,
    request_hash: base.request_hash ?? null,
    account_id: base.account_id,
    device_id: base.device_id,
    source: base.source,
    cart_id: base.cart_id,
    status: m.status,
    failure_code: m.failure_code,
    failure_details: m.failure_details,
    undone: m.undone,
    committed: m.committed,
    lines: base.lines,
    shipping: base.shipping,
    currency: base.currency,
    subtotal_minor: base.subtotal_minor,
    tax_minor: base.tax_minor,
    total_minor: base.total_minor,
    holder_id: m.holder_id,
    payment_id: m.payment_id,
    order_ids: m.order_ids,
    locked_until: m.locked_until,
    created_at: base.created_at,
    updated_at: m.updated_at,
    finished_at: m.finished_at,
  };
}

/** MUTABLE_COLUMNS as SQL, for what a transition reads back. */
const MUTABLE = sql.raw(MUTABLE_COLUMNS.map((c) => `a.${c}`).join(', '));

/** All SQL of the checkout context. */
export class CheckoutRepository {
  readonly db: Db;
  constructor(db: AnyDb) {
    this.db = db as unknown as Db;
  }

  // ---- carts

  /** The shopper's open cart: the account's when signed in, else the device's anonymous one. */
  async findOpenCart(shopper: Shopper): Promise<CartRow | null> {
    let q = this.db.selectFrom('checkout.carts').selectAll().where('status', '=', 'open');
    q = shopper.accountId ? q.where('account_id', '=', shopper.accountId) : q.where('account_id', 'is', null).where('device_id', '=', shopper.deviceId);
    return (await q.executeTakeFirst()) ?? null;
  }

  /** Creates the open cart if there is none; concurrent callers end up with the same one (partial unique indexes). */
  async ensureOpenCart(exec: Db | Trx, shopper: Shopper, now: Date): Promise<CartRow> {
    const id = newId('cart');
    if (shopper.accountId) {
      await sql`INSERT INTO checkout.carts (id, account_id, device_id, status, created_at, updated_at)
                VALUES (${id}, ${shopper.accountId}, ${shopper.deviceId}, 'open', ${now}, ${now})
                ON CONFLICT (account_id) WHERE status = 'open' AND account_id IS NOT NULL DO NOTHING`.execute(exec);
    } else {
      await sql`INSERT INTO checkout.carts (id, account_id, device_id, status, created_at, updated_at)
                VALUES (${id}, NULL, ${shopper.deviceId}, 'open', ${now}, ${now})
                ON CONFLICT (device_id) WHERE status = 'open' AND account_id IS NULL DO NOTHING`.execute(exec);
    }
    let q = exec.selectFrom('checkout.carts').selectAll().where('status', '=', 'open');
    q = shopper.accountId ? q.where('account_id', '=', shopper.accountId) : q.where('account_id', 'is', null).where('device_id', '=', shopper.deviceId);
    return q.executeTakeFirstOrThrow();
  }

  async listLines(cartId: string): Promise<CartLineRow[]> {
    return this.db.selectFrom('checkout.cart_lines').selectAll().where('cart_id', '=', cartId).orderBy('id').execute();
  }

  /**
   * Adds units of a SKU: a second add of the same SKU sums into its line (a newer referral replaces the older one,
   * and `now` becomes the time it was stamped). Answers null, changing nothing, when the sum would pass the per-line limit.
   */
  async addLine(exec: Db | Trx, cartId: string, skuId: string, quantity: number, referral: StoredClaims | null, now: Date): Promise<CartLineRow | null> {
    const r = await sql<CartLineRow>`
      INSERT INTO checkout.cart_lines AS l (id, cart_id, sku_id, quantity, referral, referred_at, created_at, updated_at)
      VALUES (${newId('cartLine')}, ${cartId}, ${skuId}, ${quantity}, ${referralJson(referral)}::jsonb, ${referral ? now : null}::timestamptz, ${now}, ${now})
      ON CONFLICT (cart_id, sku_id) DO UPDATE
        SET quantity = l.quantity + EXCLUDED.quantity, referral = COALESCE(EXCLUDED.referral, l.referral),
            referred_at = COALESCE(EXCLUDED.referred_at, l.referred_at), updated_at = EXCLUDED.updated_at
        WHERE l.quantity + EXCLUDED.quantity <= ${MAX_LINE_QUANTITY}
      RETURNING *
    `.execute(exec);
    return r.rows[0] ?? null;
  }

  async setLineQuantity(cartId: string, lineId: string, quantity: number, now: Date): Promise<boolean> {
    const r = await this.db
      .updateTable('checkout.cart_lines')
      .set({ quantity, updated_at: now })
      .where('id', '=', lineId)
      .where('cart_id', '=', cartId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async deleteLine(cartId: string, lineId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('checkout.cart_lines').where('id', '=', lineId).where('cart_id', '=', cartId).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /**
   * Takes the units a checkout bought out of its cart: a bought line goes, unless units were added to it while the
   * checkout ran (a PATCH up, the same SKU added again), which stay; lines added after its snapshot stay whole.
   */
  async takeBought(exec: Trx, cartId: string, bought: ReadonlyArray<{ lineId: string; quantity: number }>, now: Date): Promise<void> {
    if (bought.length === 0) return;
    await sql`
      WITH b AS (SELECT * FROM unnest(${bought.map((x) => x.lineId)}::text[], ${bought.map((x) => x.quantity)}::int[]) AS b(id, quantity)),
      gone AS (DELETE FROM checkout.cart_lines l USING b WHERE l.cart_id = ${cartId} AND l.id = b.id AND l.quantity <= b.quantity)
      UPDATE checkout.cart_lines l SET quantity = l.quantity - b.quantity, updated_at = ${now}
      FROM b WHERE l.cart_id = ${cartId} AND l.id = b.id AND l.quantity > b.quantity
    `.execute(exec);
  }

  /**
   * Puts back the lines of a checkout that ended without taking money (its orders were cancelled), under their old
   * ids; a SKU the shopper has added again since keeps the newer line. Idempotent.
   */
  async restoreLines(exec: Trx, cartId: string, lines: readonly PricedLine[], now: Date): Promise<void> {
    for (const l of lines) {
      if (!l.lineId) continue;
      await sql`
        INSERT INTO checkout.cart_lines (id, cart_id, sku_id, quantity, referral, referred_at, created_at, updated_at)
        VALUES (${l.lineId}, ${cartId}, ${l.skuId}, ${l.quantity}, ${referralJson(l.claims)}::jsonb, ${l.claims?.referredAt ?? null}::timestamptz, ${now}, ${now})
        ON CONFLICT DO NOTHING
      `.execute(exec);
    }
  }

  /**
   * Whether the device's anonymous cart is open and has lines: the one read a signed-in cart request pays before it
   * merges (mergeDeviceCart), answered from the open-device index and the lines' (cart, SKU) index.
   */
  async deviceCartHasLines(deviceId: string): Promise<boolean> {
    const r = await sql<{ one: number }>`
      SELECT 1 AS one FROM checkout.carts c
      WHERE c.device_id = ${deviceId} AND c.account_id IS NULL AND c.status = 'open'
        AND EXISTS (SELECT 1 FROM checkout.cart_lines l WHERE l.cart_id = c.id)
    `.execute(this.db);
    return r.rows.length > 0;
  }

  /**
   * Moves a device's anonymous cart into the account's cart, in one transaction: a line of a SKU the account's cart
   * lacks moves whole (its id, time added and referral kept); one it has is summed into it (capped at the line
   * limit; the account's referral wins, the device's fills one it lacks). Answers how many lines moved.
   *
   * Exactly once: the first statement closes the device cart (open → merged) and so locks its row; a concurrent merge
   * (the sign-in subscriber, another request) waits on that lock, then finds it merged and does nothing. A merged
   * cart is never open again, so no other account can take its lines later. `createdBy`: merge only a device cart
   * that existed by then (the subscriber passes the sign-in's time, so a late delivery never takes a cart the device
   * started after that sign-in, e.g. after a sign-out, which belongs to whoever signs in next).
   */
  async mergeDeviceCart(deviceId: string, accountId: string, now: Date, createdBy?: Date): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx
        .updateTable('checkout.carts')
        .set({ status: 'merged', updated_at: now })
        .where('device_id', '=', deviceId)
        .where('account_id', 'is', null)
        .where('status', '=', 'open');
      if (createdBy) q = q.where('created_at', '<=', createdBy);
      const device = await q.returning('id').executeTakeFirst();
      if (!device) return 0;
      const target = await this.ensureOpenCart(trx, { accountId, deviceId }, now);
      // one statement: the lines it moves are exactly the lines it deleted (a line id deleted by this statement may be
      // inserted again by it), and ON CONFLICT sums into the account's line even when that line was added meanwhile
      const r = await sql`
        WITH moved AS (DELETE FROM checkout.cart_lines WHERE cart_id = ${device.id} RETURNING *)
        INSERT INTO checkout.cart_lines AS l (id, cart_id, sku_id, quantity, referral, referred_at, created_at, updated_at)
        SELECT m.id, ${target.id}, m.sku_id, m.quantity, m.referral, m.referred_at, m.created_at, ${now}::timestamptz FROM moved m
        ON CONFLICT (cart_id, sku_id) DO UPDATE
          SET quantity = LEAST(${MAX_LINE_QUANTITY}, l.quantity + EXCLUDED.quantity),
              referral = COALESCE(l.referral, EXCLUDED.referral),
              referred_at = CASE WHEN l.referral IS NULL THEN EXCLUDED.referred_at ELSE l.referred_at END, updated_at = EXCLUDED.updated_at
      `.execute(trx);
      return Number(r.numAffectedRows ?? 0);
    });
  }

  // ---- attempts

  async insertAttempt(trx: Trx, row: NewAttempt): Promise<AttemptRow> {
    return trx
      .insertInto('checkout.attempts')
      .values({
        ...row,
        lines: JSON.stringify(row.lines) as never,
        shipping: (row.shipping ? JSON.stringify(row.shipping) : null) as never,
        failure_code: null,
        failure_details: null,
        undone: false,
        committed: false,
        payment_id: null,
        order_ids: [],
        finished_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * Inserts new attempts, skipping a (scope, key) that already has one (null for those), in one statement that also
   * records each inserted attempt's `checkout.checkout.started` event, and `checkout.checkout.failed` after it for
   * one inserted failed (its hold was refused), built in SQL from the row (see eventsFrom): the payload is the flow's
   * CheckoutEventBase (`eventBase` in checkout.flow.ts), which test/checkout.test.ts compares it with.
   */
  async insertAttempts(rows: readonly NewAttempt[], outbox: Pick<Outbox, 'eventsFrom' | 'written'>): Promise<Array<AttemptRow | null>> {
    const r = await sql<{ id: string }>`
      WITH x AS (
        SELECT x.*, row_number() OVER () AS n
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(id text, idempotency_scope text, idempotency_key text,
          request_hash text, account_id text, device_id text, source text, cart_id text, status text, lines jsonb, shipping jsonb, currency text,
          subtotal_minor bigint, tax_minor bigint, total_minor bigint, holder_id text, locked_until timestamptz,
          created_at timestamptz, updated_at timestamptz, failure_code text, failure_details jsonb, undone boolean, finished_at timestamptz)
      ), ins AS (
        INSERT INTO checkout.attempts (id, idempotency_scope, idempotency_key, request_hash, account_id, device_id, source, cart_id, status, lines,
          shipping, currency, subtotal_minor, tax_minor, total_minor, holder_id, locked_until, created_at, updated_at,
          failure_code, failure_details, undone, finished_at)
        SELECT x.id, x.idempotency_scope, x.idempotency_key, x.request_hash, x.account_id, x.device_id, x.source, x.cart_id, x.status, x.lines,
          x.shipping, x.currency, x.subtotal_minor, x.tax_minor, x.total_minor, x.holder_id, x.locked_until, x.created_at, x.updated_at,
          x.failure_code, x.failure_details, COALESCE(x.undone, false), x.finished_at
        FROM x
        ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING
        RETURNING id, status, failure_code, account_id, device_id, source, currency, subtotal_minor, tax_minor, total_minor, lines
      ), base AS (
        SELECT ins.status, ins.failure_code, x.n, jsonb_build_object(
          'checkoutId', ins.id, 'accountId', ins.account_id, 'deviceId', ins.device_id, 'source', ins.source, 'currency', ins.currency,
          'subtotalMinor', ins.subtotal_minor, 'taxMinor', ins.tax_minor, 'totalMinor', ins.total_minor,
          'lines', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
              'skuId', l->'skuId', 'productId', l->'productId', 'merchantId', l->'merchantId', 'quantity', l->'quantity',
              'unitPriceMinor', l->'unitPriceMinor', 'netAmountMinor', l->'netAmountMinor', 'taxMinor', l->'taxMinor',
              'tagId', l->'claims'->'tagId', 'creatorId', l->'claims'->'creatorId') ORDER BY o), '[]'::jsonb)
            FROM jsonb_array_elements(ins.lines) WITH ORDINALITY AS t(l, o))
        ) AS payload
        FROM ins JOIN x ON x.id = ins.id
      ), events AS (
        SELECT 'checkout.checkout.started' AS name, payload, 2 * n AS n FROM base
        UNION ALL
        SELECT 'checkout.checkout.failed', payload || jsonb_build_object('reason', failure_code), 2 * n + 1 FROM base WHERE status = 'failed'
      ), ${outbox.eventsFrom('events')}
      SELECT id FROM ins
    `.execute(this.db);
    outbox.written();
    const inserted = new Set(r.rows.map((row) => row.id));
    // the rows as stored: what was inserted plus the columns' defaults (only the ids are read back)
    return rows.map((row) =>
      inserted.has(row.id)
        ? attemptRow(row, {
            status: row.status,
            failure_code: row.failure_code ?? null,
            failure_details: row.failure_details ?? null,
            undone: row.undone ?? false,
            committed: false,
            holder_id: row.holder_id,
            payment_id: null,
            order_ids: [],
            locked_until: row.locked_until,
            updated_at: row.updated_at,
            finished_at: row.finished_at ?? null,
          })
        : null,
    );
  }

  /** The attempts of many (scope, key) pairs in one query; null where a pair has none. */
  async findAttemptsByKeys(pairs: ReadonlyArray<{ scope: string; key: string }>): Promise<Array<AttemptRow | null>> {
    const r = await sql<AttemptRow>`
      SELECT a.* FROM checkout.attempts a
      JOIN jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) AS x(scope text, key text)
        ON a.idempotency_scope = x.scope AND a.idempotency_key = x.key
    `.execute(this.db);
    const byKey = new Map(r.rows.map((row) => [`${row.idempotency_scope}\n${row.idempotency_key}`, row]));
    return pairs.map((p) => byKey.get(`${p.scope}\n${p.key}`) ?? null);
  }

  /** Concurrent look-ups (every checkout asks first whether its key already started one) share one query per batch. */
  readonly #byKey = new Batcher<{ scope: string; key: string }, AttemptRow | null>((pairs) => this.findAttemptsByKeys(pairs), { name: 'checkout.attempt_by_key' });

  async findAttemptByKey(scope: string, key: string): Promise<AttemptRow | null> {
    return this.#byKey.submit({ scope, key });
  }

  async getAttempt(id: string): Promise<AttemptRow | null> {
    return (await this.db.selectFrom('checkout.attempts').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  /**
   * Moves an attempt on from one of `from` (a conditional UPDATE: whoever moved it first wins, the other gets null
   * and re-reads). Extends the attempt's lock: the mover owns it for another `lockMs`.
   */
  async transition(
    trx: Db | Trx,
    id: string,
    from: readonly AttemptStatus[],
    patch: AttemptPatch,
    now: Date,
    lockMs: number,
  ): Promise<AttemptRow | null> {
    const { failure_details, ...rest } = patch;
    const set = {
      ...rest,
      ...(failure_details !== undefined ? { failure_details: JSON.stringify(failure_details) as never } : {}),
      updated_at: now,
      locked_until: new Date(now.getTime() + lockMs),
    };
    return (
      (await trx.updateTable('checkout.attempts').set(set).where('id', '=', id).where('status', 'in', [...from]).returningAll().executeTakeFirst()) ?? null
    );
  }

  /**
   * `transition` for many attempts in one statement (each with its own `from` and patch); answers in input order,
   * null where the attempt was not in one of its `from` statuses. Ids must be distinct.
   */
  async transitionMany(trx: Db | Trx, items: readonly TransitionItem[], now: Date, lockMs: number): Promise<Array<AttemptRow | null>> {
    const r = await sql<Pick<AttemptRow, 'id'> & MutableColumns>`
      UPDATE checkout.attempts a SET
        status = CASE WHEN x.p ? 'status' THEN x.p->>'status' ELSE a.status END,
        failure_code = CASE WHEN x.p ? 'failure_code' THEN x.p->>'failure_code' ELSE a.failure_code END,
        failure_details = CASE WHEN x.p ? 'failure_details' THEN x.p->'failure_details' ELSE a.failure_details END,
        undone = CASE WHEN x.p ? 'undone' THEN (x.p->>'undone')::boolean ELSE a.undone END,
        committed = CASE WHEN x.p ? 'committed' THEN (x.p->>'committed')::boolean ELSE a.committed END,
        holder_id = CASE WHEN x.p ? 'holder_id' THEN x.p->>'holder_id' ELSE a.holder_id END,
        payment_id = CASE WHEN x.p ? 'payment_id' THEN x.p->>'payment_id' ELSE a.payment_id END,
        order_ids = CASE WHEN x.p ? 'order_ids' THEN ARRAY(SELECT jsonb_array_elements_text(x.p->'order_ids')) ELSE a.order_ids END,
        finished_at = CASE WHEN x.p ? 'finished_at' THEN (x.p->>'finished_at')::timestamptz ELSE a.finished_at END,
        updated_at = ${now},
        locked_until = ${new Date(now.getTime() + lockMs)}
      FROM jsonb_to_recordset(${JSON.stringify(items.map((i) => ({ id: i.id, from: i.from, p: i.patch, holder: i.holder ?? null })))}::jsonb)
        AS x(id text, "from" text[], p jsonb, holder text)
      WHERE a.id = x.id AND a.status = ANY (x."from") AND (x.holder IS NULL OR a.holder_id = x.holder)
      RETURNING a.id, ${MUTABLE}
    `.execute(trx);
    const byId = new Map(r.rows.map((row) => [row.id, row]));
    return items.map((i) => {
      const changed = byId.get(i.id);
      return changed ? attemptRow(i.base, changed) : null;
    });
  }

  /**
   * Takes one attempt over when its lock lapsed (its runner went away): a request repeating the one that started it.
   * The same condition as claimStuck's, so of a repeat and a sweeper only one gets it.
   */
  async claimLapsed(id: string, now: Date, lockMs: number): Promise<AttemptRow | null> {
    const r = await sql<AttemptRow>`
      UPDATE checkout.attempts SET locked_until = ${new Date(now.getTime() + lockMs)}
      WHERE id = ${id} AND locked_until <= ${now} AND (status NOT IN ('completed', 'failed') OR (status = 'failed' AND NOT undone))
      RETURNING *
    `.execute(this.db);
    return r.rows[0] ?? null;
  }

  /** Lets go of an attempt its runner cannot drive on (an unexpected error): a repeat of the request may take it over at once. */
  async releaseLock(id: string, now: Date): Promise<void> {
    await sql`UPDATE checkout.attempts SET locked_until = ${now} WHERE id = ${id} AND locked_until > ${now}`.execute(this.db);
  }

  /**
   * Claims up to `limit` unsettled attempts whose lock lapsed (a crashed or stalled checkout, or a failed one whose
   * undos did not all succeed). SKIP LOCKED plus the new lock keeps two sweepers off the same attempt.
   */
  async claimStuck(now: Date, lockMs: number, limit: number): Promise<AttemptRow[]> {
    const r = await sql<AttemptRow>`
      UPDATE checkout.attempts a SET locked_until = ${new Date(now.getTime() + lockMs)}
      WHERE a.id IN (
        SELECT id FROM checkout.attempts
        WHERE (status NOT IN ('completed', 'failed') OR (status = 'failed' AND NOT undone)) AND locked_until <= ${now}
        ORDER BY locked_until
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING a.*
    `.execute(this.db);
    return r.rows;
  }
}
