import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import type { NewOrder, LineAttribution } from '../src/contexts/orders';
import { refundForUnits } from '../src/contexts/orders/orders.service';
import { backends, startTestApp, type TestApp } from './support/harness';

const word = () => randomBytes(4).toString('hex');
const CARD_OK = '4242424242424242';
const TAX_BPS = 800;

/** Events of the outbox for some orders, in publishing order. */
async function eventsFor(t: TestApp, orderIds: string[]): Promise<Array<{ name: string; payload: any }>> {
  const r = await sql<{ name: string; payload: any }>`
    SELECT name, payload FROM outbox.events WHERE name LIKE 'orders.%' AND payload->>'orderId' = ANY (${orderIds}) ORDER BY id
  `.execute(t.app.db);
  return r.rows;
}

for (const backend of backends()) {
  describe(`orders [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const ctx = () => t.app.contexts;

    /** A merchant account with its profile and one active product of two SKUs (10 units each). */
    const merchant = async () => {
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: `Shop ${word()}` } });
      assert.equal(res.status, 201);
      const merchantId = res.body.id as string;
      const product = await ctx().catalog.service.createProduct(merchantId, {
        name: `Linen shirt ${word()}`,
        status: 'active',
        currency: 'EUR',
        variants: [
          { title: 'S', priceMinor: 4900, stock: 10 },
          { title: 'M', priceMinor: 3333, stock: 10 },
        ],
      });
      return { ...m, merchantId, productId: product.id, skuIds: product.skuIds, name: 'Linen shirt' };
    };
    type Merchant = Awaited<ReturnType<typeof merchant>>;

    /** An order for a merchant as checkout would build it: server prices, tax per line at TAX_BPS. */
    const orderFor = (m: Merchant, quantities: number[], attribution: LineAttribution | null = null): NewOrder => {
      const prices = [4900, 3333];
      const lines = quantities.map((quantity, i) => {
        const net = prices[i]! * quantity;
        return {
          productId: m.productId,
          skuId: m.skuIds[i]!,
          productName: m.name,
          variantTitle: i === 0 ? 'S' : 'M',
          quantity,
          unitPriceMinor: prices[i]!,
          netAmountMinor: net,
          taxMinor: Math.floor((net * TAX_BPS) / 10_000),
          attribution,
        };
      });
      const subtotalMinor = lines.reduce((s, l) => s + l.netAmountMinor, 0);
      const taxMinor = lines.reduce((s, l) => s + l.taxMinor, 0);
      return { merchantId: m.merchantId, currency: 'EUR', lines, subtotalMinor, taxMinor, totalMinor: subtotalMinor + taxMinor };
    };

    /**
     * The checkout's happy path, driven through the real contexts: reserve stock, authorize, place the orders, commit
     * the stock, capture and mark paid (the decided capture point). `pay: false` stops after placing.
     */
    const checkout = async (shopper: { accountId: string } | null, orders: NewOrder[], opts: { capture?: boolean } = {}) => {
      const checkoutId = newId('checkout');
      const lines = orders.flatMap((o) => o.lines.map((l) => ({ skuId: l.skuId, quantity: l.quantity })));
      const held = await ctx().inventory.service.reserve(checkoutId, lines);
      assert.equal(held.ok, true);
      const amountMinor = orders.reduce((s, o) => s + o.totalMinor, 0);
      const auth = await ctx().payments.service.authorize({ checkoutId, amountMinor, currency: 'EUR', paymentMethod: CARD_OK, accountId: shopper?.accountId ?? null });
      assert.ok(auth.ok, JSON.stringify(auth));
      const placed = await ctx().orders.service.placeOrders({
        checkoutId,
        accountId: shopper?.accountId ?? null,
        deviceId: `dev_${word()}${word()}`,
        paymentId: auth.payment.id,
        shipping: { name: 'Ada Lovelace', line1: '1 Analytical St', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
        orders,
      });
      assert.deepEqual(await ctx().inventory.service.commitReservation(checkoutId), { ok: true });
      if (opts.capture !== false) {
        const captured = await ctx().payments.service.capture(auth.payment.id);
        assert.ok(captured.ok, JSON.stringify(captured));
        await ctx().orders.service.markPaid(checkoutId);
      }
      return { checkoutId, paymentId: auth.payment.id, placed };
    };

    const stock = async (skuId: string) => (await ctx().inventory.service.getStockLevels([skuId])).get(skuId)!;
    const post = (url: string, token: string, body: unknown = undefined, key?: string) =>
      t.request({ method: 'POST', url, token, body, ...(key ? { headers: { 'idempotency-key': key } } : {}) });

    it('places one order per merchant, idempotently per checkout, with one placed event each', async () => {
      const [a, b] = [await merchant(), await merchant()];
      const shopper = await t.signUp('shopper');
      const orders = [orderFor(a, [2, 1]), orderFor(b, [1])];
      const { checkoutId, paymentId, placed } = await checkout(shopper, orders, { capture: false });
      assert.equal(placed.length, 2);
      assert.deepEqual(new Set(placed.map((o) => o.merchantId)), new Set([a.merchantId, b.merchantId]));
      for (const o of placed) {
        assert.match(o.id, /^ord_/);
        assert.equal(o.status, 'placed');
        assert.equal(o.totalMinor, orders.find((x) => x.merchantId === o.merchantId)!.totalMinor);
      }
      // a retry (the checkout recovering after a crash) and a concurrent duplicate return the same orders
      const again = await Promise.all(
        [1, 2].map(() =>
          ctx().orders.service.placeOrders({ checkoutId, accountId: shopper.accountId, deviceId: 'dev_again_123', paymentId, shipping: null, orders }),
        ),
      );
      for (const r of again) assert.deepEqual(new Set(r.map((o) => o.id)), new Set(placed.map((o) => o.id)));
      const events = await eventsFor(t, placed.map((o) => o.id));
      assert.deepEqual(events.map((e) => e.name), ['orders.order.placed', 'orders.order.placed']);
      assert.deepEqual(
        (await ctx().orders.service.findByCheckout(checkoutId)).map((o) => o.id).sort(),
        placed.map((o) => o.id).sort(),
      );
    });

    it('refuses an inconsistent order (totals that do not add up) and writes nothing', async () => {
      const a = await merchant();
      const bad = { ...orderFor(a, [1]), totalMinor: 1 };
      const checkoutId = newId('checkout');
      await assert.rejects(() =>
        ctx().orders.service.placeOrders({ checkoutId, accountId: null, deviceId: 'dev_bad_1234', paymentId: newId('payment'), shipping: null, orders: [bad] }),
      );
      assert.deepEqual(await ctx().orders.service.findByCheckout(checkoutId), []);
    });

    it('carries the attribution fields of each line exactly, in the order view and in the events', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const attribution: LineAttribution = {
        tagId: newId('tag'),
        postId: newId('post'),
        creatorId: newId('creator'),
        productId: a.productId,
        tagCreatedAt: new Date('2026-01-10T08:30:15.123Z'),
        keyId: 'k1',
        referredAt: new Date('2026-01-12T18:00:01.500Z'),
      };
      const order = orderFor(a, [1]);
      order.lines.push({ ...orderFor(a, [0, 2], attribution).lines[1]! });
      order.subtotalMinor = order.lines.reduce((s, l) => s + l.netAmountMinor, 0);
      order.taxMinor = order.lines.reduce((s, l) => s + l.taxMinor, 0);
      order.totalMinor = order.subtotalMinor + order.taxMinor;
      const { placed } = await checkout(shopper, [order]);
      const res = await t.request({ url: `/v1/orders/${placed[0]!.id}`, token: shopper.token });
      assert.equal(res.status, 200);
      assert.equal(res.body.lines[0].attribution, null);
      const expected = { ...attribution, tagCreatedAt: '2026-01-10T08:30:15.123Z', referredAt: '2026-01-12T18:00:01.500Z' };
      assert.deepEqual(res.body.lines[1].attribution, expected);
      assert.deepEqual(
        res.body.lines.map((l: any) => [l.skuId, l.quantity, l.unitPriceMinor, l.netAmountMinor, l.taxMinor]),
        order.lines.map((l) => [l.skuId, l.quantity, l.unitPriceMinor, l.netAmountMinor, l.taxMinor]),
      );
      const [placedEvent] = await eventsFor(t, [placed[0]!.id]);
      assert.equal(placedEvent!.name, 'orders.order.placed');
      assert.deepEqual(placedEvent!.payload.lines[1].attribution, expected);
      assert.equal(placedEvent!.payload.lines[1].netAmountMinor, 6666);
      // the database refuses half an attribution, and a stamping time without one
      await assert.rejects(() => sql`UPDATE orders.order_lines SET post_id = NULL WHERE id = ${res.body.lines[1].id}`.execute(t.app.db));
      await assert.rejects(() => sql`UPDATE orders.order_lines SET referred_at = now() WHERE id = ${res.body.lines[0].id}`.execute(t.app.db));

      // a line whose stamping time is not known (an attempt started before it was recorded): null, never made up
      const { referredAt: _, ...unstamped } = attribution;
      const old = await checkout(shopper, [orderFor(a, [1], unstamped)]);
      const [oldEvent] = await eventsFor(t, [old.placed[0]!.id]);
      assert.deepEqual(oldEvent!.payload.lines[0].attribution, { ...expected, referredAt: null });
      assert.equal((await t.request({ url: `/v1/orders/${old.placed[0]!.id}`, token: shopper.token })).body.lines[0].attribution.referredAt, null);
    });

    it('runs the full lifecycle with a readable history and one event per transition, in order', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const { placed } = await checkout(shopper, [orderFor(a, [1])]);
      const id = placed[0]!.id;
      const url = `/v1/merchant/orders/${id}`;
      assert.equal((await post(`${url}/fulfil`, a.token)).body.status, 'fulfilling');
      // repeating a transition that happened answers the order and writes nothing
      assert.equal((await post(`${url}/fulfil`, a.token)).status, 200);
      const shipped = await post(`${url}/ship`, a.token, { carrier: 'DHL', trackingNumber: 'JD0123456789' });
      assert.equal(shipped.status, 200);
      assert.deepEqual([shipped.body.status, shipped.body.carrier, shipped.body.trackingNumber], ['shipped', 'DHL', 'JD0123456789']);
      // the same shipment again is a no-op; another carrier or tracking number is refused, not dropped silently
      assert.equal((await post(`${url}/ship`, a.token, { carrier: 'DHL', trackingNumber: 'JD0123456789' })).status, 200);
      const other = await post(`${url}/ship`, a.token, { carrier: 'UPS', trackingNumber: '1Z999' });
      assert.equal(other.status, 409);
      assert.equal(other.body.error.code, 'already_shipped');
      assert.deepEqual(other.body.error.details, { carrier: 'DHL', trackingNumber: 'JD0123456789' });
      const delivered = await post(`${url}/deliver`, a.token);
      assert.equal(delivered.body.status, 'delivered');

      const mine = await t.request({ url: `/v1/orders/${id}`, token: shopper.token });
      assert.equal(mine.status, 200);
      assert.deepEqual(
        mine.body.history.map((h: any) => [h.seq, h.type, h.fromStatus, h.toStatus]),
        [
          [1, 'placed', null, 'placed'],
          [2, 'paid', 'placed', 'paid'],
          [3, 'fulfilling', 'paid', 'fulfilling'],
          [4, 'shipped', 'fulfilling', 'shipped'],
          [5, 'delivered', 'shipped', 'delivered'],
        ],
      );
      assert.equal(mine.body.history[3].actor, `merchant:${a.accountId}`);
      assert.equal(mine.body.history[1].actor, 'system');
      for (const f of ['paidAt', 'fulfillingAt', 'shippedAt', 'deliveredAt']) assert.ok(mine.body[f], f);
      const events = await eventsFor(t, [id]);
      assert.deepEqual(
        events.map((e) => e.name),
        ['orders.order.placed', 'orders.order.paid', 'orders.order.fulfilling', 'orders.order.shipped', 'orders.order.delivered'],
      );
      assert.equal(events[3]!.payload.trackingNumber, 'JD0123456789');
      assert.equal(events[4]!.payload.accountId, shopper.accountId);
    });

    it('refuses invalid transitions with 409 and the current status, changing nothing', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const { placed } = await checkout(shopper, [orderFor(a, [1])], { capture: false });
      const id = placed[0]!.id;
      const url = `/v1/merchant/orders/${id}`;
      const early = await post(`${url}/fulfil`, a.token);
      assert.equal(early.status, 409);
      assert.equal(early.body.error.code, 'invalid_transition');
      assert.equal(early.body.error.details.status, 'placed');
      assert.equal((await post(`${url}/deliver`, a.token)).body.error.code, 'invalid_transition');
      const view = await t.request({ url, token: a.token });
      assert.equal(view.body.status, 'placed');
      assert.equal(view.body.history.length, 1);
      assert.equal((await eventsFor(t, [id])).length, 1);
      // ship needs carrier and tracking; unknown fields are refused
      assert.equal((await post(`${url}/ship`, a.token, { carrier: 'DHL' })).status, 400);
    });

    it('a merchant cancels before shipment: refund of the captured total, every line restocked, idempotently', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const before = [await stock(a.skuIds[0]!), await stock(a.skuIds[1]!)];
      const order = orderFor(a, [2, 3]);
      const { placed, paymentId } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      assert.equal((await stock(a.skuIds[0]!)).onHand, before[0]!.onHand - 2);

      const noKey = await post(`/v1/merchant/orders/${id}/cancel`, a.token, { reason: 'out of linen' });
      assert.equal(noKey.status, 400);
      assert.equal(noKey.body.error.code, 'idempotency_key_required');

      const key = `cancel-${word()}`;
      const res = await post(`/v1/merchant/orders/${id}/cancel`, a.token, { reason: 'out of linen' }, key);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'cancelled');
      assert.equal(res.body.cancelReason, 'out of linen');
      assert.equal(res.body.refundedMinor, order.totalMinor);
      assert.deepEqual(res.body.refunds.map((r: any) => [r.kind, r.status, r.amountMinor]), [['cancel', 'succeeded', order.totalMinor]]);
      assert.deepEqual(res.body.lines.map((l: any) => l.refundedQuantity), [2, 3]);
      const payment = await ctx().payments.service.getPayment(paymentId);
      assert.equal(payment!.refundedMinor, order.totalMinor);
      assert.deepEqual([(await stock(a.skuIds[0]!)).onHand, (await stock(a.skuIds[1]!)).onHand], [before[0]!.onHand, before[1]!.onHand]);

      // the same request again answers the same result; a new request is idempotent too (no second refund or restock)
      const replay = await post(`/v1/merchant/orders/${id}/cancel`, a.token, { reason: 'out of linen' }, key);
      assert.deepEqual([replay.status, replay.body.status], [200, 'cancelled']);
      assert.equal((await post(`/v1/merchant/orders/${id}/cancel`, a.token, { reason: 'again' }, `cancel-${word()}`)).status, 200);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before[0]!.onHand);
      const names = (await eventsFor(t, [id])).map((e) => e.name);
      assert.deepEqual(names, ['orders.order.placed', 'orders.order.paid', 'orders.order.cancelled', 'orders.order.refunded']);
      // cancelled is final
      assert.equal((await post(`/v1/merchant/orders/${id}/fulfil`, a.token)).body.error.code, 'invalid_transition');
    });

    it('cancelling an uncaptured single order voids its payment; after shipment cancel is 409', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const { placed, paymentId } = await checkout(shopper, [orderFor(a, [1])], { capture: false });
      const res = await post(`/v1/orders/${placed[0]!.id}/cancel`, shopper.token, { reason: 'changed my mind' }, `c-${word()}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'cancelled');
      assert.equal(res.body.refunds.length, 0);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.status, 'voided');

      const shipped = (await checkout(shopper, [orderFor(a, [1])])).placed[0]!.id;
      await post(`/v1/merchant/orders/${shipped}/ship`, a.token, { carrier: 'UPS', trackingNumber: '1Z999' });
      const late = await post(`/v1/merchant/orders/${shipped}/cancel`, a.token, { reason: 'too late' }, `c-${word()}`);
      assert.equal(late.status, 409);
      assert.equal(late.body.error.code, 'invalid_transition');
      assert.equal(late.body.error.details.status, 'shipped');
      // a shopper may cancel only while placed or paid
      const fulfilling = (await checkout(shopper, [orderFor(a, [1])])).placed[0]!.id;
      await post(`/v1/merchant/orders/${fulfilling}/fulfil`, a.token);
      const mine = await post(`/v1/orders/${fulfilling}/cancel`, shopper.token, { reason: 'x' }, `c-${word()}`);
      assert.deepEqual([mine.status, mine.body.error.code], [409, 'invalid_transition']);
    });

    it('cancelForCheckout cancels every order of an uncaptured checkout, restocks each line once, moves no money', async () => {
      const [a, b] = [await merchant(), await merchant()];
      const shopper = await t.signUp('shopper');
      const { checkoutId, paymentId, placed } = await checkout(shopper, [orderFor(a, [2, 1]), orderFor(b, [3])], { capture: false });
      assert.deepEqual([(await stock(a.skuIds[0]!)).onHand, (await stock(a.skuIds[1]!)).onHand, (await stock(b.skuIds[0]!)).onHand], [8, 9, 7]);

      const cancelled = await ctx().orders.service.cancelForCheckout(checkoutId, 'capture_refused');
      assert.deepEqual(cancelled.map((o) => o.status), ['cancelled', 'cancelled']);
      assert.deepEqual(new Set(cancelled.map((o) => o.id)), new Set(placed.map((o) => o.id)));
      for (const o of placed) {
        const res = await t.request({ url: `/v1/orders/${o.id}`, token: shopper.token });
        assert.deepEqual([res.body.status, res.body.cancelReason, res.body.refunds.length], ['cancelled', 'capture_refused', 0]);
        assert.deepEqual(res.body.history.map((h: any) => [h.type, h.fromStatus, h.toStatus, h.actor]), [
          ['placed', null, 'placed', 'system'],
          ['cancelled', 'placed', 'cancelled', 'system'],
        ]);
        assert.equal(res.body.history[1].details.moneyAction, 'none');
      }
      const events = await eventsFor(t, placed.map((o) => o.id));
      const cancelledEvents = events.filter((e) => e.name === 'orders.order.cancelled');
      assert.equal(cancelledEvents.length, 2);
      for (const e of cancelledEvents) assert.deepEqual([e.payload.reason, e.payload.moneyAction, e.payload.fromStatus], ['capture_refused', 'none', 'placed']);
      // the checkout, not the orders, decides about its authorization
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.status, 'authorized');

      // a repeat (the sweeper after a crash) changes nothing: no new events, no second restock
      const again = await ctx().orders.service.cancelForCheckout(checkoutId, 'capture_refused');
      assert.deepEqual(again.map((o) => o.status), ['cancelled', 'cancelled']);
      assert.equal((await eventsFor(t, placed.map((o) => o.id))).length, events.length);
      for (const skuId of [...a.skuIds, b.skuIds[0]!]) assert.deepEqual([(await stock(skuId)).onHand, (await stock(skuId)).reserved], [10, 0]);

      // an order that was paid is never cancelled this way (its money was captured)
      const paid = await checkout(shopper, [orderFor(a, [1])]);
      await assert.rejects(() => ctx().orders.service.cancelForCheckout(paid.checkoutId, 'capture_refused'));
      assert.equal((await ctx().orders.service.findByCheckout(paid.checkoutId))[0]!.status, 'paid');
    });

    it('partial refunds by line and quantity sum exactly to what was paid and refuse over-refunding', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const order = orderFor(a, [3]); // 3 × 49.00 + 8% tax = 158.76 total: not divisible by 3
      const { placed, paymentId } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      const url = `/v1/merchant/orders/${id}/refunds`;
      const lineId = (await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body.lines[0].id;

      const amounts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await post(url, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'damaged' }, `r-${word()}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        amounts.push(r.body.refunds.at(-1).amountMinor);
      }
      assert.equal(amounts.reduce((s, x) => s + x, 0), order.totalMinor);
      assert.ok(Math.max(...amounts) - Math.min(...amounts) <= 1, `uneven: ${amounts.join(',')}`);
      const over = await post(url, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'more' }, `r-${word()}`);
      assert.equal(over.status, 409);
      assert.equal(over.body.error.code, 'refund_exceeds_remaining');
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor);

      const view = (await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body;
      assert.deepEqual([view.refundedMinor, view.lines[0].refundedQuantity, view.lines[0].refundedMinor], [order.totalMinor, 3, order.totalMinor]);
      const refunded = (await eventsFor(t, [id])).filter((e) => e.name === 'orders.order.refunded');
      assert.equal(refunded.length, 3);
      assert.equal(refunded.reduce((s, e) => s + e.payload.refundedLines[0].netAmountMinor, 0), order.subtotalMinor);
      // an unknown line is 404; a line of another order too
      const other = await post(url, a.token, { lines: [{ lineId: newId('orderLine'), quantity: 1 }], reason: 'x' }, `r-${word()}`);
      assert.deepEqual([other.status, other.body.error.code], [404, 'line_not_found']);
    });

    it('a refund request replays under its key, refuses the key with another body, and needs a paid order', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const order = orderFor(a, [2, 1]);
      const { placed, paymentId } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      const lines = (await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body.lines;
      const body = { lines: [{ lineId: lines[0].id, quantity: 1 }, { lineId: lines[1].id, quantity: 1 }], reason: 'late' };
      const key = `r-${word()}`;
      const first = await post(`/v1/merchant/orders/${id}/refunds`, a.token, body, key);
      const second = await post(`/v1/merchant/orders/${id}/refunds`, a.token, body, key);
      assert.equal(first.status, 200);
      assert.deepEqual(second.body, first.body);
      assert.deepEqual([first.headers['idempotent-replayed'], second.headers['idempotent-replayed']], [undefined, 'true'], 'the replay says it is one');
      const expected = refundForUnits({ id: 'x', quantity: 2, net_amount_minor: 9800, tax_minor: 784, refunded_quantity: 0, refunded_minor: 0, refunded_net_minor: 0 }, 1).amountMinor
        + order.lines[1]!.netAmountMinor + order.lines[1]!.taxMinor;
      assert.equal(first.body.refundedMinor, expected);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, expected);
      const reused = await post(`/v1/merchant/orders/${id}/refunds`, a.token, { ...body, reason: 'other' }, key);
      assert.deepEqual([reused.status, reused.body.error.code], [422, 'idempotency_key_reused']);

      const unpaid = (await checkout(shopper, [orderFor(a, [1])], { capture: false })).placed[0]!.id;
      const unpaidLine = (await t.request({ url: `/v1/merchant/orders/${unpaid}`, token: a.token })).body.lines[0].id;
      const r = await post(`/v1/merchant/orders/${unpaid}/refunds`, a.token, { lines: [{ lineId: unpaidLine, quantity: 1 }], reason: 'x' }, `r-${word()}`);
      assert.deepEqual([r.status, r.body.error.code], [409, 'invalid_transition']);
      // zero, negative and huge quantities are refused at the edge
      for (const quantity of [0, -1, 1e12]) {
        const bad = await post(`/v1/merchant/orders/${id}/refunds`, a.token, { lines: [{ lineId: lines[0].id, quantity }], reason: 'x' }, `r-${word()}`);
        assert.equal(bad.status, 400, `quantity ${quantity}`);
      }
    });

    it('a refund left pending by a crash after the provider call is settled by the sweeper, never refunded twice', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const order = orderFor(a, [2]);
      const { placed, paymentId } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      const lineId = (await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body.lines[0].id;
      const done = await post(`/v1/merchant/orders/${id}/refunds`, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'scratch' }, `r-${word()}`);
      assert.equal(done.status, 200);
      const refundId = done.body.refunds[0].id as string;
      const refunded = (await ctx().payments.service.getPayment(paymentId))!.refundedMinor;
      // the state a kill -9 leaves between the provider's refund and our record of it: the refund row still pending
      await sql`UPDATE orders.refunds SET status = 'pending', settled_at = NULL WHERE id = ${refundId}`.execute(t.app.db);
      await sql`DELETE FROM orders.order_events WHERE order_id = ${id} AND type = 'refunded'`.execute(t.app.db);

      await t.app.sweep(); // too recent: a live request may still be settling it
      assert.equal((await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body.refunds[0].status, 'pending');
      (t.clock as ManualClock).advance(2 * 60_000);
      await t.app.sweep();
      const view = (await t.request({ url: `/v1/merchant/orders/${id}`, token: a.token })).body;
      assert.equal(view.refunds[0].status, 'succeeded');
      assert.equal(view.refundedMinor, refunded);
      assert.equal(view.history.at(-1).type, 'refunded');
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, refunded, 'the provider key made the retry a no-op');
    });

    it('a return after delivery restocks and refunds those units; before delivery it is 409', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const order = orderFor(a, [2]);
      const { placed } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      const url = `/v1/merchant/orders/${id}`;
      const lineId = (await t.request({ url, token: a.token })).body.lines[0].id;
      const early = await post(`${url}/returns`, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'too small' }, `ret-${word()}`);
      assert.deepEqual([early.status, early.body.error.code], [409, 'invalid_transition']);

      await post(`${url}/ship`, a.token, { carrier: 'DHL', trackingNumber: 'JD1' });
      await post(`${url}/deliver`, a.token);
      const before = await stock(a.skuIds[0]!);
      const res = await post(`${url}/returns`, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'too small' }, `ret-${word()}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'delivered');
      assert.equal(res.body.returns.length, 1);
      assert.deepEqual([res.body.lines[0].returnedQuantity, res.body.lines[0].refundedQuantity], [1, 1]);
      assert.equal(res.body.refundedMinor, Math.floor(order.totalMinor / 2));
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 1);
      const names = (await eventsFor(t, [id])).map((e) => e.name);
      assert.deepEqual(names.slice(-2), ['orders.order.refunded', 'orders.order.returned']);
      assert.deepEqual(res.body.history.slice(-2).map((h: any) => h.type), ['refunded', 'returned']);
      // the other unit, then nothing more
      assert.equal((await post(`${url}/returns`, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'too small' }, `ret-${word()}`)).body.refundedMinor, order.totalMinor);
      const over = await post(`${url}/returns`, a.token, { lines: [{ lineId, quantity: 1 }], reason: 'x' }, `ret-${word()}`);
      assert.deepEqual([over.status, over.body.error.code], [409, 'refund_exceeds_remaining']);
    });

    /** A delivered order of one line (units of the merchant's first SKU): its merchant URL, line id and totals. */
    const delivered = async (a: Merchant, units: number) => {
      const shopper = await t.signUp('shopper');
      const order = orderFor(a, [units]);
      const { placed, paymentId } = await checkout(shopper, [order]);
      const id = placed[0]!.id;
      const url = `/v1/merchant/orders/${id}`;
      const lineId = (await t.request({ url, token: a.token })).body.lines[0].id as string;
      await post(`${url}/ship`, a.token, { carrier: 'DHL', trackingNumber: `JD${word()}` });
      assert.equal((await post(`${url}/deliver`, a.token)).body.status, 'delivered');
      return { id, url, lineId, order, paymentId };
    };
    const refundUnits = (a: Merchant, url: string, lineId: string, quantity: number, key = `r-${word()}`) =>
      post(`${url}/refunds`, a.token, { lines: [{ lineId, quantity }], reason: 'keep it' }, key);
    const returnUnits = (a: Merchant, url: string, lineId: string, quantity: number, key = `ret-${word()}`) =>
      post(`${url}/returns`, a.token, { lines: [{ lineId, quantity }], reason: 'parcel arrived' }, key);
    /** What the order's refunded events took back: units and net, summed over the events. */
    const refundedEvents = async (id: string) => {
      const events = (await eventsFor(t, [id])).filter((e) => e.name === 'orders.order.refunded');
      const lines = events.flatMap((e) => e.payload.refundedLines as Array<{ quantity: number; netAmountMinor: number }>);
      return { count: events.length, units: lines.reduce((s, l) => s + l.quantity, 0), net: lines.reduce((s, l) => s + l.netAmountMinor, 0) };
    };

    it('a return of units refunded before restocks them and refunds only what was not refunded (3 sold, 2 refunded, 3 returned)', async () => {
      const a = await merchant();
      const { id, url, lineId, order, paymentId } = await delivered(a, 3);
      const refunded = await refundUnits(a, url, lineId, 2);
      assert.equal(refunded.status, 200, JSON.stringify(refunded.body));
      const before = await stock(a.skuIds[0]!);
      const key = `ret-${word()}`;
      const res = await returnUnits(a, url, lineId, 3, key);
      // was 409 refund_exceeds_remaining: restocking the parcel took a manual stock adjustment
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual([res.body.lines[0].returnedQuantity, res.body.lines[0].refundedQuantity, res.body.refundedMinor], [3, 3, order.totalMinor]);
      assert.deepEqual(res.body.refunds.map((r: any) => [r.kind, r.status, r.lines.map((l: any) => l.quantity)]), [['refund', 'succeeded', [2]], ['return', 'succeeded', [1]]]);
      assert.equal(res.body.refunds[0].amountMinor + res.body.refunds[1].amountMinor, order.totalMinor);
      assert.deepEqual(res.body.returns.map((r: any) => [r.refundId, r.lines]), [[res.body.refunds[1].id, [{ lineId, quantity: 3 }]]]);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor, 'nothing refunded twice');
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 3, 'every returned unit restocked');
      assert.deepEqual(res.body.history.slice(-2).map((h: any) => [h.type, h.details.lines.map((l: any) => l.quantity)]), [['refunded', [1]], ['returned', [3]]]);
      // subscribers see each unit refunded once: 2 by the refund, 1 by the return
      assert.deepEqual(await refundedEvents(id), { count: 2, units: 3, net: order.subtotalMinor });
      await t.app.outbox.drain();
      const reversed = await sql<{ refunded_quantity: number; refunded_net_minor: string }>`
        SELECT refunded_quantity, refunded_net_minor FROM attribution.lines WHERE line_id = ${lineId}`.execute(t.app.db);
      assert.deepEqual(reversed.rows.map((r) => [r.refunded_quantity, Number(r.refunded_net_minor)]), [[3, order.subtotalMinor]]);

      // the same request replays; nothing more can be returned or refunded, and the stock stays
      const replay = await returnUnits(a, url, lineId, 3, key);
      assert.deepEqual([replay.status, replay.body.refundedMinor, replay.body.returns.length], [200, order.totalMinor, 1]);
      const over = await returnUnits(a, url, lineId, 1);
      assert.deepEqual([over.status, over.body.error.code, over.body.error.details], [409, 'refund_exceeds_remaining', { lineId, requested: 1, remaining: 0 }]);
      assert.deepEqual([(await refundUnits(a, url, lineId, 1)).body.error.code], ['refund_exceeds_remaining']);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 3);
    });

    it('a return of units fully refunded moves no money: a refund of 0, no refunded event, the return in the history', async () => {
      const a = await merchant();
      const { id, url, lineId, order, paymentId } = await delivered(a, 2);
      assert.equal((await refundUnits(a, url, lineId, 2)).status, 200);
      const eventsBefore = await refundedEvents(id);
      const before = await stock(a.skuIds[0]!);
      const key = `ret-${word()}`;
      const res = await returnUnits(a, url, lineId, 2, key);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.refunds.map((r: any) => [r.kind, r.status, r.amountMinor, r.lines.length]), [['refund', 'succeeded', order.totalMinor, 1], ['return', 'succeeded', 0, 0]]);
      assert.deepEqual([res.body.lines[0].returnedQuantity, res.body.lines[0].refundedQuantity, res.body.refundedMinor], [2, 2, order.totalMinor]);
      assert.equal(res.body.history.at(-1).type, 'returned');
      assert.equal(res.body.history.at(-2).type, 'refunded', 'the refund before it; no second refunded row');
      assert.equal(res.body.history.filter((h: any) => h.type === 'refunded').length, 1);
      assert.deepEqual(await refundedEvents(id), eventsBefore);
      const names = (await eventsFor(t, [id])).map((e) => e.name);
      assert.equal(names.at(-1), 'orders.order.returned');
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 2);
      // the key stays with its return, compared by the units returned (its refund has none)
      await sql`DELETE FROM idempotency.keys WHERE key = ${key}`.execute(t.app.db);
      assert.equal((await returnUnits(a, url, lineId, 2, key)).status, 200);
      await sql`DELETE FROM idempotency.keys WHERE key = ${key}`.execute(t.app.db);
      assert.deepEqual([(await returnUnits(a, url, lineId, 1, key)).body.error?.code], ['idempotency_key_reused']);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 2);
    });

    it('returns before and after a refund: each unit refunded once, restocked once, over-returning refused', async () => {
      const a = await merchant();
      const { id, url, lineId, order, paymentId } = await delivered(a, 3);
      const before = await stock(a.skuIds[0]!);
      assert.equal((await returnUnits(a, url, lineId, 1)).body.lines[0].refundedQuantity, 1);
      assert.equal((await refundUnits(a, url, lineId, 1)).body.lines[0].refundedQuantity, 2);
      // 2 not returned: 1 of them refunded (without a return), 1 not
      const over = await returnUnits(a, url, lineId, 3);
      assert.deepEqual([over.status, over.body.error.code, over.body.error.details.remaining], [409, 'refund_exceeds_remaining', 2]);
      const res = await returnUnits(a, url, lineId, 2);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.refunds.map((r: any) => [r.kind, r.lines.map((l: any) => l.quantity)]), [['return', [1]], ['refund', [1]], ['return', [1]]]);
      assert.deepEqual([res.body.lines[0].returnedQuantity, res.body.lines[0].refundedQuantity, res.body.refundedMinor], [3, 3, order.totalMinor]);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 3);
      assert.deepEqual(await refundedEvents(id), { count: 3, units: 3, net: order.subtotalMinor });
      assert.equal((await returnUnits(a, url, lineId, 1)).body.error.code, 'refund_exceeds_remaining');
    });

    it('a return counting on a refund still pending settles that refund first, then refunds nothing twice', async () => {
      const a = await merchant();
      const { id, url, lineId, order, paymentId } = await delivered(a, 2);
      const done = await refundUnits(a, url, lineId, 2);
      const refundId = done.body.refunds[0].id as string;
      // what a crash between the provider's refund and our record of it leaves: the refund still pending
      await sql`UPDATE orders.refunds SET status = 'pending', settled_at = NULL WHERE id = ${refundId}`.execute(t.app.db);
      await sql`DELETE FROM orders.order_events WHERE order_id = ${id} AND type = 'refunded'`.execute(t.app.db);
      const res = await returnUnits(a, url, lineId, 2);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.refunds.map((r: any) => [r.kind, r.status, r.amountMinor]), [['refund', 'succeeded', order.totalMinor], ['return', 'succeeded', 0]]);
      assert.deepEqual(res.body.history.slice(-2).map((h: any) => h.type), ['refunded', 'returned']);
      assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor, 'the provider key made the settle a no-op');
    });

    it('a return whose refund the provider refuses is undone whole (no units returned or restocked); the refunded units can still come back', async () => {
      const a = await merchant();
      const { url, lineId, order, paymentId } = await delivered(a, 3);
      const first = await refundUnits(a, url, lineId, 2);
      assert.equal(first.status, 200);
      // the rest of the payment refunded elsewhere (the provider's dashboard): a refund of the third unit is refused
      const rest = order.totalMinor - first.body.refundedMinor;
      assert.ok((await ctx().payments.service.refund(paymentId, rest, `elsewhere-${word()}`, 'dashboard')).ok);
      const before = await stock(a.skuIds[0]!);
      const refused = await returnUnits(a, url, lineId, 3);
      assert.deepEqual([refused.status, refused.body.error.code], [409, 'refund_refused']);
      const view = (await t.request({ url, token: a.token })).body;
      assert.deepEqual([view.lines[0].returnedQuantity, view.lines[0].refundedQuantity, view.refundedMinor], [0, 2, first.body.refundedMinor]);
      assert.equal(view.history.at(-1).type, 'refund_failed');
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand);
      const two = await returnUnits(a, url, lineId, 2);
      assert.equal(two.status, 200, JSON.stringify(two.body));
      assert.deepEqual([two.body.lines[0].returnedQuantity, two.body.lines[0].refundedQuantity, two.body.refunds.at(-1).amountMinor], [2, 2, 0]);
      assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 2);
    });

    it('a return and a refund of the same line at once: no unit refunded or restocked twice', async () => {
      const a = await merchant();
      for (let i = 0; i < 4; i++) {
        const { id, url, lineId, order, paymentId } = await delivered(a, 3);
        const before = await stock(a.skuIds[0]!);
        const [refund, ret] = await Promise.all([refundUnits(a, url, lineId, 2), returnUnits(a, url, lineId, 3)]);
        assert.equal(ret.status, 200, JSON.stringify(ret.body));
        // the refund either came first (the return then refunds 1) or found everything refunded by the return
        assert.ok(refund.status === 200 || refund.body.error?.code === 'refund_exceeds_remaining', JSON.stringify(refund.body));
        const view = (await t.request({ url, token: a.token })).body;
        assert.deepEqual([view.lines[0].returnedQuantity, view.lines[0].refundedQuantity, view.refundedMinor], [3, 3, order.totalMinor]);
        assert.equal((await ctx().payments.service.getPayment(paymentId))!.refundedMinor, order.totalMinor);
        assert.equal((await stock(a.skuIds[0]!)).onHand, before.onHand + 3);
        assert.deepEqual(await refundedEvents(id), { count: refund.status === 200 ? 2 : 1, units: 3, net: order.subtotalMinor });
        // two returns of the refunded units at once: one restocks, the other is refused
        const again = await delivered(a, 3);
        assert.equal((await refundUnits(a, again.url, again.lineId, 3)).status, 200);
        const stocked = await stock(a.skuIds[0]!);
        const both = await Promise.all([returnUnits(a, again.url, again.lineId, 3), returnUnits(a, again.url, again.lineId, 3)]);
        assert.deepEqual(both.map((r) => r.status).sort(), [200, 409], JSON.stringify(both.map((r) => r.body)));
        assert.equal((await stock(a.skuIds[0]!)).onHand, stocked.onHand + 3);
        assert.equal((await ctx().payments.service.getPayment(again.paymentId))!.refundedMinor, again.order.totalMinor);
      }
    });

    it('a shopper sees only their orders, a merchant only theirs (404 otherwise), other roles 403', async () => {
      const [a, b] = [await merchant(), await merchant()];
      const [s1, s2] = [await t.signUp('shopper'), await t.signUp('shopper')];
      const { placed } = await checkout(s1, [orderFor(a, [1]), orderFor(b, [1])]);
      const ofA = placed.find((o) => o.merchantId === a.merchantId)!.id;
      const ofB = placed.find((o) => o.merchantId === b.merchantId)!.id;
      await checkout(s2, [orderFor(a, [1])]);

      const mine = await t.request({ url: '/v1/orders', token: s1.token });
      assert.deepEqual(new Set(mine.body.items.map((o: any) => o.id)), new Set([ofA, ofB]));
      assert.equal((await t.request({ url: `/v1/orders/${ofA}`, token: s2.token })).status, 404);
      assert.equal((await t.request({ url: `/v1/orders/${ofA}/cancel`, method: 'POST', token: s2.token, body: { reason: 'x' }, headers: { 'idempotency-key': `k-${word()}` } })).status, 404);

      const listA = await t.request({ url: '/v1/merchant/orders', token: a.token });
      assert.ok(listA.body.items.every((o: any) => o.merchantId === a.merchantId));
      assert.equal(listA.body.items.length, 2);
      assert.equal((await t.request({ url: `/v1/merchant/orders/${ofB}`, token: a.token })).status, 404);
      assert.equal((await post(`/v1/merchant/orders/${ofB}/fulfil`, a.token)).status, 404);
      assert.equal((await t.request({ url: '/v1/merchant/orders?status=paid', token: a.token })).body.items.length, 2);
      assert.equal((await t.request({ url: '/v1/merchant/orders?status=shipped', token: a.token })).body.items.length, 0);

      const creator = await t.signUp('creator');
      assert.equal((await t.request({ url: '/v1/orders', token: creator.token })).status, 403);
      assert.equal((await t.request({ url: '/v1/merchant/orders', token: s1.token })).status, 403);
      assert.equal((await t.request({ url: `/v1/orders/${ofA}`, token: a.token })).status, 403);
      assert.equal((await t.request({ url: '/v1/orders' })).status, 401);
    });

    it('pages a shopper\'s orders newest first without repeats', async () => {
      const a = await merchant();
      const shopper = await t.signUp('shopper');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await checkout(shopper, [orderFor(a, [1])])).placed[0]!.id);
      const p1 = await t.request({ url: '/v1/orders?limit=2', token: shopper.token });
      assert.deepEqual(p1.body.items.map((o: any) => o.id), [ids[2], ids[1]]);
      assert.equal(p1.body.items[0].itemCount, 1);
      const p2 = await t.request({ url: `/v1/orders?limit=2&cursor=${p1.body.nextCursor}`, token: shopper.token });
      assert.deepEqual(p2.body.items.map((o: any) => o.id), [ids[0]]);
      assert.equal(p2.body.nextCursor, null);
      assert.equal((await t.request({ url: '/v1/orders?cursor=%%%', token: shopper.token })).body.error.code, 'invalid_cursor');
      // well-formed but forged: it names no order id
      const forged = Buffer.from(JSON.stringify({ id: 'ord_x' })).toString('base64url');
      const r = await t.request({ url: `/v1/orders?cursor=${forged}`, token: shopper.token });
      assert.deepEqual([r.status, r.body.error?.code], [400, 'invalid_cursor']);
    });

    it('a delivered order makes its shopper a verified buyer of its products (existing and new reviews)', async () => {
      const a = await merchant();
      const [s1, s2] = [await t.signUp('shopper'), await t.signUp('shopper')];
      const early = await t.request({ method: 'POST', url: `/v1/products/${a.productId}/reviews`, token: s1.token, body: { rating: 5, body: 'Lovely' } });
      assert.equal(early.body.verifiedBuyer, false);
      const { placed } = await checkout(s1, [orderFor(a, [1])]);
      await checkout(s2, [orderFor(a, [1])]); // paid, never delivered: no badge
      const url = `/v1/merchant/orders/${placed[0]!.id}`;
      await post(`${url}/ship`, a.token, { carrier: 'DHL', trackingNumber: 'JD2' });
      await post(`${url}/deliver`, a.token);
      await t.app.outbox.drain();
      await t.app.outbox.drain(); // redelivery-safe: a second drain changes nothing
      const reviews = await t.request({ url: `/v1/products/${a.productId}/reviews` });
      assert.deepEqual(reviews.body.items.map((r: any) => r.verifiedBuyer), [true]);
      const s2Review = await t.request({ method: 'POST', url: `/v1/products/${a.productId}/reviews`, token: s2.token, body: { rating: 3, body: 'Fine' } });
      assert.equal(s2Review.body.verifiedBuyer, false);
      await t.request({ method: 'DELETE', url: `/v1/products/${a.productId}/reviews/mine`, token: s1.token });
      const again = await t.request({ method: 'POST', url: `/v1/products/${a.productId}/reviews`, token: s1.token, body: { rating: 4, body: 'Still lovely' } });
      assert.equal(again.body.verifiedBuyer, true);
    });
  });
}
