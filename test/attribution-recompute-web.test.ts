import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiLogin, browserSkipReason, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/** The admin area's recompute control: it starts a job and follows its progress by polling, without a reload. */
const skip = browserSkipReason();

for (const backend of backends())
  describe(`web app: admin recompute [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    it('an admin starts a recompute and sees it go from queued to succeeded', async () => {
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.setViewportSize({ width: 1100, height: 900 });
      await signIn(page, 'admin@feedshop.dev');
      await page.goto('/admin');
      const form = page.getByRole('form', { name: 'Recompute attribution' });
      await form.getByLabel('View window, hours').fill('72');
      // the form's POST carries an Idempotency-Key: a retry after a lost answer gets the job it started
      const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/admin/attribution/recompute'));
      await form.getByRole('button', { name: 'Recompute' }).click();
      assert.match((await posted).headers()['idempotency-key'] ?? '', /^.{8,}$/);
      const job = page.getByTestId('recompute-job');
      await job.filter({ hasText: 'queued' }).waitFor();
      await screenshot(page, 'admin-02-recompute-queued');

      const token = await apiLogin(server.t, 'admin@feedshop.dev');
      const [queued] = (await server.t.request({ url: '/v1/admin/attribution/recompute?limit=1', token })).body.items;
      assert.deepEqual([queued.status, queued.windows], ['queued', { clickWindowDays: 7, viewWindowHours: 72 }]);
      assert.equal(await server.t.app.contexts.attribution.service.runRecomputeJobs(), 1); // what a worker's sweep does
      const done = await server.t.request({ url: `/v1/admin/attribution/recompute/${queued.id}`, token });
      await job.filter({ hasText: `succeeded, ${done.body.linesDone} of ${done.body.linesTotal} lines, ${done.body.recomputed} changed` }).waitFor();
      assert.equal(await form.getByRole('button', { name: 'Recompute' }).isEnabled(), true);
      await screenshot(page, 'admin-03-recompute-succeeded');
      await page.context().close();
    });
  });
