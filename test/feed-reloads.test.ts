import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { FEED_CACHE_TTL_MS } from '../src/contexts/social/feed/cache';
import type { ManualClock } from '../src/platform/clock';
import { backends, startTestApp, type TestApp } from './support/harness';

const uniq = () => randomBytes(4).toString('hex');
type Page = { posts: Array<{ id: string; creator: { displayName: string } }>; stories: Array<{ creator: { id: string; displayName: string } }> };

// The feed's caches re-read their lists only in full when they changed (a digest compared in the statement) and keep
// entries that re-read equal. These tests change the rows behind the service's back, as another process would (no
// local invalidation), and check each change shows once the entries holding it are re-read: the same freshness as
// reading everything again.
for (const backend of backends()) {
  describe(`feed reloads [${backend.name}]`, () => {
    let t: TestApp;
    let productId: string;
    before(async () => {
      t = await startTestApp(backend);
      const merchant = await t.signUp('merchant');
      const catalog = t.app.contexts.catalog.service;
      const m = await catalog.upsertMerchant(merchant.accountId, { name: 'Reload shop' });
      productId = (await catalog.createProduct(m.id, { name: `Thing ${uniq()}`, currency: 'EUR', status: 'active', variants: [{ title: 'One', priceMinor: 2500, stock: 5 }] })).id;
    });
    after(() => t.close());

    const social = () => t.app.contexts.social.service;
    const clock = () => t.clock as ManualClock;
    const feed = async (url: string, token?: string): Promise<Page> => {
      const res = await t.request({ url, ...(token ? { token } : {}) });
      assert.equal(res.status, 200);
      return res.body as Page;
    };
    const ids = (page: Page) => page.posts.map((p) => p.id);

    async function creator() {
      const account = await t.signUp('creator');
      const r = await social().upsertCreator(account.accountId, { handle: `c_${uniq()}`, displayName: 'Creator' });
      assert.ok(r.ok);
      return r.creator.id;
    }

    async function publish(creatorId: string, kind: 'post' | 'story' = 'post'): Promise<string> {
      clock().advance(1000);
      const r = await social().createPost(creatorId, { kind, mediaType: 'photo', mediaUrl: '/media/demo/p.svg', tags: [{ productId, x: 0.5, y: 0.5 }] });
      assert.ok(r.ok, JSON.stringify(r));
      return r.post.id;
    }

    it("re-reads a followed creator's list when another process deleted one of its posts, and keeps it while unchanged", async () => {
      const c = await creator();
      const posts = [await publish(c), await publish(c), await publish(c), await publish(c)];
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${c}/follow`, token: shopper.token })).status, 200);
      const newest = [...posts].reverse();
      assert.deepEqual(ids(await feed('/v1/feed?limit=3', shopper.token)).slice(0, 3), newest.slice(0, 3));

      clock().advance(FEED_CACHE_TTL_MS.post + 100);
      assert.deepEqual(ids(await feed('/v1/feed?limit=3', shopper.token)).slice(0, 3), newest.slice(0, 3), 'an unchanged list reads the same');

      await sql`UPDATE social.posts SET deleted_at = now() WHERE id = ${newest[0]!}`.execute(t.app.db);
      clock().advance(FEED_CACHE_TTL_MS.post + 100);
      assert.deepEqual(ids(await feed('/v1/feed?limit=3', shopper.token)).slice(0, 3), newest.slice(1, 4), 'the list is read again: the next post fills the page');
    });

    it('sees a change in the background re-read of an entry in the second half of its life', async () => {
      const c = await creator();
      const posts = [await publish(c), await publish(c), await publish(c)];
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${c}/follow`, token: shopper.token })).status, 200);
      assert.deepEqual(ids(await feed('/v1/feed?limit=2', shopper.token)).slice(0, 2), [posts[2], posts[1]]);

      await sql`UPDATE social.posts SET deleted_at = now() WHERE id = ${posts[2]!}`.execute(t.app.db);
      clock().advance(FEED_CACHE_TTL_MS.recent * 0.75);
      await feed('/v1/feed?limit=2', shopper.token); // served from the caches; starts their re-reads
      let shown: string[] = [];
      for (let i = 0; i < 50; i++) {
        await sleep(20);
        shown = ids(await feed('/v1/feed?limit=2', shopper.token)).slice(0, 2);
        if (shown[0] !== posts[2]) break;
      }
      assert.deepEqual(shown, [posts[1], posts[0]], 'the re-read list replaced the cached one before it expired');
    });

    it('shows a product card changed by another process, whether its entry is re-read ahead of expiry or after', async () => {
      const c = await creator();
      await publish(c);
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${c}/follow`, token: shopper.token })).status, 200);
      type Tagged = { posts: Array<{ tags: Array<{ product: { id: string; name: string } }> }> };
      const cardName = async () => ((await feed('/v1/feed?limit=1', shopper.token)) as unknown as Tagged).posts[0]!.tags.find((x) => x.product.id === productId)?.product.name;
      const rename = async (name: string) => sql`UPDATE catalog.products SET name = ${name} WHERE id = ${productId}`.execute(t.app.db);
      await cardName();
      assert.equal(await cardName(), await cardName(), 'served through the slots the post keeps');

      // re-read in the background while still fresh: the card's entry is updated in place, the post's bytes follow
      const ahead = `Ahead ${uniq()}`;
      await rename(ahead);
      clock().advance(FEED_CACHE_TTL_MS.card * 0.75);
      await cardName(); // served from the caches; starts the re-read
      let shown: string | undefined;
      for (let i = 0; i < 50 && shown !== ahead; i++) {
        await sleep(20);
        shown = await cardName();
      }
      assert.equal(shown, ahead);

      // expired: read again on the request path
      const after = `After ${uniq()}`;
      await rename(after);
      clock().advance(FEED_CACHE_TTL_MS.post + 100);
      assert.equal(await cardName(), after);
    });

    it('re-orders popular posts re-scored by another process', async () => {
      const c = await creator();
      const [low, high] = [await publish(c), await publish(c)];
      await social().setPostScore(low, 5e12);
      await social().setPostScore(high, 6e12);
      assert.deepEqual(ids(await feed('/v1/feed?limit=2')), [high, low]);

      await sql`UPDATE social.posts SET score = 7e12 WHERE id = ${low}`.execute(t.app.db);
      clock().advance(FEED_CACHE_TTL_MS.popular + 100);
      assert.deepEqual(ids(await feed('/v1/feed?limit=2')), [low, high]);
    });

    it('shows a profile edited by another process in the stories tray once the tray is re-read', async () => {
      const c = await creator();
      await publish(c, 'story');
      const before = (await feed('/v1/feed?limit=1')).stories.find((e) => e.creator.id === c);
      assert.equal(before?.creator.displayName, 'Creator');

      const name = `Renamed ${uniq()}`;
      await sql`UPDATE social.creators SET display_name = ${name} WHERE id = ${c}`.execute(t.app.db);
      clock().advance(FEED_CACHE_TTL_MS.tray + 100);
      const renamed = (await feed('/v1/feed?limit=1')).stories.find((e) => e.creator.id === c);
      assert.equal(renamed?.creator.displayName, name);
    });
  });
}
