import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seedDemoSales } from '../src/demo/sales';
import { isEmpty, seedDemo, seedWorld } from '../src/demo/seed';
import { backends, startTestApp, type TestApp } from './support/harness';

for (const backend of backends()) {
  describe(`seed [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    it('the demo world is believable: products with stock states, creators with posts and live stories, follows, reviews', async () => {
      assert.equal(await isEmpty(t.app), true);
      const summary = await seedDemo(t.app);
      assert.equal(await isEmpty(t.app), false);
      assert.deepEqual(
        { merchants: summary.merchants, products: summary.products, creators: summary.creators, shoppers: summary.shoppers },
        { merchants: 4, products: 21, creators: 5, shoppers: 6 },
      );
      assert.ok(summary.reviews! > 10);
      const login = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email: 'shopper@feedshop.dev', password: 'feedshop-demo' } });
      assert.equal(login.status, 200);
      const feed = await t.request({ url: '/v1/feed?limit=50', token: login.body.token });
      assert.equal(feed.status, 200);
      const availabilities = new Set(feed.body.posts.flatMap((p: any) => p.tags.map((tag: any) => tag.product.availability)));
      assert.ok(availabilities.has('in_stock') && availabilities.has('low'), [...availabilities].join());
      assert.ok(feed.body.stories.length >= 3);
      for (const email of ['creator@feedshop.dev', 'merchant@feedshop.dev', 'admin@feedshop.dev']) {
        const r = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email, password: 'feedshop-demo' } });
        assert.equal(r.status, 200, email);
      }
    });

    it('demo sales go through the real flow: orders to follow, credited posts on dashboards, pending earnings', async () => {
      const sales = await seedDemoSales(t.app);
      assert.equal(sales.orders, 12, 'two purchases per demo shopper');
      assert.ok(sales.shipped > 0 && sales.delivered > 0);
      const logIn = async (email: string) => (await t.request({ method: 'POST', url: '/v1/auth/login', body: { email, password: 'feedshop-demo' } })).body.token as string;
      const shopper = await logIn('shopper@feedshop.dev');
      const orders = await t.request({ url: '/v1/orders', token: shopper });
      assert.equal(orders.body.items.length, 2);
      assert.ok(orders.body.items.every((o: { status: string }) => ['paid', 'shipped', 'delivered'].includes(o.status)));
      // every sale came from a tag, so every order line is credited and the admin's top posts add up to the orders
      const admin = await logIn('admin@feedshop.dev');
      const top = await t.request({ url: '/v1/reports/top?dimension=creator&metric=revenue&limit=20', token: admin });
      assert.equal(top.status, 200);
      assert.equal(top.body.items.reduce((n: number, i: { orders: number }) => n + i.orders, 0), 12);
      const creators = new Set(top.body.items.map((i: { id: string }) => i.id));
      assert.ok(creators.size >= 2, 'the sales spread over several creators');
      // and every credited creator has commissions pending (nothing is released before delivery plus the hold)
      for (const creatorId of creators) {
        const earnings = await t.request({ url: `/v1/admin/creators/${creatorId}/earnings`, token: admin });
        assert.ok(earnings.body.balances.some((b: { pendingMinor: number }) => b.pendingMinor > 0), `creator ${creatorId} earned nothing`);
      }
      const again = await seedDemoSales(t.app);
      assert.equal(again.orders, 12, 'the same idempotency keys replay the same orders');
      assert.equal((await t.request({ url: '/v1/orders', token: shopper })).body.items.length, 2, 'nothing bought twice');
    });

    it('a generated world has the asked size, and its shoppers can log in and read a full feed', async () => {
      const s = await seedWorld(t.app, { posts: 1200, products: 300, creators: 20, shoppers: 30, merchants: 3 });
      assert.equal(s.products, 300);
      assert.equal(s.posts, 1200);
      assert.equal(s.creators, 20);
      assert.equal(s.shoppers, 30);
      const emails = s.shopperEmails as string[];
      const login = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email: emails[0], password: s.password } });
      assert.equal(login.status, 200);
      const feed = await t.request({ url: '/v1/feed?limit=20', token: login.body.token });
      assert.equal(feed.body.posts.length, 20);
    });
  });
}
