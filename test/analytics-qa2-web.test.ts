import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { activeProduct, backends, shopOwner } from './support/harness';

/** A creator selling in two currencies reads each currency on its own: a table and a chart per currency, never a mixed sum. */
const skip = browserSkipReason();
const word = () => randomBytes(4).toString('hex');
const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

for (const backend of backends())
  describe(`web app: reports in several currencies [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('the creator dashboard ranks and charts EUR and USD apart', async () => {
      const t = server.t;
      const c = await t.signUp('creator');
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creators/me', token: c.token, body: { handle: `c_${word()}`, displayName: 'Two Currencies' } })).status, 200);
      const m = await shopOwner(t);
      const shopper = await t.signUp('shopper');
      for (const [priceMinor, currency] of [[4999, 'EUR'], [5000, 'USD']] as const) {
        const p = await activeProduct(t, m, { priceMinor, stock: 5, currency });
        const post = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { caption: `Sold in ${currency}`, mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId: p.productId, x: 0.5, y: 0.5 }] } });
        assert.equal(post.status, 201, JSON.stringify(post.body));
        const bought = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopper.token,
          headers: { 'idempotency-key': randomUUID() },
          body: { paymentMethod: '4242424242424242', shipping: SHIPPING, skuId: p.skuId, quantity: 1, referralToken: post.body.tags[0].referralToken },
        });
        assert.equal(bought.status, 201, JSON.stringify(bought.body));
      }

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 900 });
      await signIn(page, c.email, 'correct horse battery staple');
      await page.goto('/creator');
      const top = page.getByTestId('top-posts');
      // the table used to be one ranking, the USD post first by 5,000 "minor units" against 4,999
      for (const [currency, caption, money] of [['EUR', 'Sold in EUR', '€49.99'], ['USD', 'Sold in USD', '$50.00']]) {
        const table = top.locator(`table[data-currency="${currency}"]`);
        await table.getByRole('row').filter({ hasText: caption }).filter({ hasText: money }).waitFor({ timeout: 20_000 });
        assert.equal(await table.locator('caption').textContent(), `In ${currency}`);
        assert.equal(await table.getByRole('row').filter({ hasText: caption }).locator('td').first().textContent(), '1');
      }
      // one chart per currency, each on its own money axis
      for (const currency of ['EUR', 'USD']) await page.locator(`figure[data-currency="${currency}"] svg`).waitFor();
      assert.equal(await page.locator('figure[data-currency="EUR"] svg').getAttribute('aria-label'), 'Revenue in EUR per day over the last 30 days: €49.99 in total');
      await screenshot(page, 'creator-reports-two-currencies');
      await page.context().close();
    });
  });
