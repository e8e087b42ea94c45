import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Browser, Page, Route } from 'playwright-core';
import { apiLogin, browserSkipReason, DEMO, downloadedText, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * Money in the back office, through the real UI: a merchant cancels one order and refunds a line of another and the
 * shopper sees it; the merchant sees which posts sell their products; the creator's commission clears the hold
 * (EARNINGS_HOLD_DAYS=0, delivery through the merchant UI), the creator registers a payout account, requests the
 * payout and sees it sent; statement and report CSVs download with the right content. Every money-moving request
 * is held with `page.route` while the test checks the button says what it is doing (aria-busy + text).
 */
const skip = browserSkipReason();
const PRICE = 4000; // $40.00
const CAPTION = 'Money journey look';

for (const backend of backends())
  describe(`web app: refunds, cancellations, payouts and exports [${backend.name}]`, { skip: skip ?? false }, () => {
  let server!: WebServer;
  let browser!: Browser;
  useWebSuite(backend, { earningsHoldDays: 0, payoutMinimumMinor: 100 }, (s, b) => ([server, browser] = [s, b]));
  let shopperToken: string;
  let skuId: string;
  let productId: string;
  let referralToken: string;
  let postId: string;

  // after useWebSuite's own before: the server is up
  before(async () => {
    const { t } = server;
    const [merchantToken, creatorToken] = await Promise.all([apiLogin(t, DEMO.merchant), apiLogin(t, DEMO.creator)]);
    shopperToken = await apiLogin(t, DEMO.shopper);
    // a product of the demo merchant and a post of the demo creator tagging it: the fixtures every journey buys through
    const product = await t.request<{ id: string; variants: { id: string }[] }>({
      method: 'POST',
      url: '/v1/merchant/products',
      token: merchantToken,
      body: { name: 'Money Journey Tote', status: 'active', currency: 'USD', variants: [{ title: 'Standard', priceMinor: PRICE, stock: 50 }] },
    });
    assert.equal(product.status, 201, JSON.stringify(product.body));
    skuId = product.body.variants[0]!.id;
    productId = product.body.id;
    const post = await t.request<{ id: string; tags: { referralToken: string }[] }>({
      method: 'POST',
      url: '/v1/posts',
      token: creatorToken,
      body: { kind: 'post', mediaType: 'photo', mediaUrl: '/media/demo/money-tote.svg?label=Tote', caption: CAPTION, tags: [{ productId: product.body.id, x: 0.5, y: 0.5 }] },
    });
    assert.equal(post.status, 201, JSON.stringify(post.body));
    postId = post.body.id;
    referralToken = post.body.tags[0]!.referralToken;
  });
  /** The shopper opens the tag and buys (setup through the API: the shopper's own UI journey is web-shopper's). */
  const buy = async (quantity: number): Promise<string> => {
    await server.t.request({ url: `/v1/products/${productId}?ref=${encodeURIComponent(referralToken)}`, token: shopperToken });
    const res = await server.t.request<{ orders: { id: string }[] }>({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      token: shopperToken,
      headers: { 'idempotency-key': `web-money-${quantity}-${Math.random()}` },
      body: { skuId, quantity, referralToken, paymentMethod: '4242424242424242' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.orders[0]!.id;
  };

  /**
   * Holds the next request matching `url` until the button named `name` shows `busyText` with aria-busy="true", then
   * lets it through: the busy state is asserted deterministically, not raced.
   */
  const assertBusyWhile = async (page: Page, url: string | RegExp, busyText: RegExp, click: () => Promise<void>) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const handler = async (route: Route) => {
      await held;
      await route.continue();
    };
    await page.route(url, handler);
    await click();
    const busy = page.locator('button[aria-busy="true"]').filter({ hasText: busyText });
    await busy.waitFor();
    assert.equal(await busy.isDisabled(), true);
    release();
    await busy.waitFor({ state: 'detached' }).catch(() => undefined);
    await page.unroute(url, handler);
  };

  it('a merchant cancels an order and refunds a line; the shopper sees both; the post shows in "Creators & posts"', async () => {
    const [cancelId, refundId] = [await buy(1), await buy(2)];
    const merchant = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await merchant.setViewportSize({ width: 1100, height: 900 });
    await signIn(merchant, DEMO.merchant);

    await merchant.goto(`/merchant/orders/${cancelId}`);
    await merchant.getByLabel('Reason').first().fill('Out of gift wrap');
    await assertBusyWhile(merchant, `**/v1/merchant/orders/${cancelId}/cancel`, /Cancelling and refunding…/, () => merchant.getByRole('button', { name: 'Cancel order' }).click());
    await merchant.getByRole('status').filter({ hasText: 'Order cancelled' }).waitFor();
    assert.equal(await merchant.getByTestId('merchant-order-status').textContent(), 'Cancelled');

    await merchant.goto(`/merchant/orders/${refundId}`);
    const refundForm = merchant.locator('form').filter({ has: merchant.getByRole('heading', { name: 'Refund' }) });
    await refundForm.getByLabel('Units of Money Journey Tote to refund').fill('1');
    await refundForm.getByLabel('Reason').fill('One arrived damaged');
    await assertBusyWhile(merchant, `**/v1/merchant/orders/${refundId}/refunds`, /Refunding…/, () => refundForm.getByRole('button', { name: 'Refund' }).click());
    await merchant.getByRole('status').filter({ hasText: 'Refund issued.' }).waitFor();
    const totals = merchant.locator('.total').filter({ hasText: /refunded \$\d/ });
    await totals.waitFor();
    const refunded = /refunded (\$[\d.,]+)/.exec((await totals.textContent())!)![1]!;
    assert.ok(Number(refunded.slice(1)) >= PRICE / 100, `one $40 unit (plus its tax) refunded, got ${refunded}`);
    await screenshot(merchant, 'merchant-03-refund');

    const shopper = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await signIn(shopper, DEMO.shopper);
    await shopper.goto(`/orders/${cancelId}`);
    assert.equal(await shopper.getByTestId('order-status').textContent(), 'Cancelled');
    await shopper.goto(`/orders/${refundId}`);
    await shopper.locator('.total').filter({ hasText: `refunded ${refunded}` }).waitFor();
    await screenshot(shopper, 'shopper-10-refunded');
    await shopper.context().close();

    // the post that sold is named (caption and handle) in the merchant's report; the refunded order still counts
    await merchant.getByRole('link', { name: 'Creators & posts' }).click();
    const row = merchant.getByTestId('merchant-top-posts').getByRole('row').filter({ hasText: CAPTION });
    await row.waitFor({ timeout: 20_000 });
    assert.match((await row.textContent())!, /\$\d/);
    await screenshot(merchant, 'merchant-04-sales');
    await merchant.context().close();
  });

  it('delivered in the merchant UI, the commission clears the hold; the creator is paid out and downloads CSVs', async () => {
    const orderId = await buy(1);
    const merchant = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await merchant.setViewportSize({ width: 1100, height: 900 });
    await signIn(merchant, DEMO.merchant);
    await merchant.goto(`/merchant/orders/${orderId}`);
    await merchant.getByLabel('Carrier').fill('DHL');
    await merchant.getByLabel('Tracking number').fill('JD0001');
    await merchant.getByRole('button', { name: 'Mark as shipped' }).click();
    await merchant.getByRole('button', { name: 'Mark as delivered' }).click();
    await merchant.getByTestId('merchant-order-status').filter({ hasText: 'delivered' }).waitFor();
    await merchant.context().close();

    const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
    await page.setViewportSize({ width: 1100, height: 1000 });
    await signIn(page, DEMO.creator);
    // no payout account yet: 200 { account: null }, not a 404 that the console logs as an error
    const logged404: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /\b404\b/.test(m.text())) logged404.push(`${m.text()} ${m.location().url}`);
    });
    // statuses only: sign-in may land on a page that already asked, and a body is gone once the page navigates away
    const accountStatuses: number[] = [];
    page.on('response', (r) => {
      if (r.request().method() === 'GET' && new URL(r.url()).pathname === '/v1/creator/payout-account') accountStatuses.push(r.status());
    });
    await page.goto('/creator');
    const earnings = page.getByTestId('earnings');
    await earnings.getByRole('button', { name: 'Save account' }).waitFor();
    assert.ok(accountStatuses.length > 0, 'the earnings panel asked for the payout account');
    assert.deepEqual([...new Set(accountStatuses)], [200]);
    const body = await page.evaluate(async () => (await fetch('/v1/creator/payout-account', { credentials: 'same-origin' })).json());
    assert.deepEqual(body, { account: null });
    assert.deepEqual(logged404, []);
    await earnings.getByLabel('Payout account').fill('acct_webtest1');
    await earnings.getByRole('button', { name: 'Save account' }).click();
    await earnings.getByText('Payouts go to acct_webtest1.').waitFor();

    // the commission (10% of $40) reaches "available" once attribution credited it and the order was delivered
    const request = earnings.getByRole('button', { name: 'Request payout (USD)' });
    await page.waitForFunction(() => {
      const b = [...document.querySelectorAll('button')].find((x) => x.textContent === 'Request payout (USD)');
      return b && !b.disabled;
    }, undefined, { timeout: 20_000 });
    const available = (await earnings.getByTestId('available-USD').textContent())!;
    assert.notEqual(available, '$0.00');
    await screenshot(page, 'creator-03-earnings');
    await assertBusyWhile(page, '**/v1/creator/payouts', /Requesting payout…/, () => request.click());
    await earnings.getByRole('status').filter({ hasText: `Payout of ${available} sent.` }).waitFor();
    const payoutRow = earnings.getByTestId('payouts').getByRole('row').filter({ hasText: available });
    await payoutRow.filter({ hasText: 'Sent' }).waitFor();
    await screenshot(page, 'creator-04-payout');

    // the month's statement: header, then opening balances, the entries (credit, release, payout…) and closing ones
    const month = new Date().toISOString().slice(0, 7);
    const statementButton = earnings.getByRole('button', { name: new RegExp(`^Statement ${month}`) });
    await statementButton.waitFor();
    const statement = await downloadedText(page, () => statementButton.click());
    assert.equal(statement.name, `feedshop-statement-${month}.csv`);
    const lines = statement.text.trim().split(/\r?\n/);
    assert.equal(lines[0], 'row,date,entry_id,kind,bucket,currency,amount_minor,order_id,payout_id');
    assert.ok(lines.some((l) => l.startsWith('entry,') && l.includes(orderId)), statement.text);

    // the top-posts export has this post with the money it made
    const top = page.getByTestId('top-posts');
    await top.getByRole('row').filter({ hasText: CAPTION }).waitFor({ timeout: 20_000 });
    const report = await downloadedText(page, () => top.getByRole('button', { name: 'Download CSV' }).click());
    assert.match(report.name, /^top-post-revenue-last_click-.*\.csv$/);
    const rows = report.text.trim().split(/\r?\n/);
    assert.match(rows[0]!, /^id,currency,revenueMinor,orders,units/);
    const mine = rows.find((r) => r.startsWith(`${postId},`));
    assert.ok(mine, report.text);
    assert.equal(mine.split(',')[1], 'USD');

    // an export that cannot be fetched says what happened and what to do, and saves nothing
    await page.route('**/v1/reports/top?*format=csv*', (route) => route.abort('internetdisconnected'));
    let saved = false;
    page.once('download', () => (saved = true));
    await top.getByRole('button', { name: 'Download CSV' }).click();
    await top.getByRole('alert').filter({ hasText: 'No connection to feedshop. Check your network and try again.' }).waitFor();
    assert.equal(saved, false);
    await page.context().close();
  });
});
