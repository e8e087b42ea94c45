import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { ATTEMPT_LOCK_MS } from '../src/contexts/checkout';
import { ordersOf, type PricedLine } from '../src/contexts/checkout/checkout.pricing';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

const word = () => `w${randomBytes(4).toString('hex')}`;
const CARD = { ok: '4242424242424242', declined: '4000000000000002', noFunds: '4000000000009995', slow: '4000000000000259', error: '4000000000000119' };
const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
const TAX_BPS = 825;
const taxOf = (net: number) => Math.floor((net * TAX_BPS + 5000) / 10000);

for (const backend of backends()) {
  describe(`checkout [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { taxRateBps: TAX_BPS } });
    });
    after(() => t.close());

    const inventory = () => t.app.contexts.inventory.service;
    const payments = () => t.app.contexts.payments.service;
    const orders = () => t.app.contexts.orders.service;
    const checkout = () => t.app.contexts.checkout.service;

    /** The analytics events a checkout published, in order (the step name after `checkout.checkout.`). */
    const eventsOf = async (checkoutId: string) => {
      const r = await sql<{ name: string }>`SELECT name FROM outbox.events WHERE name LIKE 'checkout.%' AND payload->>'checkoutId' = ${checkoutId} ORDER BY id`.execute(t.app.db);
      return r.rows.map((e) => e.name.replace('checkout.checkout.', ''));
    };
    const stock = async (skuId: string) => (await inventory().getStockLevels([skuId])).get(skuId)!;
    const buyNow = (token: string | undefined, body: Record<string, unknown>, key: string | null = randomUUID(), headers: Record<string, string> = {}) =>
      t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token,
        headers: { ...headers, ...(key ? { 'idempotency-key': key } : {}) },
        body: { paymentMethod: CARD.ok, ...body },
      });
    /** The attempt a key started (failed checkouts answer no id). */
    const attemptOf = async (scope: string, key: string) => (await checkout().repo.findAttemptByKey(scope, key))!;

    it('concurrent buy-nows share group-commit batches, visible per batcher in /metrics', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 300, stock: 3 });
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => buyNow(undefined, { skuId: p.skuId, quantity: 1 }, randomUUID(), { 'x-device-id': `dev_metrics_${randomUUID()}_${i}` })));
      assert.deepEqual(answers.map((a) => a.status).sort(), [201, 201, 201, 409, 409, 409, 409, 409]);
      const text = String((await t.request({ url: '/metrics' })).body);
      for (const batcher of ['checkout.start', 'checkout.transition', 'payments.apply', 'orders.place', 'inventory.committed']) {
        const count = new RegExp(`^feedshop_batch_size_count\\{batcher="${batcher.replace('.', '\\.')}"\\} (\\d+)`, 'm').exec(text);
        assert.ok(count && Number(count[1]) > 0, `no batches of ${batcher} in /metrics`);
      }
      // eight checkouts started in one tick went in fewer statements than eight
      const starts = /^feedshop_batch_size_count\{batcher="checkout\.start"\} (\d+)/m.exec(text)!;
      const items = /^feedshop_batch_size_sum\{batcher="checkout\.start"\} (\d+)/m.exec(text)!;
      assert.ok(Number(items[1]) / Number(starts[1]) > 1, `starts were not batched: ${items[1]} items in ${starts[1]} batches`);
    });

    it('buys now at server prices with tax, captures, and leaves the cart alone', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1899, stock: 10 });
      const other = await activeProduct(t, m, { priceMinor: 500, stock: 10 });
      const shopper = await t.signUp('shopper');
      await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: other.skuId, quantity: 2 } });
      const token = t.app.referrals.sign({ tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: p.productId, tagCreatedAt: new Date('2026-01-10T10:00:00Z') });

      const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 3, referralToken: token, shipping: SHIPPING });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const net = 1899 * 3;
      assert.equal(res.body.status, 'completed');
      assert.deepEqual(
        { sub: res.body.subtotalMinor, tax: res.body.taxMinor, total: res.body.totalMinor, cur: res.body.currency },
        { sub: net, tax: taxOf(net), total: net + taxOf(net), cur: 'EUR' },
      );
      assert.equal(taxOf(net), 470); // 5697 × 8.25 % = 470.0025 → 470
      assert.equal(res.body.orders.length, 1);
      assert.deepEqual(res.body.orders[0], { id: res.body.orders[0].id, merchantId: m.merchantId, totalMinor: net + 470 });

      const order = await t.request({ url: `/v1/orders/${res.body.orders[0].id}`, token: shopper.token });
      assert.equal(order.status, 200, JSON.stringify(order.body));
      assert.equal(order.body.status, 'paid');
      assert.deepEqual(
        order.body.lines.map((l: any) => [l.skuId, l.quantity, l.unitPriceMinor, l.netAmountMinor, l.taxMinor, l.attribution?.productId]),
        [[p.skuId, 3, 1899, net, 470, p.productId]],
      );
      const payment = await payments().findByCheckout(res.body.checkoutId);
      assert.equal(payment?.status, 'captured');
      assert.equal(payment?.capturedMinor, net + 470);
      assert.deepEqual(await stock(p.skuId), { ...(await stock(p.skuId)), onHand: 7, reserved: 0, available: 7 });

      const cart = await t.request({ url: '/v1/cart', token: shopper.token });
      assert.deepEqual(cart.body.lines.map((l: any) => [l.skuId, l.quantity]), [[other.skuId, 2]]);
      assert.deepEqual(await eventsOf(res.body.checkoutId), ['started', 'stock_reserved', 'payment_authorized', 'completed']);
    });

    it('the started and failed events, built in SQL with the attempt\'s insert, carry the same payload as the steps built in TypeScript', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1250, stock: 2 });
      const shopper = await t.signUp('shopper');
      const claims = { tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: p.productId, tagCreatedAt: new Date('2026-02-01T09:00:00Z') };
      const payloads = async (checkoutId: string) => {
        const r = await sql<{ name: string; payload: any }>`
          SELECT name, payload FROM outbox.events WHERE name LIKE 'checkout.%' AND payload->>'checkoutId' = ${checkoutId} ORDER BY id
        `.execute(t.app.db);
        return Object.fromEntries(r.rows.map((e) => [e.name.replace('checkout.checkout.', ''), e.payload]));
      };
      const sold = await buyNow(shopper.token, { skuId: p.skuId, quantity: 2, referralToken: t.app.referrals.sign(claims) });
      assert.equal(sold.status, 201, JSON.stringify(sold.body));
      const ok = await payloads(sold.body.checkoutId);
      // stock_reserved is built in TypeScript (eventBase) from the same attempt: the same base, to the key
      assert.deepEqual(ok.started, ok.stock_reserved);
      assert.deepEqual(ok.started.lines, [
        { skuId: p.skuId, productId: p.productId, merchantId: m.merchantId, quantity: 2, unitPriceMinor: 1250, netAmountMinor: 2500, taxMinor: taxOf(2500), tagId: claims.tagId, creatorId: claims.creatorId },
      ]);
      assert.deepEqual([ok.started.accountId, ok.started.source, ok.started.totalMinor], [shopper.accountId, 'buy_now', 2500 + taxOf(2500)]);

      // sold out now: refused at the hold, recorded failed by the insert with both events, no referral on this one
      const key = randomUUID();
      const refused = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      const attempt = await attemptOf(shopper.accountId, key);
      const no = await payloads(attempt.id);
      assert.deepEqual(Object.keys(no), ['started', 'failed']);
      assert.deepEqual(no.failed, { ...no.started, reason: 'sold_out' });
      assert.deepEqual(no.started.lines.map((l: any) => [l.quantity, l.tagId, l.creatorId]), [[1, null, null]]);
    });

    it('refuses price fields and a stale expected total; the order always carries the server price', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1000, stock: 5 });
      const shopper = await t.signUp('shopper');
      for (const extra of [{ priceMinor: 1 }, { unitPriceMinor: 1 }, { totalMinor: 1 }]) {
        const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1, ...extra });
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, 'validation_failed');
      }
      const stale = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1, expectedTotalMinor: 1 });
      assert.equal(stale.status, 409);
      assert.equal(stale.body.error.code, 'price_changed');
      assert.equal(stale.body.error.details.totalMinor, 1000 + taxOf(1000));

      const ok = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1, expectedTotalMinor: 1000 + taxOf(1000) });
      assert.equal(ok.status, 201);
      const placed = await orders().findByCheckout(ok.body.checkoutId);
      assert.deepEqual(placed.map((o) => o.totalMinor), [1000 + taxOf(1000)]);
      assert.equal((await stock(p.skuId)).onHand, 4);
    });

    it('checks out a cart of two merchants as one order per merchant under one payment, then empties it', async () => {
      const [a, b] = [await shopOwner(t), await shopOwner(t)];
      const pa = await activeProduct(t, a, { priceMinor: 1200, stock: 5 });
      const pb = await activeProduct(t, b, { priceMinor: 3000, stock: 5 });
      const shopper = await t.signUp('shopper');
      for (const [skuId, quantity] of [[pa.skuId, 2], [pb.skuId, 1]] as const) {
        assert.equal((await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId, quantity } })).status, 201);
      }
      const res = await t.request({ method: 'POST', url: '/v1/checkout', token: shopper.token, headers: { 'idempotency-key': randomUUID() }, body: { paymentMethod: CARD.ok, shipping: SHIPPING } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const totalA = 2400 + taxOf(2400);
      const totalB = 3000 + taxOf(3000);
      assert.deepEqual(
        res.body.orders.map((o: any) => [o.merchantId, o.totalMinor]).sort(),
        [
          [a.merchantId, totalA],
          [b.merchantId, totalB],
        ].sort(),
      );
      assert.equal(res.body.totalMinor, totalA + totalB);
      const payment = await payments().findByCheckout(res.body.checkoutId);
      assert.equal(payment?.amountMinor, totalA + totalB);
      assert.equal(payment?.capturedMinor, totalA + totalB);
      assert.deepEqual((await t.request({ url: '/v1/cart', token: shopper.token })).body.lines, []);
      assert.equal((await stock(pa.skuId)).onHand, 3);
      assert.equal((await stock(pb.skuId)).onHand, 4);

      const empty = await t.request({ method: 'POST', url: '/v1/checkout', token: shopper.token, headers: { 'idempotency-key': randomUUID() }, body: { paymentMethod: CARD.ok } });
      assert.equal(empty.status, 409);
      assert.equal(empty.body.error.code, 'cart_empty');
    });

    it('refuses a cart mixing currencies (400) and products taken off sale (409)', async () => {
      const m = await shopOwner(t);
      const eur = await activeProduct(t, m, { priceMinor: 1000, stock: 5, currency: 'EUR' });
      const usd = await activeProduct(t, m, { priceMinor: 1000, stock: 5, currency: 'USD' });
      const shopper = await t.signUp('shopper');
      for (const skuId of [eur.skuId, usd.skuId]) await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId, quantity: 1 } });
      const mixed = await t.request({ method: 'POST', url: '/v1/checkout', token: shopper.token, headers: { 'idempotency-key': randomUUID() }, body: { paymentMethod: CARD.ok } });
      assert.equal(mixed.status, 400);
      assert.equal(mixed.body.error.code, 'mixed_currency');

      await t.request({ method: 'PATCH', url: `/v1/merchant/products/${eur.productId}`, token: m.token, body: { status: 'archived' } });
      const gone = await buyNow(shopper.token, { skuId: eur.skuId, quantity: 1 });
      assert.equal(gone.status, 409);
      assert.equal(gone.body.error.code, 'product_unavailable');
      assert.equal((await buyNow(shopper.token, { skuId: newId('variant'), quantity: 1 })).status, 404);
    });

    it('refuses zero, negative, fractional, too large and huge quantities', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1000, stock: 5 });
      for (const quantity of [0, -1, 1.5, 100, 1e9]) {
        const res = await buyNow(undefined, { skuId: p.skuId, quantity });
        assert.equal(res.status, 400, `quantity ${quantity}`);
      }
      assert.equal((await stock(p.skuId)).reserved, 0);
    });

    it('needs an Idempotency-Key; replays the first answer; refuses the key with another body', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 10 });
      const shopper = await t.signUp('shopper');
      const missing = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, null);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.code, 'idempotency_key_required');

      const key = randomUUID();
      const first = await buyNow(shopper.token, { skuId: p.skuId, quantity: 2 }, key);
      assert.equal(first.status, 201);
      const again = await buyNow(shopper.token, { skuId: p.skuId, quantity: 2 }, key);
      assert.equal(again.status, 201);
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal((await stock(p.skuId)).onHand, 8); // sold once

      const reused = await buyNow(shopper.token, { skuId: p.skuId, quantity: 3 }, key);
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error.code, 'idempotency_key_reused');

      // the same key from another shopper is another purchase
      const someoneElse = await t.signUp('shopper');
      const theirs = await buyNow(someoneElse.token, { skuId: p.skuId, quantity: 2 }, key);
      assert.equal(theirs.status, 201);
      assert.notEqual(theirs.body.checkoutId, first.body.checkoutId);
    });

    it('runs concurrent requests with one key once', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 10 });
      const shopper = await t.signUp('shopper');
      const key = randomUUID();
      const answers = await Promise.all(Array.from({ length: 6 }, () => buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key)));
      for (const a of answers) assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(new Set(answers.map((a) => a.body.checkoutId)).size, 1);
      // the repeats waited for the first's attempt (same process): nothing is left held
      assert.deepEqual([(await stock(p.skuId)).onHand, (await stock(p.skuId)).reserved, (await stock(p.skuId)).available], [9, 0, 9]);
    });

    it("a repeat of a request holds nothing, so it never takes another shopper's unit (2 left: a double tap and another shopper both buy)", async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 2 });
      const [me, other] = [await t.signUp('shopper'), await t.signUp('shopper')];
      const key = randomUUID();
      // in this order, in one tick: the hot SKU grants in arrival order, so a repeat that held would take the second unit
      const [first, again, theirs] = await Promise.all([
        buyNow(me.token, { skuId: p.skuId, quantity: 1 }, key),
        buyNow(me.token, { skuId: p.skuId, quantity: 1 }, key),
        buyNow(other.token, { skuId: p.skuId, quantity: 1 }),
      ]);
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal(again.body.checkoutId, first.body.checkoutId);
      assert.equal(theirs.status, 201, JSON.stringify(theirs.body));
      assert.deepEqual([(await stock(p.skuId)).onHand, (await stock(p.skuId)).reserved], [0, 0]);
    });

    it('the attempt is the key\'s record: no separate key row, and a replay a day later is still the first answer', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 700, stock: 10 });
      const shopper = await t.signUp('shopper');
      const key = randomUUID();
      const first = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
      assert.equal(first.status, 201);
      const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM idempotency.keys WHERE key = ${key}`.execute(t.app.db);
      assert.equal(rows.rows[0]!.n, 0, 'a checkout writes no idempotency.keys row');
      // a day on, past the prune of the other routes' key records: the attempt still answers for the key
      (t.clock as ManualClock).advance(25 * 3600_000);
      await t.app.sweep();
      const again = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.deepEqual(again.body, first.body);
      assert.equal((await stock(p.skuId)).onHand, 9); // sold once
      const attempts = await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout.attempts WHERE idempotency_key = ${key}`.execute(t.app.db);
      assert.equal(attempts.rows[0]!.n, 1);
      assert.deepEqual((await eventsOf(first.body.checkoutId)).filter((e) => e === 'started'), ['started']);
      // the product is archived since: the repeat is still answered with the checkout the key made, not a refusal
      const archived = await t.request({ method: 'PATCH', url: `/v1/merchant/products/${p.productId}`, token: m.token, body: { status: 'archived' } });
      assert.ok(archived.status < 300, JSON.stringify(archived.body));
      const afterArchive = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
      assert.deepEqual([afterArchive.status, afterArchive.body], [201, first.body]);
      // a refusal before the checkout starts stores nothing: the same key may then start one
      const fresh = randomUUID();
      const stale = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, fresh);
      assert.equal(stale.status, 409);
      const none = await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout.attempts WHERE idempotency_key = ${fresh}`.execute(t.app.db);
      assert.equal(none.rows[0]!.n, 0);
    });

    it('sells exactly the last units to concurrent buyers; the others get 409 sold_out; stock is conserved', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 2500, stock: 5 });
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => buyNow(undefined, { skuId: p.skuId, quantity: 1 }, randomUUID(), { 'x-device-id': `dev_race${i}_${word()}` })),
      );
      const won = answers.filter((a) => a.status === 201);
      const lost = answers.filter((a) => a.status !== 201);
      assert.equal(won.length, 5, JSON.stringify(lost.map((a) => a.body).slice(0, 2)));
      for (const a of lost) {
        assert.equal(a.status, 409);
        assert.equal(a.body.error.code, 'sold_out');
        assert.equal(a.body.error.details.skuId, p.skuId);
      }
      const level = await stock(p.skuId);
      assert.deepEqual([level.onHand, level.reserved, level.available], [0, 0, 0]);
      for (const a of won) assert.equal((await orders().findByCheckout(a.body.checkoutId)).length, 1);
    });

    it('a buy-now on a SKU already known sold out is recorded failed as it starts: same answer and funnel, no hold, one statement fewer', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 1 });
      const shopper = await t.signUp('shopper');
      assert.equal((await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 })).status, 201);
      // the first refusal comes from the database and teaches this process that the SKU is sold out
      const first = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 });
      assert.equal(first.status, 409);
      const memoHits = async () => Number(/^feedshop_inventory_sold_out_memo_hits_total (\d+)/m.exec(String((await t.request({ url: '/metrics' })).body))?.[1] ?? 0);
      // the memo is trusted for SOLD_OUT_MEMO_MS (0.5 s): on a loaded machine it can lapse before the next request,
      // which then asks the database (and teaches the memo again), so ask until one is answered from the memo
      let key = '';
      let refused: Awaited<ReturnType<typeof buyNow>> | undefined;
      for (let i = 0; i < 10 && !refused; i++) {
        const hitsBefore = await memoHits();
        const k = randomUUID();
        const r = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, k);
        assert.equal(r.status, 409);
        if ((await memoHits()) === hitsBefore + 1) [key, refused] = [k, r];
      }
      assert.ok(refused, 'a refusal answered from the sold-out memo');
      assert.deepEqual(refused.body.error, { ...first.body.error, details: { skuId: p.skuId, available: 0 } });
      const a = await attemptOf(shopper.accountId, key);
      assert.deepEqual([a.status, a.failure_code, a.undone, a.holder_id === a.id], ['failed', 'sold_out', true, true]);
      assert.ok(a.finished_at);
      assert.deepEqual(await eventsOf(a.id), ['started', 'failed']);
      // started and failed in one transaction with the attempt row (a reservation refused later would be a second one)
      const txs = await sql<{ n: number }>`
        SELECT count(DISTINCT x)::int AS n FROM (
          SELECT xmin::text AS x FROM outbox.events WHERE payload->>'checkoutId' = ${a.id}
          UNION ALL SELECT xmin::text FROM checkout.attempts WHERE id = ${a.id}) t`.execute(t.app.db);
      assert.equal(txs.rows[0]!.n, 1);
      const failed = await sql<{ reason: string }>`SELECT payload->>'reason' AS reason FROM outbox.events WHERE name = 'checkout.checkout.failed' AND payload->>'checkoutId' = ${a.id}`.execute(t.app.db);
      assert.deepEqual(failed.rows, [{ reason: 'sold_out' }]);
      const holds = await sql<{ n: number }>`SELECT count(*)::int AS n FROM inventory.reservations WHERE holder_id = ${a.id}`.execute(t.app.db);
      assert.equal(holds.rows[0]!.n, 0);
      // the replay is the stored answer; a restock makes the next key reserve again
      const again = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
      assert.deepEqual([again.status, again.headers['idempotent-replayed']], [409, 'true']);
      const restock = await t.request({ method: 'PUT', url: `/v1/merchant/variants/${p.skuId}/stock`, token: m.token, body: { onHand: 1, reason: 'found one' } });
      assert.ok(restock.status < 300, JSON.stringify(restock.body));
      assert.equal((await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 })).status, 201);
    });

    for (const [card, reason] of [
      [CARD.declined, 'card_declined'],
      [CARD.noFunds, 'insufficient_funds'],
    ] as const) {
      it(`answers a ${reason} decline with 402 and leaves no order, no hold, no authorization`, async () => {
        const m = await shopOwner(t);
        const p = await activeProduct(t, m, { priceMinor: 1500, stock: 3 });
        const shopper = await t.signUp('shopper');
        const key = randomUUID();
        const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 2, paymentMethod: card }, key);
        assert.equal(res.status, 402);
        assert.equal(res.body.error.code, 'payment_declined');
        assert.deepEqual(res.body.error.details, { reason });
        const a = await attemptOf(shopper.accountId, key);
        assert.deepEqual([a.status, a.failure_code, a.undone], ['failed', 'payment_declined', true]);
        assert.deepEqual(await eventsOf(a.id), ['started', 'stock_reserved', 'payment_declined', 'failed']);
        assert.deepEqual(await orders().findByCheckout(a.id), []);
        assert.equal((await payments().findByCheckout(a.id))?.status, 'failed');
        const level = await stock(p.skuId);
        assert.deepEqual([level.onHand, level.reserved], [3, 0]);
      });
    }

    it('answers a provider error with 503 and leaves nothing behind', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 3 });
      const shopper = await t.signUp('shopper');
      const key = randomUUID();
      const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1, paymentMethod: CARD.error }, key);
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'payment_unavailable');
      const a = await attemptOf(shopper.accountId, key);
      assert.equal(a.status, 'failed');
      assert.deepEqual(await orders().findByCheckout(a.id), []);
      assert.notEqual((await payments().findByCheckout(a.id))?.status, 'authorized');
      assert.equal((await stock(p.skuId)).reserved, 0);
    });

    it('a timed-out authorization ends completed with its order or undone, never money without an order', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 3 });
      const shopper = await t.signUp('shopper');
      const key = randomUUID();
      const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1, paymentMethod: CARD.slow }, key);
      (t.clock as ManualClock).advance(ATTEMPT_LOCK_MS + 1000);
      await t.app.sweep();
      await t.app.sweep();
      const a = await attemptOf(shopper.accountId, key);
      const payment = await payments().findByCheckout(a.id);
      const placed = await orders().findByCheckout(a.id);
      const level = await stock(p.skuId);
      if (res.status === 201) {
        assert.equal(a.status, 'completed');
        assert.equal(placed.length, 1);
        assert.equal(payment?.status, 'captured');
        assert.deepEqual([level.onHand, level.reserved], [2, 0]);
      } else {
        assert.equal(res.status, 503);
        assert.deepEqual([a.status, a.undone], ['failed', true]);
        assert.equal(placed.length, 0);
        assert.ok(payment === null || ['voided', 'failed'].includes(payment.status), payment?.status);
        assert.deepEqual([level.onHand, level.reserved], [3, 0]);
      }
    });

    it('placing the orders fails while the placement is still committing: the checkout ends with those orders paid, never undone under them', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 3 });
      const shopper = await t.signUp('shopper');
      const svc = orders();
      const real = svc.placeOrders;
      let inFlight: Promise<unknown> | null = null;
      // the first call's answer is lost (a dropped connection) while its insert goes on and commits a moment later
      svc.placeOrders = (input) => {
        svc.placeOrders = real;
        inFlight = new Promise((r) => setTimeout(r, 30)).then(() => real(input));
        return Promise.reject(new Error('connection terminated unexpectedly'));
      };
      try {
        const key = randomUUID();
        const res = await buyNow(shopper.token, { skuId: p.skuId, quantity: 1 }, key);
        await inFlight;
        assert.equal(res.status, 201, JSON.stringify(res.body));
        const a = await attemptOf(shopper.accountId, key);
        assert.equal(a.status, 'completed');
        const placed = await orders().findByCheckout(a.id);
        assert.deepEqual(placed.map((o) => [o.id, o.status]), [[a.order_ids[0], 'paid']]);
        assert.equal((await payments().findByCheckout(a.id))?.status, 'captured');
        const level = await stock(p.skuId);
        assert.deepEqual([level.onHand, level.reserved], [2, 0]);
      } finally {
        svc.placeOrders = real;
      }
    });

    describe('recovery after a crash', () => {
      /**
       * Starts an attempt, then stops: the process "died" right after `until`. Each of `merchants` sells 2 units of
       * its own product (of 4 in stock), so `ordered` places one order per merchant. The flow records the hold, the
       * authorization and the commit with one move ('authorized'); `held-authorized` and `held-committed` are its
       * crashes before that move (the attempt still 'started'). `reserved`, `authorize-called` and `committed` are
       * the journal of earlier versions, which recorded each of those steps on its own: still finished or undone.
       */
      const crashedAttempt = async (
        until: 'started' | 'reserved' | 'authorize-called' | 'authorized' | 'committed' | 'ordered' | 'held-authorized' | 'held-committed',
        merchants = 1,
        fromCart = false,
      ) => {
        const shopper = await t.signUp('shopper');
        const lines: PricedLine[] = [];
        for (let i = 0; i < merchants; i++) {
          const p = await activeProduct(t, await shopOwner(t), { priceMinor: 2000, stock: 4 });
          const v = (await t.app.contexts.catalog.service.getVariantsForSale([p.skuId])).get(p.skuId)!;
          lines.push({ lineId: null, skuId: p.skuId, quantity: 2, claims: null, productId: v.productId, merchantId: v.merchantId, productName: v.productName, variantTitle: v.variantTitle, currency: 'EUR', unitPriceMinor: 2000, netAmountMinor: 4000, taxMinor: taxOf(4000) });
        }
        const skuIds = lines.map((l) => l.skuId);
        let cartId: string | null = null;
        if (fromCart) {
          for (const l of lines) assert.equal((await t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: l.skuId, quantity: 2 } })).status, 201);
          const cart = (await t.request({ url: '/v1/cart', token: shopper.token })).body;
          cartId = cart.id;
          for (const l of lines) l.lineId = cart.lines.find((c: { skuId: string }) => c.skuId === l.skuId).id;
        }
        const [subtotal, tax] = [4000 * merchants, taxOf(4000) * merchants];
        const repo = checkout().repo;
        const id = newId('checkout');
        const key = randomUUID();
        const now = t.clock.now();
        await repo.db.transaction().execute((trx) =>
          repo.insertAttempt(trx, {
            id,
            idempotency_scope: shopper.accountId,
            idempotency_key: key,
            account_id: shopper.accountId,
            device_id: 'dev_recovery',
            source: fromCart ? 'cart' : 'buy_now',
            cart_id: cartId,
            status: 'started',
            lines,
            shipping: null,
            currency: 'EUR',
            subtotal_minor: subtotal,
            tax_minor: tax,
            total_minor: subtotal + tax,
            holder_id: id,
            locked_until: new Date(now.getTime() + ATTEMPT_LOCK_MS),
            created_at: now,
            updated_at: now,
          }),
        );
        const move = (from: any, patch: any) => repo.transition(repo.db, id, [from], patch, t.clock.now(), ATTEMPT_LOCK_MS);
        let paymentId: string | null = null;
        if (until === 'held-authorized' || until === 'held-committed') {
          assert.ok((await inventory().reserve(id, skuIds.map((skuId) => ({ skuId, quantity: 2 })))).ok);
          const r = await payments().authorize({ checkoutId: id, amountMinor: subtotal + tax, currency: 'EUR', paymentMethod: CARD.ok, accountId: shopper.accountId });
          assert.ok(r.ok);
          paymentId = r.payment.id;
          if (until === 'held-committed') assert.ok((await inventory().commitReservation(id)).ok);
          return { id, skuId: skuIds[0]!, skuIds, key, shopper, paymentId };
        }
        if (until !== 'started') {
          assert.ok((await inventory().reserve(id, skuIds.map((skuId) => ({ skuId, quantity: 2 })))).ok);
          await move('started', { status: 'reserved' });
        }
        if (until !== 'started' && until !== 'reserved') {
          const r = await payments().authorize({ checkoutId: id, amountMinor: subtotal + tax, currency: 'EUR', paymentMethod: CARD.ok, accountId: shopper.accountId });
          assert.ok(r.ok);
          paymentId = r.payment.id;
          if (until !== 'authorize-called') await move('reserved', { status: 'authorized', payment_id: paymentId });
        }
        if (until === 'committed' || until === 'ordered') {
          assert.ok((await inventory().commitReservation(id)).ok);
          await move('authorized', { status: 'committed', committed: true });
        }
        if (until === 'ordered') {
          const placed = await orders().placeOrders({
            checkoutId: id,
            accountId: shopper.accountId,
            deviceId: 'dev_recovery',
            paymentId: paymentId!,
            shipping: null,
            orders: ordersOf({ lines, currency: 'EUR', subtotalMinor: subtotal, taxMinor: tax, totalMinor: subtotal + tax }),
          });
          assert.equal(placed.length, merchants);
          await move('committed', { status: 'ordered', order_ids: placed.map((o) => o.id) });
          // as the flow does at this step: the bought lines leave the cart
          if (cartId) await repo.db.transaction().execute((trx) => repo.takeBought(trx, cartId, lines.map((l) => ({ lineId: l.lineId!, quantity: l.quantity })), t.clock.now()));
        }
        return { id, skuId: skuIds[0]!, skuIds, key, shopper, paymentId };
      };

      const settle = async () => {
        (t.clock as ManualClock).advance(ATTEMPT_LOCK_MS + 1000);
        await t.app.sweep();
      };

      for (const until of ['started', 'reserved'] as const) {
        it(`rolls back a checkout that died after "${until}": no hold, no payment, no order`, async () => {
          const { id, skuId } = await crashedAttempt(until);
          await settle();
          const a = (await checkout().repo.getAttempt(id))!;
          assert.deepEqual([a.status, a.undone], ['failed', true]);
          assert.equal(await payments().findByCheckout(id), null);
          assert.deepEqual(await orders().findByCheckout(id), []);
          const level = await stock(skuId);
          assert.deepEqual([level.onHand, level.reserved], [4, 0]);
        });
      }

      for (const until of ['authorize-called', 'authorized', 'committed', 'held-authorized', 'held-committed'] as const) {
        it(`completes a checkout that died after "${until}": one order, captured, stock conserved`, async () => {
          const { id, skuId } = await crashedAttempt(until);
          await settle();
          await settle(); // a second sweep changes nothing
          const a = (await checkout().repo.getAttempt(id))!;
          assert.equal(a.status, 'completed');
          const placed = await orders().findByCheckout(id);
          assert.equal(placed.length, 1);
          assert.equal(placed[0]!.status, 'paid');
          const payment = await payments().findByCheckout(id);
          assert.equal(payment?.status, 'captured');
          assert.equal(payment?.capturedMinor, 4000 + taxOf(4000));
          const level = await stock(skuId);
          assert.deepEqual([level.onHand, level.reserved], [2, 0]);
        });
      }

      it('an attempt started before the referral time was recorded (claims without referredAt) places its line referred, time unknown', async () => {
        const { id } = await crashedAttempt('committed');
        const claims = { tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: 'prd_x', tagCreatedAt: '2026-01-10T10:00:00.000Z', kid: 'k1' };
        await sql`UPDATE checkout.attempts SET lines = jsonb_set(lines, '{0,claims}', ${JSON.stringify(claims)}::jsonb) WHERE id = ${id}`.execute(t.app.db);
        await settle();
        const [order] = await orders().findByCheckout(id);
        assert.equal(order?.status, 'paid');
        const r = await sql<{ payload: any }>`SELECT payload FROM outbox.events WHERE name = 'orders.order.placed' AND payload->>'orderId' = ${order!.id}`.execute(t.app.db);
        const { referredAt, ...rest } = r.rows[0]!.payload.lines[0].attribution;
        assert.deepEqual([referredAt, rest.tagId, rest.keyId], [null, claims.tagId, 'k1'], 'attribution takes the order time for it, as before');
      });

      it('rolls back a checkout that died after committing, unrecorded, once its authorization is gone: the units come back once', async () => {
        const { id, skuId, paymentId } = await crashedAttempt('held-committed');
        // the authorization went away meanwhile (voided at the provider): nothing to finish with
        assert.ok((await payments().void(paymentId!)).ok);
        await settle();
        await settle(); // a second sweep changes nothing
        const a = (await checkout().repo.getAttempt(id))!;
        assert.deepEqual([a.status, a.failure_code, a.undone], ['failed', 'abandoned', true]);
        assert.deepEqual(await orders().findByCheckout(id), []);
        // the commit was never recorded: undo found it in the hold and restocked the sold units, once
        const level = await stock(skuId);
        assert.deepEqual([level.onHand, level.reserved], [4, 0]);
        const journal = await inventory().listAdjustments(skuId);
        assert.equal(journal.filter((j) => j.reason === `checkout ${id} undone`).length, 1, JSON.stringify(journal));
      });

      it('a retry that takes over a checkout whose runner died after committing, unrecorded, on a SKU now sold out, finishes it', async () => {
        // stock 4, the dead runner committed 2; then a second shopper buys the other 2: the SKU is sold out and this
        // process knows it (the memo), which refuses a new hold: the retry must see that the hold is its own
        const { id, skuId, key, shopper } = await crashedAttempt('held-committed');
        const other = await t.signUp('shopper');
        assert.equal((await buyNow(other.token, { skuId, quantity: 2 })).status, 201);
        (t.clock as ManualClock).advance(ATTEMPT_LOCK_MS + 1000);
        const res = await buyNow(shopper.token, { skuId, quantity: 2 }, key);
        const a = (await checkout().repo.getAttempt(id))!;
        const placed = await orders().findByCheckout(id);
        const payment = await payments().findByCheckout(id);
        const level = await stock(skuId);
        // the hold it found was its own, committed: finished, not refused as sold out
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.deepEqual([res.body.checkoutId, a.status, placed.length, payment?.status], [id, 'completed', 1, 'captured']);
        assert.deepEqual([level.onHand, level.reserved], [0, 0]);
      });

      it('completes a checkout that died after "ordered": both merchants\' orders paid by one capture', async () => {
        const { id, skuIds } = await crashedAttempt('ordered', 2);
        await settle();
        const a = (await checkout().repo.getAttempt(id))!;
        assert.equal(a.status, 'completed');
        assert.deepEqual((await orders().findByCheckout(id)).map((o) => o.status), ['paid', 'paid']);
        assert.equal((await payments().findByCheckout(id))?.capturedMinor, 2 * (4000 + taxOf(4000)));
        for (const skuId of skuIds) assert.deepEqual([(await stock(skuId)).onHand, (await stock(skuId)).reserved], [2, 0]);
      });

      /** Checks that a checkout whose capture was refused left nothing behind: orders cancelled, stock back, no money. */
      const assertCaptureRefusedUndone = async (id: string, skuIds: string[], shopperToken: string) => {
        const a = (await checkout().repo.getAttempt(id))!;
        assert.deepEqual([a.status, a.failure_code, a.undone], ['failed', 'capture_refused', true]);
        assert.deepEqual(a.failure_details, { reason: 'not_capturable' });
        const placed = await orders().findByCheckout(id);
        assert.equal(placed.length, skuIds.length);
        for (const o of placed) {
          const view = await t.request({ url: `/v1/orders/${o.id}`, token: shopperToken });
          assert.deepEqual([view.body.status, view.body.cancelReason, view.body.refunds.length], ['cancelled', 'capture_refused', 0]);
          assert.deepEqual(view.body.history.map((h: any) => h.type), ['placed', 'cancelled']);
        }
        const payment = await payments().findByCheckout(id);
        assert.deepEqual([payment?.status, payment?.capturedMinor], ['voided', 0]);
        // stock conserved: the sold units came back exactly once (not once by the orders and again by the checkout)
        for (const skuId of skuIds) assert.deepEqual([(await stock(skuId)).onHand, (await stock(skuId)).reserved], [4, 0]);
        const failed = await sql<{ payload: any }>`SELECT payload FROM outbox.events WHERE name = 'checkout.checkout.failed' AND payload->>'checkoutId' = ${id}`.execute(t.app.db);
        assert.deepEqual(failed.rows.map((r) => r.payload.reason), ['capture_refused']);
      };

      it('a capture refused during recovery cancels every order, restocks, and fails the attempt capture_refused', async () => {
        const { id, skuIds, shopper, paymentId } = await crashedAttempt('ordered', 2);
        // the authorization went away before the capture (here: voided at the provider), so the capture is refused
        assert.ok((await payments().void(paymentId!)).ok);
        await settle();
        await assertCaptureRefusedUndone(id, skuIds, shopper.token);
        await settle(); // a second sweep changes nothing
        await assertCaptureRefusedUndone(id, skuIds, shopper.token);
        assert.deepEqual(await eventsOf(id), ['failed']); // the crashed steps before it were written without events
      });

      it('a cart checkout whose capture is refused gives the shopper their cart lines back, once', async () => {
        const { id, skuIds, shopper, paymentId } = await crashedAttempt('ordered', 2, true);
        const cartLines = async () => (await t.request({ url: '/v1/cart', token: shopper.token })).body.lines.map((l: any) => [l.skuId, l.quantity]).sort();
        assert.deepEqual(await cartLines(), [], 'the lines left the cart when the orders were placed');
        assert.ok((await payments().void(paymentId!)).ok);
        await settle();
        await assertCaptureRefusedUndone(id, skuIds, shopper.token);
        assert.deepEqual(await cartLines(), skuIds.map((s) => [s, 2]).sort(), 'nothing was paid, so the cart is as it was');
        await settle();
        assert.deepEqual(await cartLines(), skuIds.map((s) => [s, 2]).sort());
      });

      it('a capture refused in the live request answers 402 capture_refused, leaves nothing behind, and replays', async () => {
        const { id, skuIds, key, shopper, paymentId } = await crashedAttempt('ordered', 2);
        assert.ok((await payments().void(paymentId!)).ok);
        // the shopper's retry with the same key, once the dead runner's lock lapsed, takes the attempt over in the
        // request (not the sweeper) and runs the capture
        (t.clock as ManualClock).advance(ATTEMPT_LOCK_MS + 1000);
        const res = await buyNow(shopper.token, { skuId: skuIds[0], quantity: 2 }, key);
        assert.equal(res.status, 402, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'capture_refused');
        assert.deepEqual(res.body.error.details, { reason: 'not_capturable' });
        await assertCaptureRefusedUndone(id, skuIds, shopper.token);
        const replay = await buyNow(shopper.token, { skuId: skuIds[0], quantity: 2 }, key);
        assert.deepEqual([replay.status, replay.headers['idempotent-replayed']], [402, 'true']);
        assert.deepEqual(replay.body, res.body);
        await settle(); // nothing left for the sweeper
        await assertCaptureRefusedUndone(id, skuIds, shopper.token);
      });

      it('a runner a re-hold behind cannot record its holder over a newer one (two holds would be committed for one order)', async () => {
        const { id } = await crashedAttempt('authorized');
        const repo = checkout().repo;
        const seen = (await repo.getAttempt(id))!;
        const reHold = (holderId: string) =>
          repo.transitionMany(repo.db, [{ id, from: ['authorized'], patch: { holder_id: holderId }, base: seen, holder: seen.holder_id }], t.clock.now(), ATTEMPT_LOCK_MS);
        const [first] = await reHold(`${id}.r2`);
        assert.equal(first?.holder_id, `${id}.r2`);
        // a second runner that read the attempt before that re-hold: same status, older holder, so its move loses
        assert.deepEqual(await reHold(`${id}.r3`), [null]);
        assert.deepEqual(await reHold(`${id}.r2`), [null]);
        assert.equal((await repo.getAttempt(id))!.holder_id, `${id}.r2`);
        // a move that keeps the holder is not held to it
        const [moved] = await repo.transitionMany(repo.db, [{ id, from: ['authorized'], patch: { failure_code: null }, base: seen }], t.clock.now(), ATTEMPT_LOCK_MS);
        assert.equal(moved?.holder_id, `${id}.r2`);
      });

      it('re-holds stock when the hold lapsed before the crash was recovered', async () => {
        const { id, skuId } = await crashedAttempt('authorized');
        (t.clock as ManualClock).advance(11 * 60_000); // past the reservation TTL (10 min)
        await inventory().expireReservations();
        assert.equal((await stock(skuId)).reserved, 0);
        await settle();
        const a = (await checkout().repo.getAttempt(id))!;
        assert.equal(a.status, 'completed');
        const level = await stock(skuId);
        assert.deepEqual([level.onHand, level.reserved], [2, 0]);
      });
    });
  });
}
