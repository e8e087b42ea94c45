import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { apiLogin, assertFitsPhone, axeViolations, browserSkipReason, consoleErrors, DEMO, newPhoneContext, screenshot, signIn, useWebSuite, type WebServer } from './support/browser';
import { backends } from './support/harness';

/**
 * A QA pass of what a creator does in the web app (sign up, profile, tag and publish posts and stories, their own
 * list: remove a tag, delete a post) and what a shopper then sees, in a real browser at 390 px (and desktop).
 */
const skip = browserSkipReason();

/** Waits until the tagger's image has loaded (its box is where clicks place tags). */
const taggerLoaded = (page: Page) => page.waitForFunction(() => (document.querySelector('.tagger img') as HTMLImageElement | null)?.complete === true);

interface PostBody {
  id: string;
  kind: string;
  caption: string;
  creator: { id: string; handle: string };
  tags: { id: string; x: number; y: number; product: { name: string } }[];
}

for (const backend of backends())
  describe(`web app: creator QA [${backend.name}]`, { skip: skip ?? false }, () => {
    let server!: WebServer;
    let browser!: Browser;
    useWebSuite(backend, {}, (s, b) => ([server, browser] = [s, b]));

    /** The creator's posts through the API (newest first). */
    const creatorPosts = async (creatorId: string) => (await server.t.request<{ posts: PostBody[] }>({ url: `/v1/creators/${creatorId}/posts?limit=50` })).body.posts;
    /** The post id a "Published … pst_…" status names. */
    const publishedId = async (page: Page, pattern: RegExp) => {
      const done = page.getByRole('status').filter({ hasText: pattern });
      await done.waitFor();
      return /pst_\w+/.exec((await done.textContent())!)![0];
    };

    it('a new creator sets up a profile, tags two products by tapping the photo (Enter in the search does not publish, an empty tag is refused in words, one tag removed) and publishes; the form starts afresh', async () => {
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await page.goto('/signup');
      await page.getByLabel('Your name').fill('Quinn Creator');
      await page.getByLabel('I am a').selectOption('creator');
      await page.getByLabel('E-mail').fill(`quinn-${backend.name}@example.com`);
      await page.getByLabel('Password').fill('a-long-password');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByLabel('Handle').fill('quinn_qa');
      await page.getByLabel('Bio (optional)').fill('Linen and coffee.');
      await page.getByRole('button', { name: 'Create profile' }).click();
      await page.getByRole('heading', { name: 'Creator dashboard' }).waitFor();
      const errors = consoleErrors(page);
      await page.getByRole('link', { name: 'New post' }).click();
      await page.getByLabel('Media URL').fill('/media/demo/quinn.svg?label=Quinn');
      await taggerLoaded(page);
      const media = page.getByRole('img', { name: /click to place a product tag/ });
      const box = (await media.boundingBox())!;

      // tag 1 by a tap: focus goes to the product search; Enter there searches, it does not publish the post
      await media.click({ position: { x: box.width * 0.25, y: box.height * 0.5 } });
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'search', 'focus is in the product search after placing a tag');
      await page.getByLabel('Find a product').fill('Linen');
      await page.getByLabel('Find a product').press('Enter');
      await page.getByRole('list', { name: 'Products found' }).getByRole('button', { name: /^Everyday Linen Shirt/ }).waitFor();
      assert.equal(await page.getByRole('status').filter({ hasText: /Published/ }).count(), 0, 'Enter in the search published the post');
      const creator = (await server.t.request<{ id: string }>({ url: '/v1/creators/quinn_qa' })).body;
      assert.deepEqual(await creatorPosts(creator.id), [], 'nothing was published');
      await page.getByRole('button', { name: /^Everyday Linen Shirt/ }).click();
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Tag 1: Everyday Linen Shirt', 'focus returns to the pin');

      // a search that finds nothing says so
      await media.click({ position: { x: box.width * 0.7, y: box.height * 0.3 } });
      await page.getByLabel('Find a product').fill('zzzz-nothing');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('No products on sale match “zzzz-nothing”').waitFor();
      // the product tag 1 carries cannot be picked again (the API refuses a product twice: 409 duplicate_tag)
      await page.getByLabel('Find a product').fill('Linen');
      await page.getByLabel('Find a product').press('Enter');
      const again = page.getByRole('list', { name: 'Products found' }).getByRole('button', { name: /^Everyday Linen Shirt/ });
      await again.waitFor();
      assert.equal(await again.isDisabled(), true, 'a product already tagged is not offered again');
      assert.match((await again.textContent())!, /already tagged/);

      // tag 3 left without a product: publishing refuses, naming it, instead of dropping it silently
      await media.click({ position: { x: box.width * 0.5, y: box.height * 0.8 } });
      await page.getByLabel('Caption').fill('Quinn linen morning');
      await page.getByRole('button', { name: 'Publish' }).click();
      await page.getByRole('alert').filter({ hasText: 'Tag 2 has no product yet' }).waitFor();
      assert.deepEqual(await creatorPosts(creator.id), [], 'nothing was published with an empty tag');
      // tag 2 removed: the others renumber; tag 2 (was 3) gets a product
      await page.getByRole('button', { name: 'Remove tag 2' }).click();
      await page.getByRole('button', { name: 'Tag 2: choose a product' }).click();
      await page.getByLabel('Find a product').fill('Mug');
      await page.getByLabel('Find a product').press('Enter');
      await page.getByRole('button', { name: /^Speckled Mug Set/ }).click();
      await assertFitsPhone(page);
      assert.deepEqual(await axeViolations(page), []);
      await screenshot(page, 'creator-qa-01-tagged');
      await page.getByRole('button', { name: 'Publish' }).click();
      const id = await publishedId(page, /Published post pst_\w+ with 2 tags/);
      const post = (await server.t.request<PostBody>({ url: `/v1/posts/${id}` })).body;
      assert.deepEqual(
        post.tags.map((t) => [t.product.name, Math.round(t.x * 100), Math.round(t.y * 100)]),
        [
          ['Everyday Linen Shirt', 25, 50],
          ['Speckled Mug Set (4)', 50, 80],
        ],
      );
      assert.equal(post.caption, 'Quinn linen morning');
      // the form is fresh for the next post: no media, caption or tags left to publish twice by accident
      assert.equal(await page.getByLabel('Media URL').inputValue(), '');
      assert.equal(await page.getByLabel('Caption').inputValue(), '');
      assert.equal(await page.locator('.tagger').count(), 0);
      assert.deepEqual(errors, []);
      await page.context().close();
    });

    it('keyboard only: a story is tagged with "Add a tag" and the arrow keys, published, and a shopper opens it from the tray; its pin opens the sheet before the detail answers', async () => {
      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await signIn(page, DEMO.creator);
      await page.goto('/creator/new');
      const errors = consoleErrors(page);
      await page.getByRole('radio', { name: 'Story (24 h)' }).check();
      await page.getByLabel('Media URL').fill('/media/demo/kb-story.svg?label=Keys');
      await taggerLoaded(page);
      await page.getByRole('button', { name: 'Add a tag' }).focus();
      await page.keyboard.press('Enter');
      // focus is in the search: type, Enter, Tab to the first result, Enter
      await page.keyboard.type('Tote');
      await page.keyboard.press('Enter');
      const result = page.getByRole('button', { name: /^Waxed Canvas Tote/ });
      await result.waitFor();
      await page.keyboard.press('Tab'); // the Search button
      await page.keyboard.press('Tab'); // the first product found
      assert.match((await page.evaluate(() => document.activeElement?.textContent)) ?? '', /^Waxed Canvas Tote/);
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Tag 1: Waxed Canvas Tote');
      // the selected pin moves with the arrow keys (Shift: ten steps)
      await page.keyboard.press('Shift+ArrowRight');
      await page.keyboard.press('Shift+ArrowRight');
      await page.keyboard.press('ArrowUp');
      await page.getByLabel('Caption').focus();
      await page.keyboard.type('Keyboard story');
      await page.getByRole('button', { name: 'Publish' }).focus();
      await page.keyboard.press('Enter');
      const id = await publishedId(page, /Published story pst_\w+ with 1 tag/);
      const story = (await server.t.request<PostBody>({ url: `/v1/posts/${id}` })).body;
      assert.equal(story.kind, 'story');
      assert.deepEqual(story.tags.map((t) => [t.product.name, t.x, t.y]), [['Waxed Canvas Tote', 0.7, 0.49]]);
      assert.deepEqual(errors, []);
      await page.context().close();

      // the shopper: tray → story viewer → pin → the sheet shows the product while its detail is still held
      const shopper = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      const shopperErrors = consoleErrors(shopper);
      await signIn(shopper, DEMO.shopper);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await shopper.route(/\/v1\/products\/prd_\w+\?ref=/, async (route) => {
        await held;
        await route.continue();
      });
      await shopper.goto('/');
      try {
        await shopper.getByRole('region', { name: 'Stories' }).getByRole('button', { name: story.creator.handle }).click();
      } catch (e) {
        // once (in ~10 runs) the tray's ring never appeared: say what the page showed instead
        await screenshot(shopper, 'creator-qa-tray-missing');
        throw new Error(`${(e as Error).message}\npage: ${await shopper.evaluate(() => document.body.innerText.slice(0, 800))}\nconsole: ${shopperErrors.join(' | ')}`);
      }
      const viewer = shopper.getByRole('dialog');
      const article = viewer.locator('article').filter({ hasText: 'Keyboard story' });
      await article.waitFor();
      await article.getByRole('button', { name: /^Waxed Canvas Tote, \$24\.00/ }).click();
      const sheet = shopper.getByRole('dialog', { name: 'Waxed Canvas Tote' });
      await sheet.getByText('$24.00').first().waitFor();
      // the sheet is on top of the story viewer, not drawn behind it: what is at its close button is the sheet's
      const close = (await sheet.getByRole('button', { name: 'Close' }).boundingBox())!;
      assert.equal(
        await shopper.evaluate(([x, y]) => !!document.elementFromPoint(x!, y!)?.closest('.product-sheet'), [close.x + close.width / 2, close.y + close.height / 2]),
        true,
        'the product sheet opened from a story is hidden behind the story viewer',
      );
      await screenshot(shopper, 'creator-qa-02-sheet-from-story');
      await assertFitsPhone(shopper);
      release();
      assert.deepEqual(await axeViolations(shopper), []);
      assert.deepEqual(shopperErrors, []);
      await shopper.context().close();
    });

    it('"Your posts": a creator removes one tag, deletes a post (asked first) and edits a caption; the list changes at once and the shopper\'s feed follows', async () => {
      const token = await apiLogin(server.t, DEMO.creator);
      const products = (await server.t.request<{ items: { id: string; name: string }[] }>({ url: '/v1/products?q=Linen&limit=10' })).body.items;
      const shirt = products.find((p) => p.name === 'Everyday Linen Shirt')!;
      const bedding = products.find((p) => p.name === 'Stonewashed Linen Bedding')!;
      const created = await server.t.request<PostBody>({
        method: 'POST',
        url: '/v1/posts',
        token,
        body: { mediaType: 'photo', mediaUrl: '/media/demo/own.svg?label=Own', caption: 'Own list post', tags: [{ productId: shirt.id, x: 0.2, y: 0.2 }, { productId: bedding.id, x: 0.8, y: 0.8 }] },
      });
      assert.equal(created.status, 201);
      const doomed = await server.t.request<PostBody>({ method: 'POST', url: '/v1/posts', token, body: { mediaType: 'photo', mediaUrl: '/media/demo/gone.svg?label=Gone', caption: 'Post to delete' } });
      assert.equal(doomed.status, 201);
      const fan = await apiLogin(server.t, DEMO.shopper2);
      assert.equal((await server.t.request({ method: 'PUT', url: `/v1/creators/${created.body.creator.id}/follow`, token: fan })).status, 200);

      for (const width of [390, 1100]) {
        const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
        await page.setViewportSize({ width, height: 900 });
        await signIn(page, DEMO.creator);
        const errors = consoleErrors(page);
        await page.goto('/creator');
        await page.getByRole('link', { name: 'Your posts' }).click();
        await page.getByRole('heading', { name: 'Your posts', level: 1 }).waitFor();
        await page.getByRole('article', { name: 'Own list post' }).waitFor();
        if (width === 390) await assertFitsPhone(page);
        assert.deepEqual(await axeViolations(page), []);
        await screenshot(page, `creator-qa-03-your-posts-${width}`);
        assert.deepEqual(errors, []);
        await page.context().close();
      }

      const page = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await signIn(page, DEMO.creator);
      await page.goto('/creator/posts');
      const own = page.getByRole('article', { name: 'Own list post' });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route(/\/v1\/tags\/tag_\w+$/, async (route) => {
        await held;
        await route.continue();
      });
      await own.getByRole('button', { name: 'Remove tag Stonewashed Linen Bedding' }).click();
      const busy = own.getByRole('button', { name: 'Removing…' });
      await busy.waitFor();
      assert.equal(await busy.getAttribute('aria-busy'), 'true');
      release();
      await page.getByRole('status').filter({ hasText: 'Removed the Stonewashed Linen Bedding tag from “Own list post”' }).waitFor();
      assert.equal(await own.getByText('Stonewashed Linen Bedding').count(), 0, 'the list no longer shows the removed tag');
      assert.deepEqual((await server.t.request<PostBody>({ url: `/v1/posts/${created.body.id}` })).body.tags.map((t) => t.product.name), ['Everyday Linen Shirt']);

      const gone = page.getByRole('article', { name: 'Post to delete' });
      await gone.getByRole('button', { name: 'Delete post “Post to delete”' }).click();
      await gone.getByRole('button', { name: 'Keep it' }).click();
      assert.equal((await server.t.request({ url: `/v1/posts/${doomed.body.id}` })).status, 200, '"Keep it" keeps it');
      await gone.getByRole('button', { name: 'Delete post “Post to delete”' }).click();
      await gone.getByRole('button', { name: 'Delete', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Deleted “Post to delete”' }).waitFor();
      assert.equal(await gone.count(), 0);
      assert.equal((await server.t.request({ url: `/v1/posts/${doomed.body.id}` })).status, 404);

      // the caption can be edited after publishing (a typo is no reason to delete a post and lose its sales history)
      await own.getByRole('button', { name: 'Edit caption of “Own list post”' }).click();
      const field = own.getByLabel('Caption');
      assert.equal(await field.evaluate((el) => el === document.activeElement), true, 'focus is in the caption field');
      await field.fill('Own list post, edited');
      await own.getByRole('button', { name: 'Save caption' }).click();
      await page.getByRole('status').filter({ hasText: 'Caption saved' }).waitFor();
      await page.getByRole('article', { name: 'Own list post, edited' }).waitFor();
      assert.equal((await server.t.request<PostBody>({ url: `/v1/posts/${created.body.id}` })).body.caption, 'Own list post, edited');
      await page.context().close();

      // the follower's feed: the post without the removed tag, the deleted post gone
      const shopper = await (await newPhoneContext(browser, server.baseUrl)).newPage();
      await signIn(shopper, DEMO.shopper2);
      await shopper.goto('/');
      const article = shopper.locator('article').filter({ hasText: 'Own list post, edited' });
      try {
        await article.waitFor();
      } catch (e) {
        await screenshot(shopper, 'creator-qa-feed-missing');
        throw new Error(`${(e as Error).message}\npage: ${await shopper.evaluate(() => document.body.innerText.slice(0, 800))}`);
      }
      assert.equal(await article.getByRole('button', { name: /Everyday Linen Shirt/ }).count(), 2, 'pin and chip of the kept tag');
      assert.equal(await article.getByRole('button', { name: /Stonewashed Linen Bedding/ }).count(), 0);
      assert.equal(await shopper.locator('article').filter({ hasText: 'Post to delete' }).count(), 0);
      await shopper.context().close();
    });
  });
