import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiLogin, browserSkipReason, newPhoneContext, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * The admin's recompute form refuses an empty range ([from, until) with until not after from) in its own words,
 * before sending anything, so no job is queued; a valid range then goes through.
 */
const skip = browserSkipReason();
const EMPTY = 'Pick an end date after the start date: the end date is not included, so the same day twice covers no orders.';

for (const backend of backends())
  describe(`web app: admin recompute range [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('the same day twice, or an end before the start, is refused with a message and queues no job', async () => {
      const token = await apiLogin(server.t, 'admin@feedshop.dev');
      const jobs = async () => (await server.t.request({ url: '/v1/admin/attribution/recompute?limit=100', token })).body.items.length as number;
      const before = await jobs();
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 900 });
      let posts = 0;
      page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/v1/admin/attribution/recompute')) posts++;
      });
      await signIn(page, 'admin@feedshop.dev');
      await page.goto('/admin');
      const form = page.getByRole('form', { name: 'Recompute attribution' });
      const alert = form.getByRole('alert');
      for (const [from, to] of [['2026-03-10', '2026-03-10'], ['2026-03-10', '2026-03-09']] as const) {
        await form.getByLabel('Orders from').fill(from);
        await form.getByLabel('until (not included)').fill(to);
        await form.getByRole('button', { name: 'Recompute' }).click();
        await alert.filter({ hasText: EMPTY }).waitFor();
      }
      assert.equal(posts, 0, 'nothing was sent');
      assert.equal(await jobs(), before, 'no job was queued');

      // a range of one day goes through, and the message is gone
      await form.getByLabel('until (not included)').fill('2026-03-11');
      const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/v1/admin/attribution/recompute'));
      await form.getByRole('button', { name: 'Recompute' }).click();
      assert.equal((await posted).status(), 202);
      await page.getByTestId('recompute-job').filter({ hasText: 'queued' }).waitFor();
      assert.equal(await alert.count(), 0);
      const [job] = (await server.t.request({ url: '/v1/admin/attribution/recompute?limit=1', token })).body.items;
      assert.deepEqual([job.from, job.to], ['2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z']);
      await page.context().close();
    });
  });
