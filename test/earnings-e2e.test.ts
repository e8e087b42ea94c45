import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DAY, type ManualClock } from '../src/platform/clock';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

const word = () => randomBytes(4).toString('hex');
const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

// One purchase through the real contexts: tag → tap → buy → attribution credits → commission → delivery → hold →
// partial refund → payout. The other earnings suites publish the attribution events themselves.
for (const backend of backends()) {
  describe(`earnings end to end [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { earningsHoldDays: 30, payoutMinimumMinor: 100, defaultCommissionBps: 1_000, sessionTtlHours: 24 * 365 } });
    });
    after(() => t.close());

    it('a referred purchase earns the creator the merchant’s rate, payable after delivery + hold, reduced by a refund', async () => {
      const clock = t.clock as ManualClock;
      const drain = () => t.app.outbox.drain();
      const m = await shopOwner(t);
      const { productId, skuId } = await activeProduct(t, m, { priceMinor: 1_999, stock: 10 });
      const rule = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules/products/${productId}`, token: m.token, body: { rateBps: 1_500 } });
      assert.equal(rule.status, 200);

      const c = await t.signUp('creator');
      await t.request({ method: 'PUT', url: '/v1/creators/me', token: c.token, body: { handle: `c_${word()}`, displayName: 'Creator' } });
      const post = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] } });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ url: `/v1/products/${productId}?ref=${encodeURIComponent(post.body.tags[0].referralToken)}`, token: shopper.token })).status, 200);
      const bought = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { paymentMethod: '4242424242424242', skuId, quantity: 2, shipping: SHIPPING },
      });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      const orderId = bought.body.orders[0].id as string;
      await drain();

      const earnings = async () => (await t.request({ url: '/v1/creator/earnings', token: c.token })).body.balances;
      assert.deepEqual(await earnings(), [{ currency: 'EUR', pendingMinor: 600, availableMinor: 0, inTransitMinor: 0, paidMinor: 0, negativeCarryMinor: 0 }], '15% of 39.98');

      for (const step of ['fulfil', 'ship', 'deliver']) {
        const res = await t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/${step}`, token: m.token, body: step === 'ship' ? { carrier: 'DHL', trackingNumber: '123' } : undefined });
        assert.equal(res.status, 200, `${step}: ${JSON.stringify(res.body)}`);
      }
      await drain();
      const order = await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token });
      const refund = await t.request({
        method: 'POST',
        url: `/v1/merchant/orders/${orderId}/refunds`,
        token: m.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { lines: [{ lineId: order.body.lines[0].id, quantity: 1 }], reason: 'one was damaged' },
      });
      assert.equal(refund.status, 200, JSON.stringify(refund.body));
      await drain();
      assert.equal((await earnings())[0].pendingMinor, 300, 'half the units refunded: half the commission');

      clock.advance(31 * DAY);
      assert.equal((await earnings())[0].availableMinor, 300);
      await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId: `acct_${word()}` } });
      const payout = await t.request({ method: 'POST', url: '/v1/creator/payouts', token: c.token, headers: { 'idempotency-key': randomUUID() }, body: { currency: 'EUR' } });
      assert.equal(payout.status, 201, JSON.stringify(payout.body));
      assert.equal(payout.body.amountMinor, 300);
      assert.deepEqual(await earnings(), [{ currency: 'EUR', pendingMinor: 0, availableMinor: 0, inTransitMinor: 0, paidMinor: 300, negativeCarryMinor: 0 }]);
      assert.deepEqual(await t.app.contexts.earnings.service.reconcile(), []);
    });
  });
}
