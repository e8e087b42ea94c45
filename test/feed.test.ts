import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { sql } from 'kysely';
import { FeedPage } from '../src/contexts/social/social.schemas';
import type { ManualClock } from '../src/platform/clock';
import { countQueries } from '../src/platform/db';
import { backends, startTestApp, type TestApp } from './support/harness';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
/** The documented response schema of GET /v1/feed: the page is sent as pre-assembled text, so check it matches. */
const isFeedPage = addFormats(new Ajv({ allErrors: true, strict: false })).compile(FeedPage);
const uniq = () => randomBytes(4).toString('hex');
type PostView = { id: string; creator: { id: string }; tags: Array<{ id: string; referralToken: string; product: { id: string; availability: string } }> };

for (const backend of backends()) {
  describe(`feed [${backend.name}]`, () => {
    let t: TestApp;
    let productIds: string[];
    before(async () => {
      t = await startTestApp(backend);
      const merchant = await t.signUp('merchant');
      const catalog = t.app.contexts.catalog.service;
      const m = await catalog.upsertMerchant(merchant.accountId, { name: 'Feed shop' });
      productIds = [];
      for (const stock of [50, 2, 0]) {
        const p = await catalog.createProduct(m.id, { name: `Thing ${uniq()}`, currency: 'EUR', status: 'active', variants: [{ title: 'One', priceMinor: 2500, stock }] });
        productIds.push(p.id);
      }
    });
    after(() => t.close());

    const social = () => t.app.contexts.social.service;
    const clock = () => t.clock as ManualClock;

    async function creator() {
      const account = await t.signUp('creator');
      const r = await social().upsertCreator(account.accountId, { handle: `c_${uniq()}`, displayName: 'Creator' });
      assert.ok(r.ok);
      return { ...account, id: r.creator.id };
    }

    /** A post with a tag on each product; the clock moves a second so publish times differ. */
    async function publish(creatorId: string, score?: number): Promise<string> {
      clock().advance(1000);
      const r = await social().createPost(creatorId, {
        mediaType: 'photo',
        mediaUrl: '/media/demo/p.svg',
        tags: productIds.map((productId, i) => ({ productId, x: i / 4, y: 0.5 })),
      });
      assert.ok(r.ok, JSON.stringify(r));
      if (score !== undefined) await social().setPostScore(r.post.id, score);
      return r.post.id;
    }

    async function follow(token: string, creatorId: string) {
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${creatorId}/follow`, token })).status, 200);
    }

    async function visiblePostIds(): Promise<Set<string>> {
      const r = await sql<{ id: string }>`SELECT id FROM social.posts WHERE kind = 'post' AND deleted_at IS NULL`.execute(t.app.db);
      return new Set(r.rows.map((x) => x.id));
    }

    const ids = (posts: PostView[]) => posts.map((p) => p.id);

    it('walks every page with followed posts first, no duplicates or gaps while new posts arrive', async () => {
      const [a, b, c, d] = [await creator(), await creator(), await creator(), await creator()];
      const followed: string[] = [];
      for (let i = 0; i < 4; i++) followed.push(await publish(a.id));
      for (let i = 0; i < 3; i++) followed.push(await publish(b.id));
      for (const score of [5, 50, 20]) await publish(c.id, score);
      for (const score of [30, 5]) await publish(d.id, score);
      const shopper = await t.signUp('shopper');
      await follow(shopper.token, a.id);
      await follow(shopper.token, b.id);

      const expected = await visiblePostIds();
      const seen: string[] = [];
      const arrivals: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/feed?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await t.request({ url, token: shopper.token });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen.push(...ids(res.body.posts));
        cursor = res.body.nextCursor;
        pages++;
        // new posts between fetches, from a followed creator and a (very popular) stranger
        arrivals.push(await publish(a.id), await publish(c.id, 1000));
      } while (cursor);

      assert.ok(pages >= 3, `only ${pages} pages`);
      assert.equal(new Set(seen).size, seen.length, 'a post was shown twice');
      assert.deepEqual(new Set(seen), expected, 'the walk skipped or added posts');
      assert.deepEqual(seen.slice(0, followed.length), [...followed].reverse(), 'followed creators first, newest first');
      const popular = seen.slice(followed.length);
      const scores = await sql<{ id: string; score: number }>`SELECT id, score FROM social.posts WHERE id = ANY (${popular})`.execute(t.app.db);
      const scoreOf = new Map(scores.rows.map((r) => [r.id, r.score]));
      for (let i = 1; i < popular.length; i++) {
        const [prev, cur] = [scoreOf.get(popular[i - 1]!)!, scoreOf.get(popular[i]!)!];
        assert.ok(prev > cur || (prev === cur && popular[i - 1]! > popular[i]!), 'popular posts by score then id');
      }

      const fresh = await t.request({ url: '/v1/feed?limit=3', token: shopper.token });
      assert.equal(fresh.body.posts[0].id, arrivals[arrivals.length - 2], 'a fresh first page shows the newest followed post');
    });

    it('falls back to popular posts for anonymous visitors and shoppers who follow nobody', async () => {
      const c = await creator();
      const top = await publish(c.id, 1e9);
      const anonymous = await t.request({ url: '/v1/feed?limit=5' });
      assert.equal(anonymous.status, 200);
      assert.equal(anonymous.body.posts.length, 5);
      assert.equal(anonymous.body.posts[0].id, top);
      assert.equal(typeof anonymous.body.nextCursor, 'string');

      const loner = await t.signUp('shopper');
      const res = await t.request({ url: '/v1/feed?limit=5', token: loner.token });
      assert.deepEqual(ids(res.body.posts), ids(anonymous.body.posts));
      const next = await t.request({ url: `/v1/feed?limit=5&cursor=${res.body.nextCursor}`, token: loner.token });
      assert.equal(next.status, 200);
      assert.equal(next.body.stories.length, 0, 'the tray is on the first page only');
      assert.ok(!ids(next.body.posts).some((id) => ids(res.body.posts).includes(id)));
    });

    it("puts a followed creator's posts before more popular ones", async () => {
      const quiet = await creator();
      const mine = [await publish(quiet.id, 0), await publish(quiet.id, 0)];
      const shopper = await t.signUp('shopper');
      await follow(shopper.token, quiet.id);
      const res = await t.request({ url: '/v1/feed?limit=4', token: shopper.token });
      assert.deepEqual(ids(res.body.posts).slice(0, 2), [mine[1], mine[0]]);
      assert.ok(res.body.posts.slice(2).every((p: PostView) => p.creator.id !== quiet.id), 'no followed post twice');
    });

    it('costs the same number of round trips for 2 posts as for 50', async () => {
      const c = await creator();
      for (let i = 0; i < 50; i++) await publish(c.id);
      await social().createPost(c.id, { kind: 'story', mediaType: 'video', mediaUrl: '/media/demo/s.svg', tags: [{ productId: productIds[0]!, x: 0.5, y: 0.5 }] });
      const shopper = await t.signUp('shopper');
      await follow(shopper.token, c.id);
      // with every per-process cache cold, so what is counted is the pipeline's own bound
      const cold = <T>(fn: () => Promise<T>) => {
        social().dropCaches();
        return countQueries(fn);
      };
      for (const token of [undefined, shopper.token]) {
        const small = await cold(() => t.request({ url: '/v1/feed?limit=2', token }));
        const large = await cold(() => t.request({ url: '/v1/feed?limit=50', token }));
        assert.equal(small.result.body.posts.length, 2);
        assert.equal(large.result.body.posts.length, 50);
        assert.ok(large.result.body.posts.every((p: PostView) => p.tags.length === 3));
        assert.equal(small.queries, large.queries, `limit=2: ${small.queries} round trips, limit=50: ${large.queries}`);
        assert.ok(large.queries <= 12, `${large.queries} round trips`);
        const nextPage = await cold(() => t.request({ url: `/v1/feed?limit=50&cursor=${large.result.body.nextCursor}`, token }));
        assert.ok(nextPage.queries <= large.queries);
        // warm: the same page again reads nothing for the feed but the session (identity's own cache decides that)
        const warm = await countQueries(() => t.request({ url: '/v1/feed?limit=50', token }));
        assert.ok(warm.queries < large.queries, `warm ${warm.queries}, cold ${large.queries}`);
        const tray = await cold(() => t.request({ url: '/v1/stories', token }));
        assert.equal(tray.result.status, 200);
        assert.ok(tray.result.body.stories.length >= 1);
        assert.ok(tray.queries <= large.queries, `tray ${tray.queries} round trips`);
      }
    });

    it('shows changes made through this process at once, whatever the caches hold', async () => {
      const c = await creator();
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ url: '/v1/feed?limit=5', token: shopper.token })).status, 200, 'caches warmed before the changes');
      await follow(shopper.token, c.id);
      const postId = await publish(c.id);
      const after = await t.request({ url: '/v1/feed?limit=5', token: shopper.token });
      assert.equal(after.body.posts[0].id, postId, 'a new follow and a new post show on the next page');
      const tagId = after.body.posts[0].tags[0].id as string;
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/tags/${tagId}`, token: c.token })).status, 204);
      const untagged = await t.request({ url: '/v1/feed?limit=5', token: shopper.token });
      assert.ok(!untagged.body.posts[0].tags.some((x: { id: string }) => x.id === tagId), 'a removed tag leaves the feed');
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${postId}`, token: c.token })).status, 204);
      const gone = await t.request({ url: '/v1/feed?limit=5', token: shopper.token });
      assert.ok(!ids(gone.body.posts).includes(postId), 'a deleted post leaves the feed');
      await t.request({ method: 'DELETE', url: `/v1/creators/${c.id}/follow`, token: shopper.token });
      const story = await social().createPost(c.id, { kind: 'story', mediaType: 'video', mediaUrl: '/media/demo/s.svg' });
      assert.ok(story.ok);
      const tray = await t.request({ url: '/v1/feed?limit=1', token: shopper.token });
      const entry = tray.body.stories.find((e: { creator: { id: string } }) => e.creator.id === c.id);
      assert.ok(!entry || entry.followed === false, 'an unfollow shows in the tray at once');
    });

    it('gives every tag a verifiable referral token and a product card with availability', async () => {
      const c = await creator();
      const postId = await publish(c.id, 1e10);
      const res = await t.request({ url: '/v1/feed?limit=1' });
      const post = res.body.posts[0] as PostView;
      assert.equal(post.id, postId);
      assert.deepEqual(post.tags.map((x) => x.product.id), productIds);
      assert.deepEqual(post.tags.map((x) => x.product.availability), ['in_stock', 'low', 'sold_out']);
      for (const tag of post.tags) {
        const v = t.app.referrals.verify(tag.referralToken);
        assert.ok(v.ok);
        assert.equal(v.claims.tagId, tag.id);
        assert.equal(v.claims.postId, postId);
        assert.equal(v.claims.creatorId, c.id);
        assert.equal(v.claims.productId, tag.product.id);
        assert.equal(v.claims.tagCreatedAt.getTime(), t.clock.now().getTime());
      }
    });

    it('answers pages that match the documented schema, the same posts as GET /v1/posts/:id, with current cards', async () => {
      const c = await creator();
      const merchant = await t.signUp('merchant');
      const catalog = t.app.contexts.catalog.service;
      const m = await catalog.upsertMerchant(merchant.accountId, { name: `Shop ${uniq()}` });
      const leaving = await catalog.createProduct(m.id, { name: 'Soon archived "quoted" \\ ünïcode', currency: 'EUR', status: 'active', variants: [{ title: 'One', priceMinor: 999, stock: 5 }] });
      clock().advance(1000);
      const created = await social().createPost(c.id, {
        mediaType: 'video',
        mediaUrl: '/media/demo/v.svg',
        caption: 'Line one\nline "two" </script> \u2028 ✓',
        tags: [{ productId: leaving.id, x: 0.1, y: 0.9 }, ...productIds.map((productId) => ({ productId, x: 0.5, y: 0.25 }))],
      });
      assert.ok(created.ok);
      await social().setPostScore(created.post.id, 1e11);
      assert.ok((await social().createPost(c.id, { kind: 'story', mediaType: 'photo', mediaUrl: '/media/demo/s.svg' })).ok);

      const first = await t.request({ url: '/v1/feed?limit=3' });
      assert.equal(first.status, 200);
      assert.match(String(first.headers['content-type']), /^application\/json/);
      assert.ok(isFeedPage(first.body), JSON.stringify(isFeedPage.errors));
      assert.ok(first.body.stories.some((e: { creator: { id: string } }) => e.creator.id === c.id), 'the tray is on the page');
      assert.deepEqual(first.body.posts[0], (await t.request({ url: `/v1/posts/${created.post.id}` })).body, 'the feed shows a post as GET /v1/posts/:id does');
      const again = await t.request({ url: '/v1/feed?limit=3' });
      assert.deepEqual(again.body, first.body, 'served from the kept fragments: the same page');
      const next = await t.request({ url: `/v1/feed?limit=3&cursor=${first.body.nextCursor}` });
      assert.ok(isFeedPage(next.body), JSON.stringify(isFeedPage.errors));

      // the post's text is kept, its cards are not: a product taken off sale leaves the post once its card expires
      assert.ok((await catalog.updateOwnProduct(merchant.accountId, leaving.id, { status: 'archived' })).ok);
      clock().advance(1001);
      const later = await t.request({ url: '/v1/feed?limit=3' });
      assert.equal(later.body.posts[0].id, created.post.id);
      assert.deepEqual(later.body.posts[0].tags.map((x: { product: { id: string } }) => x.product.id), productIds);
      assert.ok(isFeedPage(later.body), JSON.stringify(isFeedPage.errors));
    });

    it("bulk-imports posts in a fixed number of statements and pages through a creator's posts", async () => {
      const c = await creator();
      const base = t.clock.now().getTime() - 86_400_000;
      const rows = (n: number, from: number) =>
        Array.from({ length: n }, (_, i) => ({
          creatorId: c.id,
          mediaType: 'photo' as const,
          mediaUrl: '/media/demo/i.svg',
          publishedAt: new Date(base + (from + i) * 1000),
          tags: [{ productId: productIds[0]!, x: 0.5, y: 0.5 }],
        }));
      const few = await countQueries(() => social().importPosts(rows(3, 0)));
      const many = await countQueries(() => social().importPosts(rows(30, 3)));
      assert.equal(few.queries, many.queries);
      const imported = [...few.result.postIds, ...many.result.postIds];
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: any } = await t.request({ url: `/v1/creators/${c.id}/posts?limit=10${cursor ? `&cursor=${cursor}` : ''}` });
        assert.equal(res.status, 200);
        assert.ok(res.body.posts.every((p: PostView) => p.tags.length === 1));
        seen.push(...ids(res.body.posts));
        cursor = res.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...imported].reverse());
      assert.equal((await t.request({ url: `/v1/creators/${c.id}/posts?cursor=bad` })).status, 400);
    });

    it('refuses a cursor it did not issue', async () => {
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      for (const cursor of ['garbage', enc({ p: 'x', k: null, b: 1 }), enc({ p: 'f', k: [1, 'nope'], b: 1 }), enc([1, 2]), enc(null)]) {
        const res = await t.request({ url: `/v1/feed?cursor=${cursor}` });
        assert.equal(res.status, 400, cursor);
        assert.equal(res.body.error.code, 'invalid_cursor');
      }
      assert.equal((await t.request({ url: '/v1/feed?limit=0' })).status, 400);
      assert.equal((await t.request({ url: '/v1/feed?limit=51' })).status, 400);
    });
  });
}
