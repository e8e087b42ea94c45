import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { apiLogin, axeViolations, browserSkipReason, DEMO, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * Uploads from the device in a real browser: a creator picks a photo in the new-post form, the URL field fills in,
 * the photo shows, and a follower sees the post with it in the feed; a file that is not what it claims is refused
 * with a sentence, and the URL field still takes a URL; a merchant picks a product image the same way. The upload's
 * progress is a real percentage; "Your uploads" lists the files, uses one again and deletes one (or says which post
 * keeps it).
 */
const skip = browserSkipReason();
/** An ISO base media file's `ftyp` box (brand isom): what an MP4 starts with. */
const MP4 = Buffer.concat([Buffer.from('00000018', 'hex'), Buffer.from('ftypisom'), Buffer.from('00000200', 'hex'), Buffer.from('isommp41')]);
/** A valid 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

for (const backend of backends())
  describe(`web app: media uploads [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    /** Waits until the image the selector finds has loaded and has pixels. */
    const loaded = (page: Page, selector: string) =>
      page.waitForFunction((s) => {
        const img = document.querySelector(s) as HTMLImageElement | null;
        return img !== null && img.complete && img.naturalWidth > 0;
      }, selector);

    /** A signed-in page at `path` (phone-sized unless wide). */
    const openAs = async (email: string, path: string, wide = false): Promise<Page> => {
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      if (wide) await page.setViewportSize({ width: 1100, height: 900 });
      await signIn(page, email);
      await page.goto(path);
      return page;
    };

    /** Chooses a file in the file input labelled `label`, as a person picking it on their device. */
    const choose = (page: Page, label: string, name: string, buffer: Buffer, mimeType = 'image/png') => page.getByLabel(label).setInputFiles({ name, mimeType, buffer });

    /** The row of "Your uploads" showing the image at `url`. */
    const uploadRow = (page: Page, url: string) => page.getByRole('list', { name: 'Your uploads' }).getByRole('listitem').filter({ has: page.locator(`img[src="${url}"]`) });

    /** Publishes the new-post form and reads the post back from the API. */
    const publish = async (page: Page) => {
      await page.getByRole('button', { name: 'Publish' }).click();
      const done = page.getByRole('status').filter({ hasText: /Published post pst_\w+/ });
      await done.waitFor();
      const postId = /pst_\w+/.exec((await done.textContent())!)![0];
      return server.t.request<{ mediaUrl: string; mediaType: string; creator: { id: string } }>({ url: `/v1/posts/${postId}` });
    };

    it('a creator uploads a photo from the device, publishes it, and a follower sees it in the feed', async () => {
      const page = await openAs(DEMO.creator, '/creator/new');
      await choose(page, 'Or upload a photo or video', 'look.png', PNG);
      await page.getByRole('status').filter({ hasText: 'Uploaded look.png' }).waitFor();
      const url = await page.getByLabel('Media URL').inputValue();
      assert.match(url, /^\/media\/upl_[0-9A-Z]{26}$/);
      await loaded(page, '.tagger img');
      assert.deepEqual(await axeViolations(page), []);
      await screenshot(page, 'creator-20-uploaded-photo');

      await page.getByLabel('Caption').fill('Straight from my camera roll');
      const post = await publish(page);
      assert.equal(post.body.mediaUrl, url);
      assert.equal(post.body.mediaType, 'photo');
      await page.context().close();

      const fan = await apiLogin(server.t, DEMO.shopper2);
      assert.equal((await server.t.request({ method: 'PUT', url: `/v1/creators/${post.body.creator.id}/follow`, token: fan })).status, 200);
      const shopper = await openAs(DEMO.shopper2, '/');
      await shopper.locator('article').filter({ hasText: 'Straight from my camera roll' }).waitFor();
      await loaded(shopper, `article img[src="${url}"]`);
      await screenshot(shopper, 'shopper-20-feed-uploaded-photo');
      await shopper.context().close();
    });

    it('a creator uploads a video: the post is a video post and the follower\'s feed plays it as a video, inline and muted', async () => {
      const page = await openAs(DEMO.creator, '/creator/new');
      await choose(page, 'Or upload a photo or video', 'clip.mp4', MP4, 'video/mp4');
      await page.getByRole('status').filter({ hasText: 'Uploaded clip.mp4' }).waitFor();
      const url = await page.getByLabel('Media URL').inputValue();
      assert.match(url, /^\/media\/upl_[0-9A-Z]{26}$/);
      await page.getByLabel('Caption').fill('A clip from the studio');
      const post = await publish(page);
      assert.deepEqual([post.body.mediaUrl, post.body.mediaType], [url, 'video']);
      await page.context().close();

      const fan = await apiLogin(server.t, DEMO.shopper);
      assert.equal((await server.t.request({ method: 'PUT', url: `/v1/creators/${post.body.creator.id}/follow`, token: fan })).status, 200);
      const shopper = await openAs(DEMO.shopper, '/');
      const article = shopper.locator('article').filter({ hasText: 'A clip from the studio' });
      await article.waitFor();
      const video = article.locator(`video[src="${url}"]`);
      await video.waitFor();
      assert.deepEqual(await video.evaluate((v: HTMLVideoElement) => [v.muted, v.playsInline, v.controls, v.getAttribute('aria-label')]), [true, true, true, 'A clip from the studio']);
      assert.equal(await article.locator('img[src^="/media/upl_"]').count(), 0, 'a video post is not drawn as an image');
      // the video fills the post's width like a photo does (a phone-sized page does not scroll sideways)
      assert.equal(await shopper.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
      await shopper.context().close();
    });

    it('a file whose contents are not its type is refused with a sentence, and the URL field still takes a URL', async () => {
      const page = await openAs(DEMO.creator, '/creator/new');
      await choose(page, 'Or upload a photo or video', 'notes.png', Buffer.from('just some text'));
      await page.getByRole('alert').filter({ hasText: /not what its name says/ }).waitFor();
      assert.equal(await page.getByLabel('Media URL').inputValue(), '');
      await page.getByLabel('Media URL').fill('/media/demo/typed.svg?label=Typed');
      await loaded(page, '.tagger img');
      await page.context().close();
    });

    it('a merchant uploads a product image and the new product carries it', async () => {
      const page = await openAs(DEMO.merchant, '/merchant/products', true);
      await choose(page, 'Or upload an image', 'scarf.png', PNG);
      await page.getByRole('status').filter({ hasText: 'Uploaded scarf.png' }).waitFor();
      const url = await page.getByLabel('Image URL').inputValue();
      assert.match(url, /^\/media\/upl_[0-9A-Z]{26}$/);
      await page.getByLabel('Name').fill('Uploaded Scarf');
      await page.getByLabel('Price').fill('12.00');
      await page.getByRole('button', { name: 'Create product' }).click();
      await page.getByText('Created Uploaded Scarf.').waitFor();
      assert.equal(await page.getByLabel('Image URL').inputValue(), '', 'the form is cleared for the next product');

      const token = await apiLogin(server.t, DEMO.merchant);
      const list = await server.t.request<{ items: { id: string; name: string; imageUrl: string | null }[] }>({ url: '/v1/merchant/products?limit=50', token });
      const created = list.body.items.find((p) => p.name === 'Uploaded Scarf');
      assert.ok(created, 'the product is listed');
      assert.equal(created.imageUrl, url);
      await page.context().close();
    });

    it('shows the upload\'s progress as a percentage while the file is sent', async () => {
      const page = await openAs(DEMO.creator, '/creator/new');
      // a slow uplink (256 KiB/s): the 1 MiB video takes seconds to send
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
      await choose(page, 'Or upload a photo or video', 'long.mp4', Buffer.concat([MP4, Buffer.alloc(1024 * 1024, 3)]), 'video/mp4');
      const status = page.getByRole('status').filter({ hasText: /Uploading long\.mp4… ([1-9]|[1-9]\d)%/ });
      await status.waitFor();
      const percent = Number(/(\d+)%/.exec((await status.textContent())!)![1]);
      assert.ok(percent > 0 && percent < 100, `part of the file is sent: ${percent}%`);
      const bar = page.getByRole('progressbar', { name: 'Uploading long.mp4' });
      assert.ok(Number(await bar.getAttribute('value')) > 0, 'the bar is determinate');
      await page.getByRole('status').filter({ hasText: 'Uploaded long.mp4' }).waitFor({ timeout: 30_000 });
      assert.match(await page.getByLabel('Media URL').inputValue(), /^\/media\/upl_/);
      await page.context().close();
    });

    it('lists a creator\'s uploads to use one again or delete it, and keeps one a post shows, saying so', async () => {
      const page = await openAs(DEMO.creator, '/creator/new');
      await choose(page, 'Or upload a photo or video', 'kept.png', Buffer.concat([PNG, Buffer.from('kept')]));
      await page.getByRole('status').filter({ hasText: 'Uploaded kept.png' }).waitFor();
      const kept = await page.getByLabel('Media URL').inputValue();
      await page.getByLabel('Caption').fill('Kept on the feed');
      await publish(page);
      await choose(page, 'Or upload a photo or video', 'spare.png', Buffer.concat([PNG, Buffer.from('spare')]));
      await page.getByRole('status').filter({ hasText: 'Uploaded spare.png' }).waitFor();
      const spare = await page.getByLabel('Media URL').inputValue();

      await page.locator('summary', { hasText: 'Your uploads' }).click();
      await uploadRow(page, spare).waitFor();
      await page.getByText(/ used$/).waitFor();
      assert.match((await page.getByText(/ used$/).textContent())!, /^[\d.]+ (B|kB|MB) of 2\.1 GB used$/);
      assert.deepEqual(await axeViolations(page), []);
      await screenshot(page, 'creator-21-your-uploads');
      // "Use" puts a listed file's URL back in the form
      await page.getByLabel('Media URL').fill('');
      await uploadRow(page, kept).getByRole('button', { name: 'Use' }).click();
      assert.equal(await page.getByLabel('Media URL').inputValue(), kept);

      await uploadRow(page, spare).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('status').filter({ hasText: 'Deleted the file.' }).waitFor();
      await uploadRow(page, spare).waitFor({ state: 'detached' });
      assert.equal((await server.t.request({ url: spare })).status, 404);

      await uploadRow(page, kept).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('alert').filter({ hasText: /shown by 1 post or story/ }).waitFor();
      assert.equal(await uploadRow(page, kept).count(), 1, 'still listed');
      assert.equal((await server.t.request({ url: kept })).status, 200);
      await page.context().close();
    });

    it('lists a merchant\'s uploads next to the product image field, to use one again', async () => {
      const page = await openAs(DEMO.merchant, '/merchant/products', true);
      await choose(page, 'Or upload an image', 'mug.png', Buffer.concat([PNG, Buffer.from('mug')]));
      await page.getByRole('status').filter({ hasText: 'Uploaded mug.png' }).waitFor();
      const url = await page.getByLabel('Image URL').inputValue();
      await page.getByLabel('Image URL').fill('');
      await page.locator('summary', { hasText: 'Your uploads' }).click();
      await uploadRow(page, url).getByRole('button', { name: 'Use' }).click();
      assert.equal(await page.getByLabel('Image URL').inputValue(), url);
      await page.context().close();
    });
  });
