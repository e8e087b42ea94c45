// The checkout flow: explicit steps, each with its undo, journalled in checkout.attempts so that a crash at any
// point is finished or undone by the sweeper (the same `drive` runs live and in recovery).
//
//   step          recorded as      undo
//   1 reserve     ┐                inventory.releaseReservation(holder); a hold whose attempt was never written
//                 │                (a crash between 1 and 2) is an abandoned reservation: it expires (config TTL)
//   2 start       ┘ started        – (or failed at once when 1 was refused: nothing held, nothing to undo)
//   3 authorize   ┐                payments.void (after reconcile when the outcome was unknown)
//   4 commit      ┘ authorized     inventory.restock per SKU (key <chk>:undo:<sku>)
//   5 placeOrders ┐                orders.cancelForCheckout (restocks each line under <ord>:cancel:<oln>, so 4's
//                 │                restock is skipped); run only when the capture is refused
//   6 capture     ┘ completed      – (the last step: an outage is retried by the sweeper, a refusal fails the attempt);
//                                  a capture the provider could not answer records the orders alone: 'ordered'
//
// Each record covers the steps before it whose undo can find out for itself whether they were done: a record is a
// group-committed round trip on the sale's path, which a flash sale pays for 10,000 times.
// - The hold comes first, under the attempt's id (the holder), so the attempt's insert records its outcome: a
//   refusal (the flash sale's 9,999 losers) is one insert, `failed` and undone at birth, with its funnel events.
//   Its cost: a repeat of a request (same key) that reaches another process holds stock for a moment before its
//   insert finds the first attempt, and then gives its hold back (one that reaches the same process does not: it
//   waits for the first's insert and answers with that attempt, see RECENT_KEYS).
// - Releasing a holder is idempotent and harmless when nothing was held, and undo always does it.
// - The payment is settled with the provider (reconcile) when the record does not name it.
// - A commit that was not recorded shows in the hold itself (`committed`), which undo looks at.
// - Placing orders is idempotent per checkout and the capture per payment, so an 'authorized' attempt found by the
//   sweeper places (finds) its orders and captures again; the orders are recorded with the capture's outcome.
// The 'authorized' record comes after the commit and before the orders: it is the fence that keeps a runner whose
// attempt was failed meanwhile (it stalled past its lock) from placing orders; it loses the move and gives back what
// it did. Recovery of a 'started' attempt by the sweeper (which has no payment method) finishes it when its payment
// turns out authorized and undoes it otherwise; a repeat of the request that takes it over keeps the hold it finds.
// A commit that finds the hold lapsed (a slow authorization) records 'authorized' without `committed`; that step
// holds again and records 'committed' on its own before the orders. Attempts recorded 'reserved' (by earlier
// versions of this flow) are still driven from there.
//
// The capture point (the lead's decision): the checkout captures the whole payment right after the orders are placed,
// because one payment covers every merchant's order of the checkout (capturing per shipment would need multicapture).
// An order is therefore `placed` (authorized) and moments later `paid` (captured); cancelling before shipment refunds
// that order's total. A capture the provider could not answer (timeout, outage) is retried by the sweeper; a
// definite refusal (the authorization lapsed or was voided) fails the attempt with `capture_refused`, and its undo
// cancels every order, restocks their lines and voids the authorization if it is still voidable: no order is left
// without its payment.
//
// Stock is committed BEFORE the orders are created (the brief listed it after): then every step before the orders
// has an undo in the contracts, and an order never exists whose units are merely held (a merchant cancel restocks
// sold units, which must therefore already be sold). No database transaction is open across any provider call:
// each step's outcome is recorded in a short transaction, with its analytics event (outbox); concurrent checkouts'
// outcomes share that transaction (group commit, src/platform/batcher.ts), each still conditional on its own status.
//
// Idempotency: the attempt is the checkout's idempotency record (Stripe's contract, as src/platform/idempotency.ts
// keeps it for the other money-moving routes). Its (scope, key) is unique and it stores the request's hash, so a
// request is one insert: a new key starts an attempt; a repeat finds the one its key started and answers with it
// (`repeat`): the same request gets that attempt's answer once it has one (waiting up to IDEMPOTENCY_WAIT_MS while it
// runs, then 409 idempotency_in_progress), and takes it over when its runner went away (lock lapsed); another request
// under the same key gets 422 idempotency_key_reused. A checkout refused before it starts (unknown SKU, price
// changed, empty cart) stores nothing, as Stripe saves no result for a request that failed validation. A separate key
// record would cost every checkout two more writes (claim, answer), which a flash sale's 10,000 refusals pay for.
import type { AttemptPatch, AttemptRow, AttemptStatus, CheckoutRepository, NewAttempt, Shopper, TransitionItem, Trx } from './checkout.repository';
import type { CheckoutDeps } from './index';
import type { CheckoutEventBase } from './checkout.events';
import type { CheckoutFailure } from './checkout.errors';
import type { CheckoutView } from './checkout.schemas';
import { ordersOf, type PricedCheckout, type PricedLine } from './checkout.pricing';
import type { PaymentView } from '../payments';
import type { ShippingAddress } from '../orders';
import { Batcher } from '../../platform/batcher';
import { IDEMPOTENCY_WAIT_MS, keyReused, stillInProgress, waitForRunning } from '../../platform/idempotency';
import type { OutboxEvent } from '../../platform/events';
import { newId } from '../../platform/ids';
import './checkout.events';

/**
 * How long the live request owns an attempt after each step by default (config checkoutLockSeconds); past it (a crash,
 * a hang) the sweeper takes over.
 */
export const ATTEMPT_LOCK_MS = 60_000;

/**
 * Repeats of a request that arrive at the process that started it (a double tap, a client's retry on the same
 * connection) skip the hold: the keys this process started in the last RECENT_KEY_MS, RECENT_KEYS at most. A repeat
 * that reaches another process still holds for a moment before its insert finds the attempt (see the header).
 */
const RECENT_KEYS = 20_000;
const RECENT_KEY_MS = 60_000;
const MAX_HOLDS = 3;

/** Where the crash matrix kills the process: right after the step of that name (see step; 'recorded' is the move that records the hold, the authorization and the commit). */
export type CrashPoint = 'started' | 'reserved' | 'authorized' | 'committed' | 'recorded' | 'ordered' | 'captured';

export type FlowResult = { ok: true; view: CheckoutView } | { ok: false; code: CheckoutFailure; details?: unknown };

/** A checkout's answer; `replayed` when it is the answer of an earlier request with the same key. */
export type FlowAnswer = FlowResult & { replayed?: true };

/** The request's idempotency: who (scope), its `Idempotency-Key`, and the hash of the request (requestHash). */
export interface CheckoutKey {
  scope: string;
  key: string;
  hash: string;
}

export interface StartInput {
  shopper: Shopper;
  source: 'cart' | 'buy_now';
  cartId: string | null;
  priced: PricedCheckout;
  shipping: ShippingAddress | null;
  paymentMethod: string;
  idempotency: CheckoutKey;
}

/** A checkout to start: its row is built when its batch is written (see startRow). */
interface StartItem {
  input: StartInput;
  id: string;
  at: Date;
  /** Why the hold was refused (the attempt is then recorded failed, with nothing to undo), or null: it holds. */
  refused: { skuId: string; available: number } | null;
}

interface MoveItem extends TransitionItem {
  events?: (moved: AttemptRow) => OutboxEvent[];
  also?: (trx: Trx) => Promise<void>;
}

/**
 * What a step returns: the attempt as it now stands (the next step follows), `{ stay }` (nothing more to do now,
 * with the attempt as it now stands) or null (lost a race).
 */
type StepOutcome = AttemptRow | { stay: AttemptRow } | null;

export function createCheckoutFlow(deps: CheckoutDeps, repo: CheckoutRepository) {
  const now = () => deps.clock.now();
  const lockMs = deps.config.checkoutLockSeconds * 1000;
  /** Keys of the checkouts this process started lately, and when each one's attempt was recorded (see RECENT_KEYS). */
  const recentKeys = new Map<string, { at: number; recorded: Promise<void> }>();

  /** TEST-ONLY (config.crashAt, env FEEDSHOP_CRASH_AT): dies like kill -9 right after a step, for the crash matrix. */
  const crashPoint = (step: CrashPoint) => {
    if (deps.config.crashAt === step) process.kill(process.pid, 'SIGKILL');
  };

  const eventBase = (a: AttemptRow): CheckoutEventBase => ({
    checkoutId: a.id,
    accountId: a.account_id,
    deviceId: a.device_id,
    source: a.source,
    currency: a.currency,
    subtotalMinor: a.subtotal_minor,
    taxMinor: a.tax_minor,
    totalMinor: a.total_minor,
    lines: a.lines.map((l) => ({
      skuId: l.skuId,
      productId: l.productId,
      merchantId: l.merchantId,
      quantity: l.quantity,
      unitPriceMinor: l.unitPriceMinor,
      netAmountMinor: l.netAmountMinor,
      taxMinor: l.taxMinor,
      tagId: l.claims?.tagId ?? null,
      creatorId: l.claims?.creatorId ?? null,
    })),
  });

  /** The funnel's last step for a checkout that failed with `reason`. */
  const failedEvent = (a: AttemptRow, reason: string) => ({ name: 'checkout.checkout.failed', payload: { ...eventBase(a), reason } }) as const;

  /** The attempt's orders, one per merchant, as placeOrders gets them. */
  const ordersOfAttempt = (a: AttemptRow) =>
    ordersOf({ lines: a.lines, currency: a.currency, subtotalMinor: a.subtotal_minor, taxMinor: a.tax_minor, totalMinor: a.total_minor });

  /** Units per SKU (a reservation holds each SKU once). */
  const unitsPerSku = (lines: readonly PricedLine[]) => {
    const bySku = new Map<string, number>();
    for (const l of lines) bySku.set(l.skuId, (bySku.get(l.skuId) ?? 0) + l.quantity);
    return [...bySku.entries()].map(([skuId, quantity]) => ({ skuId, quantity }));
  };
  const reservationLines = (a: AttemptRow) => unitsPerSku(a.lines);

  const holderIds = (a: AttemptRow) => {
    const n = a.holder_id === a.id ? 1 : Number(a.holder_id.split('.r')[1]);
    return [a.id, ...Array.from({ length: n - 1 }, (_, i) => `${a.id}.r${i + 2}`)];
  };

  /**
   * Step outcomes are group-committed (src/platform/batcher.ts): the transitions that concurrent checkouts make at the
   * same moment go in one transaction (one UPDATE, one outbox INSERT), each still conditional on its own `from`. An
   * attempt appears at most once per batch (a batch with a repeat is refused, and the batcher then runs its items one
   * at a time).
   */
  const moves = new Batcher<MoveItem, AttemptRow | null>(
    (items) => {
      if (new Set(items.map((i) => i.id)).size !== items.length) throw new Error('an attempt twice in one batch');
      return repo.db.transaction().execute(async (trx) => {
        const moved = await repo.transitionMany(trx, items, now(), lockMs);
        await deps.outbox.publishMany(
          trx,
          moved.flatMap((m, i) => (m && items[i]!.events ? items[i]!.events!(m) : [])),
        );
        for (const [i, m] of moved.entries()) if (m) await items[i]!.also?.(trx);
        return moved;
      });
    },
    { name: 'checkout.transition' },
  );

  /** A new attempt's row: started (its stock held), or failed and undone at once when the hold was refused. */
  const startRow = ({ input, id, at, refused }: StartItem): NewAttempt => ({
    id,
    idempotency_scope: input.idempotency.scope,
    idempotency_key: input.idempotency.key,
    request_hash: input.idempotency.hash,
    account_id: input.shopper.accountId,
    device_id: input.shopper.deviceId,
    source: input.source,
    cart_id: input.cartId,
    status: refused === null ? 'started' : 'failed',
    lines: input.priced.lines,
    shipping: input.shipping,
    currency: input.priced.currency,
    subtotal_minor: input.priced.subtotalMinor,
    tax_minor: input.priced.taxMinor,
    total_minor: input.priced.totalMinor,
    holder_id: id,
    locked_until: new Date(at.getTime() + lockMs),
    created_at: at,
    updated_at: at,
    failure_code: refused === null ? null : 'sold_out',
    failure_details: refused,
    undone: refused !== null,
    finished_at: refused === null ? null : at,
  });

  /**
   * New attempts with their `started` event (and `failed`, when the hold was refused: its whole funnel at once),
   * group-committed: one statement per batch, which builds the events from the rows it inserts (see insertAttempts).
   */
  const starts = new Batcher<StartItem, AttemptRow | null>((items) => repo.insertAttempts(items.map(startRow), deps.outbox), { name: 'checkout.start' });

  /** Records a step's outcome, and its analytics events, in one short transaction (shared with concurrent checkouts). */
  function move(
    a: AttemptRow,
    from: readonly AttemptStatus[],
    patch: AttemptPatch,
    events?: (moved: AttemptRow) => OutboxEvent[],
    alsoInTransaction?: (trx: Trx) => Promise<void>,
  ): Promise<AttemptRow | null> {
    return moves.submit({
      id: a.id,
      base: a,
      from,
      patch,
      // a new holder is recorded only over the one this runner saw (see TransitionItem.holder)
      ...(patch.holder_id !== undefined ? { holder: a.holder_id } : {}),
      ...(events ? { events } : {}),
      ...(alsoInTransaction ? { also: alsoInTransaction } : {}),
    });
  }

  /** The `stock_reserved` event, when the step being recorded is the one that also records the reservation. */
  const reservedEvents = (m: AttemptRow, reserved: boolean | undefined): OutboxEvent[] =>
    reserved ? [{ name: 'checkout.checkout.stock_reserved', payload: eventBase(m) }] : [];

  /**
   * Fails the attempt (undo then runs). `reserved` records the hold this runner made (its event comes first);
   * `orderIds` the orders it placed and did not record yet (so undo cancels them).
   */
  function fail(
    a: AttemptRow,
    code: string,
    details?: unknown,
    extra?: { declined?: string; reserved?: boolean; orderIds?: string[] },
  ): Promise<AttemptRow | null> {
    return move(
      a,
      [a.status],
      {
        status: 'failed',
        failure_code: code,
        failure_details: details ?? null,
        finished_at: now(),
        ...(extra?.orderIds ? { order_ids: extra.orderIds } : {}),
      },
      (m) => [
        ...reservedEvents(m, extra?.reserved),
        ...(extra?.declined ? [{ name: 'checkout.checkout.payment_declined', payload: { ...eventBase(m), reason: extra.declined } } as const] : []),
        failedEvent(m, code),
      ],
    );
  }

  /** Settles an authorization whose outcome is unknown (timeout, crash) by asking the provider. */
  async function settledPayment(checkoutId: string): Promise<PaymentView | null> {
    const p = await deps.payments.findByCheckout(checkoutId);
    return p && p.status === 'pending' ? deps.payments.reconcile(checkoutId) : p;
  }

  /** Puts the attempt's committed units back, keyed per SKU under the attempt: whoever runs it, at most once. */
  async function restockCommitted(a: AttemptRow): Promise<void> {
    for (const { skuId, quantity } of reservationLines(a)) {
      await deps.inventory.restock(skuId, quantity, `${a.id}:undo:${skuId}`, { accountId: 'system:checkout', reason: `checkout ${a.id} undone` });
    }
  }

  /** Whether one of the attempt's holders was committed (sold), recorded or not. */
  async function committedHold(a: AttemptRow): Promise<boolean> {
    for (const holder of holderIds(a)) if ((await deps.inventory.getHold(holder)).status === 'committed') return true;
    return false;
  }

  /** Undoes every step a failed attempt did; throws (leaving it for the sweeper) when an undo cannot be done now. */
  async function undo(a: AttemptRow): Promise<StepOutcome> {
    if (a.order_ids.length > 0) {
      // only a refused capture fails an attempt that has orders: nothing was taken, so the orders go
      if (a.failure_code !== 'capture_refused') throw new Error(`checkout ${a.id} failed after its orders were placed; refusing to undo`);
      // the orders restock their lines (the committed units), so the checkout's own restock below must not run too
      await deps.orders.cancelForCheckout(a.id, 'capture_refused');
    } else if (a.committed || (await committedHold(a))) {
      // a commit is recorded with the step after it, so a runner that died in between left it unrecorded: the hold
      // itself says (restocks are keyed, so whoever runs this, the units come back once)
      await restockCommitted(a);
    }
    for (const holder of holderIds(a)) await deps.inventory.releaseReservation(holder);
    const p = await settledPayment(a.id);
    if (p?.status === 'pending') throw new Error(`payment of ${a.id} is still pending at the provider`);
    if (p?.status === 'authorized') {
      const v = await deps.payments.void(p.id);
      if (!v.ok) throw new Error(`void of ${p.id} failed: ${v.code}`);
    } else if (p && (p.status === 'captured' || p.status === 'partially_refunded')) {
      // never captured before orders exist; if it ever happens, money must go back
      const r = await deps.payments.refund(p.id, p.capturedMinor - p.refundedMinor, `${a.id}:undo`, 'checkout undone');
      if (!r.ok) throw new Error(`refund of ${p.id} failed: ${r.code}`);
    }
    // the shopper paid nothing for lines their cart gave up: they go back to the cart with the undo
    const restoreCart = a.cart_id && a.order_ids.length > 0 ? (trx: Parameters<CheckoutRepository['restoreLines']>[0]) => repo.restoreLines(trx, a.cart_id!, a.lines, now()) : undefined;
    return move(a, ['failed'], { undone: true }, undefined, restoreCart);
  }

  /**
   * Called when this runner's move lost right after it authorized or committed: another runner (the sweeper, when
   * this request stalled past its lock) may have failed and undone the attempt meanwhile, and that undo only saw
   * what the attempt had recorded (no commit, possibly no payment yet). So when the attempt did fail, this runner
   * undoes its own part, with undo's own idempotent means: an undo running now, or later, cannot do it twice.
   * An attempt that went on instead found the same authorization or hold and keeps them.
   */
  async function giveBack(a: AttemptRow, did: { payment?: PaymentView; committed?: boolean; hold?: boolean }): Promise<void> {
    const fresh = await repo.getAttempt(a.id);
    if (fresh?.status !== 'failed') return;
    // a release is idempotent: whether or not the undo saw this hold, it is given back once
    if (did.hold) await deps.inventory.releaseReservation(a.holder_id);
    // a failed attempt recorded as committed is restocked by its undo (same keys); one never recorded so never is
    if (did.committed && !fresh.committed) await restockCommitted(a);
    if (did.payment) {
      const v = await deps.payments.void(did.payment.id);
      if (!v.ok) deps.log.warn({ checkoutId: a.id, paymentId: did.payment.id, code: v.code }, 'could not void the authorization of a checkout failed meanwhile');
    }
  }

  /**
   * Authorizes the payment of a held attempt, commits its stock, and records both in one move ('authorized', with
   * `committed` when the commit went through). `reserved` says the hold is not recorded yet (the attempt is
   * 'started'): its `stock_reserved` event goes with this move, and a lost race gives the hold back too.
   */
  async function authorize(a: AttemptRow, paymentMethod: string | null, reserved: boolean): Promise<StepOutcome> {
    // an undo that ran before the provider answered cannot have voided this authorization, nor restocked this
    // commit (see giveBack)
    const record = async (p: PaymentView) => {
      // sold before it is recorded: the record is the fence that keeps a runner whose attempt was failed meanwhile
      // from placing orders (it loses the move and gives everything back). A commit that finds the hold lapsed (a
      // slow authorization) is left to the 'authorized' step, which holds again.
      const c = await deps.inventory.commitReservation(a.holder_id);
      if (c.ok) crashPoint('committed');
      const moved = await move(a, [a.status], { status: 'authorized', payment_id: p.id, ...(c.ok ? { committed: true } : {}) }, (m) => [
        ...reservedEvents(m, reserved),
        { name: 'checkout.checkout.payment_authorized', payload: { ...eventBase(m), paymentId: p.id } },
      ]);
      if (!moved) await giveBack(a, { payment: p, hold: reserved, committed: c.ok });
      else crashPoint('recorded');
      return moved;
    };
    if (paymentMethod === null) {
      // recovery: the authorize call may or may not have reached the provider
      const p = await settledPayment(a.id);
      return p && (p.status === 'authorized' || p.status === 'captured') ? record(p) : fail(a, 'abandoned', undefined, { reserved });
    }
    const r = await deps.payments.authorize({
      checkoutId: a.id,
      amountMinor: a.total_minor,
      currency: a.currency,
      paymentMethod,
      accountId: a.account_id,
    });
    if (r.ok) {
      crashPoint('authorized');
      return record(r.payment);
    }
    if (r.code === 'card_declined' || r.code === 'insufficient_funds') return fail(a, 'payment_declined', { reason: r.code }, { declined: r.code, reserved });
    // timeout or provider error: the outcome is unknown, so ask before deciding
    const p = await settledPayment(a.id).catch(() => null);
    if (p && (p.status === 'authorized' || p.status === 'captured')) return record(p);
    return fail(a, 'payment_unavailable', { reason: r.code }, { reserved });
  }

  /**
   * Places the orders of an attempt whose stock is committed (and recorded so), then captures (see capture).
   */
  async function placeOrders(a: AttemptRow, paymentMethod: string | null): Promise<StepOutcome> {
    let placed: Array<{ id: string; merchantId: string }>;
    const orders = ordersOfAttempt(a);
    const place = () =>
      deps.orders.placeOrders({
        checkoutId: a.id,
        accountId: a.account_id,
        deviceId: a.device_id,
        paymentId: a.payment_id!,
        shipping: (a.shipping as ShippingAddress | null) ?? null,
        orders,
      });
    try {
      placed = await place();
    } catch (err) {
      // the orders may exist even though the call failed (its answer was lost), or still be committing. A read could
      // miss orders whose commit lands just after it, and the undo would leave them without their payment; placing
      // again cannot: it is idempotent per checkout, and its insert waits for one still in flight and then finds it
      try {
        placed = await place();
      } catch (again) {
        // a live request leaves the attempt to the sweeper (which places again, idempotently); only recovery, long
        // after any placement of the live request ended, undoes a checkout whose orders cannot be placed
        if (paymentMethod !== null) throw again;
        placed = await deps.orders.findByCheckout(a.id);
        if (placed.length === 0) {
          deps.log.error({ err: again, checkoutId: a.id }, 'placing orders failed; undoing the checkout');
          return fail(a, 'checkout_failed');
        }
      }
    }
    const bought = a.lines.flatMap((l) => (l.lineId ? [{ lineId: l.lineId, quantity: l.quantity }] : []));
    // recorded in ordersOf's order (one per merchant), so the answer is built from the attempt alone (see resultOf)
    const byMerchant = new Map(placed.map((o) => [o.merchantId, o.id]));
    const orderIds = orders.every((o) => byMerchant.has(o.merchantId)) ? orders.map((o) => byMerchant.get(o.merchantId)!) : placed.map((o) => o.id);
    crashPoint('ordered');
    return capture(a, { orderIds, bought }, paymentMethod);
  }

  /**
   * Captures the attempt's payment and records the attempt completed. `placed`: the orders this runner just placed,
   * not recorded yet; they are recorded with the outcome (completed, or failed by a refused capture so that undo
   * cancels them), or on their own ('ordered') when the provider could not answer. So a sale records its orders
   * and its capture in one move, and the units the orders bought leave the cart in that same transaction (units added
   * to a line meanwhile stay).
   */
  async function capture(
    a: AttemptRow,
    placed: { orderIds: string[]; bought: Array<{ lineId: string; quantity: number }> } | null,
    paymentMethod: string | null,
  ): Promise<StepOutcome> {
    const boughtLeaveCart = placed && a.cart_id ? (trx: Trx) => repo.takeBought(trx, a.cart_id!, placed.bought, now()) : undefined;
    const c = await deps.payments.capture(a.payment_id!);
    if (!c.ok) {
      const p = await deps.payments.getPayment(a.payment_id!);
      if (!p || (p.status !== 'captured' && p.status !== 'partially_refunded' && p.status !== 'refunded')) {
        // provider down: retried by the sweeper once the lock lapses. The live request lets go of the lock as it
        // answers 'ordered', so a repeat of the request takes the capture over at once instead of waiting it out
        if (c.code === 'provider_timeout' || c.code === 'provider_unavailable') {
          const ordered = placed ? await move(a, [a.status], { status: 'ordered', order_ids: placed.orderIds }, undefined, boughtLeaveCart) : a;
          if (!ordered) return null;
          if (paymentMethod !== null) await repo.releaseLock(a.id, now()).catch(() => undefined);
          return { stay: ordered };
        }
        // refused for good (the authorization lapsed or was voided): nothing was taken, so undo cancels the orders
        deps.log.warn({ checkoutId: a.id, paymentId: a.payment_id, code: c.code, payment: p?.status }, 'capture refused; cancelling the checkout\'s orders');
        return fail(a, 'capture_refused', { reason: c.code }, placed ? { orderIds: placed.orderIds } : undefined);
      }
    }
    crashPoint('captured');
    await deps.orders.markPaid(a.id);
    return move(
      a,
      [a.status],
      { status: 'completed', finished_at: now(), ...(placed ? { order_ids: placed.orderIds } : {}) },
      (m) => [{ name: 'checkout.checkout.completed', payload: { ...eventBase(m), paymentId: m.payment_id!, orderIds: m.order_ids } }],
      boughtLeaveCart,
    );
  }

  /**
   * Runs one step from the attempt's status. `paymentMethod` is known only to the live request; `fresh` says this
   * runner inserted the attempt (no runner before it can have held, authorized or committed anything for it).
   */
  async function step(a: AttemptRow, paymentMethod: string | null, fresh: boolean): Promise<StepOutcome> {
    switch (a.status) {
      case 'started': {
        if (paymentMethod === null) {
          // recovery: the dead runner held stock before it asked for the payment (and may have committed it after):
          // with the payment authorized, the attempt is finished from there; otherwise it is undone, which releases
          // any hold, restocks a commit and voids what the provider may have authorized meanwhile
          return authorize(a, null, true);
        }
        // this runner held the stock before it inserted the attempt (see run)
        if (fresh) return authorize(a, paymentMethod, true);
        // taken over from a runner that went away: it held (and may have committed) already; its hold is this
        // attempt's, even when the SKU is now sold out to everyone else, and a lapsed one is made anew
        const held = ['held', 'committed'].includes((await deps.inventory.getHold(a.holder_id)).status);
        const r = held ? null : await deps.inventory.reserve(a.holder_id, reservationLines(a));
        // refused: undone, since the runner before may have been authorized
        if (r && !r.ok) return fail(a, 'sold_out', { skuId: r.skuId, available: r.available });
        return authorize(a, paymentMethod, true);
      }
      case 'reserved':
        return authorize(a, paymentMethod, false);
      case 'authorized': {
        if (a.committed) return placeOrders(a, paymentMethod);
        const c = await deps.inventory.commitReservation(a.holder_id);
        if (c.ok) {
          // recorded before the orders are placed (see authorize's record): this path is the rare one, a hold that
          // lapsed during the authorization and was made again
          const moved = await move(a, ['authorized'], { status: 'committed', committed: true });
          if (!moved) {
            // a failed attempt's undo that saw no commit restocks nothing: these sold units would have no order
            await giveBack(a, { committed: true });
            return null;
          }
          crashPoint('committed');
          return moved;
        }
        // the hold lapsed while the payment was being authorized: hold again under a new holder id, or give up
        const held = holderIds(a).length;
        if (held >= MAX_HOLDS) return fail(a, 'sold_out', { skuId: a.lines[0]!.skuId, available: 0 });
        const holder = `${a.id}.r${held + 1}`;
        // held before it is recorded, as in 'started': a runner that takes over meanwhile then never finds the new
        // holder recorded but not held, which made it hold the next one too (two holds, possibly two commits, for
        // one order); and when the move loses (the attempt failed meanwhile, its undo releasing only the holders it
        // knew) the hold is given back here. A crash in between leaves a hold the next runner takes up again: it
        // picks the same holder id, and a repeated reserve answers with the existing hold
        const r = await deps.inventory.reserve(holder, reservationLines(a));
        if (!r.ok) return fail(a, 'sold_out', { skuId: r.skuId, available: r.available });
        const moved = await move(a, ['authorized'], { holder_id: holder });
        if (!moved) {
          await deps.inventory.releaseReservation(holder);
          return null;
        }
        return moved;
      }
      case 'committed':
        return placeOrders(a, paymentMethod);
      case 'ordered':
        return capture(a, null, paymentMethod);
      case 'failed':
        return a.undone ? { stay: a } : undo(a);
      case 'completed':
        return { stay: a };
    }
  }

  /** Moves an attempt as far as it can go now; a lost race re-reads the attempt and stops if someone else moved it. */
  async function drive(start: AttemptRow, paymentMethod: string | null, fresh = false): Promise<AttemptRow> {
    let a = start;
    for (let i = 0; i < 16; i++) {
      let next: StepOutcome;
      try {
        next = await step(a, paymentMethod, fresh);
      } catch (err) {
        // an undo that cannot be done now (provider down) is retried by the sweeper; the failure answer stands
        if (a.status !== 'failed') throw err;
        deps.log.warn({ err, checkoutId: a.id }, 'undo incomplete; the sweeper retries it');
        return a;
      }
      if (next === null) {
        const current = await repo.getAttempt(a.id);
        if (!current || (current.status === a.status && current.undone === a.undone && current.holder_id === a.holder_id)) return current ?? a;
        a = current;
        fresh = false; // another runner moved it
        continue;
      }
      if ('stay' in next) return next.stay;
      a = next;
    }
    return a;
  }

  /** Drives an attempt this request owns and answers with where it ended. */
  async function answer(a: AttemptRow, paymentMethod: string, fresh: boolean): Promise<FlowAnswer> {
    let end: AttemptRow;
    try {
      end = await drive(a, paymentMethod, fresh);
    } catch (err) {
      // nothing definite to answer: let a retry of this request take the attempt over at once (not a minute later)
      await repo.releaseLock(a.id, now()).catch(() => undefined);
      throw err;
    }
    return resultOf(end);
  }

  /**
   * The answer to a request whose key already started an attempt (null when the key started none): that attempt's
   * answer once it has one, or the attempt itself, taken over, when its runner went away.
   */
  async function repeat(key: CheckoutKey, paymentMethod: string): Promise<FlowAnswer | null> {
    let a = await repo.findAttemptByKey(key.scope, key.key);
    if (!a) return null;
    if (a.request_hash !== null && a.request_hash !== key.hash) throw keyReused();
    const deadline = Date.now() + IDEMPOTENCY_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      // 'ordered' is not an answer yet while its runner is capturing: the first answer says 'completed' moments later
      if (a.status === 'completed' || a.status === 'failed') return { ...(await resultOf(a)), replayed: true };
      const t = now();
      if (a.locked_until.getTime() <= t.getTime()) {
        const mine = await repo.claimLapsed(a.id, t, lockMs);
        if (mine) return answer(mine, paymentMethod, false);
      }
      await waitForRunning(deadline, attempt);
      a = (await repo.getAttempt(a.id)) ?? a;
    }
  }

  /** The checkout's answer for an attempt as it stands. */
  async function resultOf(a: AttemptRow): Promise<FlowResult> {
    if (a.status === 'completed' || a.status === 'ordered') {
      // one order per merchant, their ids recorded in ordersOf's order by the 'committed' step: no look-up needed
      const expected = ordersOfAttempt(a);
      const orders =
        expected.length === a.order_ids.length
          ? expected.map((o, i) => ({ id: a.order_ids[i]!, merchantId: o.merchantId, totalMinor: o.totalMinor }))
          : await deps.orders.findByCheckout(a.id);
      return {
        ok: true,
        view: {
          checkoutId: a.id,
          status: a.status,
          orders: orders.map((o) => ({ id: o.id, merchantId: o.merchantId, totalMinor: o.totalMinor })),
          subtotalMinor: a.subtotal_minor,
          taxMinor: a.tax_minor,
          totalMinor: a.total_minor,
          currency: a.currency,
        },
      };
    }
    if (a.status === 'failed') {
      const known: CheckoutFailure[] = ['sold_out', 'payment_declined', 'payment_unavailable', 'capture_refused'];
      const code =
        a.failure_code === 'abandoned' ? 'checkout_abandoned' : known.includes(a.failure_code as CheckoutFailure) ? (a.failure_code as CheckoutFailure) : 'checkout_failed';
      return { ok: false, code, ...(a.failure_details != null ? { details: a.failure_details } : {}) };
    }
    // another runner (the sweeper) holds it mid-way: no definite answer yet; a retry with the key gets it
    throw stillInProgress(`Checkout ${a.id} is still being processed; retry with the same Idempotency-Key`);
  }

  return {
    /**
     * Runs a checkout to its end: completed (orders placed and paid), or failed with every step undone. A repeat
     * with the same idempotency scope and key answers with the attempt it started instead of starting another.
     */
    async run(input: StartInput): Promise<FlowAnswer> {
      const k = `${input.idempotency.scope}\n${input.idempotency.key}`;
      const earlier = recentKeys.get(k);
      if (earlier && Date.now() - earlier.at < RECENT_KEY_MS) {
        // a repeat of a request this process started: no hold of its own (which could refuse another shopper the
        // last units for a moment); once that attempt is recorded, its answer
        await earlier.recorded;
        const again = await repeat(input.idempotency, input.paymentMethod);
        if (again) return again;
        // the earlier request recorded nothing (it failed before its insert): this one starts anew
      }
      let recorded!: () => void;
      recentKeys.delete(k);
      recentKeys.set(k, { at: Date.now(), recorded: new Promise<void>((resolve) => (recorded = resolve)) });
      if (recentKeys.size > RECENT_KEYS) recentKeys.delete(recentKeys.keys().next().value!);
      const id = newId('checkout');
      let started: AttemptRow | null;
      let hold: Awaited<ReturnType<typeof deps.inventory.reserve>>;
      try {
        // the hold first, under the attempt's id (see the header): the insert then records its outcome
        hold = await deps.inventory.reserve(id, unitsPerSku(input.priced.lines));
        if (hold.ok) crashPoint('reserved');
        const refused = hold.ok ? null : { skuId: hold.skuId, available: hold.available };
        try {
          started = await starts.submit({ input, id, at: now(), refused });
        } catch (err) {
          // nothing recorded: the hold goes back now rather than when it expires
          if (hold.ok) await deps.inventory.releaseReservation(id).catch(() => undefined);
          throw err;
        }
      } finally {
        recorded();
      }
      if (!started) {
        // the key already started an attempt (a repeat of the request, possibly in the same batch): this request's
        // hold goes back, and it gets that attempt's answer
        if (hold.ok) await deps.inventory.releaseReservation(id);
        const again = await repeat(input.idempotency, input.paymentMethod);
        if (!again) throw new Error(`checkout under key ${input.idempotency.key} neither started nor found`);
        return again;
      }
      crashPoint('started');
      if (started.status === 'failed') return resultOf(started);
      return answer(started, input.paymentMethod, true);
    },

    /** For a request refused before it could start (see Idempotency above): the answer of the attempt its key started, if any. */
    repeat,

    /** Finishes or undoes attempts whose owner went away (crash, hang); safe to run from several workers at once. */
    async recover(limit = 100): Promise<number> {
      const stuck = await repo.claimStuck(now(), lockMs, limit);
      // side by side, as live requests run: their steps share group-commit batches, so a backlog (a provider outage
      // leaves thousands of captures to retry) drains at the batches' pace, not one attempt's round trips at a time
      await Promise.all(
        stuck.map((a) =>
          drive(a, null).catch((err: unknown) => deps.log.error({ err, checkoutId: a.id }, 'checkout recovery failed; retried on the next sweep')),
        ),
      );
      return stuck.length;
    },

    resultOf,
  };
}

export type CheckoutFlow = ReturnType<typeof createCheckoutFlow>;
