import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DAY, type ManualClock } from '../src/platform/clock';
import { activeProduct, backends, SHIPPING, shopOwner, startTestApp, type ShopOwner, type TestApp } from './support/harness';

/**
 * GET /v1/merchant/summary: a shop's totals over a period, per currency, from every order (the merchant's Orders page
 * added them up itself from up to ten pages of its order list, and said so past 1,000 orders).
 */
for (const backend of backends()) {
  describe(`the shop's totals over a period [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const clock = () => t.clock as ManualClock;
    const summary = (m: { token: string }, query = '') => t.request({ url: `/v1/merchant/summary${query}`, token: m.token });
    async function buy(skuId: string, quantity: number) {
      const shopper = await t.signUp('shopper');
      const res = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { paymentMethod: '4242424242424242', shipping: SHIPPING, skuId, quantity },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.orders[0].id as string;
    }
    const merchantCall = (m: ShopOwner, path: string, body: unknown) =>
      t.request({ method: 'POST', url: `/v1/merchant/orders/${path}`, token: m.token, headers: { 'idempotency-key': randomUUID() }, body });

    it('counts every order of the period per currency: kept, cancelled, units, revenue after refunds, refunds', async () => {
      const m = await shopOwner(t);
      const other = await shopOwner(t);
      const usd = await activeProduct(t, m, { priceMinor: 2_000, stock: 50, currency: 'USD' });
      const eur = await activeProduct(t, m, { priceMinor: 1_500, stock: 50, currency: 'EUR' });
      const elsewhere = await activeProduct(t, other, { priceMinor: 9_900, stock: 5, currency: 'USD' });

      // 40 days ago: outside the default 30 days
      await buy(usd.skuId, 1);
      clock().advance(40 * DAY);
      // sessions lapsed meanwhile: sign the merchants in again
      for (const who of [m, other]) {
        const login = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email: who.email, password: 'correct horse battery staple' } });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        who.token = login.body.token;
      }
      const periodStart = t.clock.now();
      const kept = await buy(usd.skuId, 3);
      const refunded = await buy(usd.skuId, 2);
      const cancelled = await buy(usd.skuId, 1);
      await buy(eur.skuId, 2);
      await buy(elsewhere.skuId, 1);
      assert.ok(kept);
      // one unit of the 2-unit order refunded, one order cancelled (its payment voided or refunded)
      const order = await t.request({ url: `/v1/merchant/orders/${refunded}`, token: m.token });
      const refund = await merchantCall(m, `${refunded}/refunds`, { lines: [{ lineId: order.body.lines[0].id, quantity: 1 }], reason: 'damaged' });
      assert.equal(refund.status, 200, JSON.stringify(refund.body));
      assert.equal((await merchantCall(m, `${cancelled}/cancel`, { reason: 'out of stock' })).status, 200);
      const refundedMinor = refund.body.refundedMinor as number;
      const cancelledOrder = await t.request({ url: `/v1/merchant/orders/${cancelled}`, token: m.token });
      const refundedByCancel = cancelledOrder.body.refundedMinor as number;
      clock().advance(60_000); // the period ends before now: orders placed a minute ago are in it

      const res = await summary(m);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers['cache-control'], 'private, no-store');
      assert.equal(res.body.to, t.clock.now().toISOString());
      assert.equal(Date.parse(res.body.to) - Date.parse(res.body.from), 30 * DAY);
      const taxed = async (id: string) => (await t.request({ url: `/v1/merchant/orders/${id}`, token: m.token })).body.totalMinor as number;
      const eurOrders = await t.request({ url: '/v1/merchant/orders?limit=100', token: m.token });
      const eurTotal = eurOrders.body.items.filter((o: { currency: string }) => o.currency === 'EUR').reduce((s: number, o: { totalMinor: number }) => s + o.totalMinor, 0);
      assert.deepEqual(res.body.currencies, [
        { currency: 'EUR', orders: 1, cancelled: 0, units: 2, revenueMinor: eurTotal, refundedMinor: 0 },
        {
          currency: 'USD',
          orders: 2,
          cancelled: 1,
          units: 5,
          revenueMinor: (await taxed(kept)) + (await taxed(refunded)) - refundedMinor,
          refundedMinor: refundedMinor + refundedByCancel,
        },
      ]);

      // a period that covers the first order too, and one before any order
      const wide = await summary(m, `?from=${encodeURIComponent(new Date(periodStart.getTime() - 41 * DAY).toISOString())}`);
      assert.equal(wide.body.currencies.find((c: { currency: string }) => c.currency === 'USD').orders, 3);
      const empty = await summary(m, `?to=${encodeURIComponent(new Date(periodStart.getTime() - 60 * DAY).toISOString())}`);
      assert.deepEqual(empty.body.currencies, []);
      // the other shop sees only its own
      assert.deepEqual((await summary(other)).body.currencies.map((c: { currency: string; orders: number }) => [c.currency, c.orders]), [['USD', 1]]);
    });

    it('refuses an empty, inverted or over-long period and a malformed date with 400, and a shopper with 403', async () => {
      const m = await shopOwner(t);
      const now = t.clock.now().getTime();
      const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      for (const [query, code] of [
        [`?from=${iso(now)}&to=${iso(now)}`, 'invalid_range'],
        [`?from=${iso(now)}&to=${iso(now - DAY)}`, 'invalid_range'],
        [`?from=${iso(now - 367 * DAY)}&to=${iso(now)}`, 'invalid_range'],
        ['?from=yesterday', 'validation_failed'],
        ['?days=7', 'validation_failed'],
      ] as const) {
        const res = await summary(m, query);
        assert.deepEqual([res.status, res.body.error?.code], [400, code], query);
      }
      assert.equal((await summary(m, `?from=${iso(now - 366 * DAY)}&to=${iso(now)}`)).status, 200, 'exactly 366 days');
      const shopper = await t.signUp('shopper');
      assert.equal((await summary(shopper)).status, 403);
      assert.equal((await t.request({ url: '/v1/merchant/summary' })).status, 401);
      // a merchant account without a shop yet: nothing sold
      const fresh = await t.signUp('merchant');
      assert.deepEqual((await summary(fresh)).body.currencies, []);
    });
  });
}
