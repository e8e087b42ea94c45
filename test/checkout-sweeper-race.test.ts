import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ManualClock } from '../src/platform/clock';
import { ATTEMPT_LOCK_MS, createCheckoutContext, type CheckoutService } from '../src/contexts/checkout';
import type { InventoryService } from '../src/contexts/inventory';
import type { PaymentsService } from '../src/contexts/payments';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

/**
 * A live checkout that stalls past its attempt lock while the crash-recovery sweeper fails and undoes the attempt.
 * The live request runs in its own checkout service (as in another process) whose inventory or payments calls are
 * wrapped, so the sweeper (the app's own checkout service) runs exactly in the gap between two of the live request's
 * steps. Whatever the interleaving, the books must end as if the attempt had simply failed: stock conserved, nothing
 * held, no unit sold without an order, no authorization left open.
 */
const CARD_OK = '4242424242424242';

for (const backend of backends()) {
  describe(`a live checkout racing the crash-recovery sweeper [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const ctx = () => t.app.contexts;
    const clock = () => t.clock as ManualClock;
    const ttlMs = () => t.app.config.reservationTtlMinutes * 60_000;

    /** A checkout service over the app's database and contexts, with some of its dependencies replaced. */
    function liveCheckout(over: { inventory?: InventoryService; payments?: PaymentsService }): CheckoutService {
      const { db, clock: c, config, outbox, metrics, log, referrals } = t.app;
      const { catalog, inventory, payments, orders, attribution } = ctx();
      return createCheckoutContext({
        db,
        clock: c,
        config,
        outbox,
        metrics,
        log,
        referrals,
        catalog: catalog.service,
        inventory: over.inventory ?? inventory.service,
        payments: over.payments ?? payments.service,
        orders: orders.service,
        attribution: attribution.service,
      }).service;
    }

    /** The lock lapses and the sweeper takes over every stuck attempt, as a worker would. */
    async function sweeperTakesOver() {
      clock().advance(ATTEMPT_LOCK_MS + 1);
      await ctx().checkout.service.recoverStuckCheckouts(50);
    }

    /** Another shopper holds the SKU's last units while `during` runs, then lets them go. */
    async function someoneElseHolds(skuId: string, quantity: number, during: () => Promise<void>) {
      const blocker = `blocker_${randomBytes(4).toString('hex')}`;
      const held = await ctx().inventory.service.reserve(blocker, [{ skuId, quantity }]);
      assert.ok(held.ok, 'the other shopper holds the last units');
      try {
        await during();
      } finally {
        await ctx().inventory.service.releaseReservation(blocker);
      }
    }

    const buyNow = (live: CheckoutService, skuId: string) =>
      live.buyNow(
        { accountId: null, deviceId: `dev_sweeper_race_${randomBytes(4).toString('hex')}` },
        { skuId, quantity: 1, paymentMethod: CARD_OK },
        { scope: 'buy-now:test', key: randomUUID(), hash: 'test' },
      );

    /** Payments whose authorization outlasts the hold: the reservation sweep expires the hold before the answer comes. */
    function slowAuthorization(seen: (checkoutId: string) => void): PaymentsService {
      const real = ctx().inventory.service;
      return {
        ...ctx().payments.service,
        async authorize(input) {
          seen(input.checkoutId);
          const r = await ctx().payments.service.authorize(input);
          clock().advance(ttlMs() + 1);
          await real.expireReservations();
          assert.equal((await real.getHold(input.checkoutId)).status, 'expired');
          return r;
        },
      };
    }

    /**
     * Inventory whose hold for the live request's second holder (`<checkout>.r2`, a re-hold) first runs `during`,
     * once: the moment the sweeper gets between the lapsed hold and the new one.
     */
    function beforeReHold(checkoutId: () => string, during: () => Promise<void>): { inventory: InventoryService; ran: () => boolean } {
      const real = ctx().inventory.service;
      let ran = false;
      const inventory: InventoryService = {
        ...real,
        async reserve(holderId, lines, opts) {
          if (holderId === `${checkoutId()}.r2` && !ran) {
            ran = true;
            await during();
          }
          return real.reserve(holderId, lines, opts);
        },
      };
      return { inventory, ran: () => ran };
    }

    it('a capture that timed out answers 201 ordered; a repeat of the request takes the capture over at once', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 2500, stock: 3 });
      let timeouts = 0;
      const payments: PaymentsService = {
        ...ctx().payments.service,
        async capture(paymentId, amountMinor) {
          if (timeouts++ === 0) return { ok: false, code: 'provider_timeout' };
          return ctx().payments.service.capture(paymentId, amountMinor);
        },
      };
      const live = liveCheckout({ payments });
      const shopper = { accountId: null, deviceId: `dev_capture_timeout_${randomBytes(4).toString('hex')}` };
      const request = { skuId: p.skuId, quantity: 1, paymentMethod: CARD_OK };
      const key = { scope: 'buy-now:test', key: randomUUID(), hash: 'test' };
      const first = await live.buyNow(shopper, request, key);
      assert.ok(first.ok, JSON.stringify(first));
      assert.equal(first.value.status, 'ordered');
      assert.equal((await ctx().payments.service.findByCheckout(first.value.checkoutId))?.status, 'authorized');
      // the lock is not waited out (10 s, then 409): the repeat captures and answers with the completed checkout
      const started = Date.now();
      const again = await live.buyNow(shopper, request, key);
      assert.ok(Date.now() - started < 5_000, `the repeat waited ${Date.now() - started} ms`);
      assert.ok(again.ok, JSON.stringify(again));
      assert.deepEqual([again.value.checkoutId, again.value.status], [first.value.checkoutId, 'completed']);
      assert.equal((await ctx().payments.service.findByCheckout(first.value.checkoutId))?.status, 'captured');
      assert.deepEqual((await ctx().orders.service.findByCheckout(first.value.checkoutId)).map((o) => o.status), ['paid']);
    });

    it('a capture refused right after the orders were placed (not recorded yet) cancels them, restocks, voids, and gives the cart back', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1800, stock: 4 });
      // the authorization went away before the capture (voided at the provider, as a lapse would): refused for good
      const payments: PaymentsService = {
        ...ctx().payments.service,
        async capture(paymentId, amountMinor) {
          assert.ok((await ctx().payments.service.void(paymentId)).ok);
          return ctx().payments.service.capture(paymentId, amountMinor);
        },
      };
      const live = liveCheckout({ payments });
      const shopper = { accountId: null, deviceId: `dev_capture_refused_${randomBytes(4).toString('hex')}` };
      assert.ok((await live.addLine(shopper, { skuId: p.skuId, quantity: 2 })).ok);
      const r = await live.checkoutCart(shopper, { paymentMethod: CARD_OK }, { scope: 'checkout:test', key: randomUUID(), hash: 'test' });
      assert.ok(!r.ok);
      assert.equal(r.code, 'capture_refused');
      const { id } = await ctx().checkout.service.repo.db.selectFrom('checkout.attempts').select('id').where('device_id', '=', shopper.deviceId).executeTakeFirstOrThrow();
      const attempt = (await ctx().checkout.service.getAttempt(id))!;
      assert.deepEqual([attempt.status, attempt.failureCode, attempt.undone, attempt.orderIds.length], ['failed', 'capture_refused', true, 1]);
      assert.deepEqual((await ctx().orders.service.findByCheckout(attempt.id)).map((o) => o.status), ['cancelled']);
      assert.equal((await ctx().payments.service.findByCheckout(attempt.id))?.status, 'voided');
      const [audit] = await ctx().inventory.service.auditStock([p.skuId]);
      assert.deepEqual([audit!.onHand, audit!.sold, audit!.reserved, audit!.journaled], [4, 0, 0, 4], 'the sold units came back once');
      // nothing was paid: the cart is as it was, its line once
      assert.deepEqual((await live.getCart(shopper)).lines.map((l) => [l.skuId, l.quantity]), [[p.skuId, 2]]);
    });

    /** The books of a checkout that ended failed: every figure as if it had never started. */
    async function assertRolledBack(checkoutId: string, skuId: string, stock: number, opts: { restockedHolder?: string } = {}) {
      const attempt = await ctx().checkout.service.getAttempt(checkoutId);
      assert.ok(attempt);
      assert.deepEqual([attempt.status, attempt.undone], ['failed', true], JSON.stringify(attempt));
      const orders = await ctx().orders.service.findByCheckout(checkoutId);
      assert.deepEqual(orders, [], 'no order');
      const [audit] = await ctx().inventory.service.auditStock([skuId]);
      // stock conserved: every unit taken in is on hand or sold, and sold units are exactly the units in orders (none)
      assert.equal(audit!.journaled, audit!.onHand + audit!.sold, JSON.stringify(audit));
      assert.deepEqual({ onHand: audit!.onHand, sold: audit!.sold, reserved: audit!.reserved, held: audit!.held }, { onHand: stock, sold: 0, reserved: 0, held: 0 });
      assert.equal((await ctx().inventory.service.getStockLevels([skuId])).get(skuId)!.available, stock);
      // no holder of the attempt is left holding (before any reservation expiry), nor sold unless restocked since
      for (const holder of [checkoutId, `${checkoutId}.r2`, `${checkoutId}.r3`]) {
        const hold = await ctx().inventory.service.getHold(holder);
        assert.ok(hold.status !== 'held' && (hold.status !== 'committed' || holder === opts.restockedHolder), `${holder} is ${hold.status}`);
      }
      // no money held or taken: our record and the provider's agree that the authorization (if any) is released
      const payment = await ctx().payments.service.findByCheckout(checkoutId);
      assert.ok(!payment || payment.status === 'voided' || payment.status === 'failed', `payment ${payment?.status}`);
      const intents = await ctx().payments.service.simulator!.intentsForCheckout(checkoutId);
      assert.deepEqual(intents.filter((i) => i.status === 'requires_capture' || i.status === 'succeeded').map((i) => i.status), [], 'an authorization left open at the provider');
      return { attempt, payment, intents };
    }

    it('the hold lapsed during the authorization; the sweeper fails the attempt while the live request holds again: nothing held or sold', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 1 });
      let checkoutId = '';
      const payments = slowAuthorization((id) => (checkoutId = id));
      // the live request's second hold: the sweeper takes over just before it is made, while the last unit is held by
      // someone else (so the sweeper's own hold is refused and it fails the attempt as sold out)
      const gap = beforeReHold(() => checkoutId, async () => {
        await someoneElseHolds(p.skuId, 1, sweeperTakesOver);
        const a = await ctx().checkout.service.getAttempt(checkoutId);
        assert.deepEqual([a?.status, a?.failureCode, a?.undone], ['failed', 'sold_out', true], 'the sweeper failed and undid the attempt first');
      });
      const r = await buyNow(liveCheckout({ inventory: gap.inventory, payments }), p.skuId);
      assert.ok(gap.ran(), 'the live request held again');
      assert.ok(!r.ok);
      assert.equal(r.code, 'sold_out');
      const { payment, intents } = await assertRolledBack(checkoutId, p.skuId, 1);
      assert.equal(payment?.status, 'voided');
      assert.deepEqual(intents.map((i) => i.status), ['canceled']);
    });

    it('the hold lapsed during the authorization; the sweeper finishes the checkout while the live request holds again: one unit sold for its one order', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 2 });
      let checkoutId = '';
      const payments = slowAuthorization((id) => (checkoutId = id));
      // with stock to spare the sweeper's own hold is granted and it completes the checkout before the live request's
      // second hold is made: that hold must not become a second sale
      const gap = beforeReHold(() => checkoutId, async () => {
        await sweeperTakesOver();
        assert.equal((await ctx().checkout.service.getAttempt(checkoutId))?.status, 'completed', 'the sweeper finished the checkout first');
      });
      const r = await buyNow(liveCheckout({ inventory: gap.inventory, payments }), p.skuId);
      assert.ok(gap.ran(), 'the live request held again');
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.status, 'completed');
      const orders = await ctx().orders.service.findByCheckout(checkoutId);
      assert.deepEqual(orders.map((o) => o.status), ['paid']);
      const [audit] = await ctx().inventory.service.auditStock([p.skuId]);
      assert.equal(audit!.journaled, audit!.onHand + audit!.sold, JSON.stringify(audit));
      assert.deepEqual({ onHand: audit!.onHand, sold: audit!.sold, reserved: audit!.reserved, held: audit!.held }, { onHand: 1, sold: 1, reserved: 0, held: 0 });
      const holds = await Promise.all([checkoutId, `${checkoutId}.r2`, `${checkoutId}.r3`].map((h) => ctx().inventory.service.getHold(h)));
      assert.deepEqual(holds.filter((h) => h.status === 'held' || h.status === 'committed').map((h) => [h.status, h.lines]), [['committed', [{ skuId: p.skuId, quantity: 1 }]]]);
      assert.equal((await ctx().payments.service.findByCheckout(checkoutId))?.status, 'captured');
    });

    it('the sweeper fails the attempt before the live request reaches the provider: the late authorization is voided', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 2 });
      let checkoutId = '';
      // the live request stalls on its way to the provider; the sweeper finds no payment and abandons the attempt
      const payments: PaymentsService = {
        ...ctx().payments.service,
        async authorize(input) {
          checkoutId = input.checkoutId;
          await sweeperTakesOver();
          const a = await ctx().checkout.service.getAttempt(checkoutId);
          assert.deepEqual([a?.status, a?.failureCode, a?.undone], ['failed', 'abandoned', true], 'the sweeper failed and undid the attempt first');
          return ctx().payments.service.authorize(input);
        },
      };
      const r = await buyNow(liveCheckout({ payments }), p.skuId);
      assert.ok(!r.ok);
      assert.equal(r.code, 'checkout_abandoned');
      const { payment, intents } = await assertRolledBack(checkoutId, p.skuId, 2);
      assert.equal(payment?.status, 'voided');
      assert.deepEqual(intents.map((i) => i.status), ['canceled']);
    });

    it('a commit made after the attempt was failed and undone without it (a stale runner held the same holder again): the units are restocked', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 1 });
      const real = ctx().inventory.service;
      let checkoutId = '';
      let swept = false;
      // just before the live request commits, its hold lapses, the sweeper fails the attempt (its own hold refused:
      // the last unit is held by someone else) and undoes it, seeing nothing committed; then the holder holds again,
      // as a runner with a stale view of the attempt would, and the live request's commit succeeds
      const inventory: InventoryService = {
        ...real,
        async commitReservation(holderId) {
          if (!swept) {
            swept = true;
            checkoutId = holderId;
            clock().advance(ttlMs() + 1);
            await real.expireReservations();
            assert.equal((await real.getHold(holderId)).status, 'expired');
            await someoneElseHolds(p.skuId, 1, sweeperTakesOver);
            const a = await ctx().checkout.service.repo.getAttempt(holderId);
            assert.deepEqual([a?.status, a?.failure_code, a?.undone, a?.committed], ['failed', 'sold_out', true, false], 'the sweeper failed and undid the attempt first');
            assert.ok((await real.reserve(holderId, [{ skuId: p.skuId, quantity: 1 }])).ok);
          }
          return real.commitReservation(holderId);
        },
      };
      const r = await buyNow(liveCheckout({ inventory }), p.skuId);
      assert.ok(swept);
      assert.ok(!r.ok);
      assert.equal(r.code, 'sold_out');
      const { payment } = await assertRolledBack(checkoutId, p.skuId, 1, { restockedHolder: checkoutId });
      assert.equal(payment?.status, 'voided');
      // restocked once, under the key the undo uses: a second give-back or a late undo cannot restock it again
      const journal = await ctx().inventory.service.listAdjustments(p.skuId);
      assert.equal(journal.filter((j) => j.reason === `checkout ${checkoutId} undone`).length, 1, JSON.stringify(journal));
    });
  });

  describe(`the checkout lock's length is configured (CHECKOUT_LOCK_SECONDS) [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { checkoutLockSeconds: 5 } });
    });
    after(() => t.close());

    it('a stalled checkout is taken over once its 5 s lock lapses, not before; each step renews the lock by 5 s', async () => {
      const ctx = t.app.contexts;
      const clock = t.clock as ManualClock;
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1200, stock: 2 });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let stalled!: () => void;
      const reached = new Promise<void>((resolve) => (stalled = resolve));
      const payments: PaymentsService = {
        ...ctx.payments.service,
        async authorize(input) {
          stalled();
          await gate;
          return ctx.payments.service.authorize(input);
        },
      };
      const { db, clock: c, config, outbox, metrics, log, referrals } = t.app;
      const live = createCheckoutContext({
        db, clock: c, config, outbox, metrics, log, referrals,
        catalog: ctx.catalog.service, inventory: ctx.inventory.service, payments, orders: ctx.orders.service, attribution: ctx.attribution.service,
      }).service;
      const shopper = { accountId: null, deviceId: `dev_lock_${randomBytes(4).toString('hex')}` };
      const answer = live.buyNow(shopper, { skuId: p.skuId, quantity: 1, paymentMethod: CARD_OK }, { scope: 'buy-now:test', key: randomUUID(), hash: 'test' });
      await reached;
      const attempt = () => ctx.checkout.service.repo.db.selectFrom('checkout.attempts').selectAll().where('device_id', '=', shopper.deviceId).executeTakeFirstOrThrow();
      const started = await attempt();
      assert.equal(started.status, 'started');
      assert.equal(new Date(started.locked_until).getTime() - new Date(started.created_at).getTime(), 5_000);
      clock.advance(4_000);
      assert.equal(await ctx.checkout.service.recoverStuckCheckouts(10), 0, 'still owned by the live request');
      clock.advance(1_001);
      assert.equal(await ctx.checkout.service.recoverStuckCheckouts(10), 1, 'taken over once the lock lapsed');
      open();
      const r = await answer;
      // the sweeper found no authorization and undid the attempt; the live request's late authorization lost the move
      assert.equal(r.ok, false);
      const a = await attempt();
      assert.deepEqual([a.status, a.undone], ['failed', true]);
      assert.notEqual((await ctx.payments.service.findByCheckout(a.id))?.status, 'authorized');
      assert.equal((await ctx.inventory.service.getStockLevels([p.skuId])).get(p.skuId)?.reserved, 0);

      // a checkout that runs to its end renews the lock by the configured 5 s at each step
      const done = await ctx.checkout.service.buyNow(
        { accountId: null, deviceId: `dev_lock_${randomBytes(4).toString('hex')}` },
        { skuId: p.skuId, quantity: 1, paymentMethod: CARD_OK },
        { scope: 'buy-now:test', key: randomUUID(), hash: 'test' },
      );
      assert.ok(done.ok, JSON.stringify(done));
      const row = await ctx.checkout.service.repo.db.selectFrom('checkout.attempts').selectAll().where('id', '=', done.value.checkoutId).executeTakeFirstOrThrow();
      assert.equal(row.status, 'completed');
      assert.equal(new Date(row.locked_until).getTime() - new Date(row.updated_at).getTime(), 5_000);
    });
  });
}
