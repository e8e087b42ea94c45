import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { SimulatedPayoutProvider } from '../src/contexts/earnings';
import { recordDelivery } from '../src/contexts/earnings/earnings.repository';
import { newId } from '../src/platform/ids';
import { browserSkipReason, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The creator's earnings page after the provider took money back: the payout shows what was reversed (available
 * again), and a payout account the provider restricted says that it cannot receive transfers and why.
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: a reversed payout and a restricted payout account [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, { earningsHoldDays: 0, payoutMinimumMinor: 100 }, (s, b) => ([server, browser] = [s, b]));

    it('the creator sees the reversed part of a payout and why their account cannot receive transfers', async () => {
      const { t } = server;
      const creator = await t.signUp('creator');
      const profile = await t.request({ method: 'PUT', url: '/v1/creators/me', token: creator.token, body: { handle: `rev_${randomBytes(3).toString('hex')}`, displayName: 'Reversal Creator' } });
      assert.equal(profile.status, 200, JSON.stringify(profile.body));
      // a credited and delivered line (hold 0): 10% of $500.00 is available at once
      const orderId = newId('order');
      await t.app.contexts.earnings.service.handle('attribution.line.credited', {
        orderId,
        lineId: newId('orderLine'),
        merchantId: newId('merchant'),
        productId: newId('product'),
        accountId: null,
        currency: 'USD',
        orderedAt: new Date().toISOString(),
        quantity: 1,
        netAmountMinor: 50_000,
        credits: [],
        commissionable: { creatorId: profile.body.id, postId: newId('post'), tagId: newId('tag'), amountMinor: 50_000 },
      });
      await recordDelivery(t.app.db, orderId, new Date());
      const accountId = `acct_web${randomBytes(4).toString('hex')}`;
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creator/payout-account', token: creator.token, body: { accountId } })).status, 200);
      const payout = await t.request({ method: 'POST', url: '/v1/creator/payouts', token: creator.token, headers: { 'idempotency-key': randomBytes(8).toString('hex') }, body: { currency: 'USD' } });
      assert.deepEqual([payout.status, payout.body.amountMinor], [201, 5_000]);
      const admin = await t.signUp('admin');
      const reversal = await t.request({ method: 'POST', url: `/v1/admin/payouts/${payout.body.id}/reversals`, token: admin.token, headers: { 'idempotency-key': randomBytes(8).toString('hex') }, body: { amountMinor: 1_200 } });
      assert.equal(reversal.status, 200, JSON.stringify(reversal.body));
      await (t.app.contexts.earnings.provider as SimulatedPayoutProvider).setAccountCapability(accountId, 'inactive');

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 1000 });
      await signIn(page, creator.email, 'correct horse battery staple');
      await page.goto('/creator');
      const earnings = page.getByTestId('earnings');
      await earnings.getByTestId('payouts').getByRole('row').filter({ hasText: '$50.00' }).filter({ hasText: '$12.00 reversed (available again)' }).waitFor();
      assert.equal(await earnings.getByTestId('available-USD').textContent(), '$12.00');
      await earnings.getByRole('alert').filter({ hasText: `${accountId} cannot receive transfers (transfers capability inactive)` }).waitFor();
      assert.equal(await earnings.getByText(`Payouts go to ${accountId}.`).count(), 0);
      assert.equal(await earnings.getByRole('button', { name: 'Request payout (USD)' }).isDisabled(), true, 'nothing to request while payouts wait');
      await screenshot(page, 'creator-05-reversed-payout');
      await page.context().close();
    });
  });
