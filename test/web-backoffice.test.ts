import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiLogin, browserSkipReason, DEMO, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The back-office areas in a real browser. (2) The creator whose tag sold the product sees that sale credited on the
 * dashboard, without a reload: it needs the reports API (analytics + attribution) and fails, saying so, without it.
 * Then a creator tags a product by clicking on the media, a merchant creates a product and restocks it, an admin
 * lists accounts.
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: creator, merchant and admin areas [${backend.name}]`, { skip: skip ?? false }, () => {
  let server!: WebServer;
  let browser!: Browser;
  useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

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

  it('a creator publishes a post and a story, each tagged where they click on the media; a follower sees both', async () => {
    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await signIn(page, DEMO.creator);
    const publish = async (kind: 'Post' | 'Story (24 h)', caption: string, at: { x: number; y: number }): Promise<string> => {
      await page.goto('/creator/new');
      await page.getByRole('radio', { name: kind }).check();
      await page.getByLabel('Media URL').fill(`/media/demo/${caption.toLowerCase().replace(/\W+/g, '-')}.svg?label=${encodeURIComponent(caption)}`);
      const media = page.getByRole('img', { name: /click to place a product tag/ });
      await media.waitFor();
      await page.waitForFunction(() => (document.querySelector('.tagger img') as HTMLImageElement | null)?.complete === true);
      const box = (await media.boundingBox())!;
      await media.click({ position: { x: box.width * at.x, y: box.height * at.y } });
      await page.getByLabel('Find a product').fill('Linen');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('button', { name: /^Everyday Linen Shirt/ }).click();
      await page.getByLabel('Caption').fill(caption);
      await screenshot(page, `creator-02-tagging-${kind === 'Post' ? 'post' : 'story'}`);
      await page.getByRole('button', { name: 'Publish' }).click();
      const done = page.getByRole('status').filter({ hasText: /Published (post|story) pst_\w+ with 1 tag/ });
      await done.waitFor();
      const id = /pst_\w+/.exec((await done.textContent())!)![0];
      const post = await server.t.request<{ kind: string; tags: { x: number; y: number; product: { name: string } }[] }>({ url: `/v1/posts/${id}` });
      assert.equal(post.body.kind, kind === 'Post' ? 'post' : 'story');
      assert.equal(post.body.tags.length, 1);
      assert.equal(post.body.tags[0]!.product.name, 'Everyday Linen Shirt');
      assert.ok(Math.abs(post.body.tags[0]!.x - at.x) < 0.02 && Math.abs(post.body.tags[0]!.y - at.y) < 0.02, JSON.stringify(post.body.tags[0]));
      return id;
    };
    await publish('Post', 'Fresh look', { x: 0.25, y: 0.5 });
    await publish('Story (24 h)', 'Behind the scenes', { x: 0.7, y: 0.3 });
    await page.context().close();

    // a follower sees the post in the feed (followed creators first, newest first) and the story in the tray
    const creator = (await server.t.request<{ id: string; handle: string }>({ url: '/v1/creators/me', token: await apiLogin(server.t, DEMO.creator) })).body;
    const follow = await server.t.request({ method: 'PUT', url: `/v1/creators/${creator.id}/follow`, token: await apiLogin(server.t, DEMO.shopper2) });
    assert.equal(follow.status, 200);
    const shopper = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await signIn(shopper, DEMO.shopper2);
    await shopper.goto('/');
    const post = shopper.locator('article').filter({ hasText: 'Fresh look' });
    await post.waitFor();
    await post.getByRole('button', { name: /Everyday Linen Shirt/ }).first().waitFor();
    await screenshot(shopper, 'shopper-11-feed-new-post');
    await shopper.getByRole('region', { name: 'Stories' }).getByRole('button', { name: creator.handle }).click();
    const story = shopper.getByRole('dialog').locator('article').filter({ hasText: 'Behind the scenes' });
    await story.waitFor();
    await story.getByRole('button', { name: /Everyday Linen Shirt/ }).first().waitFor();
    await screenshot(shopper, 'shopper-12-story');
    await shopper.context().close();
  });

  it('the model switch re-ranks: tapped post A then post B, then bought — last click credits B, first click A, linear splits', async () => {
    const { t } = server;
    const [merchantToken, creatorToken, shopperToken] = await Promise.all([apiLogin(t, DEMO.merchant), apiLogin(t, DEMO.creator), apiLogin(t, DEMO.shopper2)]);
    // a fresh product: no earlier touches of this shopper on it can take part in the split
    const product = await t.request<{ id: string; variants: { id: string }[] }>({
      method: 'POST',
      url: '/v1/merchant/products',
      token: merchantToken,
      body: { name: 'Model Switch Cap', status: 'active', currency: 'USD', variants: [{ title: 'One size', priceMinor: 3000, stock: 20 }] },
    });
    assert.equal(product.status, 201, JSON.stringify(product.body));
    const makePost = async (caption: string) => {
      const r = await t.request<{ id: string; tags: { referralToken: string }[] }>({
        method: 'POST',
        url: '/v1/posts',
        token: creatorToken,
        body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/cap.svg?label=Cap', caption, tags: [{ productId: product.body.id, x: 0.5, y: 0.5 }] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.tags[0]!.referralToken;
    };
    const [tokenA, tokenB] = [await makePost('Cap look A'), await makePost('Cap look B')];
    const tap = (token: string) => t.request({ url: `/v1/products/${product.body.id}?ref=${encodeURIComponent(token)}`, token: shopperToken });
    await tap(tokenA);
    // touches are stored to the second: B's tap must be in a later second than A's for "first" and "last" to differ
    const second = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === second) await new Promise((r) => setTimeout(r, 20));
    await tap(tokenB);
    const bought = await t.request({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      token: shopperToken,
      headers: { 'idempotency-key': `web-models-${Date.now()}` },
      body: { skuId: product.body.variants[0]!.id, quantity: 1, referralToken: tokenB, paymentMethod: '4242424242424242' },
    });
    assert.equal(bought.status, 201, JSON.stringify(bought.body));

    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await signIn(page, DEMO.creator);
    await page.goto('/creator');
    const top = page.getByTestId('top-posts');
    const rowOf = (caption: string) => top.getByRole('row').filter({ hasText: caption });
    const revenueOf = async (caption: string) => (await rowOf(caption).getByRole('cell').nth(2).textContent())!;

    await rowOf('Cap look B').waitFor({ timeout: 20_000 });
    assert.equal(await revenueOf('Cap look B'), '$30.00');
    assert.equal(await rowOf('Cap look A').count(), 0, 'last click: A gets nothing');

    await page.getByLabel('Attribution model').selectOption('first_click');
    await rowOf('Cap look A').waitFor();
    assert.equal(await revenueOf('Cap look A'), '$30.00');
    assert.equal(await rowOf('Cap look B').count(), 0, 'first click: B gets nothing');

    await page.getByLabel('Attribution model').selectOption('linear');
    await rowOf('Cap look B').waitFor();
    assert.equal(await revenueOf('Cap look A'), '$15.00');
    assert.equal(await revenueOf('Cap look B'), '$15.00');
    await screenshot(page, 'creator-05-model-linear');
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

    // a shopper opens a product with a tampered referral token: the purchase path ignores it, the admin sees it counted
    const feed = await server.t.request<{ posts: { tags: { referralToken: string; product: { id: string } }[] }[] }>({ url: '/v1/feed?limit=5' });
    const tag = feed.body.posts.flatMap((p) => p.tags)[0]!;
    // one character inside the MAC changed: a whole 6-bit character, so the bytes differ and the text stays canonical
    // base64url (rewriting the last two characters turned a token ending in 'AA' into a malformed one, 'BB' setting
    // padding bits: a CI run once met that 1-in-256 case and found no 'Forged or tampered token' row)
    const at = tag.referralToken.length - 5;
    const forged = `${tag.referralToken.slice(0, at)}${tag.referralToken[at] === 'A' ? 'B' : 'A'}${tag.referralToken.slice(at + 1)}`;
    const opened = await server.t.request({ url: `/v1/products/${tag.product.id}?ref=${encodeURIComponent(forged)}` });
    assert.equal(opened.status, 200, 'a bad token never blocks the shopper');

    // the API counts it first (so a failure below says whether the count or the page is missing)
    const adminToken = await apiLogin(server.t, 'admin@feedshop.dev');
    const counted = await server.t.request<{ counts: { reason: string; count: number }[] }>({ url: '/v1/admin/attribution/flags?days=30', token: adminToken });
    assert.ok(counted.body.counts.some((c) => c.reason === 'invalid_token:bad_signature' && c.count >= 1), JSON.stringify(counted.body));
    await signIn(page, 'admin@feedshop.dev');
    await page.goto('/admin');
    await page.getByRole('cell', { name: DEMO.shopper }).waitFor();
    const flagged = page.getByRole('table', { name: 'Flagged touches by reason, last 30 days' }).getByRole('row').filter({ hasText: 'Forged or tampered token' });
    await flagged.waitFor().catch(async (err: Error) => {
      throw new Error(`${err.message}\nthe admin page showed: ${await page.locator('main').innerText()}`);
    });
    assert.ok(Number(await flagged.getByRole('cell').nth(1).textContent()) >= 1);
    await screenshot(page, 'admin-01-accounts');
    await page.context().close();
  });

  it('a new creator and a new merchant set up their profiles after signing up; the merchant edits a product and adds a variant; a return is recorded', async () => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    const stamp = Date.now().toString(36);
    const signUp = async (role: 'creator' | 'merchant') => {
      await page.goto('/signup');
      await page.getByLabel('Your name').fill(`New ${role}`);
      await page.getByLabel('I am a').selectOption(role);
      await page.getByLabel('E-mail').fill(`new-${role}-${stamp}@example.test`);
      await page.getByLabel('Password').fill('correct horse battery');
      await page.getByRole('button', { name: 'Create account' }).click();
    };
    // before: the dashboard said "Set up your creator profile first (PUT /v1/creators/me)" and nothing could be done
    await signUp('creator');
    await page.getByRole('heading', { name: 'Set up your creator profile' }).waitFor();
    await page.getByLabel('Handle').fill('mia_styles');
    await page.getByRole('button', { name: 'Create profile' }).click();
    await page.getByRole('alert').filter({ hasText: 'That handle is taken. Choose another one.' }).waitFor();
    await page.getByLabel('Handle').fill(`new_${stamp}`);
    await page.getByRole('button', { name: 'Create profile' }).click();
    await page.getByRole('heading', { name: 'Creator dashboard' }).waitFor();
    await page.getByTestId('earnings').getByText('No earnings yet.', { exact: false }).waitFor();
    await page.getByRole('link', { name: 'Profile' }).click();
    assert.equal(await page.getByLabel('Handle').inputValue(), `new_${stamp}`);
    await page.getByRole('button', { name: 'Sign out' }).click();

    await signUp('merchant');
    await page.getByRole('heading', { name: 'Set up your shop' }).waitFor();
    await page.getByLabel('Shop name').fill(`Shop ${stamp}`);
    await page.getByRole('button', { name: 'Create shop' }).click();
    await page.getByRole('heading', { name: 'Orders' }).waitFor();
    await page.getByRole('navigation', { name: 'Merchant' }).getByRole('link', { name: 'Products' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Edit Me Mug');
    await page.getByLabel('Price').fill('12.50');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByRole('link', { name: 'Edit Me Mug' }).click();
    await page.getByRole('heading', { name: 'Edit Me Mug' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Edited Mug');
    await page.getByLabel('Status').selectOption('draft');
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.getByRole('heading', { name: 'Edited Mug' }).waitFor();
    const standard = page.getByRole('region', { name: 'Variant Standard' });
    await standard.getByLabel(/^Price/).fill('13');
    await standard.getByRole('button', { name: 'Save variant' }).click();
    await standard.getByRole('heading', { name: 'Standard · $13.00' }).waitFor();
    await page.getByLabel('Title', { exact: true }).fill('Large');
    const addVariant = page.locator('form').filter({ has: page.getByRole('heading', { name: 'Add a variant' }) });
    await addVariant.getByLabel(/^Price/).fill('15');
    await addVariant.getByLabel('Stock').fill('3');
    await page.getByRole('button', { name: 'Add variant' }).click();
    await page.getByRole('region', { name: 'Variant Large' }).getByText(/On hand 3 · reserved 0 · available 3/).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Edited Mug' }).waitFor();
    const productId = page.url().split('/').pop()!;
    const detail = (await (await context.request.get(`/v1/products/${productId}`)).json()) as { name: string; status: string; variants: { title: string; priceMinor: number }[] };
    assert.deepEqual([detail.name, detail.status, detail.variants.map((v) => [v.title, v.priceMinor])], ['Edited Mug', 'draft', [['Standard', 1300], ['Large', 1500]]]);
    assert.equal((await server.t.request({ url: `/v1/products/${productId}` })).status, 404, 'a draft is hidden from shoppers');
    await page.getByRole('navigation', { name: 'Merchant' }).getByRole('link', { name: 'Products' }).click();
    await page.getByRole('listitem').filter({ hasText: 'Edited Mug' }).filter({ hasText: 'Draft' }).waitFor();
    await screenshot(page, 'merchant-03-product-edited');
    await page.getByRole('button', { name: 'Sign out' }).click();

    // the demo merchant records a return of a delivered order (bought, shipped and delivered through the API): the
    // units go back into stock and are refunded
    const { t } = server;
    const merchantToken = await apiLogin(t, DEMO.merchant);
    const mine = await t.request<{ items: { id: string; availability: string; status: string }[] }>({ url: '/v1/merchant/products?limit=50', token: merchantToken });
    const forSale = mine.body.items.find((p) => p.status === 'active' && p.availability !== 'sold_out')!;
    const sku = (await t.request<{ variants: { id: string; availability: string }[] }>({ url: `/v1/products/${forSale.id}` })).body.variants.find((v) => v.availability !== 'sold_out')!.id;
    const bought = await t.request<{ orders: { id: string }[] }>({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      token: await apiLogin(t, DEMO.shopper2),
      headers: { 'idempotency-key': `web-return-${stamp}` },
      body: { skuId: sku, quantity: 1, paymentMethod: '4242424242424242' },
    });
    assert.equal(bought.status, 201, JSON.stringify(bought.body));
    const orderId = bought.body.orders[0]!.id;
    assert.equal((await t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/ship`, token: merchantToken, body: { carrier: 'DemoPost', trackingNumber: `R${stamp}` } })).status, 200);
    assert.equal((await t.request({ method: 'POST', url: `/v1/merchant/orders/${orderId}/deliver`, token: merchantToken })).status, 200);
    const stockBefore = await t.request<{ level: { onHand: number } }>({ url: `/v1/merchant/variants/${sku}/stock`, token: merchantToken });
    await signIn(page, DEMO.merchant);
    await page.goto(`/merchant/orders/${orderId}`);
    const returns = page.locator('form').filter({ has: page.getByRole('heading', { name: 'Return' }) });
    await returns.getByLabel(/^Units of .* to return$/).first().fill('1');
    await returns.getByLabel('Reason').fill('Too small');
    await returns.getByRole('button', { name: 'Record return' }).click();
    await page.getByText('Return recorded: the units are back in stock and refunded.').waitFor();
    await page.getByText(/1 returned, 1 refunded/).waitFor();
    const order = await t.request<{ lines: { returnedQuantity: number }[]; refundedMinor: number }>({ url: `/v1/merchant/orders/${orderId}`, token: merchantToken });
    assert.equal(order.body.lines[0]!.returnedQuantity, 1);
    assert.ok(order.body.refundedMinor > 0);
    const stockAfter = await t.request<{ level: { onHand: number } }>({ url: `/v1/merchant/variants/${sku}/stock`, token: merchantToken });
    assert.equal(stockAfter.body.level.onHand, stockBefore.body.level.onHand + 1, 'the returned unit is back on hand');
    await context.close();
  });
});
