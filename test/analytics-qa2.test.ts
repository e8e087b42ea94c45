import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DAY, HOUR, type ManualClock } from '../src/platform/clock';
import { activeProduct, backends, creatorProfile, SHIPPING, settleEvents, shopOwner, startTestApp, type TestApp } from './support/harness';

// The second QA pass of the reports and the attribution API: money in several currencies, caching, paging, dates
// the store cannot hold, creators' own views, retried recomputes and the range a day report covers.

const word = () => randomBytes(4).toString('hex');
const BROWSER = 'Mozilla/5.0 (iPhone) Safari/604.1';
type Item = { rank: number; id: string; currency: string; revenueMinor: number; orders: number; units: number };

for (const backend of backends()) {
  describe(`analytics and attribution QA, second pass [${backend.name}]`, () => {
    let t: TestApp;
    let admin: { token: string };
    before(async () => {
      t = await startTestApp(backend, { config: { analyticsDatabase: `qa2_${word()}`, analyticsFlushMs: 60_000 } });
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const clock = () => t.clock as ManualClock;
    const get = (url: string, token?: string) => t.request({ url, token });
    const settle = () => settleEvents(t);
    const creator = () => creatorProfile(t);
    async function taggedPost(c: { token: string }, productId: string) {
      const res = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return { id: res.body.id as string, token: res.body.tags[0].referralToken as string };
    }
    async function buy(skuId: string, referralToken: string, quantity = 1) {
      const shopper = await t.signUp('shopper');
      const res = await t.request({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        token: shopper.token,
        headers: { 'idempotency-key': randomUUID(), 'x-device-id': `dev_${word()}${word()}`, 'user-agent': BROWSER },
        body: { paymentMethod: '4242424242424242', shipping: SHIPPING, skuId, quantity, referralToken },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    /** A creator with one post per price (each tagging its own product of `currency`), each sold once. */
    async function sales(prices: Array<[number, string]>) {
      const c = await creator();
      const m = await shopOwner(t);
      const posts: string[] = [];
      for (const [priceMinor, currency] of prices) {
        const p = await activeProduct(t, m, { priceMinor, stock: 10, currency });
        const post = await taggedPost(c, p.productId);
        await buy(p.skuId, post.token);
        posts.push(post.id);
      }
      await settle();
      return { c, m, posts };
    }

    it('ranks each currency on its own: 5,000 US cents do not outrank €49.99, and no money is added across currencies', async () => {
      const { c, m, posts: [eurPost, usdPost] } = await sales([[4999, 'EUR'], [5000, 'USD']]);
      for (const token of [c.token, m.token]) {
        const top = await get('/v1/reports/top?dimension=post&limit=1', token);
        assert.equal(top.status, 200, JSON.stringify(top.body));
        // was one item, the USD post, "the post that drove the most revenue" by 5,000 against 4,999 minor units
        assert.deepEqual(top.body.currencies, ['EUR', 'USD']);
        assert.deepEqual(
          top.body.items.map((i: Item) => [i.currency, i.rank, i.id, i.revenueMinor]),
          [['EUR', 1, eurPost, 4999], ['USD', 1, usdPost, 5000]],
        );
        const csv = await get('/v1/reports/top?dimension=post&limit=1&format=csv', token);
        assert.equal(csv.body, `id,currency,revenueMinor,orders,units,rank\n${eurPost},EUR,4999,1,1,1\n${usdPost},USD,5000,1,1,1\n`);
      }
      // the merchant's top creator: one row per currency, never 9,999 of nothing
      const creators = await get('/v1/reports/top?dimension=creator', m.token);
      assert.deepEqual(creators.body.items.map((i: Item) => [i.currency, i.rank, i.id, i.revenueMinor]), [['EUR', 1, c.id, 4999], ['USD', 1, c.id, 5000]]);
      for (const metric of ['orders', 'units']) {
        const top = await get(`/v1/reports/top?dimension=post&metric=${metric}&limit=1`, c.token);
        assert.deepEqual(top.body.items.map((i: Item) => [i.currency, i.rank]), [['EUR', 1], ['USD', 1]], metric);
      }
      const usd = await get('/v1/reports/top?dimension=post&currency=USD', c.token);
      assert.deepEqual([usd.body.currencies, usd.body.items.map((i: Item) => i.id)], [['USD'], [usdPost]]);
      const series = await get('/v1/reports/timeseries?granularity=day', c.token);
      assert.deepEqual(series.body.points.map((p: Item) => [p.currency, p.revenueMinor]), [['EUR', 4999], ['USD', 5000]]);
    });

    it('reports and their CSV downloads are private: never kept by a shared cache', async () => {
      const c = await creator();
      for (const url of ['/v1/reports/top?dimension=post', '/v1/reports/funnel?by=post', '/v1/reports/timeseries?granularity=day', '/v1/reports/timeseries?granularity=hour']) {
        for (const format of ['json', 'csv']) {
          const res = await get(`${url}&format=${format}`, c.token);
          assert.equal(res.status, 200, url);
          // had no Cache-Control at all: a CDN or proxy could keep one creator's figures and hand them to the next
          assert.equal(res.headers['cache-control'], 'private, no-store', `${url} ${format}`);
        }
      }
    });

    it('pages past `limit` with nextCursor, in a stable order, and refuses a cursor of another query as invalid_cursor', async () => {
      const { c, posts } = await sales([[1000, 'EUR'], [3000, 'EUR'], [2000, 'EUR']]);
      const [p1, p3, p2] = posts as [string, string, string];
      const all = async (base: string) => {
        const seen: Item[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 10; page++) {
          const res = await get(`${base}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, c.token);
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.ok(res.body.items.length <= 1);
          seen.push(...res.body.items);
          cursor = res.body.nextCursor;
          if (cursor === null) return seen;
        }
        throw new Error('no last page');
      };
      // the list used to end at `limit` (at most 1000) with no way on
      assert.deepEqual((await all('/v1/reports/top?dimension=post&limit=1')).map((i) => [i.rank, i.id, i.revenueMinor]), [[1, p3, 3000], [2, p2, 2000], [3, p1, 1000]]);
      assert.deepEqual((await all('/v1/reports/funnel?by=post&limit=1')).map((i) => i.id).sort(), [p1, p2, p3].sort());
      const first = await get('/v1/reports/top?dimension=post&limit=1', c.token);
      const cursor = encodeURIComponent(first.body.nextCursor);
      // a later page of a range ending "now" reads the range of the first page, also after the clock moved on
      clock().advance(HOUR);
      assert.deepEqual((await get(`/v1/reports/top?dimension=post&limit=2&cursor=${cursor}`, c.token)).body.items.map((i: Item) => i.id), [p2, p1]);
      const funnelFirst = await get('/v1/reports/funnel?by=post&limit=1', c.token);
      for (const url of [
        '/v1/reports/top?dimension=post&cursor=nonsense',
        `/v1/reports/top?dimension=post&cursor=${Buffer.from('["top:post:revenue:last_click:",0,1,-1]').toString('base64url')}`,
        `/v1/reports/top?dimension=post&metric=units&cursor=${cursor}`,
        `/v1/reports/top?dimension=creator&cursor=${cursor}`,
        `/v1/reports/top?dimension=post&from=2026-01-01T00:00:00Z&cursor=${cursor}`,
        `/v1/reports/funnel?by=post&cursor=${cursor}`,
        `/v1/reports/funnel?by=creator&cursor=${encodeURIComponent(funnelFirst.body.nextCursor)}`,
      ]) {
        const res = await get(url, c.token);
        assert.equal(res.status, 400, url);
        assert.equal(res.body.error.code, 'invalid_cursor', url);
      }
    });

    it('a time the store cannot hold (before 1970, after 2149) is 400 validation_failed naming the field, not an empty report', async () => {
      const cases: Array<[string, string]> = [
        ['from=1969-12-31T00:00:00Z&to=1970-01-10T00:00:00Z', 'from'],
        ['from=2149-06-01T00:00:00Z&to=2150-01-01T00:00:00Z', 'to'],
        ['from=2200-01-01T00:00:00Z&to=2200-02-01T00:00:00Z', 'from'],
        ['to=1969-06-01T00:00:00Z', 'to'],
      ];
      for (const report of ['top?dimension=post', 'funnel?by=post', 'timeseries?granularity=day', 'timeseries?granularity=hour']) {
        for (const [range, field] of cases) {
          const res = await get(`/v1/reports/${report}&${range}`, admin.token);
          // was 200 with nothing in it: the store clamps such a day to 1970-01-01 or 2149-06-06
          assert.equal(res.status, 400, `${report} ${range}`);
          assert.equal(res.body.error.code, 'validation_failed', `${report} ${range}`);
          assert.equal(res.body.error.details[0].path, `/${field}`, `${report} ${range}`);
        }
      }
      // the edges themselves are fine, and a defaulted `from` stops at 1970 instead of being refused
      assert.equal((await get('/v1/reports/top?dimension=post&from=1970-01-01T00:00:00Z&to=1970-02-01T00:00:00Z', admin.token)).status, 200);
      assert.equal((await get('/v1/reports/top?dimension=post&from=2149-01-01T00:00:00Z&to=2149-06-07T00:00:00Z', admin.token)).status, 200);
      const early = await get('/v1/reports/funnel?by=post&to=1970-01-05T00:00:00Z', admin.token);
      assert.deepEqual([early.status, early.body.from], [200, '1970-01-01T00:00:00.000Z']);
    });

    it('a creator looking at their own tags does not count in their funnel; a shopper does', async () => {
      const c = await creator();
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1000, stock: 10 });
      const post = await taggedPost(c, p.productId);
      const shopper = await t.signUp('shopper');
      const at = clock().now().toISOString();
      const send = (token: string) =>
        t.request({
          method: 'POST',
          url: '/v1/events',
          token,
          headers: { 'x-device-id': `dev_${word()}${word()}`, 'user-agent': BROWSER },
          body: {
            events: [
              { id: `e_${word()}${word()}`, type: 'impression', at, referralToken: post.token },
              { id: `e_${word()}${word()}`, type: 'tag_tap', at, referralToken: post.token },
              { id: `e_${word()}${word()}`, type: 'product_view', at, referralToken: post.token, productId: p.productId },
            ],
          },
        });
      // the creator's own views are accepted (nothing to retry), just not counted
      assert.deepEqual((await send(c.token)).body, { accepted: 3, duplicates: 0, rejected: [] });
      assert.deepEqual((await send(shopper.token)).body, { accepted: 3, duplicates: 0, rejected: [] });
      await settle();
      const steps = (r: { body: { totals: Record<string, number> } }) => [r.body.totals.impressions, r.body.totals.taps, r.body.totals.views];
      // were 2, 2, 2: the creator checking their post doubled its reach
      assert.deepEqual(steps(await get('/v1/reports/funnel?by=post', c.token)), [1, 1, 1]);
      assert.deepEqual(steps(await get('/v1/reports/funnel?by=creator', m.token)), [1, 1, 1]);
      const asAdmin = await get('/v1/reports/funnel?by=post&limit=1000', admin.token);
      const row = asAdmin.body.items.find((i: { id: string }) => i.id === post.id);
      assert.deepEqual([row.impressions, row.taps, row.views], [1, 1, 1]);
    });

    it('a recompute retried with the same Idempotency-Key starts one job; the same key with another body is refused', async () => {
      const jobs = async () => (await get('/v1/admin/attribution/recompute?limit=100', admin.token)).body.items.length as number;
      const before = await jobs();
      const key = randomUUID();
      const body = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z', viewWindowHours: 48 };
      const post = (b: unknown, headers: Record<string, string>) => t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: admin.token, headers, body: b });
      const first = await post(body, { 'idempotency-key': key });
      assert.equal(first.status, 202, JSON.stringify(first.body));
      const again = await post(body, { 'idempotency-key': key });
      // was a second job over the same range
      assert.equal(again.status, 202);
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.headers.location, `/v1/admin/attribution/recompute/${first.body.id}`);
      assert.equal(await jobs(), before + 1);
      const other = await post({ ...body, viewWindowHours: 72 }, { 'idempotency-key': key });
      assert.equal(other.status, 422);
      assert.equal(other.body.error.code, 'idempotency_key_reused');
      assert.equal(await jobs(), before + 1);
      // another admin's key is theirs alone, and a request without a key starts a job as before
      const boss = await t.signUp('admin');
      const theirs = await t.request({ method: 'POST', url: '/v1/admin/attribution/recompute', token: boss.token, headers: { 'idempotency-key': key }, body });
      assert.notEqual(theirs.body.id, first.body.id);
      assert.equal((await post(body, {})).status, 202);
      assert.equal(await jobs(), before + 3);
    });

    it('a day report answers the whole UTC days it read, not the hours it was asked for', async () => {
      // a sale at 10:00 UTC, then a report "from 12:00": the day rollup holds the whole day, so the sale is in it
      const dayStart = Math.ceil(clock().now().getTime() / DAY) * DAY + DAY;
      clock().set(new Date(dayStart + 10 * HOUR));
      const { c, posts } = await sales([[1200, 'EUR']]);
      const iso = (ms: number) => new Date(ms).toISOString();
      const asked = `from=${iso(dayStart + 12 * HOUR)}&to=${iso(dayStart + DAY + 6 * HOUR)}`;
      for (const url of [`/v1/reports/top?dimension=post&${asked}`, `/v1/reports/funnel?by=post&${asked}`, `/v1/reports/timeseries?granularity=day&${asked}`]) {
        const res = await get(url, c.token);
        assert.equal(res.status, 200, url);
        // echoed 12:00 and 06:00 the next day, while the figures held the 10:00 sale and all of the next day
        assert.deepEqual([res.body.from, res.body.to], [iso(dayStart), iso(dayStart + 2 * DAY)], url);
      }
      assert.deepEqual((await get(`/v1/reports/top?dimension=post&${asked}`, c.token)).body.items.map((i: Item) => i.id), posts);
      // hours read exactly the range asked for: the 10:00 sale is not in it, and the answer says so
      const hours = await get(`/v1/reports/timeseries?granularity=hour&${asked}`, c.token);
      assert.deepEqual([hours.body.from, hours.body.to, hours.body.points], [iso(dayStart + 12 * HOUR), iso(dayStart + DAY + 6 * HOUR), []]);
    });
  });
}
