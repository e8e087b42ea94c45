import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

/** A refund moves money: one of 0 units or 0 money is refused at the edge, and `refunds[]` never lists a refund of nothing. */
for (const backend of backends()) {
  describe(`orders QA 3: no refund of nothing [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    /** A paid order of `quantity` units at `priceMinor` each; returns its id and its line's id. */
    async function paidOrder(priceMinor: number, quantity: number) {
      const m = await shopOwner(t);
      const { skuId } = await activeProduct(t, m, { priceMinor, stock: quantity });
      const shopper = await t.signUp('shopper');
      const buy = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { skuId, quantity, paymentMethod: '4242424242424242' },
      });
      assert.equal(buy.status, 201, JSON.stringify(buy.body));
      const orderId = buy.body.orders[0].id as string;
      const view = await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token });
      return { m, orderId, lineId: view.body.lines[0].id as string, totalMinor: view.body.totalMinor as number };
    }
    const refund = (token: string, orderId: string, body: unknown) =>
      t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/refunds`, token, headers: { 'idempotency-key': randomUUID() }, body });

    it('a refund of 0 units, or one naming an amount (0 or not), is 400 validation_failed and records nothing', async () => {
      const { m, orderId, lineId } = await paidOrder(1000, 2);
      for (const body of [
        { lines: [{ lineId, quantity: 0 }], reason: 'x' },
        { lines: [{ lineId, quantity: 1 }, { lineId, quantity: 0 }], reason: 'x' },
        { lines: [], reason: 'x' },
        { lines: [{ lineId, quantity: 1 }], reason: 'x', amountMinor: 0 },
        { lines: [{ lineId, quantity: 1, amountMinor: 0 }], reason: 'x' },
      ]) {
        const res = await refund(m.token, orderId, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.code, 'validation_failed', JSON.stringify(body));
      }
      const view = await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token });
      assert.deepEqual([view.body.refunds, view.body.refundedMinor, view.body.lines[0].refundedQuantity], [[], 0, 0]);
    });

    it('refunding a line unit by unit, at the smallest price, lists only refunds that moved money, summing to the total', async () => {
      const { m, orderId, lineId, totalMinor } = await paidOrder(1, 7);
      for (let i = 0; i < 7; i++) {
        const res = await refund(m.token, orderId, { lines: [{ lineId, quantity: 1 }], reason: `unit ${i}` });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }
      const view = await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token });
      const amounts = view.body.refunds.map((r: { amountMinor: number }) => r.amountMinor);
      assert.equal(amounts.length, 7);
      assert.ok(amounts.every((a: number) => a > 0), `no zero entry: ${amounts}`);
      assert.ok(view.body.refunds.every((r: { lines: { amountMinor: number }[] }) => r.lines.every((l) => l.amountMinor > 0)));
      assert.equal(amounts.reduce((s: number, a: number) => s + a, 0), totalMinor);
      const more = await refund(m.token, orderId, { lines: [{ lineId, quantity: 1 }], reason: 'again' });
      assert.deepEqual([more.status, more.body.error.code], [409, 'refund_exceeds_remaining']);
    });
  });
}
