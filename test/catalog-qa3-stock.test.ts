import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { MAX_ON_HAND } from '../src/contexts/inventory';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

/** Stock is PostgreSQL `integer`: no count typed in, nor a sum of one with what is on hand, may reach past it as a 500. */
const INT32_MAX = 2_147_483_647;

for (const backend of backends()) {
  describe(`catalog QA 3: stock quantities past int32 [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const levelOf = async (token: string, skuId: string) => (await t.request({ url: `/v1/merchant/variants/${skuId}/stock`, token })).body as { level: { onHand: number }; adjustments: unknown[] };

    it('setting, adjusting or creating stock past what a SKU can hold is 400 validation_failed, changing nothing', async () => {
      const m = await shopOwner(t);
      const { productId, skuId } = await activeProduct(t, m, { priceMinor: 500, stock: 7 });
      const before = await levelOf(m.token, skuId);
      for (const onHand of [MAX_ON_HAND + 1, INT32_MAX, INT32_MAX + 1, 2 ** 53 - 1, 1e20]) {
        const res = await t.request({ method: 'PUT', url: `/v1/merchant/variants/${skuId}/stock`, token: m.token, body: { onHand, reason: 'count' } });
        assert.equal(res.status, 400, `onHand ${onHand}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'validation_failed');
      }
      for (const delta of [MAX_ON_HAND + 1, INT32_MAX, INT32_MAX + 1, -(INT32_MAX + 1), -(2 ** 53 - 1)]) {
        const res = await t.request({ method: 'POST', url: `/v1/merchant/variants/${skuId}/stock-adjustments`, token: m.token, body: { delta, reason: 'count' } });
        assert.equal(res.status, 400, `delta ${delta}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'validation_failed');
      }
      const variant = await t.request({ method: 'POST', url: `/v1/merchant/products/${productId}/variants`, token: m.token, body: { title: 'Huge', priceMinor: 500, stock: INT32_MAX + 1 } });
      assert.equal(variant.status, 400);
      const product = await t.request({
        method: 'POST',
        url: '/v1/merchant/products',
        token: m.token,
        body: { name: 'Huge', currency: 'EUR', status: 'active', variants: [{ title: 'One', priceMinor: 500, stock: INT32_MAX }] },
      });
      assert.equal(product.status, 400);
      assert.deepEqual(await levelOf(m.token, skuId), before, 'nothing changed');
    });

    it('an adjustment whose sum would pass the most a SKU holds is 409 stock_limit_exceeded, also when restocks left more on hand than that', async () => {
      const m = await shopOwner(t);
      const { skuId } = await activeProduct(t, m, { priceMinor: 500, stock: 0 });
      const put = await t.request({ method: 'PUT', url: `/v1/merchant/variants/${skuId}/stock`, token: m.token, body: { onHand: MAX_ON_HAND, reason: 'count' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const add = (delta: number) => t.request({ method: 'POST', url: `/v1/merchant/variants/${skuId}/stock-adjustments`, token: m.token, body: { delta, reason: 'delivery' } });
      const full = await add(MAX_ON_HAND);
      assert.equal(full.status, 409, JSON.stringify(full.body));
      assert.equal(full.body.error.code, 'stock_limit_exceeded');
      assert.deepEqual(full.body.error.details, { onHand: MAX_ON_HAND, max: MAX_ON_HAND });

      // restocks (cancellations, returns) are never refused for the cap, so on hand can stand near the top of an int32:
      // an adjustment from there must be refused as a value, not overflow the column (500 "integer out of range")
      const high = INT32_MAX - 10;
      await sql`UPDATE inventory.stock SET on_hand = ${high} WHERE sku_id = ${skuId}`.execute(t.app.db);
      const before = await levelOf(m.token, skuId);
      const past = await add(MAX_ON_HAND);
      assert.equal(past.status, 409, JSON.stringify(past.body));
      assert.equal(past.body.error.code, 'stock_limit_exceeded');
      const one = await add(11);
      assert.equal(one.status, 409, JSON.stringify(one.body));
      assert.equal(one.body.error.code, 'stock_limit_exceeded');
      assert.deepEqual(await levelOf(m.token, skuId), before, 'nothing changed');
      // a write-off from there still works, and so does setting a count
      const off = await add(-(MAX_ON_HAND));
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal(off.body.onHand, high - MAX_ON_HAND);
    });

    it('cart, buy-now and refund quantities past int32 are 400 validation_failed (checked, outside catalog)', async () => {
      const m = await shopOwner(t);
      const { skuId } = await activeProduct(t, m, { priceMinor: 500, stock: 5 });
      const shopper = await t.signUp('shopper');
      for (const quantity of [100, INT32_MAX + 1]) {
        const cart = await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId, quantity } });
        assert.equal(cart.status, 400, JSON.stringify(cart.body));
        assert.equal(cart.body.error.code, 'validation_failed');
        const buy = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopper.token,
          headers: { 'idempotency-key': randomUUID() },
          body: { skuId, quantity, paymentMethod: '4242424242424242' },
        });
        assert.equal(buy.status, 400, JSON.stringify(buy.body));
        assert.equal(buy.body.error.code, 'validation_failed');
      }
      const refund = await t.request({
        method: 'POST',
        url: '/v1/merchant/orders/ord_01JZZZZZZZZZZZZZZZZZZZZZZZ/refunds',
        token: m.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { lines: [{ lineId: 'oln_01JZZZZZZZZZZZZZZZZZZZZZZZ', quantity: INT32_MAX + 1 }], reason: 'x' },
      });
      assert.equal(refund.status, 400, JSON.stringify(refund.body));
      assert.equal(refund.body.error.code, 'validation_failed');
    });
  });
}
