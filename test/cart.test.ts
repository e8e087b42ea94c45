import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

const word = () => `w${randomBytes(4).toString('hex')}`;
const device = () => `dev_${randomBytes(8).toString('hex')}`;

for (const backend of backends()) {
  describe(`cart [${backend.name}]`, () => {
    let t: TestApp;
    let merchant: { token: string; merchantId: string };
    before(async () => {
      t = await startTestApp(backend);
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: `Shop ${word()}` } });
      merchant = { token: m.token, merchantId: res.body.id };
    });
    after(() => t.close());

    /** A product with two variants (1800 and 2500 minor units), returning its id and SKU ids. */
    const product = async (over: Record<string, unknown> = {}) => {
      const res = await t.request({
        method: 'POST',
        url: '/v1/merchant/products',
        token: merchant.token,
        body: {
          name: `Mug ${word()}`,
          status: 'active',
          currency: 'EUR',
          variants: [
            { title: 'White', priceMinor: 1800, stock: 20 },
            { title: 'Black', priceMinor: 2500, stock: 2 },
          ],
          ...over,
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const detail = await t.request({ url: `/v1/products/${res.body.id}`, token: merchant.token });
      return { id: res.body.id as string, skus: detail.body.variants.map((v: any) => v.id) as string[] };
    };
    const tokenFor = (productId: string) =>
      t.app.referrals.sign({ tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId, tagCreatedAt: new Date('2026-01-10T10:00:00Z') });
    const add = (dev: string, body: unknown, token?: string) =>
      t.request({ method: 'POST', url: '/v1/cart/lines', headers: { 'x-device-id': dev }, token, body });

    it('adds, sums, changes and removes lines of an anonymous cart, priced by the server', async () => {
      const dev = device();
      const p = await product();
      assert.deepEqual((await t.request({ url: '/v1/cart', headers: { 'x-device-id': dev } })).body, { id: null, lines: [], totals: [] });

      const first = await add(dev, { skuId: p.skus[0], quantity: 2 });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.match(first.body.id, /^crt_/);
      assert.equal(first.body.lines.length, 1);
      const line = first.body.lines[0];
      assert.deepEqual(
        { sku: line.skuId, q: line.quantity, unit: line.unitPriceMinor, net: line.netAmountMinor, tax: line.taxMinor, cur: line.currency, avail: line.available, ok: line.purchasable },
        { sku: p.skus[0], q: 2, unit: 1800, net: 3600, tax: 0, cur: 'EUR', avail: 20, ok: true },
      );

      await add(dev, { skuId: p.skus[0], quantity: 3 });
      const both = await add(dev, { skuId: p.skus[1], quantity: 3 });
      assert.deepEqual(
        both.body.lines.map((l: any) => [l.skuId, l.quantity, l.purchasable]),
        [
          [p.skus[0], 5, true],
          [p.skus[1], 3, false], // only 2 in stock
        ],
      );
      assert.deepEqual(both.body.totals, [{ currency: 'EUR', subtotalMinor: 5 * 1800 + 3 * 2500, taxMinor: 0, totalMinor: 16500 }]);

      const changed = await t.request({ method: 'PATCH', url: `/v1/cart/lines/${line.id}`, headers: { 'x-device-id': dev }, body: { quantity: 1 } });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.lines.find((l: any) => l.id === line.id).quantity, 1);

      // another shopper cannot touch the line
      const other = device();
      assert.equal((await t.request({ method: 'PATCH', url: `/v1/cart/lines/${line.id}`, headers: { 'x-device-id': other }, body: { quantity: 4 } })).status, 404);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/cart/lines/${line.id}`, headers: { 'x-device-id': other } })).status, 404);

      const removed = await t.request({ method: 'DELETE', url: `/v1/cart/lines/${line.id}`, headers: { 'x-device-id': dev } });
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body.lines.map((l: any) => l.skuId), [p.skus[1]]);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/cart/lines/${line.id}`, headers: { 'x-device-id': dev } })).status, 404);
    });

    it('refuses quantities that are zero, negative, fractional, above 99 or huge, and price fields', async () => {
      const dev = device();
      const p = await product();
      for (const quantity of [0, -1, 1.5, 100, 1e9, '2', null]) {
        const res = await add(dev, { skuId: p.skus[0], quantity });
        assert.equal(res.status, 400, `quantity ${quantity}`);
        assert.equal(res.body.error.code, 'validation_failed');
      }
      const tampered = await add(dev, { skuId: p.skus[0], quantity: 1, priceMinor: 1 });
      assert.equal(tampered.status, 400);
      assert.equal(tampered.body.error.details[0].field, 'priceMinor');

      const ok = await add(dev, { skuId: p.skus[0], quantity: 99 });
      assert.equal(ok.status, 201);
      for (const quantity of [0, -3, 2.5, 100]) {
        const res = await t.request({ method: 'PATCH', url: `/v1/cart/lines/${ok.body.lines[0].id}`, headers: { 'x-device-id': dev }, body: { quantity } });
        assert.equal(res.status, 400, `patch quantity ${quantity}`);
      }
      const over = await add(dev, { skuId: p.skus[0], quantity: 1 });
      assert.equal(over.status, 400);
      assert.equal(over.body.error.code, 'quantity_limit_exceeded');
      assert.equal((await t.request({ url: '/v1/cart', headers: { 'x-device-id': dev } })).body.lines[0].quantity, 99);
    });

    it('refuses unknown SKUs (404) and products not on sale (409 product_unavailable)', async () => {
      const dev = device();
      const missing = await add(dev, { skuId: newId('variant'), quantity: 1 });
      assert.equal(missing.status, 404);
      const draft = await product({ status: 'draft' });
      const res = await add(dev, { skuId: draft.skus[0], quantity: 1 });
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'product_unavailable');
    });

    it('credits a line added with a valid token; a bad or foreign token adds it uncredited and is counted', async () => {
      const dev = device();
      const p = await product();
      const q = await product();
      const attribution = t.app.contexts.attribution.service;
      const before = await attribution.invalidTokenCounts();

      const token = tokenFor(p.id);
      const good = await add(dev, { skuId: p.skus[0], quantity: 1, referralToken: token });
      assert.equal(good.status, 201);
      const claims = t.app.referrals.verify(token);
      assert.ok(claims.ok);
      assert.deepEqual(good.body.lines[0].referral, { tagId: claims.claims.tagId, postId: claims.claims.postId, creatorId: claims.claims.creatorId, referredAt: t.clock.now().toISOString() });

      const tampered = `${token.slice(0, -3)}${token.endsWith('AAA') ? 'BBB' : 'AAA'}`;
      const bad = await add(dev, { skuId: p.skus[1], quantity: 1, referralToken: tampered });
      assert.equal(bad.status, 201);
      assert.equal(bad.body.lines.find((l: any) => l.skuId === p.skus[1]).referral, null);

      const foreign = await add(dev, { skuId: q.skus[0], quantity: 1, referralToken: tokenFor(p.id) });
      assert.equal(foreign.status, 201);
      assert.equal(foreign.body.lines.find((l: any) => l.skuId === q.skus[0]).referral, null);

      const afterCounts = await attribution.invalidTokenCounts();
      assert.equal(afterCounts.bad_signature! - before.bad_signature!, 1);
      assert.equal(afterCounts.product_mismatch! - before.product_mismatch!, 1);
    });

    it('records when a line\'s referral was stamped: a new token restamps it, an add without one keeps it, the merge carries it', async () => {
      const clock = t.clock as ManualClock;
      const stampOf = async (lineId: string) => {
        const r = await sql<{ referred_at: Date | null }>`SELECT referred_at FROM checkout.cart_lines WHERE id = ${lineId}`.execute(t.app.db);
        return r.rows[0]!.referred_at && new Date(r.rows[0]!.referred_at).toISOString();
      };
      const p = await product();
      const dev = device();
      const plain = await add(dev, { skuId: p.skus[1], quantity: 1 });
      assert.equal(await stampOf(plain.body.lines[0].id), null, 'no referral, no time');
      const first = t.clock.now().toISOString();
      const referred = await add(dev, { skuId: p.skus[0], quantity: 1, referralToken: tokenFor(p.id) });
      const lineId = referred.body.lines.find((l: any) => l.skuId === p.skus[0]).id;
      assert.equal(await stampOf(lineId), first);
      clock.advance(3_600_000);
      await add(dev, { skuId: p.skus[0], quantity: 1 });
      assert.equal(await stampOf(lineId), first, 'more units without a token keep the tap it came from');
      clock.advance(3_600_000);
      const second = t.clock.now().toISOString();
      const token = tokenFor(p.id);
      await add(dev, { skuId: p.skus[0], quantity: 1, referralToken: token });
      assert.equal(await stampOf(lineId), second, 'a new token is a new tap');
      await add(dev, { skuId: p.skus[1], quantity: 1, referralToken: tokenFor(p.id) });
      assert.equal(await stampOf(plain.body.lines[0].id), second, 'a referral given to an uncredited line is stamped');

      // sign-in: the account's line had no referral, so the device's referral comes with its time
      const shopper = await t.signUp('shopper');
      clock.advance(3_600_000);
      await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: p.skus[0], quantity: 1 } });
      await t.app.contexts.checkout.service.mergeDeviceCart(dev, shopper.accountId);
      const cart = await t.request({ url: '/v1/cart', token: shopper.token });
      const merged = cart.body.lines.find((l: any) => l.skuId === p.skus[0]);
      assert.equal(merged.referral.tagId, (t.app.referrals.verify(token) as any).claims.tagId);
      assert.equal(await stampOf(merged.id), second);
      assert.equal(merged.referral.referredAt, second, 'the cart shows when the line was added from the tag');
      assert.equal(cart.body.lines.find((l: any) => l.skuId === p.skus[1]).referral.referredAt, second);
    });

    it('merges the device cart into the account cart on sign-in, summing equal SKUs', async () => {
      const p = await product();
      const shopper = await t.signUp('shopper');
      const mine = await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: p.skus[0], quantity: 3 } });
      assert.equal(mine.status, 201);

      const dev = device();
      await add(dev, { skuId: p.skus[0], quantity: 2, referralToken: tokenFor(p.id) });
      await add(dev, { skuId: p.skus[1], quantity: 1 });

      const login = await t.request({
        method: 'POST',
        url: '/v1/auth/login',
        headers: { 'x-device-id': dev },
        body: { email: shopper.email, password: 'correct horse battery staple' },
      });
      assert.equal(login.status, 200);
      await t.app.outbox.drain();
      await t.app.outbox.drain(); // a redelivery changes nothing

      const cart = await t.request({ url: '/v1/cart', token: shopper.token });
      assert.equal(cart.body.id, mine.body.id);
      assert.deepEqual(
        cart.body.lines.map((l: any) => [l.skuId, l.quantity, l.referral !== null]).sort(),
        [
          [p.skus[0], 5, true],
          [p.skus[1], 1, false],
        ].sort(),
      );
      // the anonymous cart is gone from the device
      assert.deepEqual((await t.request({ url: '/v1/cart', headers: { 'x-device-id': dev } })).body.lines, []);
    });
  });
}
