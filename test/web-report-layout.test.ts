import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { apiLogin, browserSkipReason, DEMO, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The report cards of the creator dashboard and the merchant's "Creators & posts" on a laptop screen: every table
 * fits its card (three cards a row clipped the last columns, Units and the funnel's later steps, behind a scroll).
 */
const skip = browserSkipReason();

/** The report cards whose content is wider than the card, with how much is hidden. */
async function clippedReports(page: Page): Promise<string[]> {
  return page.locator('.report').evaluateAll((cards) =>
    cards.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => `${c.querySelector('h2')?.textContent ?? '?'}: ${c.scrollWidth - c.clientWidth}px hidden`),
  );
}

for (const backend of backends())
  describe(`web app: report cards fit their tables [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    const CAPTION = 'Summer linen edit: the whole look';
    /** One sale of the demo merchant's new product through the demo creator's tag, once per suite. */
    let sold: Promise<void> | undefined;
    const sale = () =>
      (sold ??= (async () => {
        const { t } = server;
        const [merchantToken, creatorToken, shopperToken] = await Promise.all([apiLogin(t, DEMO.merchant), apiLogin(t, DEMO.creator), apiLogin(t, DEMO.shopper2)]);
        const product = await t.request<{ id: string; variants: { id: string }[] }>({
          method: 'POST',
          url: '/v1/merchant/products',
          token: merchantToken,
          body: { name: 'Layout Linen Shirt', status: 'active', currency: 'USD', variants: [{ title: 'M', priceMinor: 123456, stock: 5 }] },
        });
        assert.equal(product.status, 201, JSON.stringify(product.body));
        const post = await t.request<{ tags: { referralToken: string }[] }>({
          method: 'POST',
          url: '/v1/posts',
          token: creatorToken,
          body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/lamp.svg?label=Linen', caption: CAPTION, tags: [{ productId: product.body.id, x: 0.5, y: 0.5 }] },
        });
        assert.equal(post.status, 201, JSON.stringify(post.body));
        const referralToken = post.body.tags[0]!.referralToken;
        await t.request({ url: `/v1/products/${product.body.id}?ref=${encodeURIComponent(referralToken)}`, token: shopperToken });
        const bought = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopperToken,
          headers: { 'idempotency-key': `layout-${product.body.id}` },
          body: { skuId: product.body.variants[0]!.id, quantity: 1, referralToken, paymentMethod: '4242424242424242' },
        });
        assert.equal(bought.status, 201, JSON.stringify(bought.body));
      })());

    for (const [who, email, path, ready] of [
      ['creator', DEMO.creator, '/creator', ['top-posts', 'Funnel']],
      ['merchant', DEMO.merchant, '/merchant/sales', ['merchant-top-posts', 'Top creators']],
    ] as const)
      it(`the ${who}'s reports at 1100 px show every column`, async () => {
        await sale();
        const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
        await page.setViewportSize({ width: 1100, height: 900 });
        await signIn(page, email);
        await page.goto(path);
        // the sale reaches the reports through the outbox and the analytics store: wait for its rows
        await page.getByTestId(ready[0]).locator('tbody tr').first().waitFor({ timeout: 20_000 });
        await page.locator('.report').filter({ has: page.getByRole('heading', { name: ready[1] }) }).locator('tbody tr').first().waitFor({ timeout: 20_000 });
        await screenshot(page, `layout-${who}-reports-1100`);
        assert.deepEqual(await clippedReports(page), []);
        await page.context().close();
      });
  });
