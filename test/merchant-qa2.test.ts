import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

/**
 * The merchant's second QA pass, API side: a SKU's stock history answered only its newest 50 adjustments, with no
 * way to read older ones; it now pages by cursor, newest first, and refuses a cursor it did not hand out. A merchant
 * could not stop selling one variant short of archiving the whole product; a variant now has a status.
 */
for (const backend of backends()) {
  describe(`merchant QA 2: API [${backend.name}]`, () => {
    let t: TestApp;
    const clock = new ManualClock();
    before(async () => {
      t = await startTestApp(backend, { clock });
    });
    after(() => t.close());

    type Adjustment = { id: string; delta: number; onHandAfter: number; reason: string; createdAt: string };
    type StockPage = { level: { onHand: number }; adjustments: Adjustment[]; nextCursor: string | null };

    const merchant = async () => {
      const m = await t.signUp('merchant');
      assert.equal((await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: `Shop ${randomBytes(3).toString('hex')}` } })).status, 201);
      return m;
    };
    const sku = async (token: string, stock: number) => {
      const res = await t.request<{ variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token,
        body: { name: 'Mug', status: 'active', currency: 'USD', variants: [{ title: 'One size', priceMinor: 1200, stock }] },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.variants[0]!.id;
    };

    it('a stock history of 131 adjustments reads in full, newest first, page by page', async () => {
      const m = await merchant();
      const id = await sku(m.token, 5);
      for (let i = 1; i <= 130; i++) {
        // most share a timestamp (the order then rests on the id); every 40th moves the clock on
        if (i % 40 === 0) clock.advance(1000);
        const res = await t.request({ method: 'POST', url: `/v1/merchant/variants/${id}/stock-adjustments`, token: m.token, body: { delta: 1, reason: `restock ${i}` } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }
      const first = await t.request<StockPage>({ url: `/v1/merchant/variants/${id}/stock`, token: m.token });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.level.onHand, 135);
      // before: 50 and nothing more, with no cursor to read the rest
      assert.equal(first.body.adjustments.length, 50, 'the default page is still 50');
      assert.ok(first.body.nextCursor);

      const seen: Adjustment[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/merchant/variants/${id}/stock?limit=30${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await t.request<StockPage>({ url, token: m.token });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen.push(...res.body.adjustments);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 20);
      assert.equal(pages, 5);
      assert.equal(seen.length, 131, 'every adjustment, the initial stock included');
      assert.equal(new Set(seen.map((a) => a.id)).size, 131, 'none twice');
      // newest first: on hand after each change counts down from 135 to the initial 5
      assert.deepEqual(
        seen.map((a) => a.onHandAfter),
        Array.from({ length: 131 }, (_, i) => 135 - i),
      );
      assert.deepEqual([seen[0]!.reason, seen[129]!.reason, seen[130]!.reason], ['restock 130', 'restock 1', 'initial stock']);
    });

    it('a forged or malformed cursor is refused with 400 invalid_cursor', async () => {
      const m = await merchant();
      const id = await sku(m.token, 3);
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      for (const cursor of ['not a cursor', 'e30', b64({ t: '2026-01-15T12:00:00.000Z', id: newId('product') }), b64({ t: 'yesterday', id: newId('adjustment') }), b64({ id: newId('adjustment') })]) {
        const res = await t.request<{ error: { code: string } }>({ url: `/v1/merchant/variants/${id}/stock?cursor=${encodeURIComponent(cursor)}`, token: m.token });
        assert.equal(res.status, 400, `${cursor}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'invalid_cursor', cursor);
      }
    });

    it('a merchant retires one variant: shoppers no longer see or buy it, a cart holding it says so, and it can be sold again', async () => {
      const m = await merchant();
      const created = await t.request<{ id: string; variants: { id: string; status: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: m.token,
        body: { name: 'Tee', status: 'active', currency: 'USD', variants: [{ title: 'S', priceMinor: 1000, stock: 5 }, { title: 'M', priceMinor: 1200, stock: 5 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const [small, medium] = created.body.variants.map((v) => v.id) as [string, string];
      assert.deepEqual(created.body.variants.map((v) => v.status), ['active', 'active']);
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: small, quantity: 1 } })).status, 201);

      const bad = await t.request<{ error: { code: string } }>({ method: 'PATCH', url: `/v1/merchant/variants/${small}`, token: m.token, body: { status: 'retired' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'validation_failed');
      const other = await merchant();
      assert.equal((await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${small}`, token: other.token, body: { status: 'archived' } })).status, 404, 'only its merchant retires it');
      // before: `status` was refused as an unknown field, so no single SKU could be taken off sale
      const retired = await t.request<{ id: string; status: string }>({ method: 'PATCH', url: `/v1/merchant/variants/${small}`, token: m.token, body: { status: 'archived' } });
      assert.equal(retired.status, 200, JSON.stringify(retired.body));
      assert.equal(retired.body.status, 'archived');

      // the shopper's sheet offers only M, the card's "from" price is M's; the merchant still sees S, marked archived
      const sheet = await t.request<{ variants: { id: string }[] }>({ url: `/v1/products/${created.body.id}`, token: shopper.token });
      assert.deepEqual(sheet.body.variants.map((v) => v.id), [medium]);
      const card = await t.request<{ items: { id: string; priceMinor: number }[] }>({ url: `/v1/merchant/products`, token: m.token });
      assert.equal(card.body.items.find((c) => c.id === created.body.id)?.priceMinor, 1200);
      const own = await t.request<{ variants: { id: string; status: string }[] }>({ url: `/v1/products/${created.body.id}`, token: m.token });
      assert.deepEqual(own.body.variants.map((v) => [v.id, v.status]), [[small, 'archived'], [medium, 'active']]);

      // add to cart and buy now refuse it; the cart already holding it shows the line as not purchasable and checkout refuses
      const add = await t.request<{ error: { code: string } }>({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: small, quantity: 1 } });
      assert.equal(add.status, 409, JSON.stringify(add.body));
      assert.equal(add.body.error.code, 'product_unavailable');
      const buyNow = await t.request<{ error: { code: string } }>({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': `qa2-buy-${randomBytes(4).toString('hex')}` },
        body: { skuId: small, quantity: 1, paymentMethod: '4242424242424242' },
      });
      assert.equal(buyNow.status, 409, JSON.stringify(buyNow.body));
      assert.equal(buyNow.body.error.code, 'product_unavailable');
      const cart = await t.request<{ lines: { skuId: string; purchasable: boolean }[] }>({ url: '/v1/cart', token: shopper.token });
      assert.deepEqual(cart.body.lines.map((l) => [l.skuId, l.purchasable]), [[small, false]]);
      const checkout = await t.request<{ error: { code: string } }>({
        method: 'POST',
        url: '/v1/checkout',
        token: shopper.token,
        headers: { 'idempotency-key': `qa2-co-${randomBytes(4).toString('hex')}` },
        body: { paymentMethod: '4242424242424242', shipping: SHIPPING },
      });
      assert.equal(checkout.status, 409, JSON.stringify(checkout.body));
      assert.equal(checkout.body.error.code, 'product_unavailable');
      assert.equal((await t.request<{ level: { onHand: number; reserved: number } }>({ url: `/v1/merchant/variants/${small}/stock`, token: m.token })).body.level.reserved, 0, 'nothing held');

      // sold again: the same cart now pays
      assert.equal((await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${small}`, token: m.token, body: { status: 'active' } })).status, 200);
      const paid = await t.request({
        method: 'POST',
        url: '/v1/checkout',
        token: shopper.token,
        headers: { 'idempotency-key': `qa2-co-${randomBytes(4).toString('hex')}` },
        body: { paymentMethod: '4242424242424242', shipping: SHIPPING },
      });
      assert.equal(paid.status, 201, JSON.stringify(paid.body));
    });
  });
}
