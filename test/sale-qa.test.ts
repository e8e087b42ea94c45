import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createCheckoutContext } from '../src/contexts/checkout';
import { MAX_ON_HAND } from '../src/contexts/inventory';
import { StripeProvider } from '../src/contexts/payments/payments.stripe';
import { requestHash } from '../src/platform/idempotency';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

// Defects found by a QA pass of the sale half through its HTTP API (cart, checkout, payments, orders), each with the
// request sequence that showed it.

const SECRET = `whsec_test_${randomBytes(16).toString('hex')}`;
const CARD_OK = '4242424242424242';

for (const backend of backends()) {
  describe(`sale QA [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { simulatedWebhookSecret: SECRET } });
    });
    after(() => t.close());

    const post = (url: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
      t.request({ method: 'POST', url, token, body, headers });
    const buyNow = (token: string | undefined, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      post('/v1/checkout/buy-now', token, { paymentMethod: CARD_OK, ...body }, { 'idempotency-key': randomUUID(), ...headers });

    it('a shopper and the merchant cancelling a paid order at once: refunded once, and the order says so', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 2_500, stock: 10 });
      const shopper = await t.signUp('shopper');
      for (let i = 0; i < 3; i++) {
        const bought = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 });
        assert.equal(bought.status, 201, JSON.stringify(bought.body));
        const orderId = bought.body.orders[0].id as string;
        const [a, b] = await Promise.all([
          post(`/v1/orders/${orderId}/cancel`, shopper.token, { reason: 'changed my mind' }, { 'idempotency-key': randomUUID() }),
          post(`/v1/merchant/orders/${orderId}/cancel`, m.token, { reason: 'out of stock' }, { 'idempotency-key': randomUUID() }),
        ]);
        assert.deepEqual([a.status, b.status], [200, 200], JSON.stringify([a.body, b.body]));
        const order = (await t.request({ url: `/v1/orders/${orderId}`, token: shopper.token })).body;
        // the second cancel's settle used to be refused by payments (its own pending refund counted twice), which
        // marked the order's refund failed and took it off the lines while the money had gone back
        assert.equal(order.status, 'cancelled');
        assert.deepEqual(order.refunds.map((r: any) => [r.kind, r.status, r.amountMinor]), [['cancel', 'succeeded', 2_500]]);
        assert.equal(order.refundedMinor, 2_500);
        const payment = await t.app.contexts.payments.service.getPayment(order.paymentId);
        assert.equal(payment?.status, 'refunded');
        assert.equal(payment?.refundedMinor, 2_500);
      }
    });

    it('two refunds under one key at once are one refund, also when twice the amount is more than was captured', async () => {
      const payments = t.app.contexts.payments.service;
      const auth = await payments.authorize({ checkoutId: `chk_${randomUUID()}`, amountMinor: 1_000, currency: 'EUR', paymentMethod: CARD_OK, accountId: null });
      assert.ok(auth.ok);
      assert.ok((await payments.capture(auth.payment.id)).ok);
      const key = `qa:${randomUUID()}`;
      const both = await Promise.all([payments.refund(auth.payment.id, 600, key, 'r'), payments.refund(auth.payment.id, 600, key, 'r')]);
      for (const r of both) assert.ok(r.ok, JSON.stringify(r));
      assert.equal((await payments.getPayment(auth.payment.id))?.refundedMinor, 600);
    });

    it('a refund key whose idempotency record is gone still refuses another refund under it (never a success that did nothing)', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1_000, stock: 10 });
      const shopper = await t.signUp('shopper');
      const bought = await buyNow(shopper.token, { skuId: p.skuId, quantity: 3 });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      const url = `/v1/merchant/orders/${bought.body.orders[0].id}`;
      const lineId = (await t.request({ url, token: m.token })).body.lines[0].id as string;
      const key = randomUUID();
      const first = await post(`${url}/refunds`, m.token, { lines: [{ lineId, quantity: 1 }], reason: 'scratch' }, { 'idempotency-key': key });
      assert.equal(first.status, 200);
      // what the day-old prune (or a provider outage's 503, which releases the key) leaves: the refund, no key record
      await sql`DELETE FROM idempotency.keys WHERE key = ${key}`.execute(t.app.db);
      const other = await post(`${url}/refunds`, m.token, { lines: [{ lineId, quantity: 2 }], reason: 'scratch' }, { 'idempotency-key': key });
      // was 200 with the first refund's order: the merchant was told two more units were refunded
      assert.deepEqual([other.status, other.body.error?.code], [422, 'idempotency_key_reused']);
      await sql`DELETE FROM idempotency.keys WHERE key = ${key}`.execute(t.app.db);
      const same = await post(`${url}/refunds`, m.token, { lines: [{ lineId, quantity: 1 }], reason: 'scratch' }, { 'idempotency-key': key });
      assert.equal(same.status, 200, 'the same request still answers its refund');
      assert.equal(same.body.refundedMinor, 1_000);
      assert.equal(same.body.refunds.length, 1);
    });

    it('units added to a cart line while its checkout runs stay in the cart (the checkout takes only what it bought)', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 500, stock: 20 });
      const shopper = await t.signUp('shopper');
      const added = await post('/v1/cart/lines', shopper.token, { skuId: p.skuId, quantity: 1 });
      assert.equal(added.status, 201);
      // this checkout (as another process would run it) waits at its authorization until the shopper has added more
      const { db, clock, config, outbox, metrics, log, referrals } = t.app;
      const { catalog, inventory, payments, orders, attribution } = t.app.contexts;
      let open!: () => void;
      let reached!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const atAuthorize = new Promise<void>((resolve) => (reached = resolve));
      const live = createCheckoutContext({
        db, clock, config, outbox, metrics, log, referrals,
        catalog: catalog.service, inventory: inventory.service, orders: orders.service, attribution: attribution.service,
        payments: { ...payments.service, authorize: async (input) => { reached(); await gate; return payments.service.authorize(input); } },
      }).service;
      const input = { paymentMethod: CARD_OK };
      const running = live.checkoutCart({ accountId: shopper.accountId, deviceId: 'dev_qa_cart_race' }, input, { scope: shopper.accountId, key: randomUUID(), hash: requestHash(input) });
      // the checkout has read and priced the cart once it asks for authorization; only then does the shopper add more
      await Promise.race([atAuthorize, running]);
      const more = await post('/v1/cart/lines', shopper.token, { skuId: p.skuId, quantity: 2 });
      assert.equal(more.body.lines[0].quantity, 3, 'the shopper was told the line holds 3');
      open();
      const done = await running;
      assert.ok(done.ok, JSON.stringify(done));
      assert.equal(done.value.totalMinor, 500, 'the checkout bought the 1 unit it priced');
      // was: the whole line left the cart with the checkout, the 2 units added meanwhile with it
      const cart = (await t.request({ url: '/v1/cart', token: shopper.token })).body;
      assert.deepEqual(cart.lines.map((l: any) => [l.skuId, l.quantity]), [[p.skuId, 2]]);
    });

    it('a signed webhook whose body is not an event object is refused as 400, never a 5xx', async () => {
      const now = Math.floor(t.clock.now().getTime() / 1000);
      for (const body of ['null', '[]', '42', '"x"', '{"id":"evt_1","type":"x","data":null}']) {
        const signature = `t=${now},v1=${createHmac('sha256', SECRET).update(`${now}.${body}`).digest('hex')}`;
        const res = await t.request({
          method: 'POST',
          url: '/v1/payments/webhooks/simulated',
          payload: body,
          headers: { 'content-type': 'application/json', 'x-sim-signature': signature },
        });
        assert.ok(res.status < 500, `${body}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    });

    it('an anonymous checkout must name its device: a retry under the same key then buys once', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 5 });
      const key = randomUUID();
      const body = { skuId: p.skuId, quantity: 1, paymentMethod: CARD_OK };
      // without x-device-id or the device cookie each request got a new device, so each retry was a new purchase
      for (let i = 0; i < 2; i++) {
        const res = await post('/v1/checkout/buy-now', undefined, body, { 'idempotency-key': key });
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, 'device_id_required');
      }
      const cart = await post('/v1/checkout', undefined, { paymentMethod: CARD_OK }, { 'idempotency-key': key });
      assert.equal(cart.body.error.code, 'device_id_required');
      const level = (await t.app.contexts.inventory.service.getStockLevels([p.skuId])).get(p.skuId)!;
      assert.deepEqual([level.onHand, level.reserved], [5, 0]);
      // named by the header or by the cookie the server issued, the retry answers the first purchase
      const device = `dev_qa_${randomUUID()}`;
      const first = await post('/v1/checkout/buy-now', undefined, body, { 'idempotency-key': key, 'x-device-id': device });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const again = await post('/v1/checkout/buy-now', undefined, body, { 'idempotency-key': key, cookie: `fs_device=${device}` });
      assert.equal(again.status, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body.checkoutId, first.body.checkoutId);
      const attempts = await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout.attempts WHERE lines @> ${JSON.stringify([{ skuId: p.skuId }])}::jsonb`.execute(t.app.db);
      assert.equal(attempts.rows[0]!.n, 1);
    });

    it('a cancel or a return restocking past MAX_ON_HAND goes through (the units are real) and the merchant can still write them off', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1_000, stock: 10 });
      const shopper = await t.signUp('shopper');
      const [toCancel, toReturn] = [await buyNow(shopper.token, { skuId: p.skuId, quantity: 2 }), await buyNow(shopper.token, { skuId: p.skuId, quantity: 3 })];
      assert.deepEqual([toCancel.status, toReturn.status], [201, 201]);
      const returned = `/v1/merchant/orders/${toReturn.body.orders[0].id}`;
      await post(`${returned}/ship`, m.token, { carrier: 'DHL', trackingNumber: 'JD-MAX' });
      await post(`${returned}/deliver`, m.token, {});
      const stockUrl = `/v1/merchant/variants/${p.skuId}/stock`;
      const put = await t.request({ method: 'PUT', url: stockUrl, token: m.token, body: { onHand: MAX_ON_HAND, reason: 'count' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const cancelled = await post(`/v1/merchant/orders/${toCancel.body.orders[0].id}/cancel`, m.token, { reason: 'no' }, { 'idempotency-key': randomUUID() });
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      const lineId = (await t.request({ url: returned, token: m.token })).body.lines[0].id as string;
      const ret = await post(`${returned}/returns`, m.token, { lines: [{ lineId, quantity: 3 }], reason: 'parcel back' }, { 'idempotency-key': randomUUID() });
      assert.equal(ret.status, 200, JSON.stringify(ret.body));
      const level = (await t.request({ url: stockUrl, token: m.token })).body;
      assert.equal(level.level.onHand, MAX_ON_HAND + 5, 'both restocks recorded');
      assert.deepEqual(level.adjustments.slice(0, 2).map((a: any) => a.onHandAfter), [MAX_ON_HAND + 5, MAX_ON_HAND + 2]);
      const [audit] = await t.app.contexts.inventory.service.auditStock([p.skuId]);
      assert.equal(audit!.journaled, audit!.onHand + audit!.sold);
      // adding more is refused for the cap; taking units off is not (it was 409 insufficient_stock above the cap)
      const adjustments = `/v1/merchant/variants/${p.skuId}/stock-adjustments`;
      const more = await t.request({ method: 'POST', url: adjustments, token: m.token, body: { delta: 1, reason: 'found one' } });
      assert.deepEqual([more.status, more.body.error?.code], [409, 'stock_limit_exceeded']);
      const off = await t.request({ method: 'POST', url: adjustments, token: m.token, body: { delta: -5, reason: 'write-off' } });
      assert.deepEqual([off.status, off.body.onHand], [200, MAX_ON_HAND], JSON.stringify(off.body));
    });
  });
}

describe('sale QA: Stripe webhooks', () => {
  it('a signed Stripe event that is not an event object (null, no type, no data object) is refused, never thrown', () => {
    const webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
    const nowSeconds = () => Math.floor(Date.now() / 1000);
    const stripe = new StripeProvider({ secretKey: 'sk_test_qa', webhookSecret, apiBase: 'http://127.0.0.1:9', timeoutMs: 500, nowSeconds });
    for (const body of ['null', '{"id":"evt_1","object":"event"}', '{"id":"evt_2","type":"payment_intent.succeeded","data":{}}']) {
      const t = nowSeconds();
      const signature = `t=${t},v1=${createHmac('sha256', webhookSecret).update(`${t}.${body}`).digest('hex')}`;
      assert.equal(stripe.verifyWebhook(body, { 'stripe-signature': signature }), null, body);
    }
  });
});
