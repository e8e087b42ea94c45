import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiLogin, assertFitsPhone, browserSkipReason, consoleErrors, DEMO, newPhoneContext, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The merchant's second QA pass in a real browser at phone width: a variant's stock history showed its newest 10
 * changes and no more; "Load more" now reads older ones until the first (the initial stock) is shown. A variant is
 * taken off sale (and put back) on its own.
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: a merchant's QA pass 2 [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    /** An active product of the demo merchant in Small and Medium, 5 units each. */
    async function teeInTwoSizes(token: string, name: string) {
      const created = await server.t.request<{ id: string; variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token,
        body: { name, status: 'active', currency: 'USD', variants: [{ title: 'Small', priceMinor: 1000, stock: 5 }, { title: 'Medium', priceMinor: 1000, stock: 5 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created;
    }

    it('a stock history longer than a page reads to its first change with "Load more"', async () => {
      const token = await apiLogin(server.t, DEMO.merchant);
      const created = await server.t.request<{ id: string; variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token,
        body: { name: 'QA History Mug', status: 'active', currency: 'USD', variants: [{ title: 'One size', priceMinor: 1200, stock: 5 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const sku = created.body.variants[0]!.id;
      for (let i = 1; i <= 24; i++) {
        const res = await server.t.request({ method: 'POST', url: `/v1/merchant/variants/${sku}/stock-adjustments`, token, body: { delta: 1, reason: `delivery ${i}` } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const errors = consoleErrors(page);
      await signIn(page, DEMO.merchant);
      await page.goto(`/merchant/products/${created.body.id}`);
      const history = page.getByRole('list', { name: 'Stock history of One size' });
      const items = history.getByRole('listitem');
      await items.first().filter({ hasText: '+1 → 29 (delivery 24)' }).waitFor();
      assert.equal(await items.count(), 10);
      // before: the 10 newest were all there was; the initial stock could never be seen
      assert.equal(await history.getByText(/initial stock/).count(), 0);
      const more = page.getByRole('button', { name: 'Load more' });
      await more.click();
      await page.waitForFunction(() => document.querySelectorAll('[aria-label="Stock history of One size"] li').length === 20);
      await more.click();
      await history.getByText('+5 → 5 (initial stock)').waitFor();
      assert.equal(await items.count(), 25);
      assert.equal(await more.count(), 0, 'no more to load after the first change');
      // newest first, every change once
      const texts = await items.allTextContents();
      assert.deepEqual(
        texts.map((s) => Number(/→ (\d+)/.exec(s)?.[1])),
        Array.from({ length: 25 }, (_, i) => 29 - i),
      );

      // a new change reads the history again from its newest page
      const v = page.getByRole('region', { name: 'Variant One size' });
      await v.getByLabel('Add or remove units').fill('-1');
      await v.getByLabel('Reason').fill('damaged');
      await v.getByRole('button', { name: 'Adjust' }).click();
      await items.first().filter({ hasText: '-1 → 28 (damaged)' }).waitFor();
      assert.equal(await items.count(), 10);
      await page.getByRole('button', { name: 'Load more' }).waitFor();
      await assertFitsPhone(page);
      assert.deepEqual(errors, []);
      await page.context().close();
    });

    it('a merchant stops selling one variant and sells it again from the product page', async () => {
      const token = await apiLogin(server.t, DEMO.merchant);
      const created = await teeInTwoSizes(token, 'QA Retire Tee');
      const shopperSees = async () => (await server.t.request<{ variants: { title: string }[] }>({ url: `/v1/products/${created.body.id}` })).body.variants.map((v) => v.title);

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const errors = consoleErrors(page);
      await signIn(page, DEMO.merchant);
      await page.goto(`/merchant/products/${created.body.id}`);
      const small = page.getByRole('region', { name: 'Variant Small' });
      await small.getByText('For sale.').waitFor();
      await small.getByRole('button', { name: 'Stop selling this variant' }).click();
      await small.getByText(/Not sold: hidden from shoppers/).waitFor();
      assert.deepEqual(await shopperSees(), ['Medium']);
      await small.getByRole('button', { name: 'Sell this variant again' }).click();
      await small.getByText('For sale.').waitFor();
      assert.deepEqual(await shopperSees(), ['Small', 'Medium']);
      await assertFitsPhone(page);
      assert.deepEqual(errors, []);
      await page.context().close();
    });

    it("a cart line of a variant taken off sale says it is no longer sold (it has stock, so not 'In stock')", async () => {
      const token = await apiLogin(server.t, DEMO.merchant);
      const created = await teeInTwoSizes(token, 'QA Gone Tee');
      const skuId = created.body.variants[0]!.id;
      const shopper = await apiLogin(server.t, DEMO.shopper2);
      const added = await server.t.request({ method: 'POST', url: '/v1/cart/lines', token: shopper, body: { skuId, quantity: 1 } });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const retired = await server.t.request({ method: 'PATCH', url: `/v1/merchant/variants/${skuId}`, token, body: { status: 'archived' } });
      assert.equal(retired.status, 200, JSON.stringify(retired.body));

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const errors = consoleErrors(page);
      await signIn(page, DEMO.shopper2);
      await page.goto('/cart');
      const line = page.locator('ul.lines li').filter({ hasText: 'QA Gone Tee' });
      await line.getByText('No longer sold').waitFor();
      assert.equal(await line.getByText('In stock').count(), 0);
      assert.deepEqual(errors, []);
      await page.context().close();
    });
  });
