import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DAY, HOUR, type ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { startClickHouseStandIn } from './support/clickhouse-standin';
import { activeProduct, backends, creatorProfile, SHIPPING, settleEvents, shopOwner, startTestApp, type TestApp } from './support/harness';

// Defects found by a QA pass of the analytics and attribution HTTP API (reports, events, attribution admin routes), as
// creators, merchants, admins and shoppers use them, each with the request sequence that showed it.

const word = () => randomBytes(4).toString('hex');
const BROWSER = 'Mozilla/5.0 (iPhone) Safari/604.1';
const MODELS = ['last_click', 'first_click', 'linear', 'time_decay', 'position'] as const;
type Item = { id: string; currency: string; revenueMinor: number; orders: number; units: number };

for (const backend of backends()) {
  describe(`analytics and attribution QA [${backend.name}]`, () => {
    let t: TestApp;
    let admin: { token: string };
    before(async () => {
      t = await startTestApp(backend, { config: { analyticsDatabase: `qa_${word()}`, analyticsFlushMs: 60_000 } });
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const clock = () => t.clock as ManualClock;
    const get = (url: string, token?: string) => t.request({ url, token });
    const settle = () => settleEvents(t);
    const creator = () => creatorProfile(t);
    /** A post of `c` tagging the products, with each tag's referral token (in the order of `productIds`). */
    async function taggedPost(c: { token: string }, productIds: string[]) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/posts',
        token: c.token,
        body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: productIds.map((productId, i) => ({ productId, x: 0.2 * (i + 1), y: 0.5 })) },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return { id: res.body.id as string, tokens: res.body.tags.map((tag: { referralToken: string }) => tag.referralToken) as string[] };
    }
    async function buy(shopper: { token: string }, device: string, body: Record<string, unknown>) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID(), 'x-device-id': device, 'user-agent': BROWSER },
        body: { paymentMethod: '4242424242424242', shipping: SHIPPING, ...body },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.orders[0].id as string;
    }
    const figures = (items: Item[], names: Record<string, string>) =>
      items.map((i) => [names[i.id] ?? i.id, i.currency, i.revenueMinor, i.orders, i.units]).sort((a, b) => String(a).localeCompare(String(b)));

    it('seen in one post, tapped in another, bought days later: every model sums to the sale, a refund and a cancel take it back to exactly 0', async () => {
      const [m, m2] = [await shopOwner(t), await shopOwner(t)];
      const eur = await activeProduct(t, m, { priceMinor: 1999, stock: 100 });
      const usd = await activeProduct(t, m2, { priceMinor: 1000, stock: 100, currency: 'USD' });
      const [a, b] = [await creator(), await creator()];
      const postA = await taggedPost(a, [eur.productId, usd.productId]);
      const postB = await taggedPost(b, [eur.productId, usd.productId]);
      const names = { [postA.id]: 'A', [postB.id]: 'B' };
      const shopper = await t.signUp('shopper');
      const device = `dev_${word()}${word()}`;
      const seen = await t.request({
        method: 'POST',
        url: '/v1/events',
        token: shopper.token,
        headers: { 'x-device-id': device, 'user-agent': BROWSER },
        body: { events: postA.tokens.map((referralToken) => ({ id: `e_${word()}${word()}`, type: 'impression', at: clock().now().toISOString(), referralToken })) },
      });
      assert.deepEqual(seen.body, { accepted: 2, duplicates: 0, rejected: [] });
      clock().advance(HOUR);
      for (const [i, p] of [eur, usd].entries()) {
        const tap = await t.request({ url: `/v1/products/${p.productId}?ref=${encodeURIComponent(postB.tokens[i]!)}`, token: shopper.token, headers: { 'x-device-id': device, 'user-agent': BROWSER } });
        assert.equal(tap.status, 200);
      }
      clock().advance(3 * DAY);
      const orderId = await buy(shopper, device, { skuId: eur.skuId, quantity: 3 });
      await buy(shopper, device, { skuId: usd.skuId, quantity: 1 });
      await settle();

      // the impression is outside the 24 h view window: B's tap takes all of it, per currency
      for (const model of MODELS) {
        const top = await get(`/v1/reports/top?dimension=post&model=${model}`, admin.token);
        assert.deepEqual(figures(top.body.items, names), [['B', 'EUR', 5997, 1, 3], ['B', 'USD', 1000, 1, 1]], model);
      }
      // with a 7-day view window the impression is part of the journey: the split still sums to each sale
      const recompute = await t.request({
        method: 'POST',
        url: '/v1/admin/attribution/recompute',
        token: admin.token,
        body: { from: new Date(clock().now().getTime() - DAY).toISOString(), to: new Date(clock().now().getTime() + 1000).toISOString(), viewWindowHours: 168 },
      });
      assert.equal(recompute.status, 202, JSON.stringify(recompute.body));
      await t.app.contexts.attribution.service.runRecomputeJobs();
      await settle();
      for (const model of MODELS) {
        const items: Item[] = (await get(`/v1/reports/top?dimension=post&model=${model}`, admin.token)).body.items;
        for (const currency of ['EUR', 'USD']) {
          const mine = items.filter((i) => i.currency === currency);
          assert.equal(mine.reduce((n, i) => n + i.revenueMinor, 0), currency === 'EUR' ? 5997 : 1000, `${model} ${currency}`);
          assert.equal(mine.reduce((n, i) => n + i.units, 0), currency === 'EUR' ? 3 : 1, `${model} ${currency}`);
        }
      }
      const linear = await get('/v1/reports/top?dimension=post&model=linear', admin.token);
      assert.deepEqual(figures(linear.body.items, names), [['A', 'EUR', 2998, 1, 1.5], ['A', 'USD', 500, 1, 0.5], ['B', 'EUR', 2999, 1, 1.5], ['B', 'USD', 500, 1, 0.5]]);
      // one currency at a time: the ranking compares like with like (and the limit is not spent on the other one)
      const usdOnly = await get('/v1/reports/top?dimension=post&model=linear&currency=USD&limit=2', admin.token);
      assert.equal(usdOnly.body.currency, 'USD');
      assert.deepEqual(figures(usdOnly.body.items, names), [['A', 'USD', 500, 1, 0.5], ['B', 'USD', 500, 1, 0.5]]);
      const eurTop = await get('/v1/reports/top?dimension=post&model=linear&currency=EUR&limit=1', admin.token);
      assert.deepEqual(figures(eurTop.body.items, names), [['B', 'EUR', 2999, 1, 1.5]]);
      assert.equal((await get('/v1/reports/top?dimension=post&currency=eur', admin.token)).status, 400);

      // scopes: each creator their own post, each merchant their own currency's product, a shopper nothing
      const asA = await get('/v1/reports/top?dimension=post&model=linear', a.token);
      assert.deepEqual(figures(asA.body.items, names), [['A', 'EUR', 2998, 1, 1.5], ['A', 'USD', 500, 1, 0.5]]);
      const asM2 = await get('/v1/reports/top?dimension=creator&model=linear', m2.token);
      assert.deepEqual(figures(asM2.body.items, {}), [[a.id, 'USD', 500, 1, 0.5], [b.id, 'USD', 500, 1, 0.5]].sort((x, y) => String(x).localeCompare(String(y))));
      assert.equal((await get('/v1/reports/top?dimension=post', shopper.token)).status, 403);
      assert.equal((await get(`/v1/orders/${orderId}/attribution`, m.token)).status, 403);

      // one unit refunded, then the rest cancelled: every model's credit ends at exactly 0, reversed once
      const lineId = (await get(`/v1/merchant/orders/${orderId}`, m.token)).body.lines[0].id as string;
      const refund = await t.request({
        method: 'POST',
        url: `/v1/merchant/orders/${orderId}/refunds`,
        token: m.token,
        headers: { 'idempotency-key': randomUUID() },
        body: { lines: [{ lineId, quantity: 1 }], reason: 'damaged' },
      });
      assert.equal(refund.status, 200, JSON.stringify(refund.body));
      await settle();
      const cancel = await t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/cancel`, token: m.token, headers: { 'idempotency-key': randomUUID() }, body: { reason: 'gone' } });
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      await settle();
      await t.app.outbox.drain();
      const credits = (await get(`/v1/orders/${orderId}/attribution`, admin.token)).body.lines[0].credits as { amountMinor: number; reversedMinor: number }[];
      assert.ok(credits.length > 0 && credits.every((c) => c.reversedMinor === c.amountMinor), JSON.stringify(credits));
      for (const model of MODELS) {
        const items: Item[] = (await get(`/v1/reports/top?dimension=post&model=${model}`, admin.token)).body.items;
        // units were -1.1102230246251565e-16 under time_decay: float sums of ten-thousandths
        assert.deepEqual(
          items.filter((i) => i.currency === 'EUR').map((i) => [i.revenueMinor, i.units]),
          items.filter((i) => i.currency === 'EUR').map(() => [0, 0]),
          model,
        );
        const series = (await get(`/v1/reports/timeseries?granularity=hour&dimension=post&id=${postB.id}&model=${model}`, admin.token)).body.points;
        assert.deepEqual(series.filter((p: Item & { t: string }) => p.currency === 'EUR').map((p: Item) => [p.revenueMinor, p.units]), [[0, 0]], model);
      }
    });

    it('consecutive ranges neither overlap nor leave a gap: a sale at midnight UTC is in the day it starts, not the day before', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1500, stock: 10 });
      const c = await creator();
      const post = await taggedPost(c, [p.productId]);
      const midnight = Math.ceil((clock().now().getTime() + HOUR) / DAY) * DAY;
      clock().set(new Date(midnight));
      const shopper = await t.signUp('shopper');
      const orderId = await buy(shopper, `dev_${word()}${word()}`, { skuId: p.skuId, quantity: 1, referralToken: post.tokens[0] });
      await settle();
      const line = (await get(`/v1/orders/${orderId}/attribution`, admin.token)).body.lines[0];
      assert.equal(line.orderedAt, new Date(midnight).toISOString());

      const iso = (ms: number) => new Date(ms).toISOString();
      const dayBefore = `from=${iso(midnight - DAY)}&to=${iso(midnight)}`;
      const dayOf = `from=${iso(midnight)}&to=${iso(midnight + DAY)}`;
      const sale = [{ rank: 1, id: post.id, currency: 'EUR', revenueMinor: 1500, orders: 1, units: 1 }];
      // the day before used to show the sale too (its `to` was inclusive, whole day of `to` included): counted twice
      assert.deepEqual((await get(`/v1/reports/top?dimension=post&${dayBefore}`, c.token)).body.items, []);
      assert.deepEqual((await get(`/v1/reports/top?dimension=post&${dayOf}`, c.token)).body.items, sale);
      for (const granularity of ['day', 'hour']) {
        assert.deepEqual((await get(`/v1/reports/timeseries?granularity=${granularity}&${dayBefore}`, c.token)).body.points, [], granularity);
        const points = (await get(`/v1/reports/timeseries?granularity=${granularity}&${dayOf}`, c.token)).body.points;
        assert.deepEqual(points, [{ t: iso(midnight), currency: 'EUR', revenueMinor: 1500, orders: 1, units: 1 }], granularity);
      }
      assert.equal((await get(`/v1/reports/funnel?by=post&${dayBefore}`, c.token)).body.totals.purchases, 0);
      assert.equal((await get(`/v1/reports/funnel?by=post&${dayOf}`, c.token)).body.totals.purchases, 1);
      // left out, `to` is now, and a sale at now counts
      assert.deepEqual((await get('/v1/reports/top?dimension=post', c.token)).body.items, sale);
      assert.deepEqual((await get('/v1/reports/timeseries?granularity=hour', c.token)).body.points.length, 1);
    });

    it('an empty report downloads as CSV with its header row', async () => {
      const c = await creator();
      const csv = async (url: string) => {
        const res = await get(`${url}&format=csv`, c.token);
        assert.equal(res.status, 200);
        assert.match(String(res.headers['content-type']), /^text\/csv/);
        return res.body as string;
      };
      // was a file holding one empty line: a spreadsheet opened it with no columns at all
      assert.equal(await csv('/v1/reports/top?dimension=post'), 'id,currency,revenueMinor,orders,units,rank\n');
      assert.equal(await csv('/v1/reports/timeseries?granularity=day'), 't,currency,revenueMinor,orders,units\n');
      assert.equal(await csv('/v1/reports/funnel?by=post'), 'id,impressions,taps,views,carts,checkouts,purchases,tapRate,viewRate,cartRate,checkoutRate,purchaseRate\n');
    });

    it('a time series for an id of another kind than its dimension is refused, not answered empty', async () => {
      const c = await creator();
      for (const url of [
        `/v1/reports/timeseries?id=${c.id}`,
        `/v1/reports/timeseries?dimension=creator&id=${newId('post')}`,
        `/v1/reports/timeseries?dimension=merchant&id=${newId('product')}`,
        `/v1/reports/timeseries?dimension=product&id=abc_01HZZZZZZZZZZZZZZZZZZZZZZZ`,
      ]) {
        const res = await get(url, admin.token);
        assert.equal(res.status, 400, url);
        assert.equal(res.body.error.code, 'validation_failed', url);
      }
      assert.equal((await get(`/v1/reports/timeseries?dimension=creator&id=${c.id}`, c.token)).status, 200);
    });

    it('a leap second (23:59:60), which the date-time format lets through, is refused as not a time, not as a reversed range', async () => {
      const leap = '2026-06-30T23:59:60Z';
      for (const url of [`/v1/reports/top?dimension=post&from=${leap}&to=2026-07-31T00:00:00Z`, `/v1/reports/funnel?by=post&to=${leap}`, `/v1/reports/timeseries?from=${leap}`]) {
        const res = await get(url, admin.token);
        // was 400 invalid_range, "`from` must be before `to`", of a range that is in order
        assert.equal(res.status, 400, url);
        assert.equal(res.body.error.code, 'validation_failed', url);
      }
      const jobs = (await get('/v1/admin/attribution/recompute?limit=100', admin.token)).body.items.length;
      const started = await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: admin.token, body: { from: leap, to: '2026-07-31T00:00:00Z' } });
      assert.equal(started.status, 400);
      assert.equal(started.body.error.code, 'validation_failed');
      assert.equal((await get('/v1/admin/attribution/recompute?limit=100', admin.token)).body.items.length, jobs);
    });

    it('a batch of 500 forged tokens is counted exactly, in one counter statement per reason, not one per event', async () => {
      const c = await creator();
      const m = await shopOwner(t);
      const [p, other] = [await activeProduct(t, m, { priceMinor: 500, stock: 5 }), await activeProduct(t, m, { priceMinor: 500, stock: 5 })];
      const post = await taggedPost(c, [p.productId]);
      const counts = async () => (await get('/v1/admin/attribution/invalid-tokens', admin.token)).body.byReason as Record<string, number>;
      const before = await counts();
      // an anonymous client's 500 forged tokens were 500 upserts of one counter row, one request: on PostgreSQL ~170 ms
      // against ~6 ms for the same batch without tokens, and 8 such requests at once held the row for over a second
      const attribution = t.app.contexts.attribution.service;
      const record = attribution.recordInvalidToken;
      let statements = 0;
      attribution.recordInvalidToken = (...args) => {
        statements++;
        return record.apply(attribution, args);
      };
      try {
        const at = clock().now().toISOString();
        const events = Array.from({ length: 500 }, (_, i) =>
          i < 300
            ? { id: `f_${word()}${word()}`, type: 'impression', at, referralToken: `forged.${i}` }
            : { id: `f_${word()}${word()}`, type: 'product_view', at, referralToken: post.tokens[0], productId: other.productId },
        );
        const sent = await t.request({ method: 'POST', url: '/v1/events', headers: { 'user-agent': BROWSER }, body: { events } });
        assert.deepEqual(sent.body, { accepted: 500, duplicates: 0, rejected: [] });
      } finally {
        attribution.recordInvalidToken = record;
      }
      assert.equal(statements, 2);
      const after = await counts();
      assert.equal(after.malformed! - before.malformed!, 300);
      assert.equal(after.product_mismatch! - before.product_mismatch!, 200);
    });

    it('flags?days=1 counts today alone, and days=2 today and yesterday', async () => {
      const forged = (n: number) =>
        t.request({
          method: 'POST',
          url: '/v1/events',
          headers: { 'user-agent': BROWSER },
          body: { events: Array.from({ length: n }, (_, i) => ({ id: `g_${word()}${word()}`, type: 'impression', at: clock().now().toISOString(), referralToken: `bad.${i}` })) },
        });
      // a second before the end of the day after this one (a day nothing was counted on yet), then the next day:
      // 3 forged tokens yesterday, 2 today
      clock().set(new Date(Math.floor(clock().now().getTime() / DAY) * DAY + 2 * DAY - 1000));
      const yesterday = clock().now().toISOString().slice(0, 10);
      assert.equal((await forged(3)).status, 202);
      clock().advance(2000);
      const today = clock().now().toISOString().slice(0, 10);
      assert.equal((await forged(2)).status, 202);
      const malformed = async (days: number) =>
        Object.fromEntries(
          (await get(`/v1/admin/attribution/flags?days=${days}`, admin.token)).body.counts
            .filter((c: { reason: string }) => c.reason === 'invalid_token:malformed')
            .map((c: { day: string; count: number }) => [c.day, c.count]),
        );
      // days=1 used to answer yesterday too
      assert.deepEqual(await malformed(1), { [today]: 2 });
      assert.deepEqual(await malformed(2), { [today]: 2, [yesterday]: 3 });
    });

    it('a report while the analytics store is down is 503 analytics_unavailable, not a 500, and events are still taken', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'feedshop-ch-'));
      const standIn = await startClickHouseStandIn(dir);
      const down = await startTestApp(backend, { config: { analyticsDatabase: `qa_${word()}`, clickhouseUrl: standIn.url } });
      try {
        const boss = await down.signUp('admin');
        const reports = ['/v1/reports/top?dimension=post', '/v1/reports/funnel?by=post', '/v1/reports/timeseries?granularity=hour'];
        for (const url of reports) assert.equal((await down.request({ url, token: boss.token })).status, 200, url);
        await standIn.stop();
        for (const url of reports) {
          const res = await down.request({ url, token: boss.token });
          // was 500 internal, "something went wrong on our side": a dashboard could not tell an outage from a bug
          assert.equal(res.status, 503, url);
          assert.equal(res.body.error.code, 'analytics_unavailable', url);
        }
        const events = await down.request({
          method: 'POST',
          url: '/v1/events',
          headers: { 'user-agent': BROWSER },
          body: { events: [{ id: `e_${word()}${word()}`, type: 'impression', at: down.clock.now().toISOString(), postId: newId('post') }] },
        });
        assert.deepEqual(events.body, { accepted: 1, duplicates: 0, rejected: [] });
      } finally {
        await down.close();
        await standIn.close();
        rmSync(dir, { recursive: true, force: true });
      }
      // never reachable at all (nothing listens there): the same answer
      const never = await startTestApp(backend, { config: { analyticsDatabase: `qa_${word()}`, clickhouseUrl: 'http://127.0.0.1:9' } });
      try {
        const res = await never.request({ url: '/v1/reports/top?dimension=post', token: (await never.signUp('admin')).token });
        assert.equal(res.status, 503);
        assert.equal(res.body.error.code, 'analytics_unavailable');
      } finally {
        await never.close();
      }
    });

    it('bad input on every analytics and attribution route is a 4xx with a stable code and changes nothing', async () => {
      const m = await shopOwner(t);
      const before = {
        jobs: (await get('/v1/admin/attribution/recompute?limit=100', admin.token)).body.items.length,
        tokens: (await get('/v1/admin/attribution/invalid-tokens', admin.token)).body.byReason,
      };
      const cases: Array<[string, string, unknown, number, string]> = [
        ['GET', '/v1/reports/top?dimension=post', undefined, 401, 'unauthenticated'],
        ['GET', '/v1/reports/top?dimension=nope', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&limit=0', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&limit=99999999999999999999', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&limit=1.5', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&cursor=eyJpZCI6MX0', undefined, 400, 'invalid_cursor'],
        ['GET', '/v1/reports/top?dimension=post&dimension=creator', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post%00', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&from=2026-02-30T00:00:00Z', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&from=2026-01-01T00:00:00', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&from=2026-01-01T00:00:00Z%00', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/top?dimension=post&from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z', undefined, 400, 'invalid_range'],
        ['GET', '/v1/reports/top?dimension=post&from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z', undefined, 400, 'invalid_range'],
        ['GET', '/v1/reports/top?dimension=post&from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', undefined, 400, 'invalid_range'],
        ['GET', '/v1/reports/top?dimension=post&format=xml', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/funnel?by=product', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/funnel?by=post&limit=1001', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/timeseries?granularity=minute', undefined, 400, 'validation_failed'],
        ['GET', '/v1/reports/timeseries?id=pst_%00', undefined, 400, 'validation_failed'],
        ['GET', '/v1/admin/attribution/flags?days=0', undefined, 400, 'validation_failed'],
        ['GET', '/v1/admin/attribution/flags?days=366', undefined, 400, 'validation_failed'],
        ['GET', '/v1/admin/attribution/invalid-tokens?x=1', undefined, 400, 'validation_failed'],
        ['GET', '/v1/admin/attribution/recompute?limit=101', undefined, 400, 'validation_failed'],
        ['GET', '/v1/admin/attribution/recompute/rcj_x', undefined, 400, 'validation_failed'],
        ['GET', `/v1/admin/attribution/recompute/${newId('recomputeJob')}`, undefined, 404, 'recompute_job_not_found'],
        ['GET', '/v1/orders/ord_%00/attribution', undefined, 400, 'validation_failed'],
        ['GET', `/v1/orders/${newId('order')}/attribution`, undefined, 404, 'order_not_found'],
        ['POST', '/v1/admin/attribution/recompute', { from: '2026-08-01T00:00:00Z', to: '2026-07-01T00:00:00Z' }, 400, 'invalid_range'],
        ['POST', '/v1/admin/attribution/recompute', { from: '2026-07-01T00:00:00Z\u0000', to: '2026-08-01T00:00:00Z' }, 400, 'validation_failed'],
        ['POST', '/v1/admin/attribution/recompute', { from: '2026-07-01T00:00:00Z', to: '2026-08-01T00:00:00Z', clickWindowDays: '3' }, 400, 'validation_failed'],
        ['POST', '/v1/admin/attribution/recompute', { from: '2026-07-01T00:00:00Z', to: '2026-08-01T00:00:00Z', clickWindowDays: 0 }, 400, 'validation_failed'],
        ['POST', '/v1/admin/attribution/recompute', { from: '2026-07-01T00:00:00Z', to: '2026-08-01T00:00:00Z', extra: 1 }, 400, 'validation_failed'],
        ['POST', '/v1/events', { events: [] }, 400, 'validation_failed'],
        ['POST', '/v1/events', { events: [{}], extra: 1 }, 400, 'validation_failed'],
      ];
      for (const [method, url, body, status, code] of cases) {
        const token = status === 401 ? undefined : admin.token;
        const res = await t.request({ method: method as 'GET' | 'POST', url, token, body });
        assert.equal(res.status, status, `${method} ${url} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, code, `${method} ${url}`);
      }
      // roles: a shopper and a merchant never reach the admin routes
      for (const token of [(await t.signUp('shopper')).token, m.token]) {
        assert.equal((await get('/v1/admin/attribution/flags', token)).body.error.code, 'forbidden');
        const started = await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token, body: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' } });
        assert.equal(started.status, 403);
      }
      // events with bad fields are refused one by one, a NUL in an id included
      const events = await t.request({
        method: 'POST',
        url: '/v1/events',
        headers: { 'user-agent': BROWSER },
        body: { events: [{ id: 'abcdefgh\u0000', type: 'impression', at: clock().now().toISOString(), postId: newId('post') }, { id: `e_${word()}${word()}`, type: 'impression', at: '2020-01-01T00:00:00Z', postId: newId('post') }] },
      });
      assert.deepEqual(events.body, { accepted: 0, duplicates: 0, rejected: [{ index: 0, code: 'invalid_event' }, { index: 1, code: 'time_out_of_range' }] });
      assert.equal((await get('/v1/admin/attribution/recompute?limit=100', admin.token)).body.items.length, before.jobs);
      assert.deepEqual((await get('/v1/admin/attribution/invalid-tokens', admin.token)).body.byReason, before.tokens);
    });
  });
}
