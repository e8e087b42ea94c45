import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, DEMO, launchBrowser, newPhoneContext, screenshot, signIn, startWebServer, type WebServer } from './support/browser';

/**
 * The back-office areas in a real browser. (2) The creator whose tag sold the product sees that sale credited on the
 * dashboard, without a reload: it needs the reports API (analytics + attribution) and fails, saying so, without it.
 * Then a creator tags a product by clicking on the media, a merchant creates a product and restocks it, an admin
 * lists accounts.
 */
const skip = browserSkipReason();

describe('web app: creator, merchant and admin areas', { skip: skip ?? false }, () => {
  let server: WebServer;
  let browser: Browser;
  before(async () => {
    [server, browser] = await Promise.all([startWebServer(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('(2) the creator who posted the tag sees the sale credited in the dashboard', async () => {
    const { t } = server;
    const login = async (email: string) => (await t.request<{ token: string }>({ method: 'POST', url: '/v1/auth/login', body: { email, password: DEMO.password } })).body.token;
    const creatorToken = await login(DEMO.creator);
    const reports = await t.request({ url: '/v1/reports/top?dimension=post&model=last_click', token: creatorToken });
    assert.notEqual(reports.status, 404, 'GET /v1/reports/top is missing (404): the creator dashboard needs the reports API from analytics/attribution');

    const creator = await t.request<{ id: string }>({ url: '/v1/creators/me', token: creatorToken });
    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, DEMO.creator);
    await page.goto('/creator');
    await page.getByRole('heading', { name: 'Creator dashboard' }).waitFor();

    // a shopper buys through one of this creator's tags while the dashboard is open
    const shopperToken = await login(DEMO.shopper);
    const feed = await t.request<{ posts: { id: string; caption: string; creator: { id: string }; tags: { referralToken: string; product: { id: string; availability: string } }[] }[] }>({ url: '/v1/feed?limit=50', token: shopperToken });
    const post = feed.body.posts.find((p) => p.creator.id === creator.body.id && p.tags.some((x) => x.product.availability !== 'sold_out'));
    assert.ok(post, 'a post of the demo creator with a product in stock');
    const tag = post.tags.find((x) => x.product.availability !== 'sold_out')!;
    const detail = await t.request<{ variants: { id: string; availability: string }[] }>({ url: `/v1/products/${tag.product.id}?ref=${encodeURIComponent(tag.referralToken)}`, token: shopperToken });
    const sku = detail.body.variants.find((v) => v.availability !== 'sold_out')!.id;
    const bought = await t.request<{ totalMinor: number }>({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      token: shopperToken,
      headers: { 'idempotency-key': `web-creator-${Date.now()}` },
      body: { skuId: sku, quantity: 1, referralToken: tag.referralToken, paymentMethod: '4242424242424242' },
    });
    assert.equal(bought.status, 201, JSON.stringify(bought.body));

    const row = page.getByTestId('top-posts').getByRole('row').filter({ hasText: post.caption });
    await row.waitFor({ timeout: 20_000 });
    assert.match((await row.textContent())!, /\$/);
    await screenshot(page, 'creator-01-dashboard-sale');
    await page.context().close();
  });

  it('a creator publishes a post and tags a product where they click on the media', async () => {
    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await signIn(page, DEMO.creator);
    await page.goto('/creator/new');
    await page.getByLabel('Media URL').fill('/media/demo/new-look.svg?label=New%20look');
    const media = page.getByRole('img', { name: /click to place a product tag/ });
    await media.waitFor();
    await page.waitForFunction(() => (document.querySelector('.tagger img') as HTMLImageElement | null)?.complete === true);
    const box = (await media.boundingBox())!;
    await media.click({ position: { x: box.width * 0.25, y: box.height * 0.5 } });
    await page.getByLabel('Find a product').fill('Linen');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: /^Everyday Linen Shirt/ }).click();
    await page.getByLabel('Caption').fill('Fresh look');
    await screenshot(page, 'creator-02-tagging');
    await page.getByRole('button', { name: 'Publish' }).click();
    const done = page.getByRole('status').filter({ hasText: /Published post pst_\w+ with 1 tag/ });
    await done.waitFor();
    const postId = /pst_\w+/.exec((await done.textContent())!)![0];
    const post = await server.t.request<{ tags: { x: number; y: number; product: { name: string } }[] }>({ url: `/v1/posts/${postId}` });
    assert.equal(post.body.tags.length, 1);
    assert.equal(post.body.tags[0]!.product.name, 'Everyday Linen Shirt');
    assert.ok(Math.abs(post.body.tags[0]!.x - 0.25) < 0.02 && Math.abs(post.body.tags[0]!.y - 0.5) < 0.02, JSON.stringify(post.body.tags[0]));
    await page.context().close();
  });

  it('a merchant creates a product and restocks it; an admin lists accounts', async () => {
    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, DEMO.merchant);
    await page.goto('/merchant/products');
    await page.getByLabel('Name').fill('Test Scarf');
    await page.getByLabel('Price').fill('19.50');
    await page.getByLabel('Stock').fill('10');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('link', { name: 'Test Scarf' }).click();
    await page.getByText(/On hand 10 · reserved 0 · available 10/).waitFor();
    await page.getByLabel('Add or remove units').fill('5');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await page.getByText(/On hand 15 · reserved 0 · available 15/).waitFor();
    await screenshot(page, 'merchant-02-stock');
    await page.getByRole('button', { name: 'Sign out' }).click();

    await signIn(page, 'admin@feedshop.dev');
    await page.goto('/admin');
    await page.getByRole('cell', { name: DEMO.shopper }).waitFor();
    await screenshot(page, 'admin-01-accounts');
    await page.context().close();
  });
});
