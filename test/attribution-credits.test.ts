import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { PAID_GRACE_MS } from '../src/contexts/attribution';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
const DAY = 86_400_000;
const FLOOD_LIMIT = 5;

for (const backend of backends()) {
  describe(`attribution credits [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { attributionFloodPerMinute: FLOOD_LIMIT } });
    });
    after(() => t.close());

    const attribution = () => t.app.contexts.attribution.service;
    const clock = () => t.clock as ManualClock;

    /** A creator's post tagging `productId`: the tag and its signed referral token. */
    const tagOf = async (productId: string, creator?: { token: string }) => {
      const c = creator ?? (await t.signUp('creator'));
      const handle = `c_${randomBytes(4).toString('hex')}`;
      const me = await t.request({ method: 'PUT', url: '/v1/creators/me', token: c.token, body: { handle, displayName: `Creator ${handle}` } });
      const post = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] } });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      const tag = post.body.tags[0];
      return { tagId: tag.id as string, postId: post.body.id as string, creatorId: me.body.id as string, token: tag.referralToken as string, creator: c };
    };
    /** Opens the product sheet from a tag: the tap attribution records. */
    const tap = (productId: string, ref: string, who: { token?: string; device?: string }) =>
      t.request({ url: `/v1/products/${productId}?ref=${encodeURIComponent(ref)}`, token: who.token, headers: who.device ? { 'x-device-id': who.device } : {} });
    const buy = async (token: string, skuId: string, quantity: number, extra: Record<string, unknown> = {}) => {
      const res = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token,
        headers: { 'idempotency-key': randomUUID() },
        body: { paymentMethod: '4242424242424242', skuId, quantity, shipping: SHIPPING, ...extra },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.orders[0].id as string;
    };
    const events = async (name: string, orderId: string) => {
      const r = await sql<{ payload: any }>`SELECT payload FROM outbox.events WHERE name = ${name} AND payload->>'orderId' = ${orderId} ORDER BY id`.execute(t.app.db);
      return r.rows.map((x) => x.payload);
    };
    /** model → tagId → amount of the order's only line. */
    const split = async (orderId: string) => {
      const [line] = (await attribution().creditsForOrder(orderId)) ?? [];
      assert.ok(line, 'the line was credited');
      const out: Record<string, Record<string, number>> = {};
      for (const c of line.credits) (out[c.model] ??= {})[c.tagId] = c.amountMinor;
      return { line, out };
    };
    /** Asks for a recompute (202 and the job's Location), runs the queued jobs as a worker's sweep would, answers the job. */
    const recompute = async (admin: { token: string }, body: Record<string, unknown>) => {
      const res = await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: admin.token, body });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.status, 'queued');
      assert.equal(await attribution().runRecomputeJobs(), 1);
      const job = await t.request({ url: String(res.headers.location), token: admin.token });
      assert.equal(job.body.status, 'succeeded', JSON.stringify(job.body));
      return job.body;
    };
    const refund = (m: { token: string }, orderId: string, lineId: string, quantity: number) =>
      t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/refunds`, token: m.token, headers: { 'idempotency-key': randomUUID() }, body: { lines: [{ lineId, quantity }], reason: 'damaged' } });

    it('credits a purchase after a tap under every model, publishes attribution.line.credited once, and ignores a redelivery', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1999, stock: 100 });
      const tag = await tagOf(p.productId);
      const shopper = await t.signUp('shopper');
      assert.equal((await tap(p.productId, tag.token, shopper)).status, 200);
      clock().advance(DAY);
      const orderId = await buy(shopper.token, p.skuId, 2);
      await t.app.outbox.drain();

      const { line, out } = await split(orderId);
      for (const model of ['last_click', 'first_click', 'linear', 'time_decay', 'position']) assert.deepEqual(out[model], { [tag.tagId]: 3998 }, model);
      assert.deepEqual(line.commissionable, { creatorId: tag.creatorId, postId: tag.postId, tagId: tag.tagId, amountMinor: 3998, reversedMinor: 0 });
      assert.ok(line.credits.every((c) => c.units === 2 && c.clickWindowDays === 7 && c.viewWindowHours === 24 && c.modelVersion === 1));

      const [credited, ...more] = await events('attribution.line.credited', orderId);
      assert.equal(more.length, 0);
      assert.equal(credited.netAmountMinor, 3998);
      assert.equal(credited.credits.length, 5);
      assert.equal(credited.commissionable.amountMinor, 3998);

      // the paid event delivered again (at-least-once): nothing changes, nothing is published
      const [paid] = await events('orders.order.paid', orderId);
      await t.app.db.transaction().execute((trx) => t.app.outbox.publish(trx, 'orders.order.paid', paid));
      await t.app.outbox.drain();
      assert.equal(await attribution().creditPaidOrder(paid), 0);
      assert.equal((await events('attribution.line.credited', orderId)).length, 1);
      assert.deepEqual((await split(orderId)).line, line);
    });

    it('two deliveries of the paid event racing credit the line once', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 450, stock: 100 });
      const tag = await tagOf(p.productId);
      const shopper = await t.signUp('shopper');
      await tap(p.productId, tag.token, shopper);
      const orderId = await buy(shopper.token, p.skuId, 1);
      const [paid] = await events('orders.order.paid', orderId);
      const counts = await Promise.all([attribution().creditPaidOrder(paid), attribution().creditPaidOrder(paid), attribution().creditPaidOrder(paid)]);
      assert.equal(counts.reduce((s, n) => s + n, 0), 1);
      await t.app.outbox.drain();
      assert.equal((await events('attribution.line.credited', orderId)).length, 1);
      assert.equal((await split(orderId)).line.credits.length, 5);
    });

    it('the referral token stamped on the line counts as a tap at the purchase, and wins last click over older taps', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 600, stock: 100 });
      const [older, stamped] = [await tagOf(p.productId), await tagOf(p.productId)];
      const shopper = await t.signUp('shopper');
      await tap(p.productId, older.token, shopper);
      clock().advance(DAY);
      const orderId = await buy(shopper.token, p.skuId, 1, { referralToken: stamped.token });
      await t.app.outbox.drain();
      const { line, out } = await split(orderId);
      assert.deepEqual(out.last_click, { [stamped.tagId]: 600 });
      assert.deepEqual(out.first_click, { [older.tagId]: 600 });
      assert.deepEqual(out.linear, { [older.tagId]: 300, [stamped.tagId]: 300 });
      assert.equal(line.commissionable?.tagId, stamped.tagId);
      // buy-now stamps the token with the request: the order line says so (the clock did not move: T itself)
      const [placed] = await events('orders.order.placed', orderId);
      assert.equal(placed.lines[0].attribution.referredAt, placed.placedAt);
    });

    it('a token added to the cart is a tap when it was added: 8 days before checkout it earns nothing, 2 days before it is credited', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 100 });
      const tag = await tagOf(p.productId);
      const fromCart = async (daysInCart: number) => {
        const shopper = await t.signUp('shopper');
        const added = await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: p.skuId, quantity: 1, referralToken: tag.token } });
        assert.equal(added.status, 201, JSON.stringify(added.body));
        const addedAt = t.clock.now().toISOString();
        clock().advance(daysInCart * DAY);
        const res = await t.request({
          method: 'POST',
          url: '/v1/checkout',
          token: shopper.token,
          headers: { 'idempotency-key': randomUUID() },
          body: { paymentMethod: '4242424242424242', shipping: SHIPPING },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        await t.app.outbox.drain();
        return { orderId: res.body.orders[0].id as string, addedAt };
      };

      // outside the 7-day click window: sold, paid, its line credited to no one (no commission)
      const stale = await fromCart(8);
      const [paid] = await events('orders.order.paid', stale.orderId);
      assert.equal(paid.lines[0].attribution.referredAt, stale.addedAt, 'the order line carries when the token was stamped');
      assert.equal(paid.lines[0].attribution.creatorId, tag.creatorId);
      const old = (await split(stale.orderId)).line;
      assert.deepEqual([old.credits, old.commissionable, old.flags], [[], null, {}]);
      const [credited] = await events('attribution.line.credited', stale.orderId);
      assert.equal(credited.commissionable, null);

      // inside it: credited as before
      const fresh = await fromCart(2);
      const { line, out } = await split(fresh.orderId);
      for (const model of ['last_click', 'first_click', 'linear', 'time_decay', 'position']) assert.deepEqual(out[model], { [tag.tagId]: 700 }, model);
      assert.deepEqual(line.commissionable, { creatorId: tag.creatorId, postId: tag.postId, tagId: tag.tagId, amountMinor: 700, reversedMinor: 0 });

      // the line as an attempt started before the time was recorded would have placed it (no referredAt): a tap at T
      const unstamped = {
        ...paid,
        orderId: newId('order'),
        lines: paid.lines.map((l: any) => ({ ...l, lineId: newId('orderLine'), attribution: { ...l.attribution, referredAt: undefined } })),
      };
      assert.equal(await attribution().creditPaidOrder(unstamped), 1);
      assert.deepEqual((await split(unstamped.orderId)).out.last_click, { [tag.tagId]: 700 });

      // recompute reads the stamping time kept with the line: a 10-day click window takes the stale tap in (analytics
      // only; the commission stays with no one)
      const admin = await t.signUp('admin');
      const from = new Date(old.orderedAt);
      const body = { from: from.toISOString(), to: new Date(from.getTime() + 1000).toISOString(), clickWindowDays: 10 };
      await recompute(admin, body);
      const again = (await split(stale.orderId)).out;
      assert.deepEqual(again.last_click, { [tag.tagId]: 700 });
      assert.equal((await split(stale.orderId)).line.commissionable, null);
      await recompute(admin, { ...body, clickWindowDays: 7 });
      assert.deepEqual((await split(stale.orderId)).line.credits, [], 'back under 7 days: nothing again');
    });

    it('two posts a few days apart: last click pays the later, first click the earlier, the others share to the cent', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1001, stock: 100 });
      const [a, b] = [await tagOf(p.productId), await tagOf(p.productId)];
      const shopper = await t.signUp('shopper');
      await tap(p.productId, a.token, shopper);
      clock().advance(2 * DAY);
      await tap(p.productId, b.token, shopper);
      clock().advance(DAY);
      const orderId = await buy(shopper.token, p.skuId, 1);
      await t.app.outbox.drain();
      const { line, out } = await split(orderId);
      assert.deepEqual(out, {
        last_click: { [b.tagId]: 1001 },
        first_click: { [a.tagId]: 1001 },
        linear: { [a.tagId]: 500, [b.tagId]: 501 },
        time_decay: { [a.tagId]: 451, [b.tagId]: 550 },
        position: { [a.tagId]: 500, [b.tagId]: 501 },
      });
      assert.equal(line.commissionable?.creatorId, b.creatorId);
    });

    it('a refund of part of a line reverses every credit pro rata; the rest of it brings them to exactly 0', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1000, stock: 100 });
      const [a, b] = [await tagOf(p.productId), await tagOf(p.productId)];
      const shopper = await t.signUp('shopper');
      await tap(p.productId, a.token, shopper);
      clock().advance(DAY);
      await tap(p.productId, b.token, shopper);
      const orderId = await buy(shopper.token, p.skuId, 3);
      await t.app.outbox.drain();
      const { line } = await split(orderId);

      const r1 = await refund(m, orderId, line.lineId, 1);
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      await t.app.outbox.drain();
      const [reversed] = await events('attribution.line.reversed', orderId);
      assert.equal(reversed.quantity, -1);
      assert.equal(reversed.netAmountMinor, -1000);
      assert.deepEqual(reversed.commissionable, { ...reversed.originalCommissionable, amountMinor: -1000 });
      assert.equal(reversed.originalCommissionable.amountMinor, 3000);
      const afterOne = (await split(orderId)).line;
      for (const model of ['last_click', 'linear', 'time_decay']) {
        const cs = afterOne.credits.filter((c) => c.model === model);
        assert.equal(cs.reduce((s, c) => s + c.reversedMinor, 0), 1000, model);
        assert.ok(Math.abs(cs.reduce((s, c) => s + c.reversedUnits, 0) - 1) < 1e-9, model);
        const deltas = reversed.credits.filter((c: any) => c.model === model);
        assert.equal(deltas.reduce((s: number, c: any) => s + c.amountMinor, 0), -1000);
      }
      const linear = afterOne.credits.filter((c) => c.model === 'linear');
      assert.deepEqual(linear.map((c) => c.reversedMinor).sort(), [500, 500]);
      assert.equal(afterOne.commissionable?.reversedMinor, 1000);

      assert.equal((await refund(m, orderId, line.lineId, 2)).status, 200);
      await t.app.outbox.drain();
      const done = (await split(orderId)).line;
      assert.ok(done.credits.every((c) => c.reversedMinor === c.amountMinor && Math.abs(c.reversedUnits - c.units) < 1e-9));
      assert.equal(done.commissionable?.reversedMinor, 3000);
      assert.equal(done.refundedQuantity, 3);
      // every delta ever published for the line sums to 0 per model
      const all = [...(await events('attribution.line.credited', orderId)), ...(await events('attribution.line.reversed', orderId))];
      assert.equal(all.length, 3);
      const total = all.flatMap((e) => e.credits).reduce((s: number, c: any) => s + c.amountMinor, 0);
      assert.equal(total, 0);
    });

    it('a cancel of a paid order reverses once; a refund handled before the paid event credits first from its payload', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 100 });
      const tag = await tagOf(p.productId);
      const shopper = await t.signUp('shopper');
      await tap(p.productId, tag.token, shopper);
      const cancelledId = await buy(shopper.token, p.skuId, 2);
      await t.app.outbox.drain();
      const cancel = await t.request({ method: 'POST', url: `/v1/merchant/orders/${cancelledId}/cancel`, token: m.token, headers: { 'idempotency-key': randomUUID() }, body: { reason: 'out of stock' } });
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      await t.app.outbox.drain();
      assert.equal((await events('attribution.line.reversed', cancelledId)).length, 1);
      assert.ok((await split(cancelledId)).line.credits.every((c) => c.reversedMinor === c.amountMinor));

      // the refund's event reaches attribution before the paid one
      await tap(p.productId, tag.token, shopper);
      clock().advance(60_000);
      const orderId = await buy(shopper.token, p.skuId, 2);
      const lineId = (await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token })).body.lines[0].id;
      assert.equal((await refund(m, orderId, lineId, 1)).status, 200);
      const [refunded] = await events('orders.order.refunded', orderId);
      assert.equal(await attribution().reverseRefund(refunded), 1);
      await t.app.outbox.drain(); // now paid and refunded are delivered: both no-ops
      assert.equal((await events('attribution.line.credited', orderId)).length, 1);
      assert.equal((await events('attribution.line.reversed', orderId)).length, 1);
      const { line, out } = await split(orderId);
      assert.deepEqual(out.last_click, { [tag.tagId]: 1400 });
      assert.equal(line.commissionable?.reversedMinor, 700);
      assert.ok(line.credits.every((c) => c.reversedMinor === 700));
    });

    it('a refund overtaking its paid event (whose handler is backing off) waits a grace period, then credits and reverses once', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 500, stock: 100 });
      const tag = await tagOf(p.productId);
      const shopper = await t.signUp('shopper');
      await tap(p.productId, tag.token, shopper);
      const orderId = await buy(shopper.token, p.skuId, 2);
      const lineId = (await t.request({ url: `/v1/merchant/orders/${orderId}`, token: m.token })).body.lines[0].id;
      // the paid delivery failed and is backed off for a day
      await sql`UPDATE outbox.deliveries d SET available_at = ${new Date(t.clock.now().getTime() + DAY)} FROM outbox.events e
                WHERE d.event_id = e.id AND d.subscriber = 'attribution.credits' AND e.name = 'orders.order.paid' AND e.payload->>'orderId' = ${orderId}`.execute(t.app.db);
      assert.equal((await refund(m, orderId, lineId, 1)).status, 200);
      await t.app.outbox.drain();
      assert.equal(await attribution().isCredited(orderId), false, 'the refund waits for the paid event');

      clock().advance(PAID_GRACE_MS + 60_000);
      await t.app.outbox.drain();
      const { line, out } = await split(orderId);
      assert.deepEqual(out.last_click, { [tag.tagId]: 1000 });
      assert.equal(line.commissionable?.reversedMinor, 500);
      clock().advance(DAY);
      await t.app.outbox.drain(); // the paid event at last: nothing more
      assert.equal((await events('attribution.line.credited', orderId)).length, 1);
      assert.equal((await events('attribution.line.reversed', orderId)).length, 1);
    });

    it('anonymous taps before sign-in count once the shopper signs in on that device', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 2500, stock: 100 });
      const tag = await tagOf(p.productId);
      const device = `dev_${newId('device').slice(4)}`;
      assert.equal((await tap(p.productId, tag.token, { device })).status, 200);
      const shopper = await t.signUp('shopper');
      const login = await t.request({ method: 'POST', url: '/v1/auth/login', headers: { 'x-device-id': device }, body: { email: shopper.email, password: 'correct horse battery staple' } });
      assert.equal(login.status, 200);
      await t.app.outbox.drain();
      clock().advance(3 * DAY);
      const orderId = await buy(shopper.token, p.skuId, 1); // another device, same account
      await t.app.outbox.drain();
      assert.deepEqual((await split(orderId)).out.last_click, { [tag.tagId]: 2500 });
    });

    it('a flood is more than the limit in any 60 seconds, across a minute boundary too; touches further apart are not one', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 100 });
      const tag = await tagOf(p.productId);
      const claims = { ...tag, productId: p.productId, tagCreatedAt: new Date('2026-01-01T00:00:00Z'), kid: 'k1' };
      const minute = Math.floor(t.clock.now().getTime() / 60_000) * 60_000 - 600_000;
      const touchesAt = (shopper: { accountId: string }, device: string, times: number[]) =>
        attribution().recordTouches(times.map((at) => ({ kind: 'impression' as const, accountId: shopper.accountId, deviceId: device, claims, occurredAt: new Date(at) })));
      // FLOOD_LIMIT + 1 touches within 6 seconds, half before a minute boundary and half after: a fixed minute saw 3 and 3
      const straddler = await t.signUp('shopper');
      const half = Math.ceil((FLOOD_LIMIT + 1) / 2);
      await touchesAt(straddler, `dev_${newId('device').slice(4)}`, Array.from({ length: FLOOD_LIMIT + 1 }, (_, i) => minute - half * 1000 + i * 1000));
      // FLOOD_LIMIT touches, then FLOOD_LIMIT more 60 seconds after the first: no 60 seconds holds more than the limit
      const steady = await t.signUp('shopper');
      await touchesAt(steady, `dev_${newId('device').slice(4)}`, [
        ...Array.from({ length: FLOOD_LIMIT }, (_, i) => minute + i * 1000),
        ...Array.from({ length: FLOOD_LIMIT }, (_, i) => minute + 60_000 + i * 1000),
      ]);
      const [flooded, calm] = [await buy(straddler.token, p.skuId, 1), await buy(steady.token, p.skuId, 1)];
      await t.app.outbox.drain();
      assert.deepEqual((await split(flooded)).line.flags, { flood: FLOOD_LIMIT + 1 });
      assert.deepEqual((await split(calm)).line.flags, {});
      assert.equal((await split(calm)).line.commissionable?.tagId, tag.tagId, 'the steady shopper\'s impressions still count');
    });

    it('self-referral, bot and flood touches are never credited, and admins see them counted', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 100 });
      const own = await tagOf(p.productId);
      const botTag = await tagOf(p.productId);
      const floodTag = await tagOf(p.productId);
      const claims = (x: { tagId: string; postId: string; creatorId: string }) => ({ ...x, productId: p.productId, tagCreatedAt: new Date('2026-01-01T00:00:00Z'), kid: 'k1' });

      // the creator buys through their own tag
      await tap(p.productId, own.token, own.creator);
      const selfOrder = await buy(own.creator.token, p.skuId, 1);
      // another shopper: a bot touch, and a flood of touches from one device within a minute
      const shopper = await t.signUp('shopper');
      const device = `dev_${newId('device').slice(4)}`;
      const now = t.clock.now();
      await attribution().recordTouches([
        { kind: 'tap', accountId: shopper.accountId, deviceId: device, claims: claims(botTag), occurredAt: new Date(now.getTime() - 3 * 3_600_000), bot: true },
        ...Array.from({ length: FLOOD_LIMIT + 1 }, (_, i) => ({
          kind: 'impression' as const,
          accountId: shopper.accountId,
          deviceId: device,
          claims: claims(floodTag),
          occurredAt: new Date(Math.floor(now.getTime() / 60_000) * 60_000 - 600_000 + i * 1000),
        })),
      ]);
      assert.equal((await attribution().listTouches({ deviceId: device })).filter((x) => x.bot).length, 1);
      const otherOrder = await buy(shopper.token, p.skuId, 1);
      await t.app.outbox.drain();

      const self = (await split(selfOrder)).line;
      assert.deepEqual(self.credits, []);
      assert.equal(self.commissionable, null);
      assert.deepEqual(self.flags, { self_referral: 1 });
      const other = (await split(otherOrder)).line;
      assert.deepEqual(other.credits, []);
      assert.deepEqual(other.flags, { bot: 1, flood: FLOOD_LIMIT + 1 });
      const [credited] = await events('attribution.line.credited', otherOrder);
      assert.deepEqual([credited.credits, credited.commissionable], [[], null]);

      const admin = await t.signUp('admin');
      const shopperRes = await t.request({ url: '/v1/admin/attribution/flags', token: shopper.token });
      assert.equal(shopperRes.status, 403);
      const res = await t.request({ url: '/v1/admin/attribution/flags', token: admin.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const count = (reason: string) => res.body.counts.filter((c: any) => c.reason === reason).reduce((s: number, c: any) => s + c.count, 0);
      assert.ok(count('self_referral') >= 1 && count('bot') >= 1 && count('flood') >= FLOOD_LIMIT + 1);
      assert.ok(res.body.floodedDevices.some((d: any) => d.deviceId === device && d.touches === FLOOD_LIMIT + 1));
      assert.ok(res.body.flaggedLines.some((l: any) => l.orderId === otherOrder));

      const byRoute = await t.request({ url: `/v1/orders/${selfOrder}/attribution`, token: admin.token });
      assert.equal(byRoute.status, 200, JSON.stringify(byRoute.body));
      assert.deepEqual(byRoute.body.lines[0].flags, { self_referral: 1 });
      assert.equal((await t.request({ url: `/v1/orders/${selfOrder}/attribution`, token: shopper.token })).status, 403);
    });

    it('a tag removed before the purchase earns nothing, whether tapped before (inactive) or after its removal (expired)', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 800, stock: 100 });
      const tag = await tagOf(p.productId);
      const shopper = await t.signUp('shopper');
      await tap(p.productId, tag.token, shopper);
      clock().advance(60_000);
      const removed = await t.request({ method: 'DELETE', url: `/v1/tags/${tag.tagId}`, token: tag.creator.token });
      assert.ok(removed.status < 300, JSON.stringify(removed.body));
      clock().advance(2 * 3_600_000);
      await tap(p.productId, tag.token, shopper); // an old link still opens the product
      const orderId = await buy(shopper.token, p.skuId, 1);
      await t.app.outbox.drain();
      const { line } = await split(orderId);
      assert.deepEqual(line.credits, []);
      assert.deepEqual(line.flags, { inactive_tag: 1, expired_token: 1 });
    });

    it('recompute under a wider view window changes the analytics credits, publishes old negated plus new, never the commissionable', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1200, stock: 100 });
      const [seen, tapped] = [await tagOf(p.productId), await tagOf(p.productId)];
      const shopper = await t.signUp('shopper');
      const start = t.clock.now();
      await attribution().recordTouch({
        kind: 'impression',
        accountId: shopper.accountId,
        deviceId: `dev_${newId('device').slice(4)}`,
        claims: { ...seen, productId: p.productId, tagCreatedAt: start, kid: 'k1' },
      });
      clock().advance(2 * DAY);
      await tap(p.productId, tapped.token, shopper);
      const orderId = await buy(shopper.token, p.skuId, 1);
      await t.app.outbox.drain();
      assert.deepEqual((await split(orderId)).out.linear, { [tapped.tagId]: 1200 }, 'the impression is 2 days old: outside 24 h');
      assert.equal((await refund(m, orderId, (await split(orderId)).line.lineId, 1)).status, 200);
      await t.app.outbox.drain();

      const admin = await t.signUp('admin');
      const body = { from: new Date(start.getTime() - DAY).toISOString(), to: new Date(t.clock.now().getTime() + 1000).toISOString(), viewWindowHours: 72 };
      const job = await recompute(admin, body);
      assert.ok(job.recomputed >= 1);
      assert.deepEqual(job.windows, { clickWindowDays: 7, viewWindowHours: 72 });
      const { line, out } = await split(orderId);
      assert.equal(line.revision, 2);
      assert.deepEqual(out.linear, { [seen.tagId]: 600, [tapped.tagId]: 600 });
      assert.deepEqual(out.last_click, { [tapped.tagId]: 1200 });
      assert.ok(line.credits.every((c) => c.viewWindowHours === 72 && c.reversedMinor === c.amountMinor), 'the refund stays applied under the new split');
      assert.deepEqual(line.commissionable, { creatorId: tapped.creatorId, postId: tapped.postId, tagId: tapped.tagId, amountMinor: 1200, reversedMinor: 1200 });

      const [recomputed, ...more] = await events('attribution.line.recomputed', orderId);
      assert.equal(more.length, 0);
      assert.equal(recomputed.credits.reduce((s: number, c: any) => s + c.amountMinor, 0), 0, 'refunded in full: old and new nets are both 0');

      const again = await recompute(admin, body);
      assert.equal(again.linesDone, job.linesDone);
      assert.equal(again.recomputed, 0, 're-running with the same windows changes nothing');
      assert.equal((await events('attribution.line.recomputed', orderId)).length, 1);

      const bad = await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: admin.token, body: { from: body.to, to: body.from } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_range');
      assert.equal((await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: shopper.token, body })).status, 403);
    });

    it('records a batch of touches idempotently, a duplicate inside the batch included', async () => {
      const device = `dev_${newId('device').slice(4)}`;
      const c = { tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: newId('product'), tagCreatedAt: new Date('2026-01-01T00:00:00Z'), kid: 'k1' };
      const at = new Date('2026-01-20T10:00:00Z');
      const batch = Array.from({ length: 300 }, (_, i) => ({ kind: 'impression' as const, accountId: null, deviceId: device, claims: c, occurredAt: new Date(at.getTime() + i * 61_000) }));
      await attribution().recordTouches(batch);
      await attribution().recordTouches([...batch, batch[0]!]);
      assert.equal((await attribution().listTouches({ deviceId: device })).length, 300);
    });
  });
}
