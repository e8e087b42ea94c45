import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { recordDelivery } from '../src/contexts/earnings/earnings.repository';
import { newId } from '../src/platform/ids';
import { apiLogin, browserSkipReason, newPhoneContext, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The admin's payouts page filtered to one creator shows that creator's balances, with what a refund after a payout
 * left them owing; a transfer reversal made there takes that much off the debt, once.
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: a creator's debt after a refund, for the admin [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, { earningsHoldDays: 0, payoutMinimumMinor: 100 }, (s, b) => ([server, browser] = [s, b]));

    it('the admin sees the carry of a creator whose paid-out sale was refunded, and a reversal reduces it', async () => {
      const { t } = server;
      const earnings = t.app.contexts.earnings.service;
      const creator = await t.signUp('creator');
      const profile = await t.request({ method: 'PUT', url: '/v1/creators/me', token: creator.token, body: { handle: `owe_${randomBytes(3).toString('hex')}`, displayName: 'Owing Creator' } });
      assert.equal(profile.status, 200, JSON.stringify(profile.body));
      const creatorId = profile.body.id as string;
      const facts = { orderId: newId('order'), lineId: newId('orderLine'), merchantId: newId('merchant'), productId: newId('product'), accountId: null, currency: 'USD', orderedAt: new Date().toISOString() };
      const sale = { creatorId, postId: newId('post'), tagId: newId('tag'), amountMinor: 50_000 };
      // 10% of $500.00, delivered (hold 0): $50.00 available, then paid out
      await earnings.handle('attribution.line.credited', { ...facts, quantity: 1, netAmountMinor: 50_000, credits: [], commissionable: sale });
      await recordDelivery(t.app.db, facts.orderId, new Date());
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: creator.token, body: { accountId: `acct_owe${randomBytes(4).toString('hex')}` } })).status, 200);
      const payout = await t.request({ method: 'POST', url: '/v1/creator/payouts', token: creator.token, headers: { 'idempotency-key': randomBytes(8).toString('hex') }, body: { currency: 'USD' } });
      assert.deepEqual([payout.status, payout.body.amountMinor], [201, 5_000]);
      // the sale is refunded in full after the payout
      await earnings.handle('attribution.line.reversed', {
        ...facts,
        refundId: newId('refund'),
        at: new Date().toISOString(),
        quantity: -1,
        netAmountMinor: -50_000,
        credits: [],
        commissionable: { ...sale, amountMinor: -50_000 },
        originalCommissionable: sale,
      });

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 1000 });
      await signIn(page, 'admin@feedshop.dev');
      await page.goto(`/admin/payouts?creatorId=${creatorId}`);
      const balances = page.getByTestId('creator-balances');
      const usd = balances.getByTestId('creator-balance-USD');
      await usd.filter({ hasText: 'Owes $50.00: refunded after it was paid out.' }).waitFor();
      assert.match((await usd.textContent()) ?? '', /-\$50\.00/, 'available is negative');

      // the admin takes $20.00 of the payout back at the provider: the debt is $30.00, not counted twice
      await page.getByRole('button', { name: `Reverse payout ${payout.body.id}` }).click();
      await page.getByLabel('Amount to take back (USD)').fill('20.00');
      await page.getByRole('button', { name: 'Reverse', exact: true }).click();
      await usd.filter({ hasText: 'Owes $30.00' }).waitFor();
      const token = await apiLogin(t, 'admin@feedshop.dev');
      const api = await t.request({ url: `/v1/admin/creators/${creatorId}/earnings`, token });
      assert.deepEqual(
        api.body.balances.map((b: any) => [b.currency, b.availableMinor, b.paidMinor, b.negativeCarryMinor]),
        [['USD', -3_000, 3_000, 3_000]],
      );
      assert.deepEqual((await t.request({ url: `/v1/admin/earnings/reconcile?creatorId=${creatorId}`, token })).body.discrepancies, []);
      await page.context().close();

      // the creator's own panel says it in their words (it showed a negative "Available" and nothing else)
      const own = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await signIn(own, creator.email, 'correct horse battery staple');
      await own.goto('/creator');
      await own.getByTestId('earnings').getByText('You owe $30.00: a sale was refunded after its commission was paid out.').waitFor();
      await own.context().close();
    });
  });
