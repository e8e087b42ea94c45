import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiLogin, browserSkipReason, consoleErrors, DEMO, newPhoneContext, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The creator's dashboard names the posts in its reports by their captions: a post older than the creator's newest 50
 * (which the dashboard reads to name them) and an untitled post among those 50 (it showed as its raw id).
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: creator report names, QA pass 2 [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('a post older than the newest 50 and an untitled newer one show by caption in "Posts by attributed revenue"', async () => {
      const { t } = server;
      const [merchantToken, creatorToken, shopperToken] = await Promise.all([apiLogin(t, DEMO.merchant), apiLogin(t, DEMO.creator), apiLogin(t, DEMO.shopper2)]);
      const product = await t.request<{ id: string; variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: merchantToken,
        body: { name: 'Old Post Lamp', status: 'active', currency: 'USD', variants: [{ title: 'One size', priceMinor: 90000, stock: 20 }] },
      });
      assert.equal(product.status, 201, JSON.stringify(product.body));
      const post = async (caption: string) => {
        const r = await t.request<{ id: string; tags: { referralToken: string }[] }>({
          method: 'POST',
          url: '/v1/posts',
          token: creatorToken,
          body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/lamp.svg?label=Lamp', caption, tags: [{ productId: product.body.id, x: 0.5, y: 0.5 }] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body;
      };
      let sold = 0;
      const sell = async (referralToken: string) => {
        await t.request({ url: `/v1/products/${product.body.id}?ref=${encodeURIComponent(referralToken)}`, token: shopperToken });
        const bought = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopperToken,
          headers: { 'idempotency-key': `qa2-old-post-${Date.now()}-${sold++}` },
          body: { skuId: product.body.variants[0]!.id, quantity: 1, referralToken, paymentMethod: '4242424242424242' },
        });
        assert.equal(bought.status, 201, JSON.stringify(bought.body));
      };
      const old = await post('The old lamp post');
      await sell(old.tags[0]!.referralToken);
      for (let i = 0; i < 55; i++) await post(`Filler ${i}`);
      const untitled = await post('');
      await sell(untitled.tags[0]!.referralToken);
      const creator = await t.request<{ id: string }>({ url: '/v1/creators/me', token: creatorToken });
      const newest = (await t.request<{ posts: { id: string }[] }>({ url: `/v1/creators/${creator.body.id}/posts?limit=50` })).body.posts.map((p) => p.id);
      assert.ok(!newest.includes(old.id), 'the old post is older than the newest 50');
      assert.ok(newest.includes(untitled.id), 'the untitled one is among them');

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 900 });
      const errors = consoleErrors(page);
      await signIn(page, DEMO.creator);
      await page.goto('/creator');
      const top = page.getByTestId('top-posts');
      await top.getByRole('row').filter({ hasText: 'The old lamp post' }).waitFor({ timeout: 20_000 });
      await top.getByRole('row').filter({ hasText: 'Untitled post' }).waitFor();
      const names = await top.locator('tbody td:nth-child(2)').allTextContents();
      assert.ok(!names.some((n) => /pst_/.test(n)), `no post shows as its id: ${JSON.stringify(names)}`);
      assert.deepEqual(errors, []);
      await page.context().close();
    });
  });
