import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EventMap } from '../src/platform/events';
import { newId } from '../src/platform/ids';
import { ATTRIBUTION_MODELS } from '../src/contexts/attribution';
import { startClickHouseStandIn, type ClickHouseStandIn } from './support/clickhouse-standin';
import { backends, creatorProfile, startTestApp, type TestApp } from './support/harness';

const uniq = () => randomBytes(4).toString('hex');
const evId = () => `e_${randomBytes(8).toString('hex')}`;
const HOUR = 3_600_000;

// The same suite runs against embedded chDB and against a ClickHouse server (the stand-in, chDB in a child process).
const STORES = ['chdb', 'server'] as const;

for (const backend of backends()) {
  for (const storeMode of STORES) {
    describe(`analytics [${backend.name}, ${storeMode}]`, () => {
      let t: TestApp;
      let standIn: ClickHouseStandIn | undefined;
      let standInDir: string | undefined;
      const database = `t_${uniq()}`;

      before(async () => {
        if (storeMode === 'server') {
          standInDir = mkdtempSync(join(tmpdir(), 'feedshop-ch-'));
          standIn = await startClickHouseStandIn(standInDir);
        }
        t = await startTestApp(backend, {
          config: { analyticsDatabase: database, analyticsFlushMs: 60_000, ...(standIn ? { clickhouseUrl: standIn.url } : {}) },
        });
      });
      after(async () => {
        await t.close();
        await standIn?.close();
        if (standInDir) rmSync(standInDir, { recursive: true, force: true });
      });

      const analytics = () => t.app.contexts.analytics.service;
      const now = () => t.clock.now();
      const post = (events: unknown[], headers: Record<string, string> = {}) =>
        t.request({ method: 'POST', url: '/v1/events', body: { events }, headers: { 'user-agent': 'Mozilla/5.0 (iPhone) Safari/604.1', ...headers } });

      const creator = () => creatorProfile(t);
      async function merchant() {
        const account = await t.signUp('merchant');
        const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: account.token, body: { name: `Shop ${uniq()}` } });
        assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
        return { ...account, id: res.body.id as string };
      }
      const tokenFor = (c: { id: string }, postId = newId('post'), productId = newId('product')) => ({
        postId,
        productId,
        token: t.app.referrals.sign({ tagId: newId('tag'), postId, creatorId: c.id, productId, tagCreatedAt: new Date(now().getTime() - HOUR) }),
      });

      /** Publishes `name` through the outbox the way its owner does (inside a transaction) and delivers it. */
      async function publish<N extends keyof EventMap & string>(name: N, payload: EventMap[N]) {
        await t.app.db.transaction().execute((trx) => t.app.outbox.publish(trx, name, payload));
        await t.app.outbox.drain();
      }
      /** A paid line credited under every model: all of it to one post, except linear which splits with another. */
      const credited = (o: { merchantId: string; productId: string; creatorId: string; postId: string; amount: number; orderId?: string; units?: number; at?: Date }) => {
        const orderId = o.orderId ?? newId('order');
        return {
          orderId,
          lineId: newId('orderLine'),
          merchantId: o.merchantId,
          productId: o.productId,
          accountId: null,
          currency: 'EUR',
          orderedAt: (o.at ?? now()).toISOString(),
          quantity: o.units ?? 1,
          netAmountMinor: o.amount,
          credits: ATTRIBUTION_MODELS.map((model) => ({
            model,
            modelVersion: 1,
            clickWindowDays: 7,
            viewWindowHours: 24,
            tagId: newId('tag'),
            postId: o.postId,
            creatorId: o.creatorId,
            amountMinor: model === 'linear' ? Math.floor(o.amount / 2) : o.amount,
            units: model === 'linear' ? (o.units ?? 1) / 2 : (o.units ?? 1),
            weight: model === 'linear' ? 0.5 : 1,
          })),
          commissionable: null,
        };
      };
      const report = (url: string, token: string) => t.request({ url, token });

      // ---------------------------------------------------------------- ingestion

      it('accepts a batch, stores it, and counts a retried batch as duplicates', async () => {
        const c = await creator();
        const ref = tokenFor(c);
        const at = now().toISOString();
        const events = [
          { id: evId(), type: 'impression', at, referralToken: ref.token },
          { id: evId(), type: 'tag_tap', at, referralToken: ref.token },
          { id: evId(), type: 'product_view', at, referralToken: ref.token, productId: ref.productId },
          { id: evId(), type: 'add_to_cart', at, productId: ref.productId, postId: ref.postId },
        ];
        const first = await post(events, { 'x-device-id': `dev_${uniq()}${uniq()}` });
        assert.equal(first.status, 202, JSON.stringify(first.body));
        assert.deepEqual(first.body, { accepted: 4, duplicates: 0, rejected: [] });
        // ids are per device: another device sending the same ids is not a retry
        assert.deepEqual((await post(events)).body, { accepted: 4, duplicates: 0, rejected: [] });
        const device = `dev_${uniq()}${uniq()}`;
        const retryEvents = events.map((e) => ({ ...e, id: evId() }));
        assert.deepEqual((await post(retryEvents, { 'x-device-id': device })).body, { accepted: 4, duplicates: 0, rejected: [] });
        assert.deepEqual((await post(retryEvents, { 'x-device-id': device })).body, { accepted: 0, duplicates: 4, rejected: [] });

        await analytics().flush();
        const admin = await t.signUp('admin');
        const funnel = await report(`/v1/reports/funnel?by=post`, admin.token);
        assert.equal(funnel.status, 200, JSON.stringify(funnel.body));
        const row = funnel.body.items.find((i: { id: string }) => i.id === ref.postId);
        // three batches of four got stored (the first, the other device's, the retried one once)
        assert.deepEqual(
          { impressions: row.impressions, taps: row.taps, views: row.views, carts: row.carts, checkouts: row.checkouts },
          { impressions: 3, taps: 3, views: 3, carts: 3, checkouts: 0 },
        );
        assert.deepEqual(row.rates, { tap: 1, view: 1, cart: 1, checkout: 0, purchase: null });
      });

      it('rejects bad events one by one with a code, and refuses a malformed body', async () => {
        const at = now().toISOString();
        const res = await post([
          { id: evId(), type: 'impression', at, postId: newId('post') },
          { id: evId(), type: 'teleport', at },
          { id: evId(), type: 'impression', at: new Date(now().getTime() - 30 * 24 * HOUR).toISOString(), postId: newId('post') },
          { id: evId(), type: 'impression', at: new Date(now().getTime() + 2 * HOUR).toISOString(), postId: newId('post') },
          { id: evId(), type: 'tag_tap', at },
          { id: 'x', type: 'impression', at, postId: newId('post') },
          { id: evId(), type: 'impression', at: 'yesterday', postId: newId('post') },
        ]);
        assert.equal(res.status, 202);
        assert.deepEqual(res.body, {
          accepted: 1,
          duplicates: 0,
          rejected: [
            { index: 1, code: 'invalid_event' },
            { index: 2, code: 'time_out_of_range' },
            { index: 3, code: 'time_out_of_range' },
            { index: 4, code: 'missing_subject' },
            { index: 5, code: 'invalid_event' },
            { index: 6, code: 'invalid_event' },
          ],
        });
        for (const body of [{}, { events: [] }, { events: 'x' }, { events: [{}], extra: 1 }, { events: Array.from({ length: 501 }, () => ({})) }]) {
          const r = await t.request({ method: 'POST', url: '/v1/events', body });
          assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
          assert.equal(r.body.error.code, 'validation_failed');
        }
        const garbage = await t.request({ method: 'POST', url: '/v1/events', payload: '{"events": [', headers: { 'content-type': 'application/json' } });
        assert.equal(garbage.status, 400);
      });

      it('accepts text/plain bodies (navigator.sendBeacon)', async () => {
        const body = JSON.stringify({ events: [{ id: evId(), type: 'checkout_started', at: now().toISOString() }] });
        const res = await t.request({ method: 'POST', url: '/v1/events', payload: body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        assert.equal(res.body.accepted, 1);
        const bad = await t.request({ method: 'POST', url: '/v1/events', payload: 'nope', headers: { 'content-type': 'text/plain' } });
        assert.equal(bad.status, 400);
      });

      it('forwards referred taps, views and impressions to attribution and counts invalid tokens', async () => {
        const c = await creator();
        const ref = tokenFor(c);
        const device = `dev_${uniq()}${uniq()}`;
        const before = (await t.app.contexts.attribution.service.invalidTokenCounts())['bad_signature'] ?? 0;
        const forged = ref.token.slice(0, -4) + (ref.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
        const at = now().toISOString();
        const res = await post(
          [
            { id: evId(), type: 'tag_tap', at, referralToken: ref.token },
            { id: evId(), type: 'product_view', at, referralToken: ref.token, productId: ref.productId },
            { id: evId(), type: 'add_to_cart', at, referralToken: ref.token, productId: ref.productId },
            { id: evId(), type: 'tag_tap', at, referralToken: forged },
          ],
          { 'x-device-id': device },
        );
        assert.deepEqual(res.body, { accepted: 4, duplicates: 0, rejected: [] });
        const touches = await t.app.contexts.attribution.service.listTouches({ deviceId: device });
        assert.deepEqual(touches.map((x) => x.kind).sort(), ['tap', 'view']);
        assert.ok(touches.every((x) => x.postId === ref.postId && x.creatorId === c.id));
        const afterCount = (await t.app.contexts.attribution.service.invalidTokenCounts())['bad_signature'] ?? 0;
        assert.equal(afterCount, before + 1);
      });

      it('flags bots by User-Agent: stored, but left out of reports (HeadlessChrome is not a bot)', async () => {
        const postId = newId('post');
        const at = now().toISOString();
        const mk = () => ({ id: evId(), type: 'impression', at, postId });
        for (const ua of ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'curl/8.4.0', 'python-requests/2.31', 'facebookexternalhit/1.1']) {
          assert.equal((await post([mk()], { 'user-agent': ua })).body.accepted, 1);
        }
        await post([mk()], { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36' });
        await analytics().flush();
        const admin = await t.signUp('admin');
        const funnel = await report('/v1/reports/funnel?by=post&limit=1000', admin.token);
        assert.equal(funnel.body.items.find((i: { id: string }) => i.id === postId)?.impressions, 1);
      });

      it('batches: nothing reaches the store before a flush, everything after', async () => {
        const postId = newId('post');
        const admin = await t.signUp('admin');
        await post(Array.from({ length: 3 }, () => ({ id: evId(), type: 'impression', at: now().toISOString(), postId })));
        const funnelOf = async () => (await report('/v1/reports/funnel?by=post&limit=1000', admin.token)).body.items.find((i: { id: string }) => i.id === postId);
        assert.equal(await funnelOf(), undefined);
        await analytics().flush();
        assert.equal((await funnelOf()).impressions, 3);
      });

      // ---------------------------------------------------------------- outbox facts and reports

      it('adds up credits from the outbox per post, creator, product and merchant, once per event', async () => {
        const [a, b, m1, m2, admin] = [await creator(), await creator(), await merchant(), await merchant(), await t.signUp('admin')];
        const pa = newId('post');
        const pb = newId('post');
        const p1 = newId('product');
        const p2 = newId('product');
        const order1 = newId('order');
        await publish('attribution.line.credited', credited({ merchantId: m1.id, productId: p1, creatorId: a.id, postId: pa, amount: 5000, orderId: order1, units: 2 }));
        await publish('attribution.line.credited', credited({ merchantId: m1.id, productId: p1, creatorId: a.id, postId: pa, amount: 1000, orderId: order1 }));
        await publish('attribution.line.credited', credited({ merchantId: m2.id, productId: p2, creatorId: b.id, postId: pb, amount: 700 }));
        await t.app.outbox.drain(); // a second drain redelivers nothing new

        // a redelivered event (same outbox id) is stored once, in the raw table and the rollups
        const payload = credited({ merchantId: m2.id, productId: p2, creatorId: b.id, postId: pb, amount: 300 });
        const delivered = { id: 9_000_000 + Number.parseInt(uniq().slice(0, 4), 16), name: 'attribution.line.credited' as const, payload, occurredAt: now() };
        await analytics().recordFacts(delivered);
        await analytics().recordFacts(delivered);

        const top = await report('/v1/reports/top?dimension=post&metric=revenue', admin.token);
        assert.equal(top.status, 200, JSON.stringify(top.body));
        assert.equal(top.body.model, 'last_click');
        const mine = top.body.items.filter((i: { id: string }) => i.id === pa || i.id === pb);
        // ranks are places among every post an admin sees (other cases' too): only their order is this case's
        assert.ok(mine[0].rank < mine[1].rank);
        assert.deepEqual(mine.map(({ rank: _rank, ...i }: { rank: number }) => i), [
          { id: pa, currency: 'EUR', revenueMinor: 6000, orders: 1, units: 3 },
          { id: pb, currency: 'EUR', revenueMinor: 1000, orders: 2, units: 2 },
        ]);
        const linear = await report('/v1/reports/top?dimension=post&model=linear', admin.token);
        assert.equal(linear.body.items.find((i: { id: string }) => i.id === pa).revenueMinor, 3000);
        const byCreator = await report('/v1/reports/top?dimension=creator&metric=orders', admin.token);
        assert.equal(byCreator.body.items.find((i: { id: string }) => i.id === b.id).orders, 2);
        const byProduct = await report('/v1/reports/top?dimension=product', admin.token);
        assert.equal(byProduct.body.items.find((i: { id: string }) => i.id === p1).revenueMinor, 6000);
        const byMerchant = await report('/v1/reports/top?dimension=merchant', admin.token);
        assert.equal(byMerchant.body.items.find((i: { id: string }) => i.id === m2.id).revenueMinor, 1000);

        // scoped: each creator sees only their posts, each merchant only their products' figures
        const asA = await report('/v1/reports/top?dimension=post', a.token);
        assert.deepEqual(asA.body.items.map((i: { id: string }) => i.id), [pa]);
        const asB = await report('/v1/reports/top?dimension=creator', b.token);
        assert.deepEqual(asB.body.items.map((i: { id: string }) => i.id), [b.id]);
        const asM1 = await report('/v1/reports/top?dimension=creator', m1.token);
        assert.deepEqual(asM1.body.items.map((i: { id: string; revenueMinor: number }) => [i.id, i.revenueMinor]), [[a.id, 6000]]);
        const asM2 = await report('/v1/reports/top?dimension=product', m2.token);
        assert.deepEqual(asM2.body.items.map((i: { id: string }) => i.id), [p2]);
        const noProfile = await t.signUp('creator');
        assert.deepEqual((await report('/v1/reports/top?dimension=post', noProfile.token)).body.items, []);
        const shopper = await t.signUp('shopper');
        assert.equal((await report('/v1/reports/top?dimension=post', shopper.token)).status, 403);
        assert.equal((await t.request({ url: '/v1/reports/top?dimension=post' })).status, 401);

        // a refund reverses revenue; the order still counts as an order of the post
        const reversal = credited({ merchantId: m1.id, productId: p1, creatorId: a.id, postId: pa, amount: -1000, orderId: order1, units: -1 });
        await publish('attribution.line.reversed', {
          ...reversal,
          refundId: newId('refund'),
          at: now().toISOString(),
          originalCommissionable: null,
        });
        const afterRefund = await report('/v1/reports/top?dimension=post', a.token);
        assert.deepEqual(afterRefund.body.items, [{ rank: 1, id: pa, currency: 'EUR', revenueMinor: 5000, orders: 1, units: 2 }]);
      });

      it('answers time series by day and hour, funnel purchases, and CSV downloads', async () => {
        const [c, m, admin] = [await creator(), await merchant(), await t.signUp('admin')];
        const postId = newId('post');
        const productId = newId('product');
        const day1 = new Date(now().getTime() - 48 * HOUR);
        await publish('attribution.line.credited', credited({ merchantId: m.id, productId, creatorId: c.id, postId, amount: 400, at: day1 }));
        await publish('attribution.line.credited', credited({ merchantId: m.id, productId, creatorId: c.id, postId, amount: 600, at: new Date(day1.getTime() + 2 * HOUR) }));
        await publish('attribution.line.credited', credited({ merchantId: m.id, productId, creatorId: c.id, postId, amount: 50, at: now() }));
        await publish('catalog.product.updated', { productId, merchantId: m.id });
        await post([
          { id: evId(), type: 'impression', at: now().toISOString(), postId, productId },
          { id: evId(), type: 'product_view', at: now().toISOString(), postId, productId },
          { id: evId(), type: 'checkout_started', at: now().toISOString(), postId, productId },
        ]);
        await analytics().flush();

        const days = await report(`/v1/reports/timeseries?dimension=post&id=${postId}`, c.token);
        assert.equal(days.status, 200, JSON.stringify(days.body));
        assert.deepEqual(
          days.body.points.map((p: { t: string; revenueMinor: number; orders: number }) => [p.t, p.revenueMinor, p.orders]),
          [
            [`${day1.toISOString().slice(0, 10)}T00:00:00.000Z`, 1000, 2],
            [`${now().toISOString().slice(0, 10)}T00:00:00.000Z`, 50, 1],
          ],
        );
        const hours = await report(`/v1/reports/timeseries?granularity=hour&dimension=creator&id=${c.id}`, admin.token);
        assert.deepEqual(
          hours.body.points.map((p: { t: string; revenueMinor: number }) => p.revenueMinor),
          [400, 600, 50],
        );
        assert.equal(hours.body.points[0].t, new Date(Math.floor(day1.getTime() / HOUR) * HOUR).toISOString());
        const other = await creator();
        const othersSeries = await report(`/v1/reports/timeseries?dimension=post&id=${postId}`, other.token);
        assert.deepEqual(othersSeries.body.points, []);
        const othersFunnel = await report('/v1/reports/funnel?by=post&limit=1000', other.token);
        assert.deepEqual([othersFunnel.body.items, othersFunnel.body.totals.impressions], [[], 0]);
        const ownFunnel = await report('/v1/reports/funnel?by=creator', c.token);
        assert.deepEqual(ownFunnel.body.items.map((i: { id: string }) => i.id), [c.id]);

        const funnel = await report('/v1/reports/funnel?by=post', m.token);
        const row = funnel.body.items.find((i: { id: string }) => i.id === postId);
        assert.deepEqual([row.impressions, row.views, row.checkouts, row.purchases], [1, 1, 1, 3]);
        assert.equal(funnel.body.totals.purchases, 3);

        const csv = await report('/v1/reports/top?dimension=post&format=csv', c.token);
        assert.equal(csv.status, 200);
        assert.match(String(csv.headers['content-type']), /^text\/csv/);
        assert.match(String(csv.headers['content-disposition']), /attachment; filename="top-post-revenue-last_click-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv"/);
        assert.equal(csv.body, `id,currency,revenueMinor,orders,units,rank\n${postId},EUR,1050,3,3,1\n`);
        const funnelCsv = await report('/v1/reports/funnel?by=post&format=csv', c.token);
        assert.match(funnelCsv.body.split('\n')[0], /^id,impressions,taps,views,carts,checkouts,purchases,tapRate/);

        const reversed = await report('/v1/reports/top?dimension=post&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', admin.token);
        assert.equal(reversed.status, 400);
        assert.equal(reversed.body.error.code, 'invalid_range');
      });

      // ---------------------------------------------------------------- outage and restart (needs a store we can stop)

      if (storeMode === 'server') {
        it('keeps accepting while the store is down, and stores everything exactly once when it is back', async () => {
          const postId = newId('post');
          const admin = await t.signUp('admin');
          await standIn!.stop();
          try {
            const first = await post(Array.from({ length: 5 }, () => ({ id: evId(), type: 'impression', at: now().toISOString(), postId })));
            assert.equal(first.status, 202);
            await assert.rejects(analytics().flush());
            await post(Array.from({ length: 2 }, () => ({ id: evId(), type: 'impression', at: now().toISOString(), postId })));
            await assert.rejects(analytics().flush());
            const metrics = await t.request({ url: '/metrics' });
            assert.match(metrics.body, /feedshop_analytics_buffer_rows \d+/);
            assert.match(metrics.body, /feedshop_analytics_spool_bytes [1-9]\d*/);
          } finally {
            await standIn!.start();
          }
          await analytics().flush();
          await analytics().flush();
          const funnel = await report('/v1/reports/funnel?by=post&limit=1000', admin.token);
          assert.equal(funnel.body.items.find((i: { id: string }) => i.id === postId).impressions, 7);
        });

        it('replays the spool of a process that stopped while the store was down', async () => {
          const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-spool-'));
          const db2 = `t_${uniq()}`;
          const config = { dataDir, analyticsDatabase: db2, analyticsFlushMs: 60_000, clickhouseUrl: standIn!.url };
          const postId = newId('post');
          await standIn!.stop();
          const one = await startTestApp(backend, { config });
          try {
            const res = await one.request({ method: 'POST', url: '/v1/events', body: { events: Array.from({ length: 4 }, () => ({ id: evId(), type: 'impression', at: one.clock.now().toISOString(), postId })) } });
            assert.equal(res.status, 202);
          } finally {
            await one.close(); // the flush at shutdown fails: the events stay in the spool
            await standIn!.start();
          }
          const two = await startTestApp(backend, { config });
          try {
            await two.app.contexts.analytics.service.flush();
            const admin = await two.signUp('admin');
            const funnel = await two.request({ url: '/v1/reports/funnel?by=post', token: admin.token });
            assert.equal(funnel.body.items.find((i: { id: string }) => i.id === postId).impressions, 4);
          } finally {
            await two.close();
            rmSync(dataDir, { recursive: true, force: true });
          }
        });
      }
    });
  }
}
