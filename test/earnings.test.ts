import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { commissionOf, reversedCommission } from '../src/contexts/earnings/earnings.service';
import { StripeConnectPayoutProvider, type SimulatedPayoutProvider } from '../src/contexts/earnings';
import type { Config } from '../src/config';
import { DAY, HOUR, type ManualClock } from '../src/platform/clock';
import type { EventMap, EventName } from '../src/platform/events';
import { newId } from '../src/platform/ids';
import * as repo from '../src/contexts/earnings/earnings.repository';
import { earningsMigrations } from '../src/contexts/earnings/earnings.migrations';
import type { AnyDb } from '../src/platform/db';
import { migrateAll } from '../src/platform/migrations';
import { backends, creatorProfile, startTestApp, type TestApp } from './support/harness';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-standin';

const word = () => randomBytes(4).toString('hex');
const HOLD_DAYS = 30;
const MINIMUM = 1_000;

/** A seeded PRNG (mulberry32): the randomized sequence is the same on every run and backend. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Line {
  orderId: string;
  lineId: string;
  merchantId: string;
  productId: string;
  creatorId: string;
  postId: string;
  tagId: string;
  currency: string;
  basis: number;
  orderedAt: string;
}

/**
 * A creator's stored balances, asserted equal to the sums of their ledger entries per currency and bucket; returned as
 * `{ 'EUR/available': -2000, … }` so a test can also state the numbers.
 */
async function balancesMatchLedger(db: AnyDb, creatorId: string, label: string): Promise<Record<string, number>> {
  const stored = await sql<{ currency: string; bucket: string; amount: number }>`
    SELECT currency, bucket, amount_minor AS amount FROM earnings.balances WHERE creator_id = ${creatorId} ORDER BY currency, bucket
  `.execute(db);
  const summed = await sql<{ currency: string; bucket: string; amount: number }>`
    SELECT currency, bucket, sum(amount_minor)::bigint AS amount FROM earnings.ledger_entries WHERE creator_id = ${creatorId} GROUP BY currency, bucket ORDER BY currency, bucket
  `.execute(db);
  assert.deepEqual(stored.rows, summed.rows, `${label}: the stored balances are the ledger's sums`);
  return Object.fromEntries(stored.rows.map((r) => [`${r.currency}/${r.bucket}`, r.amount]));
}

describe('commission arithmetic', () => {
  it('rounds half to even and a full refund nets to exactly zero', () => {
    assert.equal(commissionOf(12_345, 1_000), 1_234, '1234.5 → 1234 (even)');
    assert.equal(commissionOf(12_355, 1_000), 1_236, '1235.5 → 1236 (even)');
    assert.equal(commissionOf(4_999, 2_000), 1_000, '999.8 → 1000');
    assert.equal(commissionOf(9_007_199_254_740, 9_999), 9_006_298_534_815, 'no precision lost on large amounts');
    assert.equal(reversedCommission(1_000, 10_000, 3_333), 333);
    assert.equal(reversedCommission(1_000, 10_000, 10_000), 1_000);
    assert.equal(reversedCommission(7, 3, 3), 7);
  });
});

for (const backend of backends()) {
  describe(`earnings [${backend.name}]`, () => {
    let t: TestApp;
    let clock: ManualClock;
    let sim: SimulatedPayoutProvider;
    let admin: { token: string };
    /** (Re)starts the app; the Stripe Connect suite at the end restarts it with the Stripe payout provider. */
    async function boot(config: Partial<Config> = {}): Promise<void> {
      t = await startTestApp(backend, {
        config: { earningsHoldDays: HOLD_DAYS, payoutMinimumMinor: MINIMUM, defaultCommissionBps: 1_000, payoutScheduleHours: 24 * 7, sessionTtlHours: 24 * 365 * 20, ...config },
      });
      clock = t.clock as ManualClock;
      sim = t.app.contexts.earnings.provider as SimulatedPayoutProvider;
      admin = await t.signUp('admin');
    }
    before(() => boot());
    after(() => t.close());

    const earnings = () => t.app.contexts.earnings.service;

    async function publish<N extends EventName>(name: N, payload: EventMap[N]): Promise<void> {
      await t.app.db.transaction().execute((trx) => t.app.outbox.publish(trx, name, payload));
    }
    const drain = () => t.app.outbox.drain();

    async function creator() {
      const c = await creatorProfile(t);
      return { ...c, creatorId: c.id };
    }
    type Creator = Awaited<ReturnType<typeof creator>>;

    async function merchant() {
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: `Shop ${word()}` } });
      assert.equal(res.status, 201);
      const merchantId = res.body.id as string;
      const product = await t.app.contexts.catalog.service.createProduct(merchantId, {
        name: `Scarf ${word()}`,
        status: 'active',
        currency: 'EUR',
        variants: [{ title: 'One size', priceMinor: 5_000, stock: 100 }],
      });
      return { ...m, merchantId, productId: product.id };
    }
    type Merchant = Awaited<ReturnType<typeof merchant>>;

    const line = (c: Pick<Creator, 'creatorId'>, m: Pick<Merchant, 'merchantId' | 'productId'>, basis: number, o: Partial<Line> = {}): Line => ({
      orderId: newId('order'),
      lineId: newId('orderLine'),
      merchantId: m.merchantId,
      productId: m.productId,
      creatorId: c.creatorId,
      postId: newId('post'),
      tagId: newId('tag'),
      currency: 'EUR',
      basis,
      orderedAt: clock.now().toISOString(),
      ...o,
    });
    const facts = (l: Line) => ({ orderId: l.orderId, lineId: l.lineId, merchantId: l.merchantId, productId: l.productId, accountId: null, currency: l.currency, orderedAt: l.orderedAt });
    const commissionable = (l: Line, amountMinor: number) => ({ creatorId: l.creatorId, postId: l.postId, tagId: l.tagId, amountMinor });

    const credited = (l: Line): EventMap['attribution.line.credited'] => ({ ...facts(l), quantity: 1, netAmountMinor: l.basis, credits: [], commissionable: commissionable(l, l.basis) });
    const reversed = (l: Line, amount: number, refundId = newId('refund')): EventMap['attribution.line.reversed'] => ({
      ...facts(l),
      refundId,
      at: clock.now().toISOString(),
      quantity: -1,
      netAmountMinor: -amount,
      credits: [],
      commissionable: commissionable(l, -amount),
      originalCommissionable: commissionable(l, l.basis),
    });
    const credit = (l: Line) => publish('attribution.line.credited', credited(l));
    const reverse = (l: Line, amount: number, refundId?: string) => publish('attribution.line.reversed', reversed(l, amount, refundId));
    const deliver = (l: Pick<Line, 'orderId' | 'merchantId' | 'currency' | 'orderedAt'>) =>
      publish('orders.order.delivered', {
        orderId: l.orderId,
        checkoutId: newId('checkout'),
        merchantId: l.merchantId,
        accountId: null,
        deviceId: newId('device'),
        paymentId: newId('payment'),
        currency: l.currency,
        subtotalMinor: 0,
        taxMinor: 0,
        totalMinor: 0,
        refundedMinor: 0,
        status: 'delivered',
        fromStatus: 'shipped',
        placedAt: l.orderedAt,
        at: clock.now().toISOString(),
        lines: [],
      });

    /** A credited line, delivered, with the clock moved past the hold: its commission is payable. */
    const earned = async (c: Creator, m: Merchant, basis: number) => {
      const l = line(c, m, basis);
      await credit(l);
      await deliver(l);
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      return l;
    };
    const payoutEvents = async (c: Creator) =>
      (await sql<{ name: string }>`SELECT name FROM outbox.events WHERE payload->>'creatorId' = ${c.creatorId} AND name LIKE 'earnings.%' ORDER BY id`.execute(t.app.db)).rows.map((e) => e.name);
    const balances = async (c: Creator) => {
      const res = await t.request({ url: '/v1/creator/earnings', token: c.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as { balances: Array<{ currency: string; pendingMinor: number; availableMinor: number; inTransitMinor: number; paidMinor: number; negativeCarryMinor: number }>; nextPayoutAt: string; minimumPayoutMinor: number };
    };
    const eur = async (c: Creator) => {
      const b = (await balances(c)).balances.find((x) => x.currency === 'EUR');
      return b ? { pending: b.pendingMinor, available: b.availableMinor, inTransit: b.inTransitMinor, paid: b.paidMinor, carry: b.negativeCarryMinor } : null;
    };
    const ledger = async (c: Creator) => {
      const items: any[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await t.request({ url: `/v1/creator/earnings/ledger?limit=7${cursor ? `&cursor=${cursor}` : ''}`, token: c.token });
        assert.equal(res.status, 200);
        items.push(...res.body.items);
        cursor = res.body.nextCursor;
      } while (cursor);
      return items;
    };
    const registerAccount = async (c: Creator, accountId = `acct_${word()}`) => {
      const res = await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const payOut = (c: Creator, key = word(), currency = 'EUR') =>
      t.request({ method: 'POST', url: '/v1/creator/payouts', token: c.token, headers: { 'idempotency-key': key }, body: { currency } });
    const reconcile = async () => {
      const res = await t.request({ url: '/v1/admin/earnings/reconcile', token: admin.token });
      assert.equal(res.status, 200);
      return res.body.discrepancies as unknown[];
    };

    it('freezes the rate in force at order time: a rule changed later keeps old commissions at the old rate', async () => {
      const c = await creator();
      const m = await merchant();
      let res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules`, token: m.token, body: { rateBps: 1_500 } });
      assert.equal(res.status, 200);
      res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules/products/${m.productId}`, token: m.token, body: { rateBps: 2_000 } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.products.map((p: any) => [p.productId, p.rateBps]), [[m.productId, 2_000]]);
      assert.equal(res.body.merchantRateBps, 1_500);

      clock.advance(HOUR);
      const early = line(c, m, 4_999); // ordered under the 20% product rule
      await credit(early);
      const lateDelivered = line(c, m, 10_000); // ordered now, but its event arrives after the rule changes
      clock.advance(HOUR);
      res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules/products/${m.productId}`, token: m.token, body: { rateBps: 500 } });
      assert.equal(res.status, 200);
      await drain();
      await credit(lateDelivered);
      clock.advance(HOUR);
      const afterChange = line(c, m, 10_000);
      await credit(afterChange);
      clock.advance(HOUR);
      res = await t.request({ method: 'DELETE', url: `/v1/merchant/commission-rules/products/${m.productId}`, token: m.token });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.products, []);
      const merchantDefault = line(c, m, 12_345); // merchant default 15%: 1851.75 → 1852
      await credit(merchantDefault);
      await drain();

      const entries = await ledger(c);
      const byOrder = new Map(entries.map((e) => [e.orderId, e.amountMinor]));
      assert.equal(byOrder.get(early.orderId), 1_000, '20% of 49.99, rounded');
      assert.equal(byOrder.get(lateDelivered.orderId), 2_000, 'ordered under 20%: the late event keeps it');
      assert.equal(byOrder.get(afterChange.orderId), 500, '5% after the change');
      assert.equal(byOrder.get(merchantDefault.orderId), 1_852, 'the merchant default once the product rule is removed');
      assert.deepEqual(await eur(c), { pending: 5_352, available: 0, inTransit: 0, paid: 0, carry: 0 });

      // a platform default applies where the merchant has no rule at all
      const other = await merchant();
      await credit(line(c, other, 12_345)); // 10% of 123.45 = 1234.5 → 1234 (half to even)
      await drain();
      assert.equal((await eur(c))!.pending, 5_352 + 1_234);
    });

    it('a merchant sets only its own rules', async () => {
      const a = await merchant();
      const b = await merchant();
      let res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules/products/${a.productId}`, token: b.token, body: { rateBps: 9_000 } });
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'product_not_found');
      res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules`, token: b.token, body: { rateBps: 10_001 } });
      assert.equal(res.status, 400);
      res = await t.request({ method: 'PUT', url: `/v1/merchant/commission-rules`, token: b.token, body: { rateBps: 300 } });
      assert.equal(res.status, 200);
      res = await t.request({ url: `/v1/merchant/commission-rules`, token: a.token });
      assert.deepEqual([res.body.merchantRateBps, res.body.products, res.body.defaultBps], [null, [], 1_000], 'b changed nothing of a');
      const noShop = await t.signUp('merchant');
      res = await t.request({ url: `/v1/merchant/commission-rules`, token: noShop.token });
      assert.equal(res.body.error.code, 'merchant_profile_required');
    });

    it('holds a commission until earningsHoldDays after delivery; an undelivered order stays pending', async () => {
      const c = await creator();
      const m = await merchant();
      const delivered = line(c, m, 20_000);
      const never = line(c, m, 30_000);
      await credit(delivered);
      await credit(never);
      await drain();
      assert.deepEqual(await eur(c), { pending: 5_000, available: 0, inTransit: 0, paid: 0, carry: 0 });
      clock.advance(3 * DAY);
      await deliver(delivered);
      await drain();
      clock.advance((HOLD_DAYS - 1) * DAY);
      await t.app.sweep();
      assert.deepEqual(await eur(c), { pending: 5_000, available: 0, inTransit: 0, paid: 0, carry: 0 }, 'not before delivery + hold');
      clock.advance(DAY);
      assert.deepEqual(await eur(c), { pending: 3_000, available: 2_000, inTransit: 0, paid: 0, carry: 0 }, 'available once the hold elapsed');
      clock.advance(365 * DAY);
      await t.app.sweep();
      assert.equal((await eur(c))!.pending, 3_000, 'never delivered: never payable');
      assert.deepEqual(await reconcile(), []);
    });

    it('a refund before payout reduces the commission pro rata; a full refund nets to exactly zero', async () => {
      const c = await creator();
      const m = await merchant();
      const l = line(c, m, 10_000); // 1000 commission
      await credit(l);
      await drain();
      await reverse(l, 3_333);
      await drain();
      assert.equal((await eur(c))!.pending, 667, '1000 − round(1000 × 3333 / 10000)');
      const refundId = newId('refund');
      await reverse(l, 6_667, refundId);
      await reverse(l, 6_667, refundId); // redelivered: counted once
      await drain();
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 0, carry: 0 });

      // released first, then refunded: the reduction comes out of available
      const l2 = await earned(c, m, 8_000); // 800
      await reverse(l2, 2_000);
      await drain();
      assert.deepEqual(await eur(c), { pending: 0, available: 600, inTransit: 0, paid: 0, carry: 0 });
      assert.deepEqual(await reconcile(), []);
    });

    it('a reversal delivered before its credit, and duplicate events, are each counted once', async () => {
      const c = await creator();
      const m = await merchant();
      const l = line(c, m, 10_000);
      await reverse(l, 4_000);
      await drain();
      assert.equal((await eur(c))!.pending, 600, 'the reversal alone created the commission from originalCommissionable');
      await credit(l);
      await credit(l);
      await deliver(l);
      await deliver(l);
      await drain();
      assert.equal((await eur(c))!.pending, 600);
      const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM earnings.commissions WHERE line_id = ${l.lineId}`.execute(t.app.db);
      assert.equal(rows.rows[0]!.n, 1);
      assert.deepEqual(await reconcile(), []);
    });

    it('pays out on demand once per Idempotency-Key; refuses below the minimum; a refund after payout is netted from the next', async () => {
      const c = await creator();
      const m = await merchant();
      let res = await payOut(c);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'payout_account_required');
      res = await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId: 'acct_invalid1' } });
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'payout_account_invalid');
      await registerAccount(c);

      await earned(c, m, 5_000); // 500 < minimum
      res = await payOut(c);
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'payout_below_minimum');
      assert.deepEqual(res.body.error.details, { availableMinor: 500, minimumMinor: MINIMUM });

      const big = await earned(c, m, 15_000); // +1500
      const before = (await sim.transfers()).length;
      const key = word();
      const first = await payOut(c, key);
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(first.body.amountMinor, 2_000);
      assert.equal(first.body.status, 'sent');
      const again = await payOut(c, key);
      assert.equal(again.status, 201);
      assert.equal(again.body.id, first.body.id, 'same key: the first payout, not a second');
      const reused = await payOut(c, key, 'USD');
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error.code, 'idempotency_key_reused');
      assert.equal((await sim.transfers()).length, before + 1);
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 2_000, carry: 0 });
      res = await payOut(c);
      assert.equal(res.body.error.code, 'payout_below_minimum', 'nothing left to pay');

      // the big order is fully refunded after it was paid out: a negative carry
      await reverse(big, 15_000);
      await drain();
      assert.deepEqual(await eur(c), { pending: 0, available: -1_500, inTransit: 0, paid: 2_000, carry: 1_500 });
      await earned(c, m, 30_000); // +3000
      res = await payOut(c);
      assert.equal(res.status, 201);
      assert.equal(res.body.amountMinor, 1_500, 'the next payout nets the refund');
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 3_500, carry: 0 });
      const list = await t.request({ url: '/v1/creator/payouts', token: c.token });
      assert.deepEqual(list.body.items.map((p: any) => [p.amountMinor, p.status, p.trigger]), [[1_500, 'sent', 'on_demand'], [2_000, 'sent', 'on_demand']]);
      assert.deepEqual(await payoutEvents(c), ['earnings.payout.sent', 'earnings.payout.sent']);
      assert.deepEqual(await reconcile(), []);
    });

    it('a provider refusal leaves the money available; an unanswered transfer is settled by the sweep with the same key', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      await earned(c, m, 25_000); // 2500

      sim.failNext('rejected');
      let res = await payOut(c);
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'payout_failed');
      assert.deepEqual(await eur(c), { pending: 0, available: 2_500, inTransit: 0, paid: 0, carry: 0 }, 'money stays available');
      const failed = await t.app.contexts.earnings.service.getPayout(res.body.error.details.payoutId);
      assert.equal(failed?.status, 'failed');

      // the provider makes the transfer but we never hear back (timeout, or a crash before our commit)
      const transfersBefore = (await sim.transfers()).length;
      sim.failNext('unavailable_after_commit');
      res = await payOut(c);
      assert.equal(res.status, 202);
      assert.equal(res.body.status, 'processing');
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 2_500, paid: 0, carry: 0 });
      res = await payOut(c);
      assert.equal(res.body.error.code, 'payout_in_progress', 'the in-flight amount cannot be paid twice');
      await t.app.sweep();
      assert.equal((await eur(c))!.inTransit, 2_500, 'retried only once the attempt is stale');
      clock.advance(2 * 60_000);
      await t.app.sweep();
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 2_500, carry: 0 });
      assert.equal((await sim.transfers()).length, transfersBefore + 1, 'the replay found the first transfer');
      assert.deepEqual(await payoutEvents(c), ['earnings.payout.failed', 'earnings.payout.sent']);
      assert.deepEqual(await reconcile(), []);
    });

    it('two payout requests at once pay the balance once', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      await earned(c, m, 50_000);
      const answers = await Promise.all([payOut(c), payOut(c), payOut(c)]);
      const statuses = answers.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(answers.map((r) => r.body)));
      assert.ok(answers.every((r) => r.status === 201 || ['payout_in_progress', 'payout_below_minimum'].includes(r.body.error?.code)));
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 5_000, carry: 0 });
      assert.deepEqual(await reconcile(), []);
    });

    it('the sweep pays creators on the schedule, once per period', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      const first = line(c, m, 12_000);
      const second = line(c, m, 12_000);
      await credit(first);
      await credit(second);
      await deliver(first);
      await drain();
      clock.advance(3 * DAY);
      await deliver(second);
      await drain();
      clock.advance((HOLD_DAYS - 3) * DAY + HOUR);
      await t.app.sweep();
      assert.deepEqual(await eur(c), { pending: 1_200, available: 0, inTransit: 0, paid: 1_200, carry: 0 }, 'the first is paid on schedule');
      clock.advance(4 * DAY);
      await t.app.sweep();
      assert.deepEqual(await eur(c), { pending: 0, available: 1_200, inTransit: 0, paid: 1_200, carry: 0 }, 'released, but the last payout was 4 days ago');
      const summary = await balances(c);
      assert.equal(summary.minimumPayoutMinor, MINIMUM);
      assert.equal(summary.nextPayoutAt, new Date(clock.now().getTime() + 3 * DAY).toISOString());
      clock.advance(3 * DAY);
      await t.app.sweep();
      const paid = await t.request({ url: '/v1/creator/payouts', token: c.token });
      assert.deepEqual(paid.body.items.map((p: any) => [p.amountMinor, p.trigger, p.status]), [[1_200, 'scheduled', 'sent'], [1_200, 'scheduled', 'sent']]);
      const all = await t.request({ url: `/v1/admin/payouts?creatorId=${c.creatorId}`, token: admin.token });
      assert.equal(all.body.items.length, 2);
      assert.deepEqual(await reconcile(), []);
    });

    it('a creator reads only their own earnings, ledger and statements', async () => {
      const a = await creator();
      const b = await creator();
      const m = await merchant();
      await credit(line(a, m, 10_000));
      await drain();
      assert.equal((await eur(a))!.pending, 1_000);
      assert.deepEqual((await balances(b)).balances, [], 'b sees none of a');
      assert.deepEqual(await ledger(b), []);
      const month = clock.now().toISOString().slice(0, 7);
      const csv = await t.request({ url: `/v1/creator/statements/${month}`, token: b.token });
      assert.equal(csv.status, 200);
      assert.ok(!String(csv.body).includes('entry,'), 'b’s statement lists no entry of a');
      const noProfile = await t.signUp('creator');
      const res = await t.request({ url: '/v1/creator/earnings', token: noProfile.token });
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'creator_profile_required');
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ url: '/v1/creator/earnings', token: shopper.token })).status, 403);
      assert.equal((await t.request({ url: '/v1/admin/earnings/reconcile', token: a.token })).status, 403);
      assert.equal((await t.request({ url: `/v1/admin/creators/${a.creatorId}/earnings`, token: b.token })).status, 403);
      const support = await t.request({ url: `/v1/admin/creators/${a.creatorId}/earnings`, token: admin.token });
      assert.equal(support.body.balances[0].pendingMinor, 1_000, 'an admin sees any creator');
    });

    it('the admin support view answers 404 for a creator that does not exist, and empty balances for one without earnings', async () => {
      const look = (id: string) => t.request({ url: `/v1/admin/creators/${id}/earnings`, token: admin.token });
      const unknown = await look(newId('creator'));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'creator_not_found');
      const malformed = await look('cre_nope');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, 'validation_failed');
      const fresh = await creator();
      const res = await look(fresh.creatorId);
      assert.equal(res.status, 200);
      assert.deepEqual([res.body.balances, res.body.minimumPayoutMinor], [[], MINIMUM]);
    });

    it('a monthly statement is a CSV download: opening balances, the month’s entries, closing balances', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      const now = clock.now();
      const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 10, 10));
      clock.set(start);
      const month1 = start.toISOString().slice(0, 7);
      const month2 = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 15, 10)).toISOString().slice(0, 7);
      const l = line(c, m, 20_000);
      await credit(l);
      await deliver(l);
      await drain();
      clock.set(`${month2}-15T10:00:00Z`); // hold elapsed
      const res0 = await payOut(c);
      assert.equal(res0.status, 201);
      await reverse(l, 5_000); // −500 out of available after payout
      await drain();

      const list = await t.request({ url: '/v1/creator/statements', token: c.token });
      assert.deepEqual(list.body.items.map((x: any) => x.month), [month2, month1]);
      const res = await t.request({ url: `/v1/creator/statements/${month2}`, token: c.token });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/csv/);
      assert.match(String(res.headers['content-disposition']), new RegExp(`^attachment; filename=".*${month2}\\.csv"$`));
      const rows = String(res.body).trim().split('\r\n').map((r) => r.split(','));
      assert.deepEqual(rows[0], ['row', 'date', 'entry_id', 'kind', 'bucket', 'currency', 'amount_minor', 'order_id', 'payout_id']);
      const balanceOf = (kind: string) => Object.fromEntries(rows.filter((r) => r[0] === kind).map((r) => [r[4], Number(r[6])]));
      assert.deepEqual(balanceOf('opening'), { pending: 2_000, available: 0, in_transit: 0, paid: 0 });
      assert.deepEqual(balanceOf('closing'), { pending: 0, available: -500, in_transit: 0, paid: 2_000 });
      const entries = rows.filter((r) => r[0] === 'entry');
      assert.deepEqual(
        entries.map((r) => [r[3], r[4], Number(r[6])]),
        [
          ['release', 'pending', -2_000],
          ['release', 'available', 2_000],
          ['payout', 'available', -2_000],
          ['payout', 'in_transit', 2_000],
          ['payout_paid', 'in_transit', -2_000],
          ['payout_paid', 'paid', 2_000],
          ['reversal', 'available', -500],
        ],
      );
      const march = await t.request({ url: `/v1/creator/statements/${month1}`, token: c.token });
      assert.ok(String(march.body).includes(`entry,${start.toISOString()},`));
      const bad = await t.request({ url: '/v1/creator/statements/2027-13', token: c.token });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_month');
    });

    it('the ledger is append-only: UPDATE and DELETE are refused by the database', async () => {
      const c = await creator();
      const m = await merchant();
      await credit(line(c, m, 10_000));
      await drain();
      await assert.rejects(sql`UPDATE earnings.ledger_entries SET amount_minor = 1 WHERE creator_id = ${c.creatorId}`.execute(t.app.db), /append-only/);
      await assert.rejects(sql`DELETE FROM earnings.ledger_entries WHERE creator_id = ${c.creatorId}`.execute(t.app.db), /append-only/);
      assert.equal((await eur(c))!.pending, 1_000);
    });

    it('after a randomized sequence of credits, reversals, deliveries, clock moves, payouts and transfer reversals the books always reconcile', async () => {
      const rand = prng(20261124);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const m = await merchant();
      const creators = [await creator(), await creator(), await creator()];
      for (const c of creators.slice(0, 2)) await registerAccount(c);
      const lines: Array<Line & { reversed: number; delivered: boolean }> = [];
      const paidByApi = new Map<string, number>();
      for (let step = 0; step < 60; step++) {
        const r = rand();
        if (r < 0.3 || lines.length === 0) {
          const l = { ...line(pick(creators), m, 100 + Math.floor(rand() * 40_000)), reversed: 0, delivered: false };
          lines.push(l);
          if (rand() < 0.2) await reverse(l, 0); // a zero reversal before the credit still creates the commission
          await credit(l);
          if (rand() < 0.2) await credit(l); // redelivery
        } else if (r < 0.45) {
          const l = pick(lines);
          const left = l.basis - l.reversed;
          if (left > 0) {
            const amount = rand() < 0.3 ? left : 1 + Math.floor(rand() * left);
            l.reversed += amount;
            await reverse(l, amount);
          }
        } else if (r < 0.65) {
          const l = pick(lines);
          if (!l.delivered && rand() < 0.8) {
            l.delivered = true;
            await deliver(l);
          }
        } else if (r < 0.8) {
          clock.advance(Math.floor(rand() * 20 * DAY));
        } else if (r < 0.9) {
          const c = pick(creators);
          if (rand() < 0.25) sim.failNext(pick(['rejected', 'unavailable', 'unavailable_after_commit'] as const));
          const res = await payOut(c);
          assert.ok([201, 202, 409, 422, 502].includes(res.status), `${res.status} ${JSON.stringify(res.body)}`);
        } else {
          clock.advance(2 * 60_000);
          await t.app.sweep();
          // the provider takes back part or all of what is left of a sent payout; an older event arrives again late
          const sent = (
            await sql<{ provider_ref: string; left: number }>`
              SELECT provider_ref, amount_minor - reversed_minor AS left FROM earnings.payouts
              WHERE status = 'sent' AND creator_id IN (${sql.join(creators.map((c) => c.creatorId))}) ORDER BY id
            `.execute(t.app.db)
          ).rows;
          if (sent.length > 0) {
            const { provider_ref: ref, left } = pick(sent);
            await sim.reverseTransfer(ref, rand() < 0.3 ? Number(left) : 1 + Math.floor(rand() * Number(left)), word());
            if (rand() < 0.5) await sim.deliver({ ...pick(sim.events.filter((e) => e.transfer?.ref === ref)), id: `evt_late_${word()}` });
          }
        }
        if (step % 5 === 4) {
          await drain();
          assert.deepEqual(await reconcile(), [], `step ${step}`);
        }
      }
      await drain();
      clock.advance(400 * DAY);
      for (let i = 0; i < 4; i++) {
        // a queued simulated failure may hit a replay: each sweep after the retry delay tries again
        clock.advance(2 * 60_000);
        await t.app.sweep();
      }
      for (const c of creators) {
        // the balances are the ledger's sums, and the total is what the model says the commissions are worth
        const entries = await ledger(c);
        const sums: Record<string, number> = { pending: 0, available: 0, in_transit: 0, paid: 0 };
        for (const e of entries) sums[e.bucket]! += e.amountMinor;
        const b = (await eur(c)) ?? { pending: 0, available: 0, inTransit: 0, paid: 0, carry: 0 };
        assert.deepEqual([b.pending, b.available, b.inTransit, b.paid], [sums.pending, sums.available, sums.in_transit, sums.paid]);
        const owed = lines
          .filter((l) => l.creatorId === c.creatorId)
          .reduce((s, l) => {
            const amount = commissionOf(l.basis, 1_000);
            return s + amount - reversedCommission(amount, l.basis, Math.min(l.reversed, l.basis));
          }, 0);
        assert.equal(b.pending + b.available + b.inTransit + b.paid, owed, 'ledger total = commissions net of refunds');
        const payouts = (await t.request({ url: `/v1/admin/payouts?creatorId=${c.creatorId}&limit=100`, token: admin.token })).body.items as any[];
        paidByApi.set(c.creatorId, payouts.reduce((s, p) => s + (p.status === 'sent' || p.status === 'reversed' ? p.amountMinor - p.reversedMinor : 0), 0));
        assert.equal(b.paid, paidByApi.get(c.creatorId), 'paid = the sent payouts less what was reversed of them');
        assert.equal(b.inTransit, 0, 'every in-flight payout was settled by the sweep');
      }
      assert.ok([...paidByApi.values()].some((v) => v > 0), 'the sequence made payouts');
      assert.ok(
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM earnings.payouts WHERE reversed_minor > 0 AND creator_id IN (${sql.join(creators.map((c) => c.creatorId))})`.execute(t.app.db)).rows[0]!.n > 0,
        'and reversed some',
      );
      assert.deepEqual(await reconcile(), []);
      assert.deepEqual(await t.app.contexts.earnings.service.reconcile(creators[0]!.creatorId), []);
    });

    it('the stored balances stay the ledger’s sums through commissions, release, failed and sent payouts, refunds and a carry', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      const matches = (label: string) => balancesMatchLedger(t.app.db, c.creatorId, label);
      const a = line(c, m, 10_000); // 1000
      const b = line(c, m, 20_000); // 2000
      const usd = line(c, m, 5_000, { currency: 'USD' }); // 500
      await credit(a);
      await credit(b);
      await credit(usd);
      await drain();
      assert.deepEqual(await matches('commissions'), { 'EUR/pending': 3_000, 'USD/pending': 500 });
      await reverse(usd, 1_000);
      await drain();
      assert.deepEqual(await matches('a refund before the release'), { 'EUR/pending': 3_000, 'USD/pending': 400 });

      await deliver(a);
      await deliver(b);
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      await earnings().releaseDue();
      assert.deepEqual(await matches('released after the hold'), { 'EUR/available': 3_000, 'EUR/pending': 0, 'USD/pending': 400 });

      sim.failNext('rejected');
      assert.equal((await payOut(c)).status, 502);
      assert.deepEqual(await matches('a refused payout: back to available'), { 'EUR/available': 3_000, 'EUR/in_transit': 0, 'EUR/pending': 0, 'USD/pending': 400 });
      sim.failNext('unavailable');
      assert.equal((await payOut(c)).status, 202);
      assert.equal((await matches('in transit'))['EUR/in_transit'], 3_000);
      clock.advance(2 * 60_000);
      await t.app.sweep();
      assert.deepEqual(await matches('paid by the replay'), { 'EUR/available': 0, 'EUR/in_transit': 0, 'EUR/paid': 3_000, 'EUR/pending': 0, 'USD/pending': 400 });

      await reverse(b, 20_000);
      await drain();
      assert.deepEqual(await matches('a refund after the payout'), { 'EUR/available': -2_000, 'EUR/in_transit': 0, 'EUR/paid': 3_000, 'EUR/pending': 0, 'USD/pending': 400 });
      assert.deepEqual(await eur(c), { pending: 0, available: -2_000, inTransit: 0, paid: 3_000, carry: 2_000 }, 'the API reads the same numbers');
      await earned(c, m, 35_000); // +3500: the carry is made up first
      assert.equal((await payOut(c)).body.amountMinor, 1_500);
      assert.deepEqual(await matches('the carry netted'), { 'EUR/available': 0, 'EUR/in_transit': 0, 'EUR/paid': 4_500, 'EUR/pending': 0, 'USD/pending': 400 });
      assert.deepEqual(await reconcile(), []);
    });

    it('reconcile reports a stored balance that drifted from the ledger', async () => {
      const c = await creator();
      const m = await merchant();
      await credit(line(c, m, 10_000));
      await drain();
      const drift = (by: number) => sql`UPDATE earnings.balances SET amount_minor = amount_minor + ${by} WHERE creator_id = ${c.creatorId} AND bucket = 'pending'`.execute(t.app.db);
      await drift(7);
      try {
        assert.deepEqual(await earnings().reconcile(c.creatorId), [
          { check: 'balances_vs_ledger', creatorId: c.creatorId, currency: 'EUR', subject: 'pending', expectedMinor: 1_000, actualMinor: 1_007 },
        ]);
      } finally {
        await drift(-7);
      }
      assert.deepEqual(await earnings().reconcile(c.creatorId), []);
    });

    it('many transactions adding to the same balances at once all land, with releases and refunds racing them', async () => {
      const c = await creator();
      const other = await creator();
      const m = await merchant();
      const lines = Array.from({ length: 40 }, (_, i) => line(i % 5 === 0 ? other : c, m, 1_000 + 37 * i));
      await Promise.all(lines.map((l) => earnings().handle('attribution.line.credited', credited(l))));
      for (const l of lines.slice(0, 20)) await deliver(l);
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      // two sweeps' releases (each one statement over both creators), refunds of released and unreleased lines, and
      // new credits, all at once: on PostgreSQL these are concurrent transactions on the same balance rows
      const refunded = lines.filter((_, i) => i % 3 === 0);
      const late = Array.from({ length: 20 }, (_, i) => line(i % 2 === 0 ? other : c, m, 2_000 + 11 * i));
      await Promise.all([
        earnings().releaseDue(),
        earnings().releaseDue(),
        ...refunded.map((l) => earnings().handle('attribution.line.reversed', reversed(l, l.basis))),
        ...late.map((l) => earnings().handle('attribution.line.credited', credited(l))),
      ]);
      for (const who of [c, other]) {
        const balances = await balancesMatchLedger(t.app.db, who.creatorId, 'after the race');
        const owed = [...lines, ...late].filter((l) => l.creatorId === who.creatorId && !refunded.includes(l)).reduce((s, l) => s + commissionOf(l.basis, 1_000), 0);
        assert.equal(Object.values(balances).reduce((s, v) => s + v, 0), owed, 'every commission and refund counted exactly once');
        assert.deepEqual(await earnings().reconcile(who.creatorId), []);
      }
    });

    it('the sweep’s due list, read from the balances, is the one the ledger’s sums give', async () => {
      const m = await merchant();
      const [due, noAccount, below, inFlight] = [await creator(), await creator(), await creator(), await creator()];
      for (const c of [due, below, inFlight]) await registerAccount(c);
      const ls = [line(due, m, 15_000), line(noAccount, m, 15_000), line(below, m, 9_000), line(inFlight, m, 15_000)];
      for (const l of ls) {
        await credit(l);
        await deliver(l);
      }
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      await earnings().releaseDue();
      sim.failNext('unavailable');
      assert.equal((await payOut(inFlight)).status, 202);

      // the query the sweep ran before the balances existed: the available entries of everyone, grouped and summed
      const fromLedger = async (notSince: Date) =>
        (
          await sql<{ creator_id: string; currency: string }>`
            SELECT l.creator_id, l.currency FROM earnings.ledger_entries l
            WHERE l.bucket = 'available'
              AND EXISTS (SELECT 1 FROM earnings.payout_accounts a WHERE a.creator_id = l.creator_id)
              AND NOT EXISTS (SELECT 1 FROM earnings.payouts o WHERE o.creator_id = l.creator_id AND o.currency = l.currency AND (o.created_at > ${notSince} OR o.status = 'processing'))
            GROUP BY l.creator_id, l.currency HAVING sum(l.amount_minor) >= ${MINIMUM}
            ORDER BY l.creator_id, l.currency
          `.execute(t.app.db)
        ).rows;
      const compare = async () => {
        const notSince = new Date(clock.now().getTime() - 24 * 7 * HOUR);
        const now = await repo.duePayouts(t.app.db, MINIMUM, notSince, 10_000);
        assert.deepEqual(now, await fromLedger(notSince));
        return now.map((d) => d.creator_id);
      };
      const listed = await compare();
      assert.ok(listed.includes(due.creatorId), 'enough available and an account');
      for (const c of [noAccount, below, inFlight]) assert.ok(!listed.includes(c.creatorId), 'no account, below the minimum, or a payout in flight');
      await t.app.sweep();
      assert.ok(!(await compare()).includes(due.creatorId), 'paid: not due again within the period');
      assert.equal((await eur(due))!.paid, 1_500);
    });

    describe('transfer reversals and account updates (simulated provider)', () => {
      const reversePayout = (payoutId: string, amountMinor: number, key = word()) =>
        t.request({ method: 'POST', url: `/v1/admin/payouts/${payoutId}/reversals`, token: admin.token, headers: { 'idempotency-key': key }, body: { amountMinor } });
      const payoutAccount = async (c: Creator) => (await t.request({ url: '/v1/creator/payout-account', token: c.token })).body;
      const simEvents = (type: string) => sim.events.filter((e) => e.type === type);

      it('books a partial then a full reversal from paid back to available, once each, whatever the order; the next scheduled payout pays it again', async () => {
        const c = await creator();
        const m = await merchant();
        await registerAccount(c);
        await earned(c, m, 30_000); // 3000
        const paid = await payOut(c);
        assert.equal(paid.status, 201);
        const payoutId = paid.body.id as string;

        const key = word();
        let res = await reversePayout(payoutId, 1_000, key);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual([res.body.status, res.body.reversedMinor], ['sent', 1_000]);
        assert.deepEqual(await eur(c), { pending: 0, available: 1_000, inTransit: 0, paid: 2_000, carry: 0 });
        res = await reversePayout(payoutId, 1_000, key);
        assert.equal(res.headers['idempotent-replayed'], 'true', 'the same key: the first reversal, not a second');
        const [first] = simEvents('transfer.reversed').slice(-1);
        await sim.deliver(first!); // the provider's event for it, redelivered: nothing new
        assert.deepEqual(await eur(c), { pending: 0, available: 1_000, inTransit: 0, paid: 2_000, carry: 0 });

        res = await reversePayout(payoutId, 2_001);
        assert.equal(res.status, 409);
        assert.deepEqual([res.body.error.code, res.body.error.details.reversibleMinor], ['payout_not_reversible', 2_000]);
        res = await reversePayout(payoutId, 2_000);
        assert.deepEqual([res.status, res.body.status, res.body.reversedMinor], [200, 'reversed', 3_000]);
        // the first event again, with a new id (an older state delivered late): the cumulative total is already past it
        await sim.deliver({ ...first!, id: `${first!.id}_late` });
        assert.deepEqual(await eur(c), { pending: 0, available: 3_000, inTransit: 0, paid: 0, carry: 0 });
        assert.equal((await reversePayout(payoutId, 1)).body.error.code, 'payout_not_reversible', 'nothing left to reverse');

        const entries = (await ledger(c)).filter((e) => e.kind === 'payout_reversed');
        assert.deepEqual(entries.map((e) => [e.bucket, e.amountMinor, e.payoutId]).sort(), [
          ['available', 1_000, payoutId],
          ['available', 2_000, payoutId],
          ['paid', -1_000, payoutId],
          ['paid', -2_000, payoutId],
        ]);
        const reversedEvents = await sql<{ payload: any }>`SELECT payload FROM outbox.events WHERE name = 'earnings.payout.reversed' AND payload->>'payoutId' = ${payoutId} ORDER BY id`.execute(t.app.db);
        assert.deepEqual(reversedEvents.rows.map((e) => [e.payload.reversedMinor, e.payload.totalReversedMinor, e.payload.amountMinor]), [[1_000, 1_000, 3_000], [2_000, 3_000, 3_000]]);
        assert.deepEqual(await reconcile(), []);

        clock.advance(24 * 7 * HOUR + HOUR);
        await t.app.sweep();
        const list = (await t.request({ url: '/v1/creator/payouts', token: c.token })).body.items;
        assert.deepEqual(list.map((p: any) => [p.amountMinor, p.status, p.trigger, p.reversedMinor]), [[3_000, 'sent', 'scheduled', 0], [3_000, 'reversed', 'on_demand', 3_000]]);
        assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 3_000, carry: 0 }, 'the reversed amount was paid again');
        assert.deepEqual(await reconcile(), []);

        // a reversal booking that drifted from the payout's reversed total is reported
        const drift = (by: number, status: string) => sql`UPDATE earnings.payouts SET reversed_minor = reversed_minor + ${by}, status = ${status} WHERE id = ${payoutId}`.execute(t.app.db);
        await drift(-1, 'sent');
        try {
          const found = await earnings().reconcile(c.creatorId);
          assert.ok(found.some((d) => d.check === 'payout_reversals' && d.subject === payoutId && d.expectedMinor === 2_999 && d.actualMinor === 3_000), JSON.stringify(found));
        } finally {
          await drift(1, 'reversed');
        }
        assert.deepEqual(await earnings().reconcile(c.creatorId), []);
      });

      it('an event about a payout still in flight settles it as sent first, then books the reversal', async () => {
        const c = await creator();
        const m = await merchant();
        await registerAccount(c);
        await earned(c, m, 12_000); // 1200
        sim.failNext('unavailable_after_commit');
        const res = await payOut(c);
        assert.equal(res.status, 202);
        const ref = (await sim.transfers()).find((x) => x.idempotencyKey === res.body.id)!.ref;
        await sim.reverseTransfer(ref, 200, word());
        const payout = await earnings().getPayout(res.body.id);
        assert.deepEqual([payout?.status, payout?.providerRef, payout?.reversedMinor], ['sent', ref, 200]);
        assert.deepEqual(await eur(c), { pending: 0, available: 200, inTransit: 0, paid: 1_000, carry: 0 });
        assert.deepEqual(await reconcile(), []);
      });

      it('an account that can no longer receive transfers is skipped by the sweep and refused on demand until it can again', async () => {
        const c = await creator();
        const m = await merchant();
        const acct = `acct_${word()}`;
        await registerAccount(c, acct);
        await sim.setAccountCapability(acct, 'inactive');
        const view = await payoutAccount(c);
        assert.deepEqual([view.accountId, view.canReceiveTransfers, view.restrictedReason], [acct, false, 'transfers capability inactive']);
        await earned(c, m, 20_000); // 2000
        const refused = await payOut(c);
        assert.deepEqual([refused.status, refused.body.error.code], [409, 'payout_account_restricted']);
        await t.app.sweep();
        assert.deepEqual(await eur(c), { pending: 0, available: 2_000, inTransit: 0, paid: 0, carry: 0 }, 'the sweep skipped it');
        const [restricted] = simEvents('account.updated').slice(-1);

        clock.advance(HOUR);
        await sim.setAccountCapability(acct, 'active');
        const usable = await payoutAccount(c);
        assert.deepEqual([usable.canReceiveTransfers, usable.restrictedReason], [true, null]);
        // the restricted state again, redelivered and as an older event under a new id: neither undoes the newer state
        await sim.deliver(restricted!);
        await sim.deliver({ ...restricted!, id: `${restricted!.id}_late` });
        assert.equal((await payoutAccount(c)).canReceiveTransfers, true);
        await t.app.sweep();
        assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 2_000, carry: 0 }, 'paid by the sweep once usable');

        // registering again after the provider restricted it is refused until the provider says it can receive
        await sim.setAccountCapability(acct, 'pending');
        const again = await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId: acct } });
        assert.deepEqual([again.status, again.body.error?.code], [422, 'payout_account_invalid']);
        assert.equal((await payoutAccount(c)).restrictedReason, 'transfers capability pending');
        assert.deepEqual(await reconcile(), []);
      });

      it('the Stripe webhook route answers 404 unknown_provider in a process paying out through the simulator', async () => {
        const res = await t.request({ method: 'POST', url: '/v1/earnings/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, payload: '{}' });
        assert.deepEqual([res.status, res.body.error.code], [404, 'unknown_provider']);
      });
    });

    describe('through Stripe Connect (the local stand-in)', () => {
      let standin: StripeStandIn;
      before(async () => {
        // signatures are dated by the app's manual clock, as the route checks them
        standin = await startStripeStandIn({ nowSeconds: () => Math.floor(clock.now().getTime() / 1000) });
        await t.close();
        await boot({
          payoutProvider: 'stripe',
          stripeSecretKey: standin.secretKey,
          stripeApiBase: standin.url,
          stripeConnectWebhookSecret: `${standin.transferWebhookSecret},${standin.connectWebhookSecret}`,
        });
      });
      after(() => standin.close());

      it('registers a connected account only when Stripe says it can receive transfers', async () => {
        const c = await creator();
        for (const accountId of ['acct_doesnotexist', standin.createAccount({ transfers: 'inactive' })]) {
          const res = await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId } });
          assert.equal(res.status, 422, accountId);
          assert.equal(res.body.error.code, 'payout_account_invalid');
        }
        const acct = standin.createAccount();
        await registerAccount(c, acct);
        const res = await t.request({ url: '/v1/creator/payout-account', token: c.token });
        assert.deepEqual([res.body.provider, res.body.accountId], ['stripe', acct]);
      });

      it('pays out with a Transfer to the connected account, idempotent across a lost answer; a refusal keeps the money available', async () => {
        const c = await creator();
        const m = await merchant();
        const acct = standin.createAccount();
        await registerAccount(c, acct);
        await earned(c, m, 40_000); // 4000

        standin.setPlatformBalance('eur', 1_000);
        let res = await payOut(c);
        assert.equal(res.status, 502, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'payout_failed');
        assert.deepEqual(await eur(c), { pending: 0, available: 4_000, inTransit: 0, paid: 0, carry: 0 }, 'refused: still available');

        standin.setPlatformBalance('eur', 1_000_000);
        standin.loseNextResponse(2); // our call and the SDK's own replay
        res = await payOut(c);
        assert.equal(res.status, 202, 'the transfer was made but its answer was lost');
        const payoutId = res.body.id as string;
        assert.equal(standin.balanceOf(acct, 'EUR'), 4_000);
        clock.advance(2 * 60_000);
        await t.app.sweep();
        const payout = await t.app.contexts.earnings.service.getPayout(payoutId);
        assert.equal(payout?.status, 'sent');
        assert.match(payout?.providerRef ?? '', /^tr_/);
        const transfer = standin.transfers.get(payout!.providerRef!)!;
        assert.deepEqual([transfer.amount, transfer.currency, transfer.destination, transfer.metadata.payout_id], [4_000, 'eur', acct, payoutId]);
        assert.equal([...standin.transfers.values()].filter((x) => x.metadata.payout_id === payoutId).length, 1, 'the replay made no second transfer');
        assert.equal(standin.balanceOf(acct, 'EUR'), 4_000, 'paid once');
        assert.equal(standin.requests.filter((r) => r.path === '/v1/transfers' && r.idempotencyKey === payoutId).length, 3, 'every call carried the payout id as key');
        assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 4_000, carry: 0 });
        assert.deepEqual(await reconcile(), []);
      });

      const webhook = (entry: { event: any; secret: string }, o: { t?: number; payload?: (p: string) => string; headers?: Record<string, string> } = {}) => {
        const { payload, headers } = standin.signedPayoutEvent(entry, o.t === undefined ? {} : { t: o.t });
        return t.request({ method: 'POST', url: '/v1/earnings/webhooks/stripe', headers: { ...headers, ...o.headers }, payload: o.payload ? o.payload(payload) : payload });
      };
      const eventsOf = (objectId: string) => standin.payoutEvents.filter((e) => e.event.data.object.id === objectId);
      /** A creator paid `basis / 10` through Stripe: the payout id and its transfer. */
      const paidThroughStripe = async (basis: number) => {
        const c = await creator();
        const m = await merchant();
        const acct = standin.createAccount();
        await registerAccount(c, acct);
        await earned(c, m, basis);
        const res = await payOut(c);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return { c, m, acct, payoutId: res.body.id as string, ref: res.body.providerRef as string };
      };

      it('a transfer reversed in the Stripe Dashboard reaches the ledger: in parts, redelivered, out of order, and paid again by the next scheduled payout', async () => {
        const { c, acct, payoutId, ref } = await paidThroughStripe(40_000); // 4000
        standin.reverseTransfer(ref, 1_000);
        standin.reverseTransfer(ref, 1_000);
        await standin.settle();
        const [e1, e2] = eventsOf(ref);
        assert.deepEqual([e1!.event.type, e1!.event.data.object.amount_reversed, e2!.event.data.object.amount_reversed], ['transfer.reversed', 1_000, 2_000]);

        let ack = await webhook(e2!);
        assert.deepEqual([ack.status, ack.body], [200, { received: true, duplicate: false }]);
        const half = { pending: 0, available: 2_000, inTransit: 0, paid: 2_000, carry: 0 };
        assert.deepEqual(await eur(c), half, 'the later event first: its cumulative total is booked');
        ack = await webhook(e1!);
        assert.deepEqual([ack.status, ack.body], [200, { received: true, duplicate: false }]);
        assert.deepEqual(await eur(c), half, 'the earlier event after it books nothing');
        ack = await webhook(e2!);
        assert.deepEqual([ack.status, ack.body], [200, { received: true, duplicate: true }]);
        assert.deepEqual(await eur(c), half, 'redelivered: nothing changes');
        assert.equal((await earnings().getPayout(payoutId))?.reversedMinor, 2_000);

        // the rest through our admin route: Stripe's reversal API, booked at once; Stripe's webhook then adds nothing
        const reversed = await t.request({ method: 'POST', url: `/v1/admin/payouts/${payoutId}/reversals`, token: admin.token, headers: { 'idempotency-key': word() }, body: { amountMinor: 2_000 } });
        assert.deepEqual([reversed.status, reversed.body.status, reversed.body.reversedMinor], [200, 'reversed', 4_000], JSON.stringify(reversed.body));
        assert.ok(standin.requests.some((r) => r.path === `/v1/transfers/${ref}/reversals` && r.idempotencyKey?.startsWith(`${payoutId}:reversal:`)));
        const e3 = eventsOf(ref).at(-1)!;
        assert.equal(e3.event.data.object.amount_reversed, 4_000);
        assert.deepEqual((await webhook(e3)).body, { received: true, duplicate: false });
        assert.deepEqual(await eur(c), { pending: 0, available: 4_000, inTransit: 0, paid: 0, carry: 0 });
        assert.equal(standin.balanceOf(acct, 'EUR'), 0, 'Stripe took it all back from the connected account');
        assert.deepEqual(await reconcile(), []);

        clock.advance(24 * 7 * HOUR + HOUR);
        await t.app.sweep();
        assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 4_000, carry: 0 });
        assert.equal(standin.balanceOf(acct, 'EUR'), 4_000, 'a new transfer paid it again');
        assert.deepEqual(await reconcile(), []);
      });

      it('refuses a missing, wrong or stale signature with 400 invalid_signature; acknowledges a transfer that is not ours and ignores it', async () => {
        const acct = standin.createAccount();
        const elsewhere = new StripeConnectPayoutProvider({ secretKey: standin.secretKey, apiBase: standin.url, timeoutMs: 2_000 });
        const made = await elsewhere.transfer({ amountMinor: 700, currency: 'EUR', destination: acct, idempotencyKey: word(), metadata: {} });
        assert.ok(made.ok);
        standin.reverseTransfer(made.ref);
        await standin.settle();
        const entry = eventsOf(made.ref).at(-1)!;
        const refused = [
          await webhook(entry, { headers: { 'stripe-signature': '' } }),
          await webhook(entry, { payload: (p) => p.replace('"amount_reversed": 700', '"amount_reversed": 70') }),
          await webhook({ ...entry, secret: standin.webhookSecret }), // the payments endpoint's secret
          await webhook(entry, { t: Math.floor(clock.now().getTime() / 1000) - 3_600 }),
        ];
        assert.deepEqual(refused.map((r) => [r.status, r.body.error?.code]), Array(4).fill([400, 'invalid_signature']));
        const ack = await webhook(entry);
        assert.deepEqual([ack.status, ack.body], [200, { received: true, duplicate: false }]);
        const stored = await sql<{ event_type: string; payout_id: string | null }>`
          SELECT event_type, payout_id FROM earnings.webhook_events WHERE provider_event_id = ${entry.event.id}
        `.execute(t.app.db);
        assert.deepEqual(stored.rows, [{ event_type: 'transfer.reversed', payout_id: null }], 'kept for audit, tied to no payout');
        assert.deepEqual(await reconcile(), []);
      });

      it('account.updated from the Connect endpoint holds the creator’s payouts until Stripe reports transfers active again', async () => {
        const c = await creator();
        const m = await merchant();
        const acct = standin.createAccount();
        await registerAccount(c, acct);
        await earned(c, m, 15_000); // 1500
        standin.setAccountTransfers(acct, 'inactive');
        const restricted = standin.payoutEvents.at(-1)!;
        assert.deepEqual([restricted.event.type, restricted.event.account, restricted.secret], ['account.updated', acct, standin.connectWebhookSecret]);
        assert.deepEqual((await webhook(restricted)).body, { received: true, duplicate: false });
        const view = (await t.request({ url: '/v1/creator/payout-account', token: c.token })).body;
        assert.deepEqual([view.accountId, view.canReceiveTransfers, view.restrictedReason], [acct, false, 'transfers capability inactive (requirements.past_due)']);
        assert.equal((await payOut(c)).body.error.code, 'payout_account_restricted');
        await t.app.sweep();
        assert.equal(standin.balanceOf(acct, 'EUR'), 0, 'the sweep sent nothing');

        clock.advance(HOUR);
        standin.setAccountTransfers(acct, 'active');
        assert.deepEqual((await webhook(standin.payoutEvents.at(-1)!)).body, { received: true, duplicate: false });
        assert.deepEqual((await webhook(restricted)).body, { received: true, duplicate: true });
        assert.equal((await t.request({ url: '/v1/creator/payout-account', token: c.token })).body.canReceiveTransfers, true);
        await t.app.sweep();
        assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 1_500, carry: 0 });
        assert.equal(standin.balanceOf(acct, 'EUR'), 1_500);
        assert.deepEqual(await reconcile(), []);
      });

      it('receives the events over HTTP as Stripe posts them', async () => {
        await t.app.http.listen({ host: '127.0.0.1', port: 0 });
        const { port } = t.app.http.server.address() as AddressInfo;
        standin.setPayoutWebhookUrl(`http://127.0.0.1:${port}/v1/earnings/webhooks/stripe`);
        try {
          const { c, ref } = await paidThroughStripe(10_000); // 1000
          standin.reverseTransfer(ref, 400);
          await standin.settle();
          assert.deepEqual(standin.payoutWebhooks.at(-1), { type: 'transfer.reversed', status: 200 });
          assert.deepEqual(await eur(c), { pending: 0, available: 400, inTransit: 0, paid: 600, carry: 0 });
        } finally {
          standin.setPayoutWebhookUrl('');
        }
      });

      it('a process paying out through Stripe without STRIPE_CONNECT_WEBHOOK_SECRET answers 404 connect_webhooks_disabled', async () => {
        const other = await startTestApp(backend, { config: { payoutProvider: 'stripe', stripeSecretKey: standin.secretKey, stripeApiBase: standin.url } });
        try {
          standin.setAccountTransfers(standin.createAccount(), 'inactive');
          const { payload, headers } = standin.signedPayoutEvent(standin.payoutEvents.at(-1)!);
          const res = await other.request({ method: 'POST', url: '/v1/earnings/webhooks/stripe', headers, payload });
          assert.deepEqual([res.status, res.body.error.code], [404, 'connect_webhooks_disabled']);
        } finally {
          await other.close();
        }
      });
    });
  });

  describe(`earnings balances migration [${backend.name}]`, () => {
    it('backfills the balances from a ledger written before them, and the trigger keeps them from then on', async () => {
      const { database, dispose } = await backend.open();
      try {
        const db = database.db;
        await migrateAll(db, [{ schema: 'earnings', migrations: { '0001_init': earningsMigrations.migrations['0001_init']! } }]);
        const at = new Date('2026-01-10T00:00:00Z');
        const [a, b] = [newId('creator'), newId('creator')];
        const commission = async (creatorId: string, currency: string, amount: number) => {
          const lineId = newId('orderLine');
          const orderId = newId('order');
          const id = await repo.insertCommission(
            db,
            { line_id: lineId, order_id: orderId, merchant_id: newId('merchant'), product_id: newId('product'), creator_id: creatorId, post_id: newId('post'), tag_id: newId('tag'), currency, ordered_at: at, basis_minor: amount * 10, rate_bps: 1_000, amount_minor: amount },
            at,
          );
          const common = { creatorId, currency, commissionId: id!, orderId };
          await repo.appendEntries(db, [{ ...common, kind: 'commission', bucket: 'pending', amountMinor: amount, sourceKey: `credit:${lineId}` }], at);
          return { ...common, release: () => repo.appendEntries(db, (['pending', 'available'] as const).map((bucket, i) => ({ ...common, kind: 'release' as const, bucket, amountMinor: i === 0 ? -amount : amount, sourceKey: `release:${id}` })), at) };
        };
        const a1 = await commission(a, 'EUR', 1_200);
        const a2 = await commission(a, 'EUR', 800);
        await commission(a, 'USD', 300);
        await commission(b, 'EUR', 450);
        await a1.release();
        await a2.release();
        await repo.appendEntries(db, [{ ...a2, kind: 'reversal', bucket: 'available', amountMinor: -200, sourceKey: `reversal:${newId('refund')}:x` }], at);
        const payoutId = newId('payout');
        await sql`
          INSERT INTO earnings.payouts (id, creator_id, currency, amount_minor, status, trigger, provider, destination, provider_ref, created_at, updated_at, settled_at)
          VALUES (${payoutId}, ${a}, 'EUR', 1000, 'sent', 'on_demand', 'simulated', 'acct_x', 'tr_x', ${at}, ${at}, ${at})
        `.execute(db);
        const move = (sourceKey: string, kind: 'payout' | 'payout_paid', from: repo.Bucket, to: repo.Bucket) =>
          repo.appendEntries(db, [{ creatorId: a, currency: 'EUR', kind, bucket: from, amountMinor: -1_000, sourceKey, payoutId }, { creatorId: a, currency: 'EUR', kind, bucket: to, amountMinor: 1_000, sourceKey, payoutId }], at);
        await move(`payout:${payoutId}`, 'payout', 'available', 'in_transit');
        await move(`settle:${payoutId}`, 'payout_paid', 'in_transit', 'paid');

        assert.deepEqual(await migrateAll(db, [earningsMigrations]), ['earnings/0002_balances', 'earnings/0003_connect_events', 'earnings/0004_payouts_by_time'], 'and 0003 over the existing payouts and entries');
        assert.deepEqual(await balancesMatchLedger(db, a, 'backfilled'), { 'EUR/available': 800, 'EUR/in_transit': 0, 'EUR/paid': 1_000, 'EUR/pending': 0, 'USD/pending': 300 });
        assert.deepEqual(await balancesMatchLedger(db, b, 'backfilled'), { 'EUR/pending': 450 });

        const later = await commission(b, 'EUR', 50);
        await later.release();
        assert.deepEqual(await balancesMatchLedger(db, b, 'kept by the trigger'), { 'EUR/available': 50, 'EUR/pending': 450 });
        assert.deepEqual((await repo.discrepancies(db, undefined)).filter((d) => d.check === 'balances_vs_ledger'), []);
      } finally {
        await database.close();
        await dispose();
      }
    });
  });
}
