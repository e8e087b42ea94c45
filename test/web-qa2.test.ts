import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { apiLogin, assertFitsPhone, assertTapTargets, axeViolations, browserSkipReason, consoleErrors, DEMO, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * A second QA pass, in a real browser at 390 × 844: back and forward put a page where it was left (the feed with
 * every page it had loaded), no Follow button on a creator's own posts, a toast that leaves the bottom of the screen
 * free and can be closed, a first visit to the creator's and merchant's areas without a console error, "Your posts"
 * beyond the first 50, and 44 × 44 px Remove buttons.
 */
const skip = browserSkipReason();
/** What harness.signUp gives every account it makes. */
const PASSWORD = 'correct horse battery staple';
const PRODUCT = 'QA2 Many Sizes Tee';
const CAPTION = 'QA2 sizes post';
const SIZES = 20;
const ORDERS_LIST = /\/v1\/orders\?limit=50$/;

const scrollY = (page: Page) => page.evaluate(() => window.scrollY);
const box = async (l: Locator) => {
  const b = await l.boundingBox();
  assert.ok(b, 'on screen');
  return b;
};
/** The toast as drawn: the box around the app's status message (the message and its close button). */
const shownToast = async (page: Page) => {
  const b = await page.evaluate(() => {
    const status = document.querySelector('main ~ * [role="status"], main ~ [role="status"]');
    const r = (status?.closest('.toast-body') ?? status)?.getBoundingClientRect();
    return r && r.height > 0 ? { x: r.x, y: r.y, width: r.width, height: r.height } : null;
  });
  assert.ok(b, 'a toast is shown');
  return b;
};
const overlaps = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

for (const backend of backends())
  describe(`web app: QA pass 2 [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));
    let creator: { email: string; token: string; id: string; handle: string };
    let productId: string;
    let skuId: string;
    let referralToken: string;

    before(async () => {
      const { t } = server;
      const merchantToken = await apiLogin(t, DEMO.merchant);
      // many sizes and a long description: the sheet is taller than the phone, so its buttons can sit at the bottom
      const product = await t.request<{ id: string; variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: merchantToken,
        body: {
          name: PRODUCT,
          description: 'A plain tee in every size. '.repeat(12),
          status: 'active',
          currency: 'USD',
          media: [{ kind: 'image', url: '/media/demo/qa2-tee.svg?label=Tee' }],
          variants: Array.from({ length: SIZES }, (_, i) => ({ title: `Size ${i + 1}`, priceMinor: 1500, stock: 1000 })),
        },
      });
      assert.equal(product.status, 201, JSON.stringify(product.body));
      productId = product.body.id;
      skuId = product.body.variants[0]!.id;
      // a creator of this suite, whose tagged post leads the popular feed (what anonymous visitors and people who
      // follow no one see first)
      const account = await t.signUp('creator', 'QA2 Creator');
      const handle = `qa2_${Math.random().toString(36).slice(2, 8)}`;
      const profile = await t.request<{ id: string }>({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: 'QA2 Creator' } });
      assert.equal(profile.status, 200, JSON.stringify(profile.body));
      creator = { email: account.email, token: account.token, id: profile.body.id, handle };
      const post = await t.request<{ id: string; tags: { referralToken: string }[] }>({
        method: 'POST',
        url: '/v1/posts',
        token: creator.token,
        body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/qa2-post.svg?label=QA2', caption: CAPTION, tags: [{ productId, x: 0.5, y: 0.5 }] },
      });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      referralToken = post.body.tags[0]!.referralToken;
      assert.ok(await t.app.contexts.social.service.setPostScore(post.body.id, 1e9));
    });

    it('back and forward put a page where it was left: a list whose data loads again, and the feed with the pages it had loaded', async () => {
      const { t } = server;
      // a shopper with enough orders for a list longer than the phone
      const shopper = await t.signUp('shopper');
      for (let i = 0; i < 25; i++) {
        const r = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopper.token,
          headers: { 'idempotency-key': `qa2-orders-${shopper.accountId}-${i}` },
          body: { skuId, quantity: 1, referralToken, paymentMethod: '4242424242424242' },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
      const context = await newPhoneContext(browser, server.baseUrl);
      const page = await context.newPage();
      const errors = consoleErrors(page);
      await signIn(page, shopper.email, PASSWORD);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Orders' }).click();
      const orders = page.locator('ul.orders a');
      await orders.nth(24).waitFor();
      await orders.nth(20).scrollIntoViewIfNeeded();
      const y = await scrollY(page);
      assert.ok(y > 500, `scrolled down the orders (${y})`);
      await orders.nth(20).click();
      await page.getByTestId('order-status').waitFor();
      assert.equal(await scrollY(page), 0, 'a new page starts at the top');
      // back: the list is read again (its answer held a moment), then put where it was
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route(ORDERS_LIST, async (route) => {
        await held;
        await route.continue();
      });
      await page.goBack();
      await page.getByRole('heading', { name: 'Your orders' }).waitFor();
      release();
      await orders.nth(24).waitFor();
      // was: the top of the list (the router put every page back at the top)
      await page.waitForFunction((want) => Math.abs(window.scrollY - want) < 4, y, { timeout: 5000 }).catch(async () => assert.fail(`back to the orders at ${await scrollY(page)}, not ${y}`));
      await page.unroute(ORDERS_LIST);
      await page.goForward();
      await page.getByTestId('order-status').waitFor();
      assert.equal(await scrollY(page), 0);
      await page.goBack();
      await orders.nth(24).waitFor();
      await page.waitForFunction((want) => Math.abs(window.scrollY - want) < 4, y, { timeout: 5000 });

      // the feed: a second page loaded and scrolled down; the Feed link is a new visit, scrolled too; back and forward
      // show each as it was
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Feed' }).click();
      const posts = page.locator('article.post');
      await posts.first().waitFor();
      for (let i = 0; i < 20 && (await posts.count()) <= 10; i++) {
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        await page.waitForTimeout(150);
      }
      const firstCount = await posts.count();
      assert.ok(firstCount > 10, `a second page loaded (${firstCount} posts)`);
      await posts.nth(8).scrollIntoViewIfNeeded();
      await page.waitForTimeout(100);
      const firstY = await scrollY(page);
      const firstTitle = await posts.nth(8).locator('h2').textContent();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Feed' }).click();
      await page.waitForFunction(() => window.scrollY === 0 && document.querySelectorAll('article.post').length > 0 && document.querySelectorAll('article.post').length <= 10);
      await posts.nth(3).scrollIntoViewIfNeeded();
      await page.waitForTimeout(100);
      const secondY = await scrollY(page);
      assert.ok(secondY > 0 && secondY !== firstY);
      await page.goBack();
      // was: the second visit's first page at the top (one feed kept, and the same Feed component on the same path)
      await page.waitForFunction((n) => document.querySelectorAll('article.post').length === n, firstCount, { timeout: 5000 }).catch(async () => assert.fail(`back to the first feed: ${await posts.count()} posts, not ${firstCount}`));
      await page.waitForFunction((want) => Math.abs(window.scrollY - want) < 4, firstY, { timeout: 5000 });
      assert.equal(await posts.nth(8).locator('h2').textContent(), firstTitle);
      await page.goForward();
      await page.waitForFunction((want) => Math.abs(window.scrollY - want) < 4, secondY, { timeout: 5000 });
      assert.ok((await posts.count()) <= 10);
      assert.deepEqual(errors, []);
      await context.close();
    });

    it("a creator's own posts have no Follow button (the API refuses to follow oneself); others' do", async () => {
      const context = await newPhoneContext(browser, server.baseUrl);
      const page = await context.newPage();
      const errors = consoleErrors(page);
      await signIn(page, creator.email, PASSWORD);
      await page.goto('/');
      const posts = page.locator('article.post');
      await posts.nth(2).waitFor();
      const own = posts.filter({ hasText: `@${creator.handle}` });
      assert.ok((await own.count()) >= 1, 'the creator sees their own post in the feed');
      const others = posts.filter({ hasNotText: `@${creator.handle}` });
      // the others' buttons are there once the creator's own id is known; then none on their own posts
      await others.first().getByRole('button', { name: 'Follow' }).waitFor();
      assert.equal(await own.getByRole('button', { name: /^Follow/ }).count(), 0, 'no Follow button on their own post');
      await screenshot(page, 'qa2-01-own-post');
      assert.deepEqual(errors, []);

      // a shopper still follows this creator from the same post
      const shopperPage = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const shopperErrors = consoleErrors(shopperPage);
      const shopper = await server.t.signUp('shopper');
      await signIn(shopperPage, shopper.email, PASSWORD);
      await shopperPage.goto('/');
      const post = shopperPage.locator('article.post').filter({ hasText: `@${creator.handle}` }).first();
      await post.getByRole('button', { name: 'Follow' }).click();
      await post.getByRole('button', { name: 'Following' }).waitFor();
      assert.deepEqual(shopperErrors, []);
      await shopperPage.context().close();
      await context.close();
    });

    it('a toast leaves the bottom of the phone free, lets taps through around it and can be closed (390 × 844)', async () => {
      const context = await newPhoneContext(browser, server.baseUrl);
      const page = await context.newPage();
      const errors = consoleErrors(page);
      await page.goto('/');
      const pin = page.locator(`button.pin[aria-label^="${PRODUCT}, "]`).first();
      await pin.click();
      const sheet = page.getByRole('dialog', { name: PRODUCT });
      const add = sheet.getByRole('button', { name: 'Add to cart' });
      const buyNow = sheet.getByRole('button', { name: 'Buy now' });
      await add.click();
      const toast = page.getByRole('status').filter({ hasText: `Added ${PRODUCT} to your cart` });
      await toast.waitFor();
      // the sheet scrolled so its buttons are at the bottom of the screen, where a thumb reaches for them
      await buyNow.evaluate((el) => el.scrollIntoView({ block: 'end' }));
      const buyBox = await box(buyNow);
      assert.ok(buyBox.y + buyBox.height > 844 - 8, `"Buy now" is at the bottom of the screen (${buyBox.y + buyBox.height})`);
      const toastBox = await shownToast(page);
      for (const button of [add, buyNow, sheet.getByRole('button', { name: 'Close' })])
        assert.ok(!overlaps(toastBox, await box(button)), `the toast ${JSON.stringify(toastBox)} covers "${await button.textContent()}" ${JSON.stringify(await box(button))}`);
      // only the message takes taps: the strip it is placed in lets them through
      assert.equal(await page.locator('.toast').evaluate((el) => getComputedStyle(el).pointerEvents), 'none');
      await screenshot(page, 'qa2-02-toast-sheet');
      assert.ok(await toast.isVisible(), 'the toast still shows');
      await buyNow.click();
      await sheet.getByLabel('Card number').waitFor();
      // it can be closed
      await page.getByRole('button', { name: 'Dismiss message' }).click();
      await toast.waitFor({ state: 'detached' });
      assert.equal(await page.locator('.toast [role="status"]').textContent(), '', 'the live region stays, empty');
      await page.keyboard.press('Escape');
      await sheet.waitFor({ state: 'detached' });

      // on a page, the toast is under the top bar: the Cart link (what one taps after adding) is not covered
      await pin.click();
      await add.click();
      const again = page.getByRole('status').filter({ hasText: `Added ${PRODUCT} to your cart (2 items)` });
      await again.waitFor();
      await page.keyboard.press('Escape');
      await sheet.waitFor({ state: 'detached' });
      const cart = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Cart/ });
      assert.ok(!overlaps(await shownToast(page), await box(cart)), 'the toast covers the Cart link');
      await assertFitsPhone(page);
      assert.deepEqual(await axeViolations(page), []);
      await cart.click();
      await page.getByRole('heading', { name: 'Your cart' }).waitFor();
      assert.deepEqual(errors, []);
      await context.close();
    });

    it("a new creator's and a new merchant's first visit logs no error (the profile is asked for with a 200)", async () => {
      const { t } = server;
      for (const role of ['creator', 'merchant'] as const) {
        const account = await t.signUp(role);
        const context = await newPhoneContext(browser, server.baseUrl);
        const page = await context.newPage();
        const errors = consoleErrors(page);
        await signIn(page, account.email, PASSWORD);
        await page.goto(`/${role}`);
        if (role === 'creator') {
          await page.getByRole('heading', { name: 'Set up your creator profile' }).waitFor();
          await page.getByLabel('Handle').fill(`qa2_new_${Math.random().toString(36).slice(2, 8)}`);
          await page.getByRole('button', { name: 'Create profile' }).click();
          await page.getByRole('heading', { name: 'Creator dashboard' }).waitFor();
        } else {
          await page.getByRole('heading', { name: 'Set up your shop' }).waitFor();
          await page.getByLabel('Shop name').fill('QA2 New Shop');
          await page.getByRole('button', { name: 'Create shop' }).click();
          await page.getByRole('navigation', { name: 'Merchant' }).waitFor();
        }
        // was: "Failed to load resource: the server responded with a status of 404" for GET /v1/{creators,merchants}/me
        assert.deepEqual(errors, [], `${role}: a first visit logs nothing`);
        await context.close();
      }
      // the API: null before the profile, the profile after; the existing routes still answer 404 before it
      const creatorAccount = await t.signUp('creator');
      assert.deepEqual((await t.request({ url: '/v1/creator/profile', token: creatorAccount.token })).body, { creator: null });
      assert.equal((await t.request({ url: '/v1/creators/me', token: creatorAccount.token })).status, 404);
      const merchantAccount = await t.signUp('merchant');
      assert.deepEqual((await t.request({ url: '/v1/merchant/profile', token: merchantAccount.token })).body, { merchant: null });
      assert.equal((await t.request({ url: '/v1/merchants/me', token: merchantAccount.token })).status, 404);
      const own = await t.request<{ creator: { id: string } }>({ url: '/v1/creator/profile', token: creator.token });
      assert.equal(own.status, 200);
      assert.equal(own.body.creator.id, creator.id);
    });

    it('"Your posts" pages beyond the first 50 with "Load more posts"', async () => {
      const { t } = server;
      const account = await t.signUp('creator');
      const handle = `qa2_many_${Math.random().toString(36).slice(2, 8)}`;
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: 'Many Posts' } })).status, 200);
      for (let i = 1; i <= 55; i++) {
        const r = await t.request({ method: 'POST', url: '/v1/posts', token: account.token, body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/qa2-many.svg', caption: `Many ${i}` } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
      const context = await newPhoneContext(browser, server.baseUrl);
      const page = await context.newPage();
      const errors = consoleErrors(page);
      await signIn(page, account.email, PASSWORD);
      await page.goto('/creator/posts');
      const list = page.getByRole('list', { name: 'Your posts' }).locator(':scope > li');
      await list.nth(49).waitFor();
      assert.equal(await list.count(), 50);
      // was: "Showing your 50 newest posts." and no way to the 5 others
      await page.getByRole('button', { name: 'Load more posts' }).click();
      await list.nth(54).waitFor();
      assert.equal(await list.count(), 55);
      assert.equal(await page.getByRole('button', { name: 'Load more posts' }).count(), 0, 'no more pages');
      const captions = await page.getByRole('list', { name: 'Your posts' }).locator('h3').allTextContents();
      assert.deepEqual(captions, Array.from({ length: 55 }, (_, i) => `Many ${55 - i}`), 'newest first, each once');
      // the page moves focus in the frame after the posts are added: wait for it rather than read it once
      await page.waitForFunction(() => document.activeElement?.textContent === 'Many 5', undefined, { timeout: 5_000 }).catch(() => undefined);
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Many 5', 'focus on the first post added');
      assert.deepEqual(errors, []);
      await context.close();
    });

    it('Remove buttons (a cart line, a draft tag, a published tag, a product image) are 44 × 44 px touch targets at 390 px', async () => {
      // a draft tag and a published one (the creator of this suite: their tagged post)
      const creatorPage = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const creatorErrors = consoleErrors(creatorPage);
      await signIn(creatorPage, creator.email, PASSWORD);
      await creatorPage.goto('/creator/new');
      await creatorPage.getByLabel('Media URL').fill('/media/demo/qa2-draft.svg?label=Draft');
      await creatorPage.waitForFunction(() => (document.querySelector('.tagger img') as HTMLImageElement | null)?.complete === true);
      await creatorPage.getByRole('button', { name: 'Add a tag' }).click();
      await creatorPage.getByRole('button', { name: 'Remove tag 1' }).waitFor();
      assert.ok((await assertTapTargets(creatorPage, '.draft-tags')) >= 1);
      await creatorPage.getByRole('button', { name: 'Remove tag 1' }).click();
      await creatorPage.goto('/creator/posts');
      const removeTag = creatorPage.getByRole('button', { name: `Remove tag ${PRODUCT}` }).first();
      await removeTag.waitFor();
      assert.ok((await assertTapTargets(creatorPage, '.own-posts')) >= 3);
      await assertFitsPhone(creatorPage);
      await screenshot(creatorPage, 'qa2-04-remove-tag');
      assert.deepEqual(creatorErrors, []);
      await creatorPage.context().close();

      // a product image on the merchant's product page
      const merchantPage = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const merchantErrors = consoleErrors(merchantPage);
      await signIn(merchantPage, DEMO.merchant);
      await merchantPage.goto(`/merchant/products/${productId}`);
      await merchantPage.getByRole('button', { name: 'Remove image 1' }).waitFor();
      assert.ok((await assertTapTargets(merchantPage, '.product-media')) >= 1);
      await assertFitsPhone(merchantPage);
      assert.deepEqual(merchantErrors, []);
      await merchantPage.context().close();

      // a cart line: its own Remove button (there was only the quantity picker's "Remove")
      const context = await newPhoneContext(browser, server.baseUrl);
      const page = await context.newPage();
      const errors = consoleErrors(page);
      await page.goto('/');
      await page.locator(`button.pin[aria-label^="${PRODUCT}, "]`).first().click();
      await page.getByRole('dialog', { name: PRODUCT }).getByRole('button', { name: 'Add to cart' }).click();
      await page.getByTestId('cart-count').waitFor();
      await page.keyboard.press('Escape');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Cart/ }).click();
      const remove = page.getByRole('button', { name: `Remove ${PRODUCT}` });
      await remove.waitFor();
      assert.ok((await assertTapTargets(page, 'ul.lines')) >= 2);
      await assertFitsPhone(page);
      await screenshot(page, 'qa2-03-cart-remove');
      await remove.click();
      await page.getByText('Your cart is empty.').waitFor();
      await page.getByTestId('cart-count').waitFor({ state: 'detached' });
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
