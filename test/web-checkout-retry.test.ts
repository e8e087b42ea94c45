import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, fillPayment, newPhoneContext, signIn, useWebSuite, type WebServer } from './support/browser';
import { activeProduct, backends, shopOwner } from './support/harness';

/**
 * Paying again after the payment provider did not answer. Checkout's 503 `payment_unavailable` is final for its
 * Idempotency-Key (the attempt is failed and undone: nothing charged, stock back), so a retry under that key would be
 * answered the same 503 for ever, even once the provider is back. The pay form keeps its key only for answers after
 * which the first request may still complete (a lost connection, 409 idempotency_in_progress).
 */
const skip = browserSkipReason();
const PROVIDER_ERROR_CARD = '4000000000000119';

for (const backend of backends())
  describe(`web app: paying again after the provider did not answer [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('the second "Pay" is a new attempt under a new key, not a replay of the 503', async () => {
      const { t } = server;
      const m = await shopOwner(t);
      const { skuId } = await activeProduct(t, m, { priceMinor: 2500, stock: 5 });
      const shopper = await t.signUp('shopper');
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await signIn(page, shopper.email, 'correct horse battery staple');
      const added = await page.evaluate(async (sku) => {
        const res = await fetch('/v1/cart/lines', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skuId: sku, quantity: 1 }) });
        return res.status;
      }, skuId);
      assert.equal(added, 201);

      const keys: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/checkout') keys.push(r.headers()['idempotency-key'] ?? '');
      });
      await page.goto('/cart');
      await fillPayment(page, PROVIDER_ERROR_CARD);
      const pay = page.getByRole('button', { name: /^Pay/ });
      const alert = page.getByRole('alert').filter({ hasText: 'The payment provider did not answer' });
      await pay.click();
      await alert.waitFor();
      await page.waitForFunction(() => ![...document.querySelectorAll('button')].some((b) => /^Pay/.test(b.textContent ?? '') && b.disabled));
      await pay.click();
      await page.waitForFunction(() => ![...document.querySelectorAll('button')].some((b) => /^Pay/.test(b.textContent ?? '') && b.disabled));
      await alert.waitFor();

      assert.equal(keys.length, 2, 'two checkout requests');
      assert.ok(keys.every((k) => k.length > 0), 'each carried an Idempotency-Key');
      assert.notEqual(keys[0], keys[1], 'the retry is a new attempt');
      const repo = t.app.contexts.checkout.service.repo;
      const attempts = await Promise.all(keys.map((k) => repo.findAttemptByKey(shopper.accountId, k)));
      assert.deepEqual(
        attempts.map((a) => [a?.status, a?.failure_code]),
        [['failed', 'payment_unavailable'], ['failed', 'payment_unavailable']],
        'the server ran both attempts',
      );
      const level = (await t.app.contexts.inventory.service.getStockLevels([skuId])).get(skuId)!;
      assert.deepEqual([level.onHand, level.reserved], [5, 0], 'nothing held after either');
      await page.context().close();
    });
  });
