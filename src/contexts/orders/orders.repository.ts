import { sql, type Kysely, type Transaction } from 'kysely';
import { Batcher } from '../../platform/batcher';
import { insertJsonRows, type AnyDb } from '../../platform/db';
import type { OrderStatus, ShippingAddress } from './index';

export interface OrdersTables {
  'orders.orders': {
    id: string;
    checkout_id: string;
    merchant_id: string;
    account_id: string | null;
    device_id: string;
    payment_id: string;
    status: OrderStatus;
    currency: string;
    subtotal_minor: number;
    tax_minor: number;
    total_minor: number;
    refunded_minor: number;
    shipping_address: ShippingAddress | null;
    carrier: string | null;
    tracking_number: string | null;
    cancel_reason: string | null;
    placed_at: Date;
    paid_at: Date | null;
    fulfilling_at: Date | null;
    shipped_at: Date | null;
    delivered_at: Date | null;
    cancelled_at: Date | null;
    updated_at: Date;
  };
  'orders.order_lines': {
    id: string;
    order_id: string;
    position: number;
    product_id: string;
    sku_id: string;
    product_name: string;
    variant_title: string;
    quantity: number;
    unit_price_minor: number;
    net_amount_minor: number;
    tax_minor: number;
    refunded_quantity: number;
    refunded_minor: number;
    refunded_net_minor: number;
    returned_quantity: number;
    tag_id: string | null;
    post_id: string | null;
    creator_id: string | null;
    attributed_product_id: string | null;
    tag_created_at: Date | null;
    referral_key_id: string | null;
    referred_at: Date | null;
  };
  'orders.order_events': {
    order_id: string;
    seq: number;
    type: string;
    from_status: string | null;
    to_status: string | null;
    actor: string;
    details: Record<string, unknown>;
    at: Date;
  };
  'orders.refunds': {
    id: string;
    order_id: string;
    request_key: string;
    kind: RefundKind;
    status: 'pending' | 'succeeded' | 'failed';
    amount_minor: number;
    lines: RefundLine[];
    reason: string;
    actor: string;
    failure_code: string | null;
    created_at: Date;
    settled_at: Date | null;
  };
  'orders.returns': { id: string; order_id: string; refund_id: string; lines: Array<{ lineId: string; quantity: number }>; reason: string; created_at: Date };
}

export type RefundKind = 'refund' | 'cancel' | 'return';
/** What one refund took from one line: units, money (net + tax) and the net part of it. */
export interface RefundLine {
  lineId: string;
  quantity: number;
  amountMinor: number;
  netAmountMinor: number;
}

export type Db = Kysely<OrdersTables>;
export type Executor = Db | Transaction<OrdersTables>;
export type OrderRow = OrdersTables['orders.orders'];
export type LineRow = OrdersTables['orders.order_lines'];
export type HistoryRow = OrdersTables['orders.order_events'];
export type RefundRow = OrdersTables['orders.refunds'];
export type ReturnRow = OrdersTables['orders.returns'];

/** The timestamp column each status sets when entered. */
const STATUS_AT = {
  placed: 'placed_at',
  paid: 'paid_at',
  fulfilling: 'fulfilling_at',
  shipped: 'shipped_at',
  delivered: 'delivered_at',
  cancelled: 'cancelled_at',
} as const satisfies Record<OrderStatus, keyof OrderRow>;

/** All SQL of the orders context. */
export class OrdersRepository {
  readonly db: Db;

  constructor(db: AnyDb) {
    this.db = db as unknown as Db;
  }

  /** Inserts orders unless their (checkout, merchant) exists; returns the ids actually inserted. */
  async insertOrders(trx: Executor, orders: OrderRow[]): Promise<string[]> {
    if (orders.length === 0) return [];
    const r = await sql<{ id: string }>`${insertJsonRows('orders.orders', orders)} ON CONFLICT (checkout_id, merchant_id) DO NOTHING RETURNING id`.execute(trx);
    return r.rows.map((row) => row.id);
  }

  async insertLines(trx: Executor, lines: LineRow[]): Promise<void> {
    if (lines.length > 0) await sql`${insertJsonRows('orders.order_lines', lines)}`.execute(trx);
  }

  findOrder(id: string, trx: Executor = this.db): Promise<OrderRow | undefined> {
    return trx.selectFrom('orders.orders').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The order, row-locked for the rest of the transaction (refunds and returns read-then-write under it). */
  async lockOrder(trx: Executor, id: string): Promise<OrderRow | undefined> {
    const r = await sql<OrderRow>`SELECT * FROM orders.orders WHERE id = ${id} FOR UPDATE`.execute(trx);
    return r.rows[0];
  }

  /** A checkout's orders, by merchant. Outside a transaction, concurrent look-ups share one query per batch. */
  findByCheckout(checkoutId: string, trx?: Executor): Promise<OrderRow[]> {
    if (trx) return trx.selectFrom('orders.orders').selectAll().where('checkout_id', '=', checkoutId).orderBy('merchant_id').execute();
    return this.#byCheckout.submit(checkoutId);
  }

  readonly #byCheckout = new Batcher<string, OrderRow[]>(async (checkoutIds) => {
    const rows = await this.db
      .selectFrom('orders.orders')
      .selectAll()
      .where('checkout_id', 'in', [...new Set(checkoutIds)])
      .orderBy('checkout_id')
      .orderBy('merchant_id')
      .execute();
    const by = new Map<string, OrderRow[]>();
    for (const r of rows) by.set(r.checkout_id, [...(by.get(r.checkout_id) ?? []), r]);
    return checkoutIds.map((id) => by.get(id) ?? []);
  }, { name: 'orders.by_checkout' });

  /** Lines of many orders in one query, in their order. */
  async findLines(orderIds: readonly string[], trx: Executor = this.db): Promise<LineRow[]> {
    if (orderIds.length === 0) return [];
    return trx.selectFrom('orders.order_lines').selectAll().where('order_id', 'in', [...orderIds]).orderBy('order_id').orderBy('position').execute();
  }

  /**
   * The state machine's one write: moves the order to `to` only if its current status is in `from` (a conditional
   * UPDATE, so two racing transitions cannot both win). Returns the updated row with the status it left, or nothing.
   */
  async transition(
    trx: Executor,
    id: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    at: Date,
    extra: { carrier?: string; tracking_number?: string; cancel_reason?: string } = {},
  ): Promise<(OrderRow & { from_status: OrderStatus }) | undefined> {
    const r = await sql<OrderRow & { from_status: OrderStatus }>`
      WITH old AS (SELECT id, status FROM orders.orders WHERE id = ${id} FOR UPDATE)
      UPDATE orders.orders o
      SET status = ${to}, ${sql.ref(STATUS_AT[to])} = ${at}, updated_at = ${at},
          carrier = coalesce(${extra.carrier ?? null}, o.carrier),
          tracking_number = coalesce(${extra.tracking_number ?? null}, o.tracking_number),
          cancel_reason = coalesce(${extra.cancel_reason ?? null}, o.cancel_reason)
      FROM old
      WHERE o.id = old.id AND old.status = ANY (${[...from]}::text[])
      RETURNING o.*, old.status AS from_status
    `.execute(trx);
    return r.rows[0];
  }

  /** placed → paid for every placed order of these checkouts, in one statement; returns the orders it moved. */
  async markPlacedPaid(trx: Executor, checkoutIds: readonly string[], at: Date): Promise<OrderRow[]> {
    const r = await sql<OrderRow>`
      UPDATE orders.orders SET status = 'paid', paid_at = ${at}, updated_at = ${at}
      WHERE checkout_id = ANY (${[...checkoutIds]}::text[]) AND status = 'placed'
      RETURNING *
    `.execute(trx);
    return r.rows;
  }

  /**
   * History rows for many orders (each at most once) whose rows this transaction has locked (or just inserted), in one
   * statement: each gets its order's next seq (1 for a new order).
   */
  async appendHistoryMany(trx: Executor, rows: ReadonlyArray<Omit<HistoryRow, 'seq'>>): Promise<void> {
    if (rows.length === 0) return;
    await sql`
      INSERT INTO orders.order_events (order_id, seq, type, from_status, to_status, actor, details, at)
      SELECT x.order_id, coalesce((SELECT max(e.seq) FROM orders.order_events e WHERE e.order_id = x.order_id), 0) + 1,
             x.type, x.from_status, x.to_status, x.actor, x.details, x.at
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS x(order_id text, type text, from_status text, to_status text, actor text, details jsonb, at timestamptz)
    `.execute(trx);
  }

  /** Appends a history row; the caller holds the order's row lock, so seq is gapless and ordered. */
  appendHistory(trx: Executor, h: Omit<HistoryRow, 'seq'>): Promise<void> {
    return this.appendHistoryMany(trx, [h]);
  }

  listHistory(orderId: string): Promise<HistoryRow[]> {
    return this.db.selectFrom('orders.order_events').selectAll().where('order_id', '=', orderId).orderBy('seq').execute();
  }

  /** One page of orders, newest first (ids are time-ordered ULIDs, so the id is the keyset). */
  listOrders(f: { accountId?: string; merchantId?: string; status?: OrderStatus; beforeId?: string; limit: number }): Promise<OrderRow[]> {
    let q = this.db.selectFrom('orders.orders').selectAll().orderBy('id', 'desc').limit(f.limit);
    if (f.accountId) q = q.where('account_id', '=', f.accountId);
    if (f.merchantId) q = q.where('merchant_id', '=', f.merchantId);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.beforeId) q = q.where('id', '<', f.beforeId);
    return q.execute();
  }

  /**
   * A merchant's orders placed in [from, to), per currency: orders kept and cancelled, units and money of the kept
   * ones after refunds, and every refund (a cancellation's included). One aggregate over the merchant's orders of the
   * period (orders_by_merchant_placed) and their lines.
   */
  async shopSummary(merchantId: string, from: Date, to: Date): Promise<Array<{ currency: string; orders: number; cancelled: number; units: number; revenue_minor: number; refunded_minor: number }>> {
    const r = await sql<{ currency: string; orders: number; cancelled: number; units: number; revenue_minor: string; refunded_minor: string }>`
      SELECT o.currency,
        count(*) FILTER (WHERE o.status <> 'cancelled')::int AS orders,
        count(*) FILTER (WHERE o.status = 'cancelled')::int AS cancelled,
        coalesce(sum(u.units) FILTER (WHERE o.status <> 'cancelled'), 0)::int AS units,
        coalesce(sum(o.total_minor - o.refunded_minor) FILTER (WHERE o.status <> 'cancelled'), 0)::text AS revenue_minor,
        coalesce(sum(o.refunded_minor), 0)::text AS refunded_minor
      FROM orders.orders o
      CROSS JOIN LATERAL (SELECT sum(l.quantity) AS units FROM orders.order_lines l WHERE l.order_id = o.id) u
      WHERE o.merchant_id = ${merchantId} AND o.placed_at >= ${from} AND o.placed_at < ${to}
      GROUP BY o.currency
      ORDER BY o.currency
    `.execute(this.db);
    return r.rows.map((row) => ({ ...row, revenue_minor: Number(row.revenue_minor), refunded_minor: Number(row.refunded_minor) }));
  }

  async countOrdersOfPayment(paymentId: string): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM orders.orders WHERE payment_id = ${paymentId}`.execute(this.db);
    return r.rows[0]?.n ?? 0;
  }

  // ---- refunds and returns

  findRefundByKey(orderId: string, requestKey: string, trx: Executor = this.db): Promise<RefundRow | undefined> {
    return trx.selectFrom('orders.refunds').selectAll().where('order_id', '=', orderId).where('request_key', '=', requestKey).executeTakeFirst();
  }

  listRefunds(orderId: string): Promise<RefundRow[]> {
    return this.db.selectFrom('orders.refunds').selectAll().where('order_id', '=', orderId).orderBy('created_at').orderBy('id').execute();
  }

  listReturns(orderId: string): Promise<ReturnRow[]> {
    return this.db.selectFrom('orders.returns').selectAll().where('order_id', '=', orderId).orderBy('created_at').orderBy('id').execute();
  }

  findReturnByRefund(refundId: string): Promise<ReturnRow | undefined> {
    return this.db.selectFrom('orders.returns').selectAll().where('refund_id', '=', refundId).executeTakeFirst();
  }

  /** Pending refunds older than `before` (a crash or a provider timeout left them): the sweeper settles them. */
  listPendingRefunds(before: Date, limit = 50): Promise<RefundRow[]> {
    return this.db.selectFrom('orders.refunds').selectAll().where('status', '=', 'pending').where('created_at', '<', before).orderBy('created_at').limit(limit).execute();
  }

  async insertRefund(trx: Executor, r: Omit<RefundRow, 'settled_at' | 'failure_code' | 'status'>): Promise<void> {
    await trx
      .insertInto('orders.refunds')
      .values({ ...r, status: 'pending', lines: JSON.stringify(r.lines) as never })
      .execute();
  }

  async insertReturn(trx: Executor, r: ReturnRow): Promise<void> {
    await trx
      .insertInto('orders.returns')
      .values({ ...r, lines: JSON.stringify(r.lines) as never })
      .execute();
  }

  /** Settles a pending refund; nothing happens (and false is returned) if another process settled it first. */
  async settleRefund(trx: Executor, id: string, status: 'succeeded' | 'failed', failureCode: string | null, at: Date): Promise<boolean> {
    const r = await trx
      .updateTable('orders.refunds')
      .set({ status, failure_code: failureCode, settled_at: at })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returning('id')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** The order's refunds (not returns, not cancellations) still pending: their units may yet go back to the lines. */
  listPendingPlainRefunds(trx: Executor, orderId: string): Promise<RefundRow[]> {
    return trx.selectFrom('orders.refunds').selectAll().where('order_id', '=', orderId).where('kind', '=', 'refund').where('status', '=', 'pending').execute();
  }

  /**
   * Adds (sign 1) or takes back (sign -1) what a refund claims from its lines and the order total, and the units a
   * return brings back, in two statements (a line's refund and return in one row update, so its CHECKs see both at
   * once). The CHECK constraints refuse any claim beyond a line's quantity or amount, or beyond the order's total,
   * and more units returned than refunded.
   */
  async applyRefundToLines(trx: Executor, orderId: string, lines: readonly RefundLine[], returned: ReadonlyArray<{ lineId: string; quantity: number }>, sign: 1 | -1): Promise<void> {
    const byLine = new Map<string, { quantity: number; amount: number; net: number; returned: number }>();
    const at = (lineId: string) => byLine.get(lineId) ?? byLine.set(lineId, { quantity: 0, amount: 0, net: 0, returned: 0 }).get(lineId)!;
    for (const x of lines) Object.assign(at(x.lineId), { quantity: x.quantity, amount: x.amountMinor, net: x.netAmountMinor });
    for (const x of returned) at(x.lineId).returned += x.quantity;
    if (byLine.size === 0) return;
    const ids = [...byLine.keys()];
    const c = ids.map((id) => byLine.get(id)!);
    await sql`
      UPDATE orders.order_lines l
      SET refunded_quantity = l.refunded_quantity + ${sign}::int * c.quantity,
          refunded_minor = l.refunded_minor + ${sign}::int * c.amount,
          refunded_net_minor = l.refunded_net_minor + ${sign}::int * c.net,
          returned_quantity = l.returned_quantity + ${sign}::int * c.returned
      FROM unnest(${ids}::text[], ${c.map((x) => x.quantity)}::int[], ${c.map((x) => x.amount)}::bigint[],
                  ${c.map((x) => x.net)}::bigint[], ${c.map((x) => x.returned)}::int[])
        AS c(line_id, quantity, amount, net, returned)
      WHERE l.id = c.line_id AND l.order_id = ${orderId}
    `.execute(trx);
    const total = lines.reduce((s, x) => s + x.amountMinor, 0);
    if (total !== 0) {
      await sql`
        UPDATE orders.orders SET refunded_minor = refunded_minor + ${sign * total}::bigint WHERE id = ${orderId}
      `.execute(trx);
    }
  }
}
