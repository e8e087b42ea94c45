import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The admin's accounts card: it showed the newest 50 and nothing else. Now an account is found by the start of its
 * e-mail or a part of its name, and "Load more accounts" pages on.
 */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: finding accounts as an admin [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('finds one account by e-mail among 60 new ones, and pages through them 20 at a time', async () => {
      const { t } = server;
      const tag = randomBytes(3).toString('hex');
      for (let i = 0; i < 60; i++) {
        const res = await t.request({ method: 'POST', url: '/v1/auth/signup', body: { email: `bulk${i}.${tag}@example.test`, password: 'correct horse battery', displayName: `Bulk ${tag} ${i}`, role: 'shopper' } });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 900 });
      await signIn(page, 'admin@feedshop.dev');
      await page.goto('/admin');
      const card = page.locator('section.report').filter({ has: page.getByRole('heading', { name: 'Accounts' }) });
      const rows = card.getByTestId('accounts').locator('tbody tr');
      await rows.first().waitFor();

      // an e-mail's start, typed in another case: that one account
      await card.getByLabel('Find an account').fill(`BULK7.${tag}`);
      await card.getByRole('button', { name: 'Find' }).click();
      await rows.filter({ hasText: `bulk7.${tag}@example.test` }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=accounts] tbody tr').length === 1);
      assert.equal(await card.getByRole('button', { name: 'Load more accounts' }).count(), 0, 'one page only');

      // a part of the names: 60 of them, 20 a page
      await card.getByLabel('Find an account').fill(`Bulk ${tag}`);
      await card.getByRole('button', { name: 'Find' }).click();
      for (const shown of [20, 40, 60]) {
        await page.waitForFunction((n) => document.querySelectorAll('[data-testid=accounts] tbody tr').length === n, shown);
        if (shown < 60) await card.getByRole('button', { name: 'Load more accounts' }).click();
      }
      const emails = await rows.locator('td:nth-child(2)').allTextContents();
      assert.equal(new Set(emails).size, 60, 'no account twice');
      assert.ok(emails.every((e) => e.endsWith(`.${tag}@example.test`)));
      assert.equal(await card.getByRole('button', { name: 'Load more accounts' }).count(), 0, 'the last page');
      await screenshot(page, 'admin-02-accounts-found');

      // nothing found says so
      await card.getByLabel('Find an account').fill(`nobody-${tag}`);
      await card.getByRole('button', { name: 'Find' }).click();
      await card.getByText(`No account matches “nobody-${tag}”.`).waitFor();
      await page.context().close();
    });
  });
