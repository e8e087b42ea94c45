import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { SimulatedPayoutProvider } from '../src/contexts/earnings';
import { DAY, type ManualClock } from '../src/platform/clock';
import type { EventMap, EventName } from '../src/platform/events';
import { newId } from '../src/platform/ids';
import { backends, creatorProfile, startTestApp, type TestApp } from './support/harness';

// QA pass 3 of creator earnings: a clawback after a payout whose transfer cannot be reversed, the bounds of a
// statement month, and the order of the ledger and payout lists (each by the time they show, across cursor pages).

const word = () => randomBytes(4).toString('hex');
const HOLD_DAYS = 30;
const MINIMUM = 1_000;

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

for (const backend of backends()) {
  describe(`earnings QA 3 [${backend.name}]`, () => {
    let t: TestApp;
    let clock: ManualClock;
    let admin: { token: string };
    before(async () => {
      t = await startTestApp(backend, {
        config: { earningsHoldDays: HOLD_DAYS, payoutMinimumMinor: MINIMUM, defaultCommissionBps: 1_000, payoutScheduleHours: 24 * 7, sessionTtlHours: 24 * 365 * 20 },
      });
      clock = t.clock as ManualClock;
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const sim = () => t.app.contexts.earnings.provider as SimulatedPayoutProvider;
    const drain = () => t.app.outbox.drain();
    async function publish<N extends EventName>(name: N, payload: EventMap[N]): Promise<void> {
      await t.app.db.transaction().execute((trx) => t.app.outbox.publish(trx, name, payload));
    }

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

    const line = (c: Creator, m: Merchant, basis: number, currency = 'EUR'): Line => ({
      orderId: newId('order'),
      lineId: newId('orderLine'),
      merchantId: m.merchantId,
      productId: m.productId,
      creatorId: c.creatorId,
      postId: newId('post'),
      tagId: newId('tag'),
      currency,
      basis,
      orderedAt: clock.now().toISOString(),
    });
    const facts = (l: Line) => ({ orderId: l.orderId, lineId: l.lineId, merchantId: l.merchantId, productId: l.productId, accountId: null, currency: l.currency, orderedAt: l.orderedAt });
    const commissionable = (l: Line, amountMinor: number) => ({ creatorId: l.creatorId, postId: l.postId, tagId: l.tagId, amountMinor });
    const credit = (l: Line) => publish('attribution.line.credited', { ...facts(l), quantity: 1, netAmountMinor: l.basis, credits: [], commissionable: commissionable(l, l.basis) });
    /** The attribution reversal a refund of `amount` of the line publishes (a full refund: amount = basis). */
    const reverse = (l: Line, amount: number) =>
      publish('attribution.line.reversed', {
        ...facts(l),
        refundId: newId('refund'),
        at: clock.now().toISOString(),
        quantity: -1,
        netAmountMinor: -amount,
        credits: [],
        commissionable: commissionable(l, -amount),
        originalCommissionable: commissionable(l, l.basis),
      });
    const deliver = (l: Line) =>
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
    /** A credited and delivered line with the clock moved past its hold: its commission (10% of basis) is payable. */
    const earned = async (c: Creator, m: Merchant, basis: number, currency = 'EUR') => {
      const l = line(c, m, basis, currency);
      await credit(l);
      await deliver(l);
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      return l;
    };

    const balancesOf = (b: { balances: any[] }, currency = 'EUR') => {
      const x = b.balances.find((y) => y.currency === currency);
      return x ? { pending: x.pendingMinor, available: x.availableMinor, inTransit: x.inTransitMinor, paid: x.paidMinor, carry: x.negativeCarryMinor } : null;
    };
    const eur = async (c: Creator) => {
      const res = await t.request({ url: '/v1/creator/earnings', token: c.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return balancesOf(res.body);
    };
    /** The admin's support view of the same creator. */
    const eurForAdmin = async (c: Creator) => {
      const res = await t.request({ url: `/v1/admin/creators/${c.creatorId}/earnings`, token: admin.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return balancesOf(res.body);
    };
    const registerAccount = async (c: Creator) => {
      const res = await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: c.token, body: { accountId: `acct_${word()}` } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const payOut = (c: Creator, currency = 'EUR') => t.request({ method: 'POST', url: '/v1/creator/payouts', token: c.token, headers: { 'idempotency-key': word() }, body: { currency } });
    const reversePayout = (payoutId: string, amountMinor: number) =>
      t.request({ method: 'POST', url: `/v1/admin/payouts/${payoutId}/reversals`, token: admin.token, headers: { 'idempotency-key': word() }, body: { amountMinor } });
    const reconcile = async () => {
      const res = await t.request({ url: '/v1/admin/earnings/reconcile', token: admin.token });
      assert.equal(res.status, 200);
      return res.body.discrepancies as unknown[];
    };
    /** Every item of a keyset list, `limit` per page, following nextCursor. */
    async function allPages(url: string, token: string, limit: number): Promise<any[]> {
      const items: any[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await t.request({ url: `${url}${url.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        items.push(...res.body.items);
        cursor = res.body.nextCursor;
      } while (cursor);
      return items;
    }
    const newestFirst = (items: Array<{ createdAt: string }>) => items.every((x, i) => i === 0 || items[i - 1]!.createdAt >= x.createdAt);

    it('a refund after a payout whose transfer cannot be reversed leaves a carry the creator and the admin see; a reversal that succeeds later is not counted twice', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      const l = await earned(c, m, 30_000); // 10%: 3000
      const paid = await payOut(c);
      assert.equal(paid.status, 201, JSON.stringify(paid.body));
      assert.deepEqual([paid.body.amountMinor, paid.body.status], [3_000, 'sent']);
      const transfers = (await sim().transfers()).length;

      // the whole line is refunded after the payout: no transfer reversal is asked, the commission comes back as debt
      await reverse(l, 30_000);
      await drain();
      const owed = { pending: 0, available: -3_000, inTransit: 0, paid: 3_000, carry: 3_000 };
      assert.deepEqual(await eur(c), owed, 'the creator sees what they owe');
      assert.deepEqual(await eurForAdmin(c), owed, 'and so does the admin');
      const ledger = await t.request({ url: '/v1/creator/earnings/ledger?limit=1', token: c.token });
      assert.deepEqual(ledger.body.items.map((e: any) => [e.kind, e.bucket, e.amountMinor, e.orderId]), [['reversal', 'available', -3_000, l.orderId]]);

      // the provider refuses to take the money back (more than was sent): nothing changes, the debt stays
      const refused = await reversePayout(paid.body.id, 3_001);
      assert.deepEqual([refused.status, refused.body.error?.code], [409, 'payout_not_reversible']);
      assert.deepEqual(await eur(c), owed);
      // a payout now is refused: the carry is not paid out again
      const none = await payOut(c);
      assert.deepEqual([none.status, none.body.error?.code, none.body.error?.details], [422, 'payout_below_minimum', { availableMinor: -3_000, minimumMinor: MINIMUM }]);
      assert.equal((await sim().transfers()).length, transfers, 'no transfer was made');
      assert.deepEqual(await reconcile(), []);

      // the provider does take 1000 back: that part of the debt is settled, once (paid −1000, the carry −1000)
      const reversed = await reversePayout(paid.body.id, 1_000);
      assert.equal(reversed.status, 200, JSON.stringify(reversed.body));
      assert.equal(reversed.body.reversedMinor, 1_000);
      const settled = { pending: 0, available: -2_000, inTransit: 0, paid: 2_000, carry: 2_000 };
      assert.deepEqual(await eur(c), settled);
      assert.deepEqual(await eurForAdmin(c), settled);
      // the provider's own event about that reversal books nothing more
      await sim().deliver(sim().events.at(-1)!);
      assert.deepEqual(await eur(c), settled);

      // the next commission makes up the rest of the debt first, and the next payout pays only what is left
      await earned(c, m, 50_000); // +5000
      assert.deepEqual(await eur(c), { pending: 0, available: 3_000, inTransit: 0, paid: 2_000, carry: 0 });
      const next = await payOut(c);
      assert.deepEqual([next.status, next.body.amountMinor], [201, 3_000]);
      // the creator kept 5000 of the 8000 earned, less 3000 refunded, and nothing more
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 5_000, carry: 0 });
      assert.deepEqual(await reconcile(), []);
    });

    it('a statement month is 1970-01 to 9999-12: a year below it (0099-01 read as 1999-01) is 400 invalid_month and releases nothing', async () => {
      const c = await creator();
      const m = await merchant();
      await earned(c, m, 10_000); // delivered, hold elapsed, not released until something reads the balances
      const entries = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM earnings.ledger_entries WHERE creator_id = ${c.creatorId}`.execute(t.app.db)).rows[0]!.n;
      assert.equal(await entries(), 1, 'the commission only');
      for (const month of ['0099-01', '0000-01', '0999-12', '1969-12', '10000-01', '1999-1', '1999-00', '+1999-01', '１９９９-01']) {
        const res = await t.request({ url: `/v1/creator/statements/${encodeURIComponent(month)}`, token: c.token });
        assert.deepEqual([res.status, res.body.error?.code], [400, 'invalid_month'], month);
        assert.match(res.body.error.message, /1970-01 to 9999-12/);
      }
      assert.equal(await entries(), 1, 'a refused month changed nothing');
      for (const month of ['1970-01', '9999-12']) {
        const res = await t.request({ url: `/v1/creator/statements/${month}`, token: c.token });
        assert.equal(res.status, 200, `${month}: ${JSON.stringify(res.body)}`);
        const rows = String(res.body).trim().split('\r\n');
        assert.equal(rows.filter((r) => r.startsWith('entry,')).length, 0, `${month} has no entries`);
      }
      const first = String((await t.request({ url: '/v1/creator/statements/1970-01', token: c.token })).body);
      assert.equal(first, 'row,date,entry_id,kind,bucket,currency,amount_minor,order_id,payout_id\r\n', 'nothing was booked by then');
      const last = String((await t.request({ url: '/v1/creator/statements/9999-12', token: c.token })).body);
      assert.ok(last.includes('closing,+010000-01-01T00:00:00.000Z,,,available,EUR,1000,,'), 'the last month closes with everything');
    });

    it('the ledger and the payouts list newest first by the time they show, across cursor pages, when an id was minted after a later entry’s', async () => {
      const c = await creator();
      const m = await merchant();
      await registerAccount(c);
      const first = line(c, m, 20_000);
      await credit(first);
      await deliver(first);
      await drain();
      clock.advance((HOLD_DAYS + 1) * DAY);
      const releasedAt = clock.now();
      // a sale credited a minute later, while the release of the first commission (its time read at `releasedAt`) waits
      // for the commission's row lock: the release's entries get their ids after the later sale's entry
      clock.advance(60_000);
      const later = line(c, m, 5_000);
      await credit(later);
      await drain();
      clock.set(releasedAt);
      assert.equal(await t.app.contexts.earnings.service.releaseDue(c.creatorId), 1);
      clock.advance(120_000);

      const expected = [
        ['commission', 'pending', 500],
        ['release', 'available', 2_000],
        ['release', 'pending', -2_000],
        ['commission', 'pending', 2_000],
      ];
      for (const limit of [1, 2, 50]) {
        const items = await allPages('/v1/creator/earnings/ledger', c.token, limit);
        assert.deepEqual(items.map((e) => [e.kind, e.bucket, e.amountMinor]), expected, `ledger, ${limit} per page`);
        assert.ok(newestFirst(items), `ledger times, ${limit} per page`);
      }

      // two payouts: EUR made at T + 1 min, then USD whose time T was read before it waited for the creator's payout lock
      await earned(c, m, 20_000, 'USD');
      const at = clock.now();
      clock.advance(60_000);
      const eurPayout = await payOut(c, 'EUR');
      assert.equal(eurPayout.status, 201, JSON.stringify(eurPayout.body));
      clock.set(at);
      const usdPayout = await payOut(c, 'USD');
      assert.equal(usdPayout.status, 201, JSON.stringify(usdPayout.body));
      clock.advance(120_000);
      for (const limit of [1, 50]) {
        for (const [url, token] of [['/v1/creator/payouts', c.token], [`/v1/admin/payouts?creatorId=${c.creatorId}`, admin.token]] as const) {
          const items = await allPages(url, token, limit);
          assert.deepEqual(items.map((p) => p.currency), ['EUR', 'USD'], `${url}, ${limit} per page`);
          assert.ok(newestFirst(items));
        }
      }
      // every payout of the admin's list, one per page: each exactly once, newest first
      const everyone = await allPages('/v1/admin/payouts', admin.token, 1);
      assert.equal(new Set(everyone.map((p) => p.id)).size, everyone.length);
      assert.ok(newestFirst(everyone));
      assert.deepEqual(everyone.filter((p) => p.creatorId === c.creatorId).map((p) => p.currency), ['EUR', 'USD']);
      assert.deepEqual(await reconcile(), []);
    });
  });
}
