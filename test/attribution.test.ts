import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ReferralClaims } from '../src/contexts/social';
import { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

/** Claims as a verified referral token would carry them: attribution needs no other context to store touches. */
function claims(overrides: Partial<ReferralClaims> = {}): ReferralClaims {
  return {
    tagId: newId('tag'),
    postId: newId('post'),
    creatorId: newId('creator'),
    productId: newId('product'),
    tagCreatedAt: new Date('2026-01-01T00:00:00Z'),
    kid: 'k1',
    ...overrides,
  };
}

for (const backend of backends()) {
  describe(`attribution [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const attribution = () => t.app.contexts.attribution.service;

    it('records touches and lists them oldest first, by account and by device', async () => {
      const account = newId('account');
      const device = newId('device');
      const c = claims();
      const at = (t.clock as ManualClock).now();
      await attribution().recordTouch({ kind: 'view', accountId: account, deviceId: device, claims: c, occurredAt: new Date(at.getTime() + 60_000) });
      await attribution().recordTouch({ kind: 'tap', accountId: account, deviceId: device, claims: c, occurredAt: at });

      const touches = await attribution().listTouches({ accountId: account });
      assert.deepEqual(
        touches.map((x) => [x.kind, x.occurredAt.toISOString()]),
        [
          ['tap', at.toISOString()],
          ['view', new Date(at.getTime() + 60_000).toISOString()],
        ],
      );
      const first = touches[0]!;
      assert.match(first.id, /^tch_/);
      assert.equal(first.tagId, c.tagId);
      assert.equal(first.postId, c.postId);
      assert.equal(first.creatorId, c.creatorId);
      assert.equal(first.productId, c.productId);
      assert.equal(first.accountId, account);
      assert.equal(first.deviceId, device);
      assert.equal((await attribution().listTouches({ deviceId: device })).length, 2);
      assert.deepEqual(await attribution().listTouches({ deviceId: newId('device') }), []);
    });

    it('takes the time from the clock when the touch carries none', async () => {
      const device = newId('device');
      (t.clock as ManualClock).advance(3_600_000);
      await attribution().recordTouch({ kind: 'impression', accountId: null, deviceId: device, claims: claims() });
      const [touch] = await attribution().listTouches({ deviceId: device });
      assert.equal(touch?.occurredAt.toISOString(), t.clock.now().toISOString().replace(/\.\d{3}Z$/, '.000Z'));
    });

    it('stores an identical retry once, but a different kind or second as its own touch', async () => {
      const device = newId('device');
      const c = claims();
      const at = new Date('2026-01-15T12:00:00.100Z');
      const retry = new Date('2026-01-15T12:00:00.900Z'); // same second
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: c, occurredAt: at });
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: c, occurredAt: retry });
      assert.equal((await attribution().listTouches({ deviceId: device })).length, 1);

      await attribution().recordTouch({ kind: 'view', accountId: null, deviceId: device, claims: c, occurredAt: at });
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: c, occurredAt: new Date('2026-01-15T12:00:01Z') });
      assert.equal((await attribution().listTouches({ deviceId: device })).length, 3);
    });

    it('gives a device’s anonymous touches to the account that signs in on it, idempotently', async () => {
      const account = newId('account');
      const device = newId('device');
      const other = newId('account');
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: claims(), occurredAt: new Date('2026-01-10T09:00:00Z') });
      await attribution().recordTouch({ kind: 'view', accountId: null, deviceId: device, claims: claims(), occurredAt: new Date('2026-01-10T09:05:00Z') });
      // someone else signed in on the same phone earlier: their touch stays theirs
      await attribution().recordTouch({ kind: 'tap', accountId: other, deviceId: device, claims: claims(), occurredAt: new Date('2026-01-10T08:00:00Z') });
      assert.deepEqual(await attribution().listTouches({ accountId: account }), []);

      await attribution().linkDevice(device, account);
      await attribution().linkDevice(device, account);

      const mine = await attribution().listTouches({ accountId: account });
      assert.deepEqual(
        mine.map((x) => [x.kind, x.accountId]),
        [
          ['tap', account],
          ['view', account],
        ],
      );
      assert.equal((await attribution().listTouches({ accountId: other })).length, 1);

      // signed out again on the linked device: the anonymous touch still counts for the account
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: claims(), occurredAt: new Date('2026-01-11T10:00:00Z') });
      assert.equal((await attribution().listTouches({ accountId: account })).length, 3);
    });

    it('links the device when identity publishes identity.device.linked, once however often it is delivered', async () => {
      const account = newId('account');
      const device = newId('device');
      await attribution().recordTouch({ kind: 'tap', accountId: null, deviceId: device, claims: claims(), occurredAt: new Date('2026-01-12T09:00:00Z') });

      for (let i = 0; i < 2; i++) {
        await t.app.db.transaction().execute((trx) => t.app.outbox.publish(trx, 'identity.device.linked', { accountId: account, deviceId: device }));
        await t.app.outbox.drain();
      }

      const touches = await attribution().listTouches({ accountId: account });
      assert.equal(touches.length, 1);
      assert.equal(touches[0]?.accountId, account);
    });

    it('counts invalid tokens by reason, in the store and in /metrics', async () => {
      const before = await attribution().invalidTokenCounts();
      await attribution().recordInvalidToken('bad_signature', 'product_detail');
      await attribution().recordInvalidToken('bad_signature', 'cart');
      await attribution().recordInvalidToken('malformed', 'product_detail');
      (t.clock as ManualClock).advance(2 * 86_400_000); // another day: a new counter row, same totals
      await attribution().recordInvalidToken('bad_signature', 'product_detail');

      const after = await attribution().invalidTokenCounts();
      assert.equal(after.bad_signature! - (before.bad_signature ?? 0), 3);
      assert.equal(after.malformed! - (before.malformed ?? 0), 1);
      assert.equal(after.unknown_key, before.unknown_key);

      const metrics = await t.request<string>({ url: '/metrics' });
      assert.match(metrics.body, /feedshop_referral_invalid_total\{reason="bad_signature"\} \d+/);
    });

    it('shows the invalid token counts to admins only', async () => {
      await attribution().recordInvalidToken('unknown_key', 'product_detail');
      const anonymous = await t.request({ url: '/v1/admin/attribution/invalid-tokens' });
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error.code, 'unauthenticated');

      const shopper = await t.signUp('shopper');
      const refused = await t.request({ url: '/v1/admin/attribution/invalid-tokens', token: shopper.token });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'forbidden');

      const admin = await t.signUp('admin');
      const res = await t.request({ url: '/v1/admin/attribution/invalid-tokens', token: admin.token });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.byReason, await attribution().invalidTokenCounts());
      assert.ok(res.body.byReason.unknown_key >= 1);
      assert.equal(typeof res.body.byReason.product_mismatch, 'number');
    });

    it('an admin asking for an order’s credits: 404 for an order that does not exist, no lines while it is unpaid', async () => {
      const admin = await t.signUp('admin');
      const look = (id: string) => t.request({ url: `/v1/orders/${id}/attribution`, token: admin.token });
      const unknown = await look(newId('order'));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'order_not_found');
      const malformed = await look('ord_not-an-order-id');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, 'validation_failed');

      // placed, never paid: attribution has not heard of it, but the order exists
      const [placed] = await t.app.contexts.orders.service.placeOrders({
        checkoutId: newId('checkout'),
        accountId: null,
        deviceId: newId('device'),
        paymentId: newId('payment'),
        shipping: null,
        orders: [
          {
            merchantId: newId('merchant'),
            currency: 'EUR',
            subtotalMinor: 1_000,
            taxMinor: 0,
            totalMinor: 1_000,
            lines: [{ productId: newId('product'), skuId: newId('variant'), productName: 'Scarf', variantTitle: 'One size', quantity: 1, unitPriceMinor: 1_000, netAmountMinor: 1_000, taxMinor: 0, attribution: null }],
          },
        ],
      });
      const unpaid = await look(placed!.id);
      assert.equal(unpaid.status, 200, JSON.stringify(unpaid.body));
      assert.deepEqual(unpaid.body, { orderId: placed!.id, lines: [] });
    });
  });
}
