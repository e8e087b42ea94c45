import type { Transaction } from 'kysely';
import { Batcher } from '../../platform/batcher';
import { idCursor, newId } from '../../platform/ids';
import type { NewOrder, OrderStatus, OrdersDeps, OrdersService, ShippingAddress } from './index';
import type { OrdersFailure } from './orders.errors';
import type { OrderLineAttributionPayload, OrderLinePayload, OrderPayload } from './orders.events';
import {
  OrdersRepository,
  type LineRow,
  type OrderRow,
  type OrdersTables,
  type RefundKind,
  type RefundLine,
  type RefundRow,
} from './orders.repository';
import type { LineQuantities, OrderPage, OrderSummaryView, OrderView, ShipInput, ShopSummary } from './orders.schemas';
import './orders.events';

export type Result<T> = { ok: true; value: T } | { ok: false; code: OrdersFailure | 'invalid_cursor'; details?: unknown };
const ok = <T>(value: T) => ({ ok: true, value }) as const;
const fail = (code: OrdersFailure | 'invalid_cursor', details?: unknown) => ({ ok: false, code, ...(details !== undefined ? { details } : {}) }) as const;

/** Who is asking: a shopper sees their own orders, a merchant the orders of their shop; anything else is not found. */
export interface Viewer {
  role: 'shopper' | 'merchant';
  accountId: string;
}

type Trx = Transaction<OrdersTables>;
type Summary = { id: string; merchantId: string; status: OrderStatus; totalMinor: number };

const iso = (d: Date | string) => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));
const actorOf = (v: Viewer | null) => (v ? `${v.role}:${v.accountId}` : 'system');
/** The account behind an actor string, for the stock journal (`system` when no one asked). */
const accountOfActor = (actor: string) => actor.split(':')[1] ?? 'system';

/** Statuses in which the payment has been captured (money can be refunded). */
const CAPTURED_STATUSES: readonly OrderStatus[] = ['paid', 'fulfilling', 'shipped', 'delivered'];
/** Cancelling is possible before shipment; a shopper may only cancel before fulfilment starts. */
const CANCELLABLE_BY = { merchant: ['placed', 'paid', 'fulfilling'], shopper: ['placed', 'paid'] } as const satisfies Record<Viewer['role'], readonly OrderStatus[]>;
const AMBIGUOUS_PAYMENT_FAILURES = new Set(['provider_timeout', 'provider_unavailable']);

/** The order lists' cursor: the last order id shown. */
const cursor = idCursor('order');

/** A line as events and the order view carry it: `referredAt` always present (null when not recorded). */
function linePayload(l: LineRow): OrderLinePayload & { attribution: Required<OrderLineAttributionPayload> | null } {
  return {
    lineId: l.id,
    productId: l.product_id,
    skuId: l.sku_id,
    quantity: l.quantity,
    unitPriceMinor: l.unit_price_minor,
    netAmountMinor: l.net_amount_minor,
    taxMinor: l.tax_minor,
    refundedQuantity: l.refunded_quantity,
    refundedMinor: l.refunded_minor,
    returnedQuantity: l.returned_quantity,
    attribution: attributionOf(l),
  };
}

function attributionOf(l: LineRow): Required<OrderLineAttributionPayload> | null {
  if (l.tag_id === null) return null;
  return {
    tagId: l.tag_id,
    postId: l.post_id!,
    creatorId: l.creator_id!,
    productId: l.attributed_product_id!,
    tagCreatedAt: iso(l.tag_created_at!),
    keyId: l.referral_key_id!,
    referredAt: isoOrNull(l.referred_at),
  };
}

function orderPayload(o: OrderRow, lines: readonly LineRow[], fromStatus: OrderStatus | null, at: Date): OrderPayload {
  return {
    orderId: o.id,
    checkoutId: o.checkout_id,
    merchantId: o.merchant_id,
    accountId: o.account_id,
    deviceId: o.device_id,
    paymentId: o.payment_id,
    currency: o.currency,
    subtotalMinor: o.subtotal_minor,
    taxMinor: o.tax_minor,
    totalMinor: o.total_minor,
    refundedMinor: o.refunded_minor,
    status: o.status,
    placedAt: iso(o.placed_at),
    fromStatus,
    at: iso(at),
    lines: lines.map(linePayload),
  };
}

const summaryOf = (o: OrderRow): Summary => ({ id: o.id, merchantId: o.merchant_id, status: o.status, totalMinor: o.total_minor });

/**
 * What refunding `k` more units of a line returns: cumulative pro rata by quantity, rounded down, with the last unit
 * taking the remainder, so refunding a line unit by unit sums to exactly its net + tax (never more). BigInt keeps
 * the product exact for any amount.
 */
export function refundForUnits(line: Pick<LineRow, 'id' | 'quantity' | 'net_amount_minor' | 'tax_minor' | 'refunded_quantity' | 'refunded_minor' | 'refunded_net_minor'>, k: number): RefundLine {
  const after = line.refunded_quantity + k;
  const share = (amount: number) => (after === line.quantity ? amount : Number((BigInt(amount) * BigInt(after)) / BigInt(line.quantity)));
  return {
    lineId: line.id,
    quantity: k,
    amountMinor: share(line.net_amount_minor + line.tax_minor) - line.refunded_minor,
    netAmountMinor: share(line.net_amount_minor) - line.refunded_net_minor,
  };
}

/** Units asked for per line (a line named twice sums). */
function unitsByLine(lines: LineQuantities): Map<string, number> {
  const units = new Map<string, number>();
  for (const x of lines) units.set(x.lineId, (units.get(x.lineId) ?? 0) + x.quantity);
  return units;
}

/**
 * Whether a request asks for exactly what was recorded under its key: the same units of the same lines (a refund's
 * refunded units, a return's returned units), the same reason.
 */
function asksFor(recorded: { reason: string; lines: ReadonlyArray<{ lineId: string; quantity: number }> }, input: { lines: LineQuantities; reason: string }): boolean {
  const units = unitsByLine(input.lines);
  return recorded.reason === input.reason && recorded.lines.length === units.size && recorded.lines.every((l) => units.get(l.lineId) === l.quantity);
}

function assertConsistent(o: NewOrder): void {
  const sum = (f: (l: NewOrder['lines'][number]) => number) => o.lines.reduce((s, l) => s + f(l), 0);
  const problems = [
    o.lines.length === 0 && 'an order needs at least one line',
    o.lines.some((l) => !Number.isSafeInteger(l.quantity) || l.quantity <= 0) && 'quantities must be positive integers',
    sum((l) => l.netAmountMinor) !== o.subtotalMinor && 'subtotal must equal the sum of the lines\' net amounts',
    sum((l) => l.taxMinor) !== o.taxMinor && 'tax must equal the sum of the lines\' tax',
    o.subtotalMinor + o.taxMinor !== o.totalMinor && 'total must equal subtotal + tax',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`orders: inconsistent order for merchant ${o.merchantId}: ${problems.join('; ')}`);
}

class LostRace extends Error {}

type PlaceInput = Parameters<OrdersService['placeOrders']>[0];

export type OrdersServiceImpl = ReturnType<typeof createOrdersService>;

export function createOrdersService(deps: OrdersDeps) {
  const repo = new OrdersRepository(deps.db);
  const { clock, outbox, payments, inventory, catalog, log } = deps;

  /** The order when the viewer may see it; another's order reads as not found (existence does not leak). */
  async function owned(viewer: Viewer, orderId: string): Promise<OrderRow | null> {
    const order = await repo.findOrder(orderId);
    if (!order) return null;
    if (viewer.role === 'shopper') return order.account_id === viewer.accountId ? order : null;
    const merchant = await catalog.getMerchantByAccount(viewer.accountId);
    return merchant && merchant.id === order.merchant_id ? order : null;
  }

  async function view(o: OrderRow): Promise<OrderView> {
    const [lines, history, refunds, returns] = await Promise.all([
      repo.findLines([o.id]),
      repo.listHistory(o.id),
      repo.listRefunds(o.id),
      repo.listReturns(o.id),
    ]);
    return {
      ...summaryView(o, lines),
      accountId: o.account_id,
      paymentId: o.payment_id,
      shipping: o.shipping_address,
      carrier: o.carrier,
      trackingNumber: o.tracking_number,
      cancelReason: o.cancel_reason,
      paidAt: isoOrNull(o.paid_at),
      fulfillingAt: isoOrNull(o.fulfilling_at),
      shippedAt: isoOrNull(o.shipped_at),
      deliveredAt: isoOrNull(o.delivered_at),
      cancelledAt: isoOrNull(o.cancelled_at),
      lines: lines.map((l) => {
        const { lineId, ...rest } = linePayload(l);
        return { id: lineId, productName: l.product_name, variantTitle: l.variant_title, ...rest };
      }),
      history: history.map((h) => ({
        seq: h.seq,
        type: h.type,
        fromStatus: h.from_status,
        toStatus: h.to_status,
        actor: h.actor,
        details: h.details,
        at: iso(h.at),
      })),
      refunds: refunds.map((r) => ({
        id: r.id,
        kind: r.kind,
        status: r.status,
        amountMinor: r.amount_minor,
        reason: r.reason,
        lines: r.lines,
        createdAt: iso(r.created_at),
        settledAt: isoOrNull(r.settled_at),
      })),
      returns: returns.map((r) => ({ id: r.id, refundId: r.refund_id, reason: r.reason, lines: r.lines, createdAt: iso(r.created_at) })),
    };
  }

  function summaryView(o: OrderRow, lines: readonly LineRow[]): OrderSummaryView {
    return {
      id: o.id,
      checkoutId: o.checkout_id,
      merchantId: o.merchant_id,
      status: o.status,
      currency: o.currency,
      subtotalMinor: o.subtotal_minor,
      taxMinor: o.tax_minor,
      totalMinor: o.total_minor,
      refundedMinor: o.refunded_minor,
      itemCount: lines.filter((l) => l.order_id === o.id).reduce((s, l) => s + l.quantity, 0),
      placedAt: iso(o.placed_at),
      updatedAt: iso(o.updated_at),
    };
  }

  /**
   * One state-machine step in one transaction: the conditional UPDATE, its history row and its outbox event.
   * Repeating a step that already happened answers the current order and writes nothing.
   */
  async function move(
    orderId: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    actor: string,
    opts: { extra?: { carrier?: string; tracking_number?: string; cancel_reason?: string }; details?: Record<string, unknown>; trx?: Trx } = {},
  ): Promise<Result<{ order: OrderRow; changed: boolean }>> {
    const at = clock.now();
    const step = async (trx: Trx) => {
      const row = await repo.transition(trx, orderId, from, to, at, opts.extra);
      if (!row) return null;
      const { from_status: fromStatus, ...order } = row;
      const lines = await repo.findLines([orderId], trx);
      const details = opts.details ?? {};
      await repo.appendHistory(trx, { order_id: orderId, type: to, from_status: fromStatus, to_status: to, actor, details, at });
      const payload = { ...orderPayload(order, lines, fromStatus, at), ...details };
      // the event name follows the status; the payload's extra fields (carrier, reason…) come from `details`
      await outbox.publish(trx, `orders.order.${to}` as 'orders.order.paid', payload);
      return order;
    };
    const moved = opts.trx ? await step(opts.trx) : await repo.db.transaction().execute(step);
    if (moved) return ok({ order: moved, changed: true });
    const current = await repo.findOrder(orderId, opts.trx);
    if (!current) return fail('not_found');
    if (current.status === to) return ok({ order: current, changed: false });
    return fail('invalid_transition', { status: current.status, allowedFrom: from });
  }

  /** Answers a transition for a viewer: ownership first (404), then the step. */
  async function moveOwned(
    viewer: Viewer,
    orderId: string,
    from: readonly OrderStatus[],
    to: OrderStatus,
    opts: Parameters<typeof move>[4] = {},
  ): Promise<Result<OrderView>> {
    if (!(await owned(viewer, orderId))) return fail('not_found');
    const r = await move(orderId, from, to, actorOf(viewer), opts);
    return r.ok ? ok(await view(r.value.order)) : r;
  }

  /**
   * Calls the provider for a pending refund (outside any transaction), then records the outcome with its history row
   * and events. Safe to repeat: the provider key is the refund id, and settling is a conditional UPDATE.
   */
  async function settle(refund: RefundRow): Promise<'succeeded' | 'failed' | 'pending'> {
    if (refund.status !== 'pending') return refund.status;
    const order = (await repo.findOrder(refund.order_id))!;
    const ret = refund.kind === 'return' ? await repo.findReturnByRefund(refund.id) : undefined;
    if (refund.amount_minor > 0) {
      const r = await payments.refund(order.payment_id, refund.amount_minor, `${order.id}:refund:${refund.id}`, refund.reason);
      if (!r.ok && AMBIGUOUS_PAYMENT_FAILURES.has(r.code)) return 'pending';
      if (!r.ok) {
        log.warn({ orderId: order.id, refundId: refund.id, code: r.code }, 'the payment provider refused a refund');
        await repo.db.transaction().execute(async (trx) => {
          await repo.lockOrder(trx, order.id);
          if (!(await repo.settleRefund(trx, refund.id, 'failed', r.code, clock.now()))) return;
          // a return whose refund was refused is no return: its units come off the lines with the money
          await repo.applyRefundToLines(trx, order.id, refund.lines, ret?.lines ?? [], -1);
          await repo.appendHistory(trx, {
            order_id: order.id,
            type: 'refund_failed',
            from_status: null,
            to_status: null,
            actor: refund.actor,
            details: { refundId: refund.id, amountMinor: refund.amount_minor, code: r.code },
            at: clock.now(),
          });
        });
        return 'failed';
      }
    }
    if (ret) {
      // returned units go back on the shelf; idempotent per return and line, so a resumed settle cannot double it
      const lines = new Map((await repo.findLines([order.id])).map((l) => [l.id, l]));
      for (const x of ret.lines) {
        await inventory.restock(lines.get(x.lineId)!.sku_id, x.quantity, `${ret.id}:restock:${x.lineId}`, { accountId: accountOfActor(refund.actor), reason: `order ${order.id} returned` });
      }
    }
    await repo.db.transaction().execute(async (trx) => {
      const locked = (await repo.lockOrder(trx, order.id))!;
      if (!(await repo.settleRefund(trx, refund.id, 'succeeded', null, clock.now()))) return;
      const at = clock.now();
      const lines = await repo.findLines([order.id], trx);
      const byId = new Map(lines.map((l) => [l.id, l]));
      const base = orderPayload(locked, lines, locked.status, at);
      // a return of units refunded before moves no money for them: no refund in the history, and no refunded event
      // (attribution would reverse credits, analytics count units, for a refund that did not happen)
      if (refund.lines.length > 0) {
        await repo.appendHistory(trx, {
          order_id: order.id,
          type: 'refunded',
          from_status: null,
          to_status: null,
          actor: refund.actor,
          details: { refundId: refund.id, kind: refund.kind, amountMinor: refund.amount_minor, reason: refund.reason, lines: refund.lines },
          at,
        });
        await outbox.publish(trx, 'orders.order.refunded', {
          ...base,
          refundId: refund.id,
          kind: refund.kind,
          amountMinor: refund.amount_minor,
          reason: refund.reason,
          refundedLines: refund.lines.map((x) => ({ ...x, productId: byId.get(x.lineId)!.product_id, attribution: attributionOf(byId.get(x.lineId)!) })),
        });
      }
      if (ret) {
        await repo.appendHistory(trx, {
          order_id: order.id,
          type: 'returned',
          from_status: null,
          to_status: null,
          actor: refund.actor,
          details: { returnId: ret.id, refundId: refund.id, reason: ret.reason, lines: ret.lines },
          at,
        });
        await outbox.publish(trx, 'orders.order.returned', {
          ...base,
          returnId: ret.id,
          refundId: refund.id,
          reason: ret.reason,
          returnedLines: ret.lines.map((x) => ({ ...x, productId: byId.get(x.lineId)!.product_id, skuId: byId.get(x.lineId)!.sku_id })),
        });
      }
    });
    return 'succeeded';
  }

  /** Turns a settled (or still pending) refund into the answer of the request that asked for it. */
  async function answerFor(refund: RefundRow, outcome: 'succeeded' | 'failed' | 'pending'): Promise<Result<OrderView>> {
    if (outcome === 'pending') return fail('payment_unavailable', { refundId: refund.id });
    const order = (await repo.findOrder(refund.order_id))!;
    if (outcome === 'failed') {
      const code = (await repo.findRefundByKey(refund.order_id, refund.request_key))?.failure_code;
      return fail('refund_refused', { refundId: refund.id, code });
    }
    return ok(await view(order));
  }

  /**
   * Claims units of lines for a refund (or a return) under the order's row lock and records the refund `pending`,
   * so concurrent refunds can never claim the same units; the provider is called after commit.
   *
   * A refund claims units not yet refunded. A return claims units not yet returned (409 `refund_exceeds_remaining`
   * beyond what was sold, net of earlier returns) and refunds only those of them not refunded before: units refunded
   * without a return ("keep it, or send it back") are returned and restocked without moving money again, possibly
   * with a refund of 0 and no lines. Such a return counts on the earlier refunds staying done, so it is not claimed
   * while a refund of the order is still pending (it could yet fail and take its units off the line): the answer
   * `settle_first` names them, and the caller settles them and claims again.
   */
  async function claimRefund(
    viewer: Viewer,
    orderId: string,
    input: { lines: LineQuantities; reason: string },
    requestKey: string,
    kind: Extract<RefundKind, 'refund' | 'return'>,
  ): Promise<Result<RefundRow> | { ok: false; code: 'settle_first'; refunds: RefundRow[] }> {
    const actor = actorOf(viewer);
    return repo.db.transaction().execute(async (trx) => {
      const order = await repo.lockOrder(trx, orderId);
      if (!order) return fail('not_found');
      const allowed: readonly OrderStatus[] = kind === 'return' ? ['delivered'] : CAPTURED_STATUSES;
      if (!allowed.includes(order.status)) return fail('invalid_transition', { status: order.status, allowedFrom: allowed });
      const lines = new Map((await repo.findLines([orderId], trx)).map((l) => [l.id, l]));
      const units = unitsByLine(input.lines);
      const claims: RefundLine[] = [];
      let reliesOnRefunds = false;
      for (const [lineId, k] of units) {
        const line = lines.get(lineId);
        if (!line) return fail('line_not_found', { lineId });
        const remaining = line.quantity - (kind === 'return' ? line.returned_quantity : line.refunded_quantity);
        if (k > remaining) return fail('refund_exceeds_remaining', { lineId, requested: k, remaining });
        // a return refunds what of it is not refunded yet: units refunded without a return are taken first
        const toRefund = kind === 'return' ? Math.max(0, k - (line.refunded_quantity - line.returned_quantity)) : k;
        if (toRefund < k) reliesOnRefunds = true;
        if (toRefund > 0) claims.push(refundForUnits(line, toRefund));
      }
      if (reliesOnRefunds) {
        const pending = await repo.listPendingPlainRefunds(trx, orderId);
        if (pending.length > 0) return { ok: false, code: 'settle_first', refunds: pending } as const;
      }
      const refund: RefundRow = {
        id: newId('refund'),
        order_id: orderId,
        request_key: requestKey,
        kind,
        status: 'pending',
        amount_minor: claims.reduce((s, c) => s + c.amountMinor, 0),
        lines: claims,
        reason: input.reason,
        actor,
        failure_code: null,
        created_at: clock.now(),
        settled_at: null,
      };
      await repo.insertRefund(trx, refund);
      const returned = kind === 'return' ? [...units].map(([lineId, quantity]) => ({ lineId, quantity })) : [];
      await repo.applyRefundToLines(trx, orderId, claims, returned, 1);
      if (kind === 'return') {
        await repo.insertReturn(trx, { id: newId('return'), order_id: orderId, refund_id: refund.id, lines: returned, reason: input.reason, created_at: clock.now() });
      }
      return ok(refund);
    });
  }

  /** Refund or return, resumable per request key: a retry finds its refund and settles it instead of claiming again. */
  async function refundOrReturn(
    viewer: Viewer,
    orderId: string,
    input: { lines: LineQuantities; reason: string },
    key: string,
    kind: Extract<RefundKind, 'refund' | 'return'>,
  ): Promise<Result<OrderView>> {
    if (!(await owned(viewer, orderId))) return fail('not_found');
    const requestKey = `${kind}:${key}`;
    const existing = await repo.findRefundByKey(orderId, requestKey);
    if (existing) {
      // the key's idempotency record may be gone (pruned after a day, or released after a provider outage) while its
      // refund stays: another request under it would be answered with that refund as if it had been done. A return
      // is compared by the units it returned (its refund may hold fewer, or none)
      const ret = existing.kind === 'return' ? await repo.findReturnByRefund(existing.id) : undefined;
      if (!asksFor(ret ?? existing, input)) return fail('idempotency_key_reused');
      return answerFor(existing, await settle(existing));
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const claimed = await claimRefund(viewer, orderId, input, requestKey, kind);
      if (claimed.ok) return answerFor(claimed.value, await settle(claimed.value));
      if (claimed.code !== 'settle_first') return claimed;
      // a return of refunded units waits for the order's pending refunds to settle (here, or by their own request)
      for (const r of claimed.refunds) if ((await settle(r)) === 'pending') return fail('payment_unavailable', { refundId: r.id });
    }
    return fail('payment_unavailable', { orderId });
  }

  /** Claims everything not yet refunded for the cancellation (request key `cancel`: once per order). */
  async function claimCancelRefund(trx: Trx, orderId: string, reason: string, actor: string): Promise<void> {
    const claims = (await repo.findLines([orderId], trx))
      .map((l) => refundForUnits(l, l.quantity - l.refunded_quantity))
      .filter((c) => c.quantity > 0);
    const amount = claims.reduce((s, c) => s + c.amountMinor, 0);
    if (amount === 0 || (await repo.findRefundByKey(orderId, 'cancel', trx))) return;
    await repo.insertRefund(trx, {
      id: newId('refund'),
      order_id: orderId,
      request_key: 'cancel',
      kind: 'cancel',
      amount_minor: amount,
      lines: claims,
      reason,
      actor,
      created_at: clock.now(),
    });
    await repo.applyRefundToLines(trx, orderId, claims, [], 1);
  }

  /** After the cancel transition: give the money back (refund or void) and the units back (restock); repeatable. */
  async function finishCancel(orderId: string): Promise<Result<OrderView>> {
    const order = (await repo.findOrder(orderId))!;
    const history = await repo.listHistory(orderId);
    const cancelled = history.find((h) => h.type === 'cancelled');
    const moneyAction = cancelled?.details.moneyAction;
    const actor = cancelled?.actor ?? 'system';
    let refund = await repo.findRefundByKey(orderId, 'cancel');
    let outcome: 'succeeded' | 'failed' | 'pending' = 'succeeded';
    if (!refund && moneyAction === 'void') {
      const v = await payments.void(order.payment_id);
      if (!v.ok && AMBIGUOUS_PAYMENT_FAILURES.has(v.code)) outcome = 'pending';
      else if (!v.ok) {
        // captured in the meantime (the checkout's capture won the race): the money goes back as a refund instead
        const payment = await payments.getPayment(order.payment_id);
        if (payment && (payment.status === 'captured' || payment.status === 'partially_refunded')) {
          await repo.db.transaction().execute(async (trx) => {
            await repo.lockOrder(trx, orderId);
            await claimCancelRefund(trx, orderId, order.cancel_reason ?? 'cancelled', actor);
          });
          refund = await repo.findRefundByKey(orderId, 'cancel');
        } else log.error({ orderId, code: v.code, payment: payment?.status }, 'could not void the payment of a cancelled order');
      }
    }
    if (refund) outcome = await settle(refund);
    // restock even when the money is still pending: the goods never left, whatever the provider answers
    await restockCancelled(orderId, actor);
    if (outcome === 'pending') return fail('payment_unavailable', { orderId });
    return ok(await view((await repo.findOrder(orderId))!));
  }

  /** Gives a cancelled order's units back to stock; the key per line (`<ord>:cancel:<oln>`) makes repeats no-ops. */
  async function restockCancelled(orderId: string, actor: string): Promise<void> {
    for (const l of await repo.findLines([orderId])) {
      const units = l.quantity - l.returned_quantity;
      if (units > 0) await inventory.restock(l.sku_id, units, `${orderId}:cancel:${l.id}`, { accountId: accountOfActor(actor), reason: `order ${orderId} cancelled` });
    }
  }

  /** How a cancellation gives the money back, decided from the payment's state before anything changes. */
  async function moneyActionFor(order: OrderRow): Promise<Result<'refund' | 'void' | 'none'>> {
    if (order.status !== 'placed') return ok('refund');
    // placed: the checkout may or may not have captured yet; the payment says which
    const payment = await payments.getPayment(order.payment_id);
    if (!payment) throw new Error(`orders: payment ${order.payment_id} of order ${order.id} does not exist`);
    switch (payment.status) {
      case 'captured':
      case 'partially_refunded':
        return ok('refund');
      case 'authorized':
        // voiding would cancel every merchant's order of this payment: only when this order is the payment's only one
        return (await repo.countOrdersOfPayment(order.payment_id)) === 1 ? ok('void') : fail('payment_not_settled', { status: order.status });
      case 'pending':
        return fail('payment_not_settled', { status: order.status });
      default:
        return ok('none');
    }
  }

  /** The rows of one checkout's orders and lines, as placed now. */
  function placedRows(input: PlaceInput, at: Date): { rows: OrderRow[]; lines: LineRow[] } {
    const rows: OrderRow[] = input.orders.map((o) => ({
      id: newId('order'),
      checkout_id: input.checkoutId,
      merchant_id: o.merchantId,
      account_id: input.accountId,
      device_id: input.deviceId,
      payment_id: input.paymentId,
      status: 'placed',
      currency: o.currency,
      subtotal_minor: o.subtotalMinor,
      tax_minor: o.taxMinor,
      total_minor: o.totalMinor,
      refunded_minor: 0,
      shipping_address: input.shipping ? normalizeAddress(input.shipping) : null,
      carrier: null,
      tracking_number: null,
      cancel_reason: null,
      placed_at: at,
      paid_at: null,
      fulfilling_at: null,
      shipped_at: null,
      delivered_at: null,
      cancelled_at: null,
      updated_at: at,
    }));
    const lines: LineRow[] = rows.flatMap((row, i) =>
      input.orders[i]!.lines.map((l, position) => ({
        id: newId('orderLine'),
        order_id: row.id,
        position,
        product_id: l.productId,
        sku_id: l.skuId,
        product_name: l.productName,
        variant_title: l.variantTitle,
        quantity: l.quantity,
        unit_price_minor: l.unitPriceMinor,
        net_amount_minor: l.netAmountMinor,
        tax_minor: l.taxMinor,
        refunded_quantity: 0,
        refunded_minor: 0,
        refunded_net_minor: 0,
        returned_quantity: 0,
        tag_id: l.attribution?.tagId ?? null,
        post_id: l.attribution?.postId ?? null,
        creator_id: l.attribution?.creatorId ?? null,
        attributed_product_id: l.attribution?.productId ?? null,
        tag_created_at: l.attribution?.tagCreatedAt ?? null,
        referral_key_id: l.attribution?.keyId ?? null,
        referred_at: l.attribution?.referredAt ?? null,
      })),
    );
    return { rows, lines };
  }

  /**
   * Concurrent checkouts' orders are placed together: one transaction per batch inserts every order, line, history
   * row and `orders.order.placed` event. A checkout whose orders another call placed first fails the batch with
   * LostRace; the batcher then runs each checkout alone, and that one answers with the orders that won.
   */
  const placements = new Batcher<PlaceInput, Summary[]>((inputs) =>
    repo.db.transaction().execute(async (trx) => {
      const at = clock.now();
      const placed = inputs.map((input) => ({ input, ...placedRows(input, at) }));
      const rows = placed.flatMap((p) => p.rows);
      const inserted = await repo.insertOrders(trx, rows);
      if (inserted.length !== rows.length) throw new LostRace();
      await repo.insertLines(trx, placed.flatMap((p) => p.lines));
      await repo.appendHistoryMany(
        trx,
        placed.flatMap((p) => p.rows.map((row) => ({ order_id: row.id, type: 'placed', from_status: null, to_status: 'placed' as const, actor: 'system', details: { checkoutId: p.input.checkoutId }, at }))),
      );
      await outbox.publishMany(
        trx,
        placed.flatMap((p) => p.rows.map((row) => ({ name: 'orders.order.placed', payload: orderPayload(row, p.lines.filter((l) => l.order_id === row.id), null, at) }) as const)),
      );
      // the rows as inserted, in the order of the input's orders
      return placed.map((p) => p.rows.map(summaryOf));
    }),
    { name: 'orders.place' },
  );

  /**
   * Captured checkouts' orders move to paid together: per batch of checkouts one UPDATE, one history INSERT and one
   * outbox INSERT (the same rows and events `move` writes one order at a time), so a flash sale's captures do not
   * queue for a transaction each. An order no longer placed is left as it is (a repeat changes nothing).
   */
  const paidMarks = new Batcher<string, void>((checkoutIds) =>
    repo.db.transaction().execute(async (trx) => {
      const at = clock.now();
      const paid = await repo.markPlacedPaid(trx, [...new Set(checkoutIds)], at);
      if (paid.length > 0) {
        const lines = await repo.findLines(
          paid.map((o) => o.id),
          trx,
        );
        await repo.appendHistoryMany(
          trx,
          paid.map((o) => ({ order_id: o.id, type: 'paid', from_status: 'placed' as const, to_status: 'paid' as const, actor: 'system', details: {}, at })),
        );
        await outbox.publishMany(
          trx,
          paid.map((o) => ({ name: 'orders.order.paid', payload: orderPayload(o, lines.filter((l) => l.order_id === o.id), 'placed', at) }) as const),
        );
      }
      return checkoutIds.map(() => undefined);
    }),
    { name: 'orders.mark_paid' },
  );

  const service = {
    /**
     * Creates one order per merchant for a checkout, in one transaction with their `orders.order.placed` events.
     * Idempotent per checkoutId: a retry (or a concurrent duplicate) returns the orders already created.
     */
    async placeOrders(input: PlaceInput): Promise<Summary[]> {
      input.orders.forEach(assertConsistent);
      // no look-up first: the insert itself finds orders placed before (ON CONFLICT (checkout_id, merchant_id)), and
      // a repeat is rare (recovery of a checkout that crashed right after placing), so only it pays for a read
      try {
        return await placements.submit(input);
      } catch (e) {
        // placed before, or by a concurrent call that committed first (ON CONFLICT waited for it): answer with those
        if (!(e instanceof LostRace)) throw e;
      }
      return (await repo.findByCheckout(input.checkoutId)).map(summaryOf);
    },

    /** Marks a checkout's placed orders paid (its payment was captured), each with its history row and event. Idempotent. */
    async markPaid(checkoutId: string): Promise<void> {
      await paidMarks.submit(checkoutId);
    },

    /**
     * Cancels every order of a checkout whose payment was never captured (the checkout's capture was refused): each
     * placed order moves to cancelled with its history row and event in one transaction, then every line is
     * restocked. Moves no money (nothing was captured; the checkout voids its own authorization). Idempotent; throws
     * when an order has already moved past placed, since that means its payment was captured.
     */
    async cancelForCheckout(checkoutId: string, reason: string): Promise<Summary[]> {
      const rows = await repo.db.transaction().execute(async (trx) => {
        const found = await repo.findByCheckout(checkoutId, trx);
        for (const o of found) {
          if (o.status === 'cancelled') continue; // cancelled before (a repeat, or the shopper or merchant got there first)
          const r = await move(o.id, ['placed'], 'cancelled', 'system', {
            extra: { cancel_reason: reason },
            details: { reason, moneyAction: 'none' },
            trx,
          });
          if (!r.ok) throw new Error(`orders: order ${o.id} of checkout ${checkoutId} is ${o.status}; only placed orders are cancelled for the checkout`);
        }
        return found;
      });
      for (const o of rows) await restockCancelled(o.id, 'system');
      return (await repo.findByCheckout(checkoutId)).map(summaryOf);
    },

    /** Orders of a checkout (recovery and the checkout's answer). */
    async findByCheckout(checkoutId: string): Promise<Summary[]> {
      return (await repo.findByCheckout(checkoutId)).map(summaryOf);
    },

    /** Whether an order with this id was ever placed, whatever its status now. */
    async orderExists(orderId: string): Promise<boolean> {
      return (await repo.findOrder(orderId)) !== undefined;
    },

    /** The order with lines, totals, tracking, refunds, returns and its full history, if the viewer may see it. */
    async getOrder(viewer: Viewer, orderId: string): Promise<Result<OrderView>> {
      const order = await owned(viewer, orderId);
      return order ? ok(await view(order)) : fail('not_found');
    },

    /** The viewer's orders (a shopper's own, or a merchant's shop's), newest first; pages never repeat or skip. */
    async listOrders(viewer: Viewer, f: { status?: OrderStatus | undefined; cursor?: string | undefined; limit: number }): Promise<Result<OrderPage>> {
      const after = cursor.decode(f.cursor);
      if (after === 'invalid') return fail('invalid_cursor');
      let scope: { accountId: string } | { merchantId: string };
      if (viewer.role === 'shopper') scope = { accountId: viewer.accountId };
      else {
        const merchant = await catalog.getMerchantByAccount(viewer.accountId);
        if (!merchant) return ok({ items: [], nextCursor: null });
        scope = { merchantId: merchant.id };
      }
      const rows = await repo.listOrders({ ...scope, ...(f.status ? { status: f.status } : {}), ...(after ? { beforeId: after.id } : {}), limit: f.limit + 1 });
      const page = rows.slice(0, f.limit);
      const lines = await repo.findLines(page.map((o) => o.id));
      return ok({ items: page.map((o) => summaryView(o, lines)), nextCursor: rows.length > f.limit ? cursor.encode(page[page.length - 1]!.id) : null });
    },

    /**
     * The merchant's whole shop over [from, to) (default: the 30 days up to now): what its orders came to, per
     * currency, whether or not a post drove them (the reports count only attributed sales).
     */
    async shopSummary(viewer: Viewer, q: { from?: string | undefined; to?: string | undefined }): Promise<Result<ShopSummary>> {
      const to = q.to ? new Date(q.to) : clock.now();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * 86_400_000);
      if (!(from.getTime() < to.getTime()) || to.getTime() - from.getTime() > 366 * 86_400_000) return fail('invalid_range');
      const merchant = await catalog.getMerchantByAccount(viewer.accountId);
      const rows = merchant ? await repo.shopSummary(merchant.id, from, to) : [];
      return ok({
        from: from.toISOString(),
        to: to.toISOString(),
        currencies: rows.map((r) => ({ currency: r.currency, orders: r.orders, cancelled: r.cancelled, units: r.units, revenueMinor: r.revenue_minor, refundedMinor: r.refunded_minor })),
      });
    },

    /** paid → fulfilling (the merchant starts packing). */
    async fulfil(viewer: Viewer, orderId: string): Promise<Result<OrderView>> {
      return moveOwned(viewer, orderId, ['paid'], 'fulfilling');
    },

    /** paid | fulfilling → shipped, with carrier and tracking number. */
    async ship(viewer: Viewer, orderId: string, input: ShipInput): Promise<Result<OrderView>> {
      const r = await moveOwned(viewer, orderId, ['paid', 'fulfilling'], 'shipped', {
        extra: { carrier: input.carrier, tracking_number: input.trackingNumber },
        details: { carrier: input.carrier, trackingNumber: input.trackingNumber },
      });
      // a repeat of the same shipment changes nothing and answers the order; another carrier or tracking number would
      // be dropped silently, so it is refused with the shipment on record
      if (r.ok && r.value.status === 'shipped' && (r.value.carrier !== input.carrier || r.value.trackingNumber !== input.trackingNumber)) {
        return fail('already_shipped', { carrier: r.value.carrier, trackingNumber: r.value.trackingNumber });
      }
      return r;
    },

    /** shipped → delivered (a carrier webhook in production; the merchant's call stands in). */
    async deliver(viewer: Viewer, orderId: string): Promise<Result<OrderView>> {
      return moveOwned(viewer, orderId, ['shipped'], 'delivered');
    },

    /**
     * Cancels before shipment: the transition first (so nothing can ship it meanwhile), then the money back (refund of
     * what was captured, or a void when nothing was) and every line restocked. A repeat finishes what a crash or a
     * provider timeout left undone.
     */
    async cancel(viewer: Viewer, orderId: string, reason: string): Promise<Result<OrderView>> {
      const from: readonly OrderStatus[] = CANCELLABLE_BY[viewer.role];
      // a concurrent step (the checkout marking it paid) may move the order between the read and the transition:
      // the money decision is made for the status read, so on such a race decide again
      for (let attempt = 0; attempt < 3; attempt++) {
        const order = await owned(viewer, orderId);
        if (!order) return fail('not_found');
        if (order.status === 'cancelled') return finishCancel(orderId);
        if (!from.includes(order.status)) return fail('invalid_transition', { status: order.status, allowedFrom: from });
        const action = await moneyActionFor(order);
        if (!action.ok) return action;
        const moved = await repo.db.transaction().execute(async (trx) => {
          const r = await move(orderId, [order.status], 'cancelled', actorOf(viewer), {
            extra: { cancel_reason: reason },
            details: { reason, moneyAction: action.value },
            trx,
          });
          if (!r.ok || !r.value.changed || action.value !== 'refund') return r.ok;
          // everything not yet refunded goes back, line by line, in the transaction of the cancellation
          await claimCancelRefund(trx, orderId, reason, actorOf(viewer));
          return true;
        });
        if (moved) return finishCancel(orderId);
      }
      const current = await repo.findOrder(orderId);
      return fail('invalid_transition', { status: current?.status, allowedFrom: from });
    },

    /** Refunds lines by quantity (net + tax pro rata, never more than paid); resumable per idempotency key. */
    async refund(viewer: Viewer, orderId: string, input: { lines: LineQuantities; reason: string }, key: string): Promise<Result<OrderView>> {
      return refundOrReturn(viewer, orderId, input, key, 'refund');
    },

    /** Records a return after delivery: restocks those units and refunds those not refunded before; resumable per idempotency key. */
    async returnLines(viewer: Viewer, orderId: string, input: { lines: LineQuantities; reason: string }, key: string): Promise<Result<OrderView>> {
      return refundOrReturn(viewer, orderId, input, key, 'return');
    },

    /** Settles refunds a crash or a provider timeout left pending for over a minute (the sweeper); returns how many settled. */
    async settlePendingRefunds(): Promise<number> {
      let settled = 0;
      for (const r of await repo.listPendingRefunds(new Date(clock.now().getTime() - 60_000))) {
        const outcome = r.kind === 'cancel' ? ((await finishCancel(r.order_id)).ok ? 'succeeded' : 'pending') : await settle(r);
        if (outcome !== 'pending') settled++;
      }
      return settled;
    },
  };
  return service;
}

function normalizeAddress(a: ShippingAddress): ShippingAddress {
  return { name: a.name, line1: a.line1, ...(a.line2 ? { line2: a.line2 } : {}), city: a.city, postalCode: a.postalCode, country: a.country };
}
