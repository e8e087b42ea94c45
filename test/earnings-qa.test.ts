import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { StripeConnectPayoutProvider, type ConnectEvent, type SimulatedPayoutProvider } from '../src/contexts/earnings';
import { DAY, type ManualClock } from '../src/platform/clock';
import { activeProduct, backends, shopOwner, startTestApp, type ShopOwner, type TestApp } from './support/harness';

// Defects found by a QA pass of creator earnings and settlement through the HTTP API (commissions from attributed
// sales, holds, payouts, reversals, reconcile, the creator's and the admin's views), each with the request sequence
// that showed it.

const word = () => randomBytes(4).toString('hex');
const CARD_OK = '4242424242424242';
const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
const HOLD_DAYS = 30;
const MINIMUM = 50;

for (const backend of backends()) {
  describe(`earnings QA [${backend.name}]`, () => {
    let t: TestApp;
    let clock: ManualClock;
    let sim: SimulatedPayoutProvider;
    let admin: { token: string };
    before(async () => {
      t = await startTestApp(backend, {
        config: { earningsHoldDays: HOLD_DAYS, payoutMinimumMinor: MINIMUM, defaultCommissionBps: 1_000, payoutScheduleHours: 24 * 365 * 10, sessionTtlHours: 24 * 365 * 20 },
      });
      clock = t.clock as ManualClock;
      sim = t.app.contexts.earnings.provider as SimulatedPayoutProvider;
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const drain = () => t.app.outbox.drain();
    const req = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) =>
      t.request({ method, url, token, ...(body !== undefined ? { body } : {}), headers });

    async function creator() {
      const c = await t.signUp('creator');
      const res = await req('PUT', '/v1/creators/me', c.token, { handle: `c_${word()}`, displayName: 'Creator' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return { ...c, creatorId: res.body.id as string };
    }
    type Creator = Awaited<ReturnType<typeof creator>>;

    /** A post of `c` tagging `productId`; returns the tag's referral token. */
    async function tagged(c: Creator, productId: string): Promise<string> {
      const post = await req('POST', '/v1/posts', c.token, { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      return post.body.tags[0].referralToken as string;
    }

    /** A shopper buys `quantity` of the SKU through the creator's tag; returns the order id and its line id. */
    async function buyThrough(token: string, p: { productId: string; skuId: string }, quantity: number): Promise<{ orderId: string; lineId: string }> {
      const shopper = await t.signUp('shopper');
      assert.equal((await req('GET', `/v1/products/${p.productId}?ref=${encodeURIComponent(token)}`, shopper.token)).status, 200);
      const bought = await req(
        'POST',
        '/v1/checkout/buy-now',
        shopper.token,
        { paymentMethod: CARD_OK, skuId: p.skuId, quantity, referralToken: token, shipping: SHIPPING },
        { 'idempotency-key': randomUUID() },
      );
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      const orderId = bought.body.orders[0].id as string;
      await drain();
      const order = await req('GET', `/v1/orders/${orderId}`, shopper.token);
      return { orderId, lineId: order.body.lines[0].id as string };
    }

    async function delivered(m: ShopOwner, orderId: string): Promise<void> {
      for (const step of ['fulfil', 'ship', 'deliver']) {
        const res = await req('POST', `/v1/merchant/orders/${orderId}/${step}`, m.token, step === 'ship' ? { carrier: 'DHL', trackingNumber: 'QA-1' } : undefined);
        assert.equal(res.status, 200, `${step}: ${JSON.stringify(res.body)}`);
      }
      await drain();
    }

    const refund = (m: ShopOwner, orderId: string, lineId: string, quantity: number, key = randomUUID()) =>
      req('POST', `/v1/merchant/orders/${orderId}/refunds`, m.token, { lines: [{ lineId, quantity }], reason: 'qa' }, { 'idempotency-key': key });

    const eur = async (c: { token: string }) => {
      const res = await req('GET', '/v1/creator/earnings', c.token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const b = res.body.balances.find((x: any) => x.currency === 'EUR');
      return b ? { pending: b.pendingMinor, available: b.availableMinor, inTransit: b.inTransitMinor, paid: b.paidMinor, carry: b.negativeCarryMinor } : null;
    };
    const payOut = (c: { token: string }, key = randomUUID(), currency = 'EUR') => req('POST', '/v1/creator/payouts', c.token, { currency }, { 'idempotency-key': key });
    const registerAccount = async (c: { token: string }) => {
      const res = await req('PUT', '/v1/creator/payout-account', c.token, { accountId: `acct_${word()}` });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const reconcile = async () => {
      const res = await req('GET', '/v1/admin/earnings/reconcile', admin.token);
      assert.equal(res.status, 200);
      return res.body.discrepancies;
    };

    /** A creator with a tagged product of a fresh merchant (10% default rate) and a registered payout account. */
    async function world(priceMinor = 10_000) {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor, stock: 50 });
      const c = await creator();
      const token = await tagged(c, p.productId);
      return { m, p, c, token };
    }

    it('a sale through a creator’s tag accrues the commission; a cancel by shopper and merchant at once reverses it exactly once', async () => {
      const { m, p, c, token } = await world(1_000);
      const shopper = await t.signUp('shopper');
      assert.equal((await req('GET', `/v1/products/${p.productId}?ref=${encodeURIComponent(token)}`, shopper.token)).status, 200);
      const bought = await req('POST', '/v1/checkout/buy-now', shopper.token, { paymentMethod: CARD_OK, skuId: p.skuId, quantity: 2, referralToken: token, shipping: SHIPPING }, { 'idempotency-key': randomUUID() });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      const orderId = bought.body.orders[0].id as string;
      await drain();
      assert.deepEqual(await eur(c), { pending: 200, available: 0, inTransit: 0, paid: 0, carry: 0 }, '10% of 20.00');
      const [a, b] = await Promise.all([
        req('POST', `/v1/orders/${orderId}/cancel`, shopper.token, { reason: 'changed my mind' }, { 'idempotency-key': randomUUID() }),
        req('POST', `/v1/merchant/orders/${orderId}/cancel`, m.token, { reason: 'out of stock' }, { 'idempotency-key': randomUUID() }),
      ]);
      assert.deepEqual([a.status, b.status], [200, 200]);
      await drain();
      await drain();
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 0, carry: 0 });
      const ledger = (await req('GET', '/v1/creator/earnings/ledger', c.token)).body.items;
      assert.deepEqual(ledger.map((e: any) => [e.kind, e.bucket, e.amountMinor]), [['reversal', 'pending', -200], ['commission', 'pending', 200]]);
      assert.deepEqual(await reconcile(), []);
    });

    it('partial refunds round half to even and sum to the whole; a refund after payout leaves a carry netted from the next payout', async () => {
      const { m, p, c, token } = await world(333);
      const { orderId, lineId } = await buyThrough(token, p, 3);
      assert.equal((await eur(c))!.pending, 100, '10% of 9.99 = 99.9 → 100');
      assert.equal((await refund(m, orderId, lineId, 1)).status, 200);
      await drain();
      assert.equal((await eur(c))!.pending, 67, '100 − halfEven(33.3)');
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      assert.deepEqual(await eur(c), { pending: 0, available: 67, inTransit: 0, paid: 0, carry: 0 });
      await registerAccount(c);
      const paid = await payOut(c);
      assert.equal(paid.status, 201, JSON.stringify(paid.body));
      assert.equal(paid.body.amountMinor, 67);
      // all three units come back after the payout: the two not refunded yet are, and the rest of the commission is owed back
      const ret = await req('POST', `/v1/merchant/orders/${orderId}/returns`, m.token, { lines: [{ lineId, quantity: 3 }], reason: 'back' }, { 'idempotency-key': randomUUID() });
      assert.equal(ret.status, 200, JSON.stringify(ret.body));
      await drain();
      assert.deepEqual(await eur(c), { pending: 0, available: -67, inTransit: 0, paid: 67, carry: 67 });
      const below = await payOut(c);
      assert.deepEqual([below.status, below.body.error?.code, below.body.error?.details], [422, 'payout_below_minimum', { availableMinor: -67, minimumMinor: MINIMUM }]);
      // a later sale fills the carry first
      const next = await buyThrough(token, p, 6);
      await delivered(m, next.orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      assert.deepEqual(await eur(c), { pending: 0, available: 133, inTransit: 0, paid: 67, carry: 0 }, '200 − 67');
      const second = await payOut(c);
      assert.deepEqual([second.status, second.body.amountMinor], [201, 133]);
      assert.deepEqual(await reconcile(), []);
    });

    it('bad input on every earnings route is a 4xx with a stable code, and the roles are enforced', async () => {
      const { m, p, c } = await world();
      const shopper = await t.signUp('shopper');
      const po = 'pyo_01ARZ3NDEKTSV4RRFFQ69G5FAV';
      const key = () => ({ 'idempotency-key': randomUUID() });
      const cases: Array<[method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string | undefined, body: unknown, headers: Record<string, string>, status: number, code: string]> = [
        ['GET', '/v1/creator/earnings?x=1', c.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/creator/earnings/ledger?limit=0', c.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/creator/earnings/ledger?limit=abc', c.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/creator/earnings/ledger?cursor=!!!', c.token, undefined, {}, 400, 'invalid_cursor'],
        ['GET', '/v1/creator/payouts?creatorId=cre_01ARZ3NDEKTSV4RRFFQ69G5FAV', c.token, undefined, {}, 400, 'validation_failed'],
        ['POST', '/v1/creator/payouts', c.token, { currency: 'EUR' }, {}, 400, 'idempotency_key_required'],
        ['POST', '/v1/creator/payouts', c.token, { currency: 'eur' }, key(), 400, 'validation_failed'],
        ['POST', '/v1/creator/payouts', c.token, { currency: 'EUR', amountMinor: 5 }, key(), 400, 'validation_failed'],
        ['POST', '/v1/creator/payouts', c.token, { currency: 5 }, key(), 400, 'validation_failed'],
        ['POST', '/v1/creator/payouts', c.token, ['EUR'], key(), 400, 'validation_failed'],
        ['POST', '/v1/creator/payouts', c.token, { currency: 'E\u0000R' }, key(), 400, 'validation_failed'],
        ['PUT', '/v1/creator/payout-account', c.token, { accountId: 'acct_1\u0000' }, {}, 400, 'validation_failed'],
        ['PUT', '/v1/creator/payout-account', c.token, { accountId: 'acct_1', extra: 1 }, {}, 400, 'validation_failed'],
        ['PUT', '/v1/creator/payout-account', c.token, { accountId: 'acct_invalid1' }, {}, 422, 'payout_account_invalid'],
        ['GET', '/v1/creator/statements/2026-13', c.token, undefined, {}, 400, 'invalid_month'],
        ['GET', '/v1/creator/statements/%00', c.token, undefined, {}, 400, 'invalid_month'],
        ['PUT', '/v1/merchant/commission-rules', m.token, { rateBps: -1 }, {}, 400, 'validation_failed'],
        ['PUT', '/v1/merchant/commission-rules', m.token, { rateBps: 10_001 }, {}, 400, 'validation_failed'],
        ['PUT', '/v1/merchant/commission-rules', m.token, { rateBps: '10' }, {}, 400, 'validation_failed'],
        ['PUT', `/v1/merchant/commission-rules/products/${p.productId}`, m.token, { rateBps: 1.5 }, {}, 400, 'validation_failed'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, admin.token, { amountMinor: 0 }, key(), 400, 'validation_failed'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, admin.token, { amountMinor: -5 }, key(), 400, 'validation_failed'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, admin.token, { amountMinor: '5' }, key(), 400, 'validation_failed'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, admin.token, { amountMinor: 1e20 }, key(), 400, 'validation_failed'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, admin.token, { amountMinor: 5 }, {}, 400, 'idempotency_key_required'],
        ['GET', '/v1/admin/payouts?status=nope', admin.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/admin/creators/cre_x/earnings', admin.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/admin/creators/cre_01ARZ3NDEKTSV4RRFFQ69G5FAV/earnings', admin.token, undefined, {}, 404, 'creator_not_found'],
        ['GET', '/v1/admin/earnings/reconcile?y=1', admin.token, undefined, {}, 400, 'validation_failed'],
        ['GET', '/v1/creator/earnings', undefined, undefined, {}, 401, 'unauthenticated'],
        ['GET', '/v1/creator/earnings', shopper.token, undefined, {}, 403, 'forbidden'],
        ['GET', '/v1/creator/payouts', m.token, undefined, {}, 403, 'forbidden'],
        ['GET', '/v1/creator/payout-account', admin.token, undefined, {}, 403, 'forbidden'],
        ['GET', '/v1/admin/payouts', c.token, undefined, {}, 403, 'forbidden'],
        ['GET', '/v1/admin/earnings/reconcile', m.token, undefined, {}, 403, 'forbidden'],
        ['GET', `/v1/admin/creators/${c.creatorId}/earnings`, c.token, undefined, {}, 403, 'forbidden'],
        ['POST', `/v1/admin/payouts/${po}/reversals`, c.token, { amountMinor: 5 }, key(), 403, 'forbidden'],
        ['GET', '/v1/merchant/commission-rules', c.token, undefined, {}, 403, 'forbidden'],
      ];
      for (const [method, url, token, body, headers, status, code] of cases) {
        const res = await req(method, url, token, body, headers);
        assert.deepEqual([res.status, res.body.error?.code], [status, code], `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      }
      const noProfile = await t.signUp('creator');
      const res = await req('GET', '/v1/creator/earnings', noProfile.token);
      assert.deepEqual([res.status, res.body.error.code], [409, 'creator_profile_required']);
      // nothing above changed anything
      assert.equal((await req('GET', '/v1/creator/earnings/ledger', c.token)).body.items.length, 0);
      assert.equal((await req('GET', '/v1/merchant/commission-rules', m.token)).body.merchantRateBps, null);
      assert.equal((await req('GET', '/v1/admin/payouts', admin.token)).body.items.filter((x: any) => x.creatorId === c.creatorId).length, 0);
    });

    it('the ledger and the statement show a hold that elapsed as released, as the balances do, before any sweep', async () => {
      const { m, p, c, token } = await world(1_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      // no balance read and no sweep in between: was the commission still pending in both, while the balances said available
      const ledger = (await req('GET', '/v1/creator/earnings/ledger', c.token)).body.items;
      assert.deepEqual(ledger.map((e: any) => [e.kind, e.bucket, e.amountMinor]), [['release', 'available', 100], ['release', 'pending', -100], ['commission', 'pending', 100]]);
      const month = clock.now().toISOString().slice(0, 7);
      const months = (await req('GET', '/v1/creator/statements', c.token)).body;
      assert.ok(JSON.stringify(months).includes(month), JSON.stringify(months));
      assert.deepEqual(await eur(c), { pending: 0, available: 100, inTransit: 0, paid: 0, carry: 0 });
    });

    it('the next scheduled payout is per currency: paid in EUR a moment ago, a USD balance never paid is looked at now', async () => {
      const { m, p, c, token } = await world(1_000);
      const usdShop = await shopOwner(t);
      const usd = await activeProduct(t, usdShop, { priceMinor: 3_000, stock: 5, currency: 'USD' });
      const e = await buyThrough(token, p, 1);
      const u = await buyThrough(await tagged(c, usd.productId), usd, 1);
      await delivered(m, e.orderId);
      await delivered(usdShop, u.orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      assert.equal((await payOut(c)).status, 201);
      const next = async () => Date.parse((await req('GET', '/v1/creator/earnings', c.token)).body.nextPayoutAt);
      // was: the schedule's hours after the EUR payout, as if a payout in one currency held back the others
      assert.ok((await next()) <= clock.now().getTime());
      assert.equal((await payOut(c, randomUUID(), 'USD')).status, 201);
      assert.ok((await next()) > clock.now().getTime(), 'both paid: the next look is later');
    });

    it('a forged or foreign cursor is 400 invalid_cursor on the ledger and payout lists (it was read as a position, or a 400 about NUL)', async () => {
      const { m, p, c, token } = await world(5_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      assert.equal((await payOut(c)).status, 201);
      const cursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const ledgerPage = await req('GET', '/v1/creator/earnings/ledger?limit=1', c.token);
      const payoutId = (await req('GET', '/v1/creator/payouts', c.token)).body.items[0].id as string;
      assert.ok(ledgerPage.body.nextCursor);
      assert.equal((await req('GET', `/v1/creator/earnings/ledger?cursor=${ledgerPage.body.nextCursor}`, c.token)).status, 200, 'a cursor the list issued works');
      const ledgerId = ledgerPage.body.items[0].id as string;
      const forged = [cursor({ id: 'zzz' }), cursor({ id: 'a\u0000b' }), cursor({ id: 5 }), cursor([ledgerId]), 'bm90IGpzb24'];
      // was: 200 with an empty or arbitrary page for {"id":"zzz"} or another list's id, and 400 validation_failed for a NUL
      const lists: Array<[url: string, token: string, foreign: string]> = [
        ['/v1/creator/earnings/ledger', c.token, cursor({ id: payoutId })],
        ['/v1/creator/payouts', c.token, cursor({ id: ledgerId })],
        ['/v1/admin/payouts', admin.token, cursor({ id: ledgerId })],
      ];
      for (const [url, tok, foreign] of lists) {
        for (const f of [...forged, foreign]) {
          const res = await req('GET', `${url}?cursor=${f}`, tok);
          assert.deepEqual([res.status, res.body.error?.code], [400, 'invalid_cursor'], `${url} ${Buffer.from(f, 'base64url').toString()}`);
        }
      }
    });

    it('a payout retried with its Idempotency-Key, also at once, is one payout and says it was replayed', async () => {
      const { m, p, c, token } = await world(5_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      const transfers = (await sim.transfers()).length;
      const key = randomUUID();
      const answers = await Promise.all([payOut(c, key), payOut(c, key), payOut(c, key)]);
      assert.deepEqual(answers.map((r) => r.status), [201, 201, 201]);
      assert.equal(new Set(answers.map((r) => r.body.id)).size, 1);
      // was: no replay had the header that docs/api.md promises for every money-moving call
      assert.equal(answers.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 2);
      const later = await payOut(c, key);
      assert.deepEqual([later.status, later.body.id, later.headers['idempotent-replayed']], [201, answers[0]!.body.id, 'true']);
      assert.equal((await sim.transfers()).length, transfers + 1);
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 500, carry: 0 });
      assert.deepEqual(await reconcile(), []);
    });

    it('a payout refused as in progress is not kept under its key: the retry with that key pays once the first has settled', async () => {
      const { m, p, c, token } = await world(5_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      sim.failNext('unavailable');
      const first = await payOut(c);
      assert.deepEqual([first.status, first.body.status], [202, 'processing']);
      // more money becomes available while the first is in flight
      const more = await buyThrough(token, p, 1);
      await delivered(m, more.orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      const key = randomUUID();
      const busy = await payOut(c, key);
      assert.deepEqual([busy.status, busy.body.error?.code], [409, 'payout_in_progress']);
      await t.app.sweep(); // the first is replayed and sent
      assert.deepEqual(await eur(c), { pending: 0, available: 500, inTransit: 0, paid: 500, carry: 0 });
      // was: 409 payout_in_progress replayed under this key for a day, while nothing was in progress any more
      const retry = await payOut(c, key);
      assert.deepEqual([retry.status, retry.body.amountMinor], [201, 500], JSON.stringify(retry.body));
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 1_000, carry: 0 });
      assert.deepEqual(await reconcile(), []);
    });

    it('a transfer made before a lost answer is found on replay even after the account was restricted: never a failed payout with the money paid', async () => {
      const { m, p, c, token } = await world(5_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      const accountId = `acct_${word()}`;
      assert.equal((await req('PUT', '/v1/creator/payout-account', c.token, { accountId })).status, 200);
      sim.failNext('unavailable_after_commit');
      const first = await payOut(c);
      assert.deepEqual([first.status, first.body.status], [202, 'processing']);
      // the provider restricts the account after it received the transfer, before our replay
      await sim.setAccountCapability(accountId, 'inactive');
      clock.advance(2 * 60_000);
      await t.app.sweep();
      const payout = (await req('GET', '/v1/creator/payouts', c.token)).body.items[0];
      // was: the replay was refused for the capability, the payout marked failed and the 500 made available again,
      // while the provider's books kept the transfer: a second payout would have paid the creator twice
      assert.deepEqual([payout.id, payout.status, payout.providerRef !== null], [first.body.id, 'sent', true]);
      assert.deepEqual(await eur(c), { pending: 0, available: 0, inTransit: 0, paid: 500, carry: 0 });
      const transfers = (await sim.transfers()).filter((x) => x.destination === accountId);
      assert.deepEqual(transfers.map((x) => [x.idempotencyKey, x.amountMinor]), [[first.body.id, 500]]);
      assert.deepEqual(await reconcile(), []);
    });

    it('a cart over two merchants earns per line and a cancel takes back only its order; two currencies pay out at once; two admin reversals racing past what is left book one', async () => {
      const { m, p, c, token } = await world(5_000);
      const m2 = await shopOwner(t);
      const p2 = await activeProduct(t, m2, { priceMinor: 2_000, stock: 5 });
      const token2 = await tagged(c, p2.productId);
      const shopper = await t.signUp('shopper');
      assert.equal((await req('POST', '/v1/cart/lines', shopper.token, { skuId: p.skuId, quantity: 1, referralToken: token })).status, 201);
      assert.equal((await req('POST', '/v1/cart/lines', shopper.token, { skuId: p2.skuId, quantity: 2, referralToken: token2 })).status, 201);
      const bought = await req('POST', '/v1/checkout', shopper.token, { paymentMethod: CARD_OK, shipping: SHIPPING }, { 'idempotency-key': randomUUID() });
      assert.equal(bought.status, 201, JSON.stringify(bought.body));
      await drain();
      assert.equal((await eur(c))!.pending, 900, '500 + 400');
      const orderOf = (merchantId: string) => bought.body.orders.find((o: any) => o.merchantId === merchantId).id as string;
      assert.equal((await req('POST', `/v1/merchant/orders/${orderOf(m2.merchantId)}/cancel`, m2.token, { reason: 'no' }, { 'idempotency-key': randomUUID() })).status, 200);
      await drain();
      assert.equal((await eur(c))!.pending, 500);
      await delivered(m, orderOf(m.merchantId));
      const usdShop = await shopOwner(t);
      const usd = await activeProduct(t, usdShop, { priceMinor: 3_000, stock: 5, currency: 'USD' });
      const u = await buyThrough(await tagged(c, usd.productId), usd, 1);
      await delivered(usdShop, u.orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      const [eurPaid, usdPaid] = await Promise.all([payOut(c), payOut(c, randomUUID(), 'USD')]);
      assert.deepEqual([eurPaid.status, eurPaid.body.amountMinor, usdPaid.status, usdPaid.body.amountMinor], [201, 500, 201, 300]);
      const url = `/v1/admin/payouts/${eurPaid.body.id}/reversals`;
      const racing = await Promise.all([1, 2].map(() => req('POST', url, admin.token, { amountMinor: 400 }, { 'idempotency-key': randomUUID() })));
      assert.deepEqual(racing.map((r) => [r.status, r.body.reversedMinor ?? r.body.error?.code]).sort(), [[200, 400], [409, 'payout_not_reversible']]);
      const balances = (await req('GET', '/v1/creator/earnings', c.token)).body.balances;
      assert.deepEqual(balances.map((b: any) => [b.currency, b.availableMinor, b.paidMinor]), [['EUR', 400, 100], ['USD', 0, 300]]);
      // too much to be an amount at all is a validation failure, not a question for the payout
      const huge = await t.request({ method: 'POST', url, token: admin.token, payload: '{"amountMinor": 1e400}', headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() } });
      // was: Infinity passed as an integer and reached the payout (409 payout_not_reversible)
      assert.deepEqual([huge.status, huge.body.error?.code], [400, 'validation_failed']);
      assert.deepEqual(await reconcile(), []);
    });

    it('an admin reversal retried after its answer was lost (503, the provider’s event booked it meanwhile) answers the payout, not 409', async () => {
      const { m, p, c, token } = await world(10_000);
      const { orderId } = await buyThrough(token, p, 1);
      await delivered(m, orderId);
      clock.advance((HOLD_DAYS + 1) * DAY);
      await registerAccount(c);
      const paid = await payOut(c);
      assert.deepEqual([paid.status, paid.body.amountMinor], [201, 1_000]);
      const payoutId = paid.body.id as string;
      const key = randomUUID();
      // the first try: the provider reversed it under the route's provider key, then the answer was lost (the Stripe
      // adapter's read-back failed: 503, the key released); the provider's transfer.reversed event booked it
      const made = await sim.reverseTransfer(paid.body.providerRef, 1_000, `${payoutId}:reversal:${key}`);
      assert.ok(made.ok);
      assert.deepEqual(await eur(c), { pending: 0, available: 1_000, inTransit: 0, paid: 0, carry: 0 });
      const retry = await req('POST', `/v1/admin/payouts/${payoutId}/reversals`, admin.token, { amountMinor: 1_000 }, { 'idempotency-key': key });
      // was: 409 payout_not_reversible (nothing left to reverse), though this very reversal was made
      assert.deepEqual([retry.status, retry.body.status, retry.body.reversedMinor], [200, 'reversed', 1_000], JSON.stringify(retry.body));
      assert.deepEqual(await eur(c), { pending: 0, available: 1_000, inTransit: 0, paid: 0, carry: 0 }, 'booked once');
      // another key asking for more than is left is still refused, by the provider, with what is left
      const more = await req('POST', `/v1/admin/payouts/${payoutId}/reversals`, admin.token, { amountMinor: 1 }, { 'idempotency-key': randomUUID() });
      assert.deepEqual([more.status, more.body.error?.code, more.body.error?.details?.reversibleMinor], [409, 'payout_not_reversible', 0]);
      const beyond = await req('POST', `/v1/admin/payouts/${payoutId}/reversals`, admin.token, { amountMinor: 1_001 }, { 'idempotency-key': randomUUID() });
      assert.deepEqual([beyond.status, beyond.body.error?.code], [409, 'payout_not_reversible']);
      assert.deepEqual(await reconcile(), []);
    });
  });
}

describe('earnings QA: Stripe Connect webhooks', () => {
  it('a signed transfer or account event whose object lacks its fields is refused as no event, never thrown (was a 5xx)', () => {
    const secret = `whsec_${randomBytes(16).toString('hex')}`;
    const nowSeconds = () => Math.floor(Date.now() / 1000);
    const stripe = new StripeConnectPayoutProvider({ secretKey: 'sk_test_qa', apiBase: 'http://127.0.0.1:9', timeoutMs: 500, webhookSecrets: [secret], nowSeconds });
    const signed = (body: string) => {
      const t = nowSeconds();
      return { 'stripe-signature': `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}` };
    };
    const event = (type: string, object: unknown) => JSON.stringify({ id: `evt_${randomUUID()}`, object: 'event', type, created: nowSeconds(), data: { object } });
    const transfer = { object: 'transfer', id: 'tr_1', amount: 500, currency: 'eur', amount_reversed: 100, metadata: { payout_id: 'pyo_01ARZ3NDEKTSV4RRFFQ69G5FAV' } };
    const malformed = [
      event('transfer.reversed', { object: 'transfer', id: 'tr_1' }),
      event('transfer.reversed', { ...transfer, currency: 7 }),
      event('transfer.updated', { ...transfer, amount_reversed: '100' }),
      event('transfer.reversed', { ...transfer, amount: -5 }),
      event('transfer.reversed', { ...transfer, metadata: null, id: 12 }),
      event('account.updated', { object: 'account' }),
      event('account.updated', { object: 'account', id: 'acct_1', capabilities: 'active' }),
    ];
    for (const body of malformed) assert.equal(stripe.verifyWebhook(body, signed(body)), null, body);
    // the well-formed ones still pass
    const good = event('transfer.reversed', transfer);
    assert.deepEqual((stripe.verifyWebhook(good, signed(good)) as ConnectEvent).transfer, { ref: 'tr_1', payoutId: 'pyo_01ARZ3NDEKTSV4RRFFQ69G5FAV', amountMinor: 500, currency: 'EUR', reversedMinor: 100 });
    const account = event('account.updated', { object: 'account', id: 'acct_1', capabilities: { transfers: 'inactive' }, requirements: { disabled_reason: 'requirements.past_due' } });
    assert.deepEqual((stripe.verifyWebhook(account, signed(account)) as ConnectEvent).account, { ref: 'acct_1', canReceiveTransfers: false, reason: 'transfers capability inactive (requirements.past_due)' });
  });
});
