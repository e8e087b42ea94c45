import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { activeProduct, backends, shopOwner, startTestApp, type ShopOwner, type TestApp } from './support/harness';

// A device's anonymous cart joins the account's cart on sign-in. The outbox subscriber does it in the background;
// a signed-in cart read or write naming the device does it first, so the first read after log-in already shows it.
// Whoever runs first merges, exactly once.

const PASSWORD = 'correct horse battery staple';
const CARD_OK = '4242424242424242';
const device = () => `dev_${randomBytes(8).toString('hex')}`;

interface Line {
  id: string;
  skuId: string;
  quantity: number;
  referral: { tagId: string; postId: string; creatorId: string; referredAt: string | null } | null;
}

for (const backend of backends()) {
  describe(`cart merge on sign-in [${backend.name}]`, () => {
    let t: TestApp;
    let m: ShopOwner;
    before(async () => {
      t = await startTestApp(backend);
      m = await shopOwner(t);
    });
    after(() => t.close());

    const clock = () => t.clock as ManualClock;
    const sku = async () => (await activeProduct(t, m, { priceMinor: 1_000, stock: 500 })) as { productId: string; skuId: string };
    const tokenFor = (productId: string) =>
      t.app.referrals.sign({ tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId, tagCreatedAt: new Date('2026-01-10T10:00:00Z') });
    const claimsOf = (token: string) => {
      const v = t.app.referrals.verify(token);
      assert.ok(v.ok);
      return v.claims;
    };
    /** Adds units as the device (anonymous) or as the account (token; with `dev` when the request names it). */
    const add = async (o: { dev?: string; token?: string }, skuId: string, quantity: number, referralToken?: string) => {
      const res = await t.request({
        method: 'POST',
        url: '/v1/cart/lines',
        token: o.token,
        headers: o.dev ? { 'x-device-id': o.dev } : {},
        body: { skuId, quantity, ...(referralToken ? { referralToken } : {}) },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; lines: Line[] };
    };
    const cart = async (o: { dev?: string; token?: string }) => {
      const res = await t.request({ url: '/v1/cart', token: o.token, headers: o.dev ? { 'x-device-id': o.dev } : {} });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as { id: string | null; lines: Line[] };
    };
    const quantities = (lines: Line[]) => Object.fromEntries(lines.map((l) => [l.skuId, l.quantity]));
    /** Logs the account in on the device (the sign-in event is published, not delivered). */
    const logIn = async (email: string, dev: string) => {
      const res = await t.request({ method: 'POST', url: '/v1/auth/login', headers: { 'x-device-id': dev }, body: { email, password: PASSWORD } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.token as string;
    };
    /** The device's sign-in merges the subscriber has not run yet. */
    const pendingMerges = async (dev: string) => {
      const r = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM outbox.deliveries d JOIN outbox.events e ON e.id = d.event_id
        WHERE d.subscriber = 'checkout.cart-merge' AND d.delivered_at IS NULL AND e.payload->>'deviceId' = ${dev}
      `.execute(t.app.db);
      return r.rows[0]!.n;
    };
    const deviceCarts = async (dev: string) =>
      (await sql<{ status: string; lines: number }>`
        SELECT c.status, (SELECT count(*)::int FROM checkout.cart_lines l WHERE l.cart_id = c.id) AS lines
        FROM checkout.carts c WHERE c.device_id = ${dev} AND c.account_id IS NULL ORDER BY c.created_at, c.id
      `.execute(t.app.db)).rows;

    it('lines added anonymously are in the first GET /v1/cart after log-in, with no waiting for the subscriber', async () => {
      await t.app.outbox.drain();
      const a = await sku();
      const b = await sku();
      const shopper = await t.signUp('shopper');
      const dev = device();
      const anon = await add({ dev }, a.skuId, 2);
      await add({ dev }, b.skuId, 1);
      const lineA = anon.lines.find((l) => l.skuId === a.skuId)!;

      const token = await logIn(shopper.email, dev);
      assert.equal(await pendingMerges(dev), 1, 'the subscriber has not merged yet');
      const first = await cart({ token, dev });
      assert.deepEqual(quantities(first.lines), { [a.skuId]: 2, [b.skuId]: 1 });
      assert.match(first.id ?? '', /^crt_/);
      assert.notEqual(first.id, anon.id, 'the lines are in the account\'s cart, not the device\'s');
      assert.equal(first.lines.find((l) => l.skuId === a.skuId)!.id, lineA.id, 'a moved line keeps its id');
      assert.deepEqual(await deviceCarts(dev), [{ status: 'merged', lines: 0 }]);
      assert.deepEqual((await cart({ dev })).lines, [], 'the device alone sees an empty cart');

      // the line id the shopper saw before signing in still works
      const patched = await t.request({ method: 'PATCH', url: `/v1/cart/lines/${lineA.id}`, token, headers: { 'x-device-id': dev }, body: { quantity: 3 } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(quantities(patched.body.lines), { [a.skuId]: 3, [b.skuId]: 1 });

      // the late subscriber finds nothing left to merge
      await t.app.outbox.drain();
      assert.equal(await pendingMerges(dev), 0);
      assert.deepEqual(quantities((await cart({ token })).lines), { [a.skuId]: 3, [b.skuId]: 1 });
    });

    it('a write is the first request after log-in: it merges first, and its answer shows both', async () => {
      await t.app.outbox.drain();
      const a = await sku();
      const b = await sku();
      const shopper = await t.signUp('shopper');
      const dev = device();
      await add({ dev }, a.skuId, 4);
      const token = await logIn(shopper.email, dev);
      const answer = await add({ token, dev }, b.skuId, 1);
      assert.deepEqual(quantities(answer.lines), { [a.skuId]: 4, [b.skuId]: 1 });
      const res = await t.request({ method: 'POST', url: '/v1/cart/lines', token, headers: { 'x-device-id': dev }, body: { skuId: a.skuId, quantity: 1 } });
      assert.deepEqual(quantities(res.body.lines), { [a.skuId]: 5, [b.skuId]: 1 }, 'the merged line sums like any other');
      await t.app.outbox.drain();
      assert.deepEqual(quantities((await cart({ token })).lines), { [a.skuId]: 5, [b.skuId]: 1 });
    });

    it('first reads at once, writes and the subscriber merge exactly once: quantities summed once, capped at 99', async () => {
      for (let round = 0; round < 4; round++) {
        await t.app.outbox.drain();
        const [a, b, c, d] = [await sku(), await sku(), await sku(), await sku()];
        const shopper = await t.signUp('shopper');
        // the account's own cart (filled elsewhere, no device named): 3 of A, 60 of C
        await add({ token: shopper.token }, a.skuId, 3);
        await add({ token: shopper.token }, c.skuId, 60);
        const dev = device();
        await add({ dev }, a.skuId, 2);
        await add({ dev }, b.skuId, 4);
        await add({ dev }, c.skuId, 50);
        const token = await logIn(shopper.email, dev);

        const expected = { [a.skuId]: 5, [b.skuId]: 4, [c.skuId]: 99 };
        const reads = Array.from({ length: 6 }, () => cart({ token, dev }));
        const [answers, , , written] = await Promise.all([
          Promise.all(reads),
          t.app.outbox.drain(),
          t.app.contexts.checkout.service.mergeDeviceCart(dev, shopper.accountId),
          add({ token, dev }, d.skuId, 1), // a write racing the reads: another SKU, so the merged ones are comparable
        ]);
        const merged = (lines: Line[]) => quantities(lines.filter((l) => l.skuId !== d.skuId));
        for (const answer of [...answers, written]) assert.deepEqual(merged(answer.lines), expected, `round ${round}: every first request shows the merged cart`);
        assert.equal(new Set([...answers, written].map((x) => x.id)).size, 1, 'one account cart');
        expected[d.skuId] = 1;

        // and again, every way: nothing left to merge
        await t.app.contexts.checkout.service.mergeDeviceCart(dev, shopper.accountId);
        await t.app.outbox.drain();
        assert.deepEqual(quantities((await cart({ token, dev })).lines), expected);
        assert.deepEqual(await deviceCarts(dev), [{ status: 'merged', lines: 0 }]);
        const open = await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout.carts WHERE account_id = ${shopper.accountId} AND status = 'open'`.execute(t.app.db);
        assert.equal(open.rows[0]!.n, 1);
      }
    });

    it('referral tokens on lines survive the merge, with their time, and reach the order', async () => {
      await t.app.outbox.drain();
      const a = await sku(); // device line with a token; the account's line of it has none
      const b = await sku(); // both have a token: the account's stays
      const c = await sku(); // only on the device, with a token
      const shopper = await t.signUp('shopper');
      const dev = device();
      const accountTokenB = tokenFor(b.productId);
      await add({ token: shopper.token }, a.skuId, 1);
      await add({ token: shopper.token }, b.skuId, 1, accountTokenB);
      clock().advance(60_000);
      const stamped = t.clock.now().toISOString();
      const deviceTokenA = tokenFor(a.productId);
      const deviceTokenC = tokenFor(c.productId);
      await add({ dev }, a.skuId, 1, deviceTokenA);
      await add({ dev }, b.skuId, 1, tokenFor(b.productId));
      await add({ dev }, c.skuId, 2, deviceTokenC);
      clock().advance(60_000);

      const token = await logIn(shopper.email, dev);
      const merged = await cart({ token, dev });
      const lineOf = (skuId: string) => merged.lines.find((l) => l.skuId === skuId)!;
      const referral = (tok: string, at: string) => {
        const claims = claimsOf(tok);
        return { tagId: claims.tagId, postId: claims.postId, creatorId: claims.creatorId, referredAt: at };
      };
      assert.deepEqual(lineOf(a.skuId).referral, referral(deviceTokenA, stamped), 'the device\'s token credits the account\'s uncredited line');
      assert.equal(lineOf(b.skuId).referral!.tagId, claimsOf(accountTokenB).tagId, 'the account\'s own token stays');
      assert.deepEqual(lineOf(c.skuId).referral, referral(deviceTokenC, stamped));
      assert.deepEqual(quantities(merged.lines), { [a.skuId]: 2, [b.skuId]: 2, [c.skuId]: 2 });

      const paid = await t.request({ method: 'POST', url: '/v1/checkout', token, headers: { 'idempotency-key': randomUUID(), 'x-device-id': dev }, body: { paymentMethod: CARD_OK } });
      assert.equal(paid.status, 201, JSON.stringify(paid.body));
      const order = await t.request({ url: `/v1/orders/${paid.body.orders[0].id}`, token });
      const attributed = Object.fromEntries(order.body.lines.map((l: any) => [l.skuId, l.attribution && { tagId: l.attribution.tagId, referredAt: l.attribution.referredAt }]));
      assert.deepEqual(attributed, {
        [a.skuId]: { tagId: claimsOf(deviceTokenA).tagId, referredAt: stamped },
        [b.skuId]: { tagId: claimsOf(accountTokenB).tagId, referredAt: attributed[b.skuId]!.referredAt },
        [c.skuId]: { tagId: claimsOf(deviceTokenC).tagId, referredAt: stamped },
      });
      assert.notEqual(attributed[b.skuId]!.referredAt, stamped, 'the account\'s line kept its own time too');
    });

    it('a device used by two accounts: each device cart goes to one account only, never to the other, also when the subscriber is late', async () => {
      await t.app.outbox.drain();
      const x = await sku();
      const y = await sku();
      const alice = await t.signUp('shopper');
      const bob = await t.signUp('shopper');
      const carol = await t.signUp('shopper');
      const dev = device();

      // Alice signs in on the shared device and her first read takes what it held
      await add({ dev }, x.skuId, 2);
      clock().advance(1_000);
      const aliceToken = await logIn(alice.email, dev);
      assert.deepEqual(quantities((await cart({ token: aliceToken, dev })).lines), { [x.skuId]: 2 });
      assert.equal((await t.request({ method: 'POST', url: '/v1/auth/logout', token: aliceToken, headers: { 'x-device-id': dev } })).status, 204);

      // Bob signs in on it next: Alice's lines are hers, in any order of reads and deliveries
      clock().advance(1_000);
      const bobToken = await logIn(bob.email, dev);
      assert.deepEqual((await cart({ token: bobToken, dev })).lines, []);
      await t.app.contexts.checkout.service.mergeDeviceCart(dev, bob.accountId);
      await t.app.outbox.drain(); // Alice's sign-in, then Bob's
      assert.deepEqual((await cart({ token: bobToken, dev })).lines, [], 'a merged device cart is never claimed again');
      assert.equal((await t.request({ method: 'POST', url: '/v1/auth/logout', token: bobToken, headers: { 'x-device-id': dev } })).status, 204);

      // someone browses anonymously after Bob left: a new device cart. Carol signs in, and meanwhile the subscriber
      // delivers Bob's sign-in late: it must not take a cart the device started after that sign-in
      clock().advance(1_000);
      await add({ dev }, y.skuId, 1);
      clock().advance(1_000);
      const carolToken = await logIn(carol.email, dev);
      const bobSignIn = await sql<{ occurred_at: Date }>`
        SELECT occurred_at FROM outbox.events WHERE name = 'identity.device.linked' AND payload->>'accountId' = ${bob.accountId} ORDER BY id DESC LIMIT 1
      `.execute(t.app.db);
      await t.app.contexts.checkout.service.mergeDeviceCart(dev, bob.accountId, bobSignIn.rows[0]!.occurred_at);
      assert.deepEqual(quantities((await cart({ token: carolToken, dev })).lines), { [y.skuId]: 1 }, 'the lines added after Bob left go to Carol');
      await t.app.outbox.drain();

      assert.deepEqual(quantities((await cart({ token: await logIn(alice.email, device()) })).lines), { [x.skuId]: 2 }, 'Alice: her lines, once');
      assert.deepEqual((await cart({ token: await logIn(bob.email, device()) })).lines, [], 'Bob: nothing of Alice\'s or Carol\'s');
      assert.deepEqual(quantities((await cart({ token: carolToken })).lines), { [y.skuId]: 1 });
      assert.deepEqual(await deviceCarts(dev), [
        { status: 'merged', lines: 0 },
        { status: 'merged', lines: 0 },
      ]);
    });

    it('a signed-in request that names no device merges nothing itself; the subscriber still does', async () => {
      await t.app.outbox.drain();
      const a = await sku();
      const shopper = await t.signUp('shopper');
      const dev = device();
      await add({ dev }, a.skuId, 1);
      const token = await logIn(shopper.email, dev);
      assert.deepEqual((await cart({ token })).lines, [], 'bearer only: the device is not this request\'s');
      await t.app.outbox.drain();
      assert.deepEqual(quantities((await cart({ token })).lines), { [a.skuId]: 1 });
    });
  });
}
