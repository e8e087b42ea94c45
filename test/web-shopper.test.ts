import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_MERCHANTS } from '../src/demo/world';
import { WEB_DIST } from '../src/web';
import { axeViolations, browserSkipReason, DEMO, fillPayment, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The shopper's journeys in a real browser against the real server (PGlite, demo world): feed → pin → sheet → pay →
 * order; the merchant ships and the shopper sees the tracking; a declined card; two shoppers racing for the last
 * unit; accessibility of the shopper pages.
 */
const skip = browserSkipReason();
const NORTHWIND = new Set(DEMO_MERCHANTS[0]!.products.map((p) => p.name));

/** Scrolls the feed (loading more pages) until a pin matching `pick` is there; returns its product name. */
async function findPin(page: Page, pick: (name: string) => boolean): Promise<string> {
  for (let i = 0; i < 12; i++) {
    const pins = page.locator('button.pin');
    for (const label of await pins.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''))) {
      const name = label.split(', ')[0]!;
      if (!label.includes('sold out') && pick(name)) {
        await page.locator(`button.pin[aria-label="${label}"]`).first().scrollIntoViewIfNeeded();
        return name;
      }
    }
    const more = page.getByRole('button', { name: 'Load more posts' });
    if (!(await more.isVisible())) await page.mouse.wheel(0, 4000);
    // scrolling the button into view can start the feed's own loading of the next page, which takes the button away
    // (and, on the last page, for good): a click that finds no button is not a failure, the next round looks again
    else await more.click({ timeout: 3_000 }).catch(() => undefined);
    await page.waitForTimeout(200);
  }
  throw new Error('no matching pin in the feed');
}

function pinFor(page: Page, name: string) {
  return page.locator(`button.pin[aria-label^="${name}, "]`).first();
}

for (const backend of backends())
  describe(`web app: shopper journeys [${backend.name}]`, { skip: skip ?? false }, () => {
  let server!: WebServer;
  let browser!: Browser;
  const bought: { orderId?: string; product?: string } = {};
  useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

  it('the feed first screen renders within 1 s of navigation; the first-view JavaScript is small', async (t) => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    await page.goto('/'); // warm: the first request of a process compiles routes and fills caches
    const started = Date.now();
    await page.goto('/');
    await page.locator('button.pin').first().waitFor();
    const wall = Date.now() - started;
    // the app marks the frame *after* the posts are in the DOM (requestAnimationFrame), so the pin can be seen before
    // the mark exists: wait for the mark itself rather than reading it once
    const mark = await (await page.waitForFunction(() => performance.getEntriesByName('feed-rendered')[0]?.startTime ?? 0)).jsonValue();
    await screenshot(page, 'shopper-01-feed');
    const html = readFileSync(join(WEB_DIST, 'index.html'), 'utf8');
    const entry = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    const gz = (f: string) => gzipSync(readFileSync(join(WEB_DIST, f)), { level: 9 }).length;
    const js = entry.filter((f) => f.endsWith('.js')).reduce((n, f) => n + gz(f), 0);
    const css = entry.filter((f) => f.endsWith('.css')).reduce((n, f) => n + gz(f), 0);
    t.diagnostic(`feed first screen: ${Math.round(mark)} ms after navigation start (in-page mark), ${wall} ms wall clock in the test`);
    t.diagnostic(`shopper first-view: ${(js / 1024).toFixed(1)} KiB JS gzip, ${(css / 1024).toFixed(1)} KiB CSS gzip (${entry.join(', ')})`);
    assert.ok(mark > 0 && mark < 1000, `feed rendered ${mark} ms after navigation`);
    assert.ok(js < 100 * 1024, `first-view JS is ${js} bytes gzip`);
    await context.close();
  });

  it('(1) a shopper signs in, scrolls, taps a pin: the sheet shows the product before the detail arrives; adds to cart, pays, sees the order', async () => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    const sent: { types: string[]; status: number }[] = [];
    page.on('requestfinished', async (req) => {
      if (!req.url().endsWith('/v1/events')) return;
      const types = ((req.postDataJSON() as { events: { type: string }[] }).events ?? []).map((e) => e.type);
      sent.push({ types, status: (await req.response())?.status() ?? 0 });
    });
    await signIn(page, DEMO.shopper);
    await page.goto('/');
    const name = await findPin(page, (n) => NORTHWIND.has(n));
    bought.product = name;

    // hold the detail request: the sheet must already show name and price from the feed's card
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let detailAsked = false;
    let askedNow!: () => void;
    const asked = new Promise<void>((r) => (askedNow = r));
    await page.route(
      (url) => /^\/v1\/products\/prd_[^/]+$/.test(url.pathname),
      async (route) => {
        detailAsked = true;
        askedNow();
        assert.ok(route.request().url().includes('ref='), 'the detail request carries the referral token');
        await held;
        await route.continue();
      },
    );
    const pin = pinFor(page, name);
    const priceInLabel = (await pin.getAttribute('aria-label'))!.split(', ')[1]!;
    await pin.click();
    const sheet = page.getByRole('dialog', { name });
    await sheet.waitFor();
    assert.equal(await sheet.getByRole('heading', { name }).isVisible(), true);
    assert.equal(await sheet.getByTestId('sheet-price').textContent(), priceInLabel);
    assert.equal(await sheet.getByTestId('sheet-loading').isVisible(), true, 'details are still loading');
    // the sheet asks for the detail as it opens; the route sees it a moment later on a busy machine
    await Promise.race([asked, new Promise((r) => setTimeout(r, 10_000))]);
    assert.equal(detailAsked, true);
    await screenshot(page, 'shopper-02-sheet-before-detail');
    release();
    await sheet.getByRole('button', { name: 'Add to cart' }).waitFor();
    await page.unroute((url) => /^\/v1\/products\/prd_[^/]+$/.test(url.pathname));
    await sheet.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByRole('status').filter({ hasText: `Added ${name} to your cart` }).waitFor();
    await screenshot(page, 'shopper-03-added');
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'detached' });

    await page.getByRole('link', { name: 'Cart' }).click();
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    await page.getByText(name).first().waitFor();
    await fillPayment(page, '4242 4242 4242 4242');
    await screenshot(page, 'shopper-04-cart');
    await page.getByRole('button', { name: /^Pay/ }).click();
    await page.getByRole('heading', { name: 'Thank you, your order is placed' }).waitFor();
    await page.getByTestId('order-status').filter({ hasText: 'Paid' }).waitFor();
    bought.orderId = (await page.locator('[data-testid=order] code').first().textContent())!;
    assert.match(bought.orderId, /^ord_/);
    await screenshot(page, 'shopper-05-order-confirmed');
    await page.getByRole('link', { name: 'All orders' }).click();
    await page.getByRole('link', { name: new RegExp(bought.orderId.slice(-8)) }).waitFor();
    // client events left in batches (the analytics route answers 202; a 404 would be tolerated by the app)
    await page.waitForTimeout(2500);
    const types = new Set(sent.flatMap((b) => b.types));
    for (const type of ['impression', 'tag_tap', 'product_view', 'add_to_cart', 'checkout_started']) assert.ok(types.has(type), `a ${type} event was sent (${[...types].join(', ')})`);
    assert.ok(sent.every((b) => b.status === 202 || b.status === 404), `event batches answered ${sent.map((b) => b.status).join(', ')}`);
    await context.close();
  });

  it('(3) the merchant ships the order in the UI and the shopper sees the tracking', async () => {
    assert.ok(bought.orderId, 'journey (1) placed an order');
    const merchant = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await merchant.setViewportSize({ width: 1100, height: 900 });
    await signIn(merchant, DEMO.merchant);
    await merchant.goto('/merchant');
    await merchant.getByRole('link', { name: bought.orderId }).click();
    await merchant.getByTestId('merchant-order-status').filter({ hasText: 'paid' }).waitFor();
    await merchant.getByLabel('Carrier').fill('DHL');
    await merchant.getByLabel('Tracking number').fill('JD0146000012345');
    await merchant.getByRole('button', { name: 'Mark as shipped' }).click();
    await merchant.getByTestId('merchant-order-status').filter({ hasText: 'shipped' }).waitFor();
    await screenshot(merchant, 'merchant-01-shipped');
    await merchant.context().close();

    const shopper = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await signIn(shopper, DEMO.shopper);
    await shopper.goto(`/orders/${bought.orderId}`);
    await shopper.getByTestId('order-status').filter({ hasText: 'Shipped' }).waitFor();
    assert.match((await shopper.getByTestId('tracking').textContent())!, /DHL.*JD0146000012345/);
    await screenshot(shopper, 'shopper-06-tracking');
    await shopper.context().close();
  });

  it('(4) a declined card leaves no order and says so clearly', async () => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    // a new account, signed up through the UI
    await page.goto('/signup');
    await page.getByLabel('Your name').fill('Declined Dana');
    await page.getByLabel('E-mail').fill(`dana-${Date.now()}@example.test`);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.goto('/');
    const name = await findPin(page, () => true);
    await pinFor(page, name).click();
    const sheet = page.getByRole('dialog', { name });
    await sheet.getByRole('button', { name: 'Buy now' }).click();
    await fillPayment(page, '4000000000000002');
    await sheet.getByRole('button', { name: /^Pay/ }).click();
    const alert = sheet.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent())!, /declined.*Nothing was charged/i);
    await screenshot(page, 'shopper-07-declined');
    const orders = await context.request.get('/v1/orders');
    assert.equal(orders.status(), 200);
    assert.equal(((await orders.json()) as { items: unknown[] }).items.length, 0, 'no order after a decline');
    await context.close();
  });

  it('(5) two shoppers race for the last unit: exactly one gets it, the other is told and sees it sold out live', async () => {
    const a = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    const b = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await Promise.all([signIn(a, 'shopper.lena@feedshop.dev'), signIn(b, 'shopper.ines@feedshop.dev')]);
    await a.goto('/');
    const name = await findPin(a, (n) => NORTHWIND.has(n));
    // leave exactly one sellable unit of this product
    const { catalog, inventory } = server.t.app.contexts;
    const search = await server.t.request<{ items: { id: string; name: string }[] }>({ url: `/v1/products?q=${encodeURIComponent(name)}` });
    const productId = search.body.items.find((p) => p.name === name)!.id;
    const detail = await server.t.request<{ variants: { id: string }[] }>({ url: `/v1/products/${productId}` });
    for (const [i, v] of detail.body.variants.entries()) {
      const r = await inventory.service.trySetOnHand(v.id, i === 0 ? 1 : 0, { accountId: 'acc_00000000000000000000000000', reason: 'race test' });
      assert.equal(r.ok, true);
    }
    void catalog;
    await b.goto('/');
    await findPin(b, (n) => n === name);
    for (const p of [a, b]) {
      await pinFor(p, name).click();
      const sheet = p.getByRole('dialog', { name });
      await sheet.getByRole('button', { name: 'Buy now' }).click();
      await fillPayment(p, '4242424242424242');
    }
    // the winner's answer is held until its own sheet reads "Sold out" (its reservation took the last unit and the
    // stream said so): the case that used to swap its pay form for "Sold out… nothing was charged" mid-payment
    const winnerSawSoldOutMidPayment: boolean[] = [];
    for (const p of [a, b]) {
      await p.route('**/v1/checkout/buy-now', async (route) => {
        const response = await route.fetch();
        if (response.status() === 201) {
          const sheet = p.getByRole('dialog', { name });
          await sheet.getByTestId('sheet-availability').filter({ hasText: 'Sold out' }).waitFor({ timeout: 5000 });
          winnerSawSoldOutMidPayment.push((await sheet.getByRole('alert').count()) === 0 && (await sheet.getByRole('button', { name: /^Pay/ }).count()) === 1);
        }
        await route.fulfill({ response });
      });
    }
    await Promise.all([a, b].map((p) => p.getByRole('dialog', { name }).getByRole('button', { name: /^Pay/ }).click()));
    const outcome = async (p: Page) =>
      Promise.race([
        p.getByRole('heading', { name: 'Thank you, your order is placed' }).waitFor().then(() => 'won' as const),
        // the refusal itself (an alert), not the live availability label, which reads "Sold out" for the winner too
        // as soon as its own reservation takes the last unit
        p.getByRole('dialog', { name }).getByRole('alert').filter({ hasText: /sold out/i }).first().waitFor().then(() => 'lost' as const),
      ]);
    const results = await Promise.all([outcome(a), outcome(b)]);
    assert.deepEqual([...results].sort(), ['lost', 'won'], `outcomes: ${results.join(', ')}`);
    assert.deepEqual(winnerSawSoldOutMidPayment, [true], 'while its payment ran, the winner kept its pay form and saw no refusal');
    const loser = results[0] === 'lost' ? a : b;
    // the stream pushes the level: the open sheet says sold out with no reload
    await loser.getByRole('dialog', { name }).getByTestId('sheet-availability').filter({ hasText: 'Sold out' }).waitFor({ timeout: 5000 });
    await screenshot(loser, 'shopper-08-race-lost');
    const loserOrders = await loser.context().request.get('/v1/orders');
    const winnerOrders = await (loser === a ? b : a).context().request.get('/v1/orders');
    assert.equal(((await loserOrders.json()) as { items: unknown[] }).items.length, 0);
    assert.equal(((await winnerOrders.json()) as { items: unknown[] }).items.length, 1);
    await a.context().close();
    await b.context().close();
  });

  it('keyboard: a pin opens the sheet with focus inside, Escape gives focus back; follow and review from the keyboard', async () => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    await signIn(page, 'shopper.kai@feedshop.dev');
    await page.goto('/');
    const name = await findPin(page, () => true);
    const pin = pinFor(page, name);
    await pin.focus();
    await page.keyboard.press('Enter');
    const sheet = page.getByRole('dialog', { name });
    await sheet.getByRole('button', { name: 'Write a review' }).waitFor();
    assert.equal(await sheet.getByRole('button', { name: 'Close' }).evaluate((el) => el === document.activeElement), true, 'focus moved into the sheet');
    await sheet.getByRole('button', { name: 'Write a review' }).focus();
    await page.keyboard.press('Enter');
    await sheet.getByLabel('Rating').selectOption('4');
    await sheet.getByLabel('Your review').fill('Tried it on, fits well.');
    await sheet.getByRole('button', { name: 'Save review' }).focus();
    await page.keyboard.press('Enter');
    await sheet.getByText('Thanks, your review is saved.').waitFor();
    await sheet.getByText('Tried it on, fits well.').waitFor();
    // "Buy now" is replaced by the pay form: focus goes to its first field, not to the page (it used to be lost)
    if (await sheet.getByRole('button', { name: 'Buy now' }).isEnabled()) {
      await sheet.getByRole('button', { name: 'Buy now' }).focus();
      await page.keyboard.press('Enter');
      await sheet.getByLabel('Card number').waitFor();
      assert.equal(await sheet.getByLabel('Card number').evaluate((el) => el === document.activeElement), true, 'focus is in the card field');
    }
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'detached' });
    assert.equal(await pin.evaluate((el) => el === document.activeElement), true, 'focus is back on the pin');

    const follow = page.getByRole('button', { name: 'Follow', exact: true }).first();
    const author = await follow.locator('xpath=ancestor::article').getByRole('heading').textContent();
    await follow.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: /^You follow / }).waitFor();
    const following = await context.request.get('/v1/me/following');
    const names = ((await following.json()) as { creators: { displayName: string }[] }).creators.map((c) => c.displayName);
    assert.ok(names.some((n) => author!.startsWith(n)), `${author} is followed (${names.join(', ')})`);
    await context.close();
  });

  it('(7) anonymous: the cart carries over on sign-in, the shopper cancels the order from its page; the console stays clean', async () => {
    const email = `carry-${Date.now()}@example.test`;
    const created = await server.t.request({ method: 'POST', url: '/v1/auth/signup', body: { email, password: 'correct horse battery', displayName: 'Carry Over', role: 'shopper' } });
    assert.equal(created.status, 201);
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    // before: every anonymous page logged a 401 (GET /v1/me) and a 404 (/favicon.ico) as console errors
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto('/');
    const name = await findPin(page, (n) => NORTHWIND.has(n));
    await pinFor(page, name).click();
    const sheet = page.getByRole('dialog', { name });
    await sheet.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByRole('status').filter({ hasText: `Added ${name} to your cart` }).waitFor();
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    // the sign-in's outbox subscriber is held back: the app's one cart read after sign-in must show the line by itself
    // (the server merges the device's cart before answering; the app used to re-read until the subscriber had run)
    server.t.app.outbox.stop();
    try {
      const firstRead = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/v1/cart');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const cart = (await (await firstRead).json()) as { lines: { productName: string; quantity: number }[] };
      assert.deepEqual(cart.lines.map((l) => [l.productName, l.quantity]), [[name, 1]], 'the first cart read after sign-in has the line');
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
    } finally {
      void server.t.app.outbox.run(100);
    }
    await page.getByRole('link', { name: 'Cart' }).click();
    await page.getByText(name).first().waitFor();
    await fillPayment(page, '4242 4242 4242 4242');
    await page.getByRole('button', { name: /^Pay/ }).click();
    await page.getByRole('heading', { name: 'Thank you, your order is placed' }).waitFor();
    const orderId = (await page.locator('[data-testid=order] code').first().textContent())!;

    // a reload is a later visit: the order, not a second "thank you"
    await page.reload();
    await page.getByTestId('order-status').filter({ hasText: 'Paid' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Thank you, your order is placed' }).count(), 0);
    await page.getByRole('button', { name: 'Cancel order' }).click();
    // the cancel request is held until its button has been seen busy
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route(`**/v1/orders/${orderId}/cancel`, async (route) => {
      assert.ok(route.request().headers()['idempotency-key'], 'cancelling moves money: it carries an Idempotency-Key');
      await held;
      await route.continue();
    });
    await page.getByRole('button', { name: 'Yes, cancel and refund' }).click();
    const busy = page.getByRole('button', { name: 'Cancelling…' });
    await busy.waitFor();
    assert.equal(await busy.getAttribute('aria-busy'), 'true');
    assert.equal(await busy.isDisabled(), true);
    release();
    await page.getByTestId('order-status').filter({ hasText: 'Cancelled' }).waitFor();
    await page.getByRole('status').filter({ hasText: /Order cancelled\. \$[\d.,]+ goes back to your card\./ }).waitFor();
    assert.match((await page.locator('.total').textContent())!, /refunded \$/);
    assert.equal(await page.getByRole('button', { name: 'Cancel order' }).count(), 0, 'a cancelled order offers no cancel');
    await screenshot(page, 'shopper-10-cancelled');
    const order = await context.request.get(`/v1/orders/${orderId}`);
    assert.equal(((await order.json()) as { status: string }).status, 'cancelled');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('(6) axe-core finds no serious or critical violations on the shopper pages', async () => {
    const context = await newPhoneContext(browser, server.baseUrl);
    const page = await context.newPage();
    const found: string[] = [];
    const check = async (label: string) => {
      for (const v of await axeViolations(page)) found.push(`${label}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.slice(0, 3).join(' | ')}`);
    };
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await check('login');
    await signIn(page, DEMO.shopper);
    await page.goto('/');
    await page.locator('button.pin').first().waitFor();
    await check('feed');
    await page.getByRole('region', { name: 'Stories' }).getByRole('button').first().click();
    await page.getByRole('dialog', { name: /stories$/ }).locator('article.post').first().waitFor();
    await check('stories');
    await screenshot(page, 'shopper-09-stories');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.locator('button.pin:not(.sold-out)').first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Buy now' }).waitFor();
    await check('product sheet');
    await page.getByRole('dialog').getByRole('button', { name: 'Buy now' }).click();
    await check('buy now form');
    await page.keyboard.press('Escape');
    await page.goto('/cart');
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    await check('cart');
    await page.goto('/orders');
    await page.getByRole('heading', { name: 'Your orders' }).waitFor();
    await page.locator('.orders li, .empty').first().waitFor();
    await check('orders');
    if (bought.orderId) {
      await page.goto(`/orders/${bought.orderId}`);
      await page.getByTestId('order').waitFor();
      await check('order');
    }
    assert.deepEqual(found, []);
    await context.close();
  });
});
