import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { backends, startTestApp, type TestApp } from './support/harness';

/**
 * API defects found in the merchant's QA pass: a product priced in a currency without cents (JPY) or in no
 * currency at all ("UDS") was accepted, though every price is typed and shown as minor units / 100; a shipment
 * whose carrier or tracking number was only spaces was accepted, giving the shopper nothing to follow.
 */
for (const backend of backends()) {
  describe(`merchant QA: API [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const merchant = async () => {
      const m = await t.signUp('merchant');
      assert.equal((await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: `Shop ${randomBytes(3).toString('hex')}` } })).status, 201);
      return m;
    };
    const product = (currency: string) => ({ name: 'Cap', status: 'active', currency, variants: [{ title: 'One size', priceMinor: 1500, stock: 5 }] });

    it('a product is priced only in a currency with cents: JPY, KWD and unknown codes are refused on the currency field', async () => {
      const m = await merchant();
      for (const currency of ['JPY', 'KWD', 'UDS']) {
        const res = await t.request<{ error: { code: string; details: { path: string }[] } }>({ method: 'POST', url: '/v1/merchant/products', token: m.token, body: product(currency) });
        assert.equal(res.status, 400, `${currency}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'validation_failed');
        assert.ok(res.body.error.details.some((d) => d.path === '/currency'), JSON.stringify(res.body.error.details));
      }
      for (const currency of ['EUR', 'USD', 'GBP']) {
        const res = await t.request<{ currency: string; variants: { priceMinor: number }[] }>({ method: 'POST', url: '/v1/merchant/products', token: m.token, body: product(currency) });
        assert.equal(res.status, 201, `${currency}: ${JSON.stringify(res.body)}`);
        assert.deepEqual([res.body.currency, res.body.variants[0]!.priceMinor], [currency, 1500]);
      }
    });

    it('a shipment needs a carrier and a tracking number that are not only spaces', async () => {
      const m = await merchant();
      const created = await t.request<{ variants: { id: string }[] }>({ method: 'POST', url: '/v1/merchant/products', token: m.token, body: product('USD') });
      assert.equal(created.status, 201);
      const shopper = await t.signUp('shopper');
      const bought = await t.request<{ orders: { id: string }[] }>({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': `qa-ship-${randomBytes(4).toString('hex')}` },
        body: { skuId: created.body.variants[0]!.id, quantity: 1, paymentMethod: '4242424242424242' },
      });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      const id = bought.body.orders[0]!.id;
      for (const body of [{ carrier: '   ', trackingNumber: 'T123' }, { carrier: 'DemoPost', trackingNumber: ' \t ' }]) {
        const res = await t.request<{ error: { code: string } }>({ method: 'POST', url: `/v1/merchant/orders/${id}/ship`, token: m.token, body });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'validation_failed');
      }
      assert.equal((await t.request<{ status: string }>({ url: `/v1/merchant/orders/${id}`, token: m.token })).body.status, 'paid', 'still not shipped');
      const shipped = await t.request<{ status: string; carrier: string; trackingNumber: string }>({ method: 'POST', url: `/v1/merchant/orders/${id}/ship`, token: m.token, body: { carrier: 'DemoPost', trackingNumber: 'T 123' } });
      assert.equal(shipped.status, 200, JSON.stringify(shipped.body));
      assert.deepEqual([shipped.body.status, shipped.body.carrier, shipped.body.trackingNumber], ['shipped', 'DemoPost', 'T 123']);
    });
  });
}
