import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ManualClock } from '../src/platform/clock';
import { activeProduct, backends, creatorProfile, SHIPPING, settleEvents, shopOwner, startTestApp, type TestApp } from './support/harness';

// A real purchase through the API, from a tag tap sent to POST /v1/events to the reports a creator and a merchant see.
const word = () => `w${randomBytes(4).toString('hex')}`;

for (const backend of backends()) {
  describe(`analytics end to end [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { analyticsDatabase: `e2e_${randomBytes(4).toString('hex')}` } });
    });
    after(() => t.close());

    const creator = () => creatorProfile(t);

    it('turns a tap and a purchase into the creator’s and the merchant’s figures, and a refund takes revenue back', async () => {
      const m = await shopOwner(t);
      const { productId, skuId } = await activeProduct(t, m, { priceMinor: 1999, stock: 100 });
      const c = await creator();
      const post = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] } });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      const postId = post.body.id as string;
      const referralToken = post.body.tags[0].referralToken as string;

      const shopper = await t.signUp('shopper');
      const device = `dev_${word()}${word()}`;
      const at = t.clock.now().toISOString();
      const sent = await t.request({
        method: 'POST',
        url: '/v1/events',
        token: shopper.token,
        headers: { 'x-device-id': device },
        body: {
          events: [
            { id: `e_${word()}`, type: 'impression', at, referralToken },
            { id: `e_${word()}`, type: 'tag_tap', at, referralToken },
            { id: `e_${word()}`, type: 'add_to_cart', at, referralToken, productId },
            { id: `e_${word()}`, type: 'checkout_started', at, referralToken },
          ],
        },
      });
      assert.deepEqual(sent.body, { accepted: 4, duplicates: 0, rejected: [] });
      (t.clock as ManualClock).advance(3_600_000);

      const bought = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID(), 'x-device-id': device },
        body: { paymentMethod: '4242424242424242', skuId, quantity: 2, shipping: SHIPPING, referralToken },
      });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      await settleEvents(t);

      const top = await t.request({ url: '/v1/reports/top?dimension=post', token: c.token });
      assert.deepEqual(top.body.items, [{ rank: 1, id: postId, currency: 'EUR', revenueMinor: 3998, orders: 1, units: 2 }]);
      const funnel = await t.request({ url: '/v1/reports/funnel?by=creator', token: c.token });
      assert.deepEqual(
        funnel.body.items.map((i: Record<string, number>) => [i.impressions, i.taps, i.carts, i.checkouts, i.purchases]),
        [[1, 1, 1, 1, 1]],
      );
      const merchantView = await t.request({ url: '/v1/reports/top?dimension=creator', token: m.token });
      assert.deepEqual(merchantView.body.items.map((i: { id: string; revenueMinor: number }) => [i.id, i.revenueMinor]), [[c.id, 3998]]);
      const stranger = await creator();
      assert.deepEqual((await t.request({ url: '/v1/reports/top?dimension=post', token: stranger.token })).body.items, []);

      const orderId = bought.body.orders[0].id as string;
      const order = await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token });
      const lineId = order.body.lines[0].id as string;
      const refund = await t.request({
        method: 'POST',
        url: `/v1/merchant/orders/${orderId}/refunds`,
        token: m.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { lines: [{ lineId, quantity: 1 }], reason: 'damaged' },
      });
      assert.equal(refund.status, 200, JSON.stringify(refund.body));
      await t.app.outbox.drain();
      const afterRefund = await t.request({ url: '/v1/reports/top?dimension=post', token: c.token });
      assert.deepEqual(afterRefund.body.items, [{ rank: 1, id: postId, currency: 'EUR', revenueMinor: 1999, orders: 1, units: 1 }]);
    });
  });
}
