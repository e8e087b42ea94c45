import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HOUR, type ManualClock } from '../src/platform/clock';
import { backends, startTestApp, type TestApp } from './support/harness';

const uniq = () => randomBytes(4).toString('hex');

for (const backend of backends()) {
  describe(`social [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    async function product(status: 'active' | 'draft' = 'active') {
      const merchant = await t.signUp('merchant');
      const catalog = t.app.contexts.catalog.service;
      const m = await catalog.upsertMerchant(merchant.accountId, { name: `Shop ${uniq()}` });
      const p = await catalog.createProduct(m.id, { name: `Thing ${uniq()}`, currency: 'EUR', status, variants: [{ title: 'One', priceMinor: 1299, stock: 10 }] });
      return { id: p.id, merchant };
    }

    async function creator() {
      const account = await t.signUp('creator');
      const handle = `c_${uniq()}`;
      const res = await t.request({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: `Creator ${handle}` } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return { ...account, id: res.body.id as string, handle };
    }

    const post = (token: string, body: object) => t.request({ method: 'POST', url: '/v1/posts', token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', ...body } });

    it('creates and updates a creator profile; handles are unique and validated', async () => {
      const a = await creator();
      const me = await t.request({ method: 'GET', url: '/v1/creators/me', token: a.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.handle, a.handle);
      assert.equal(me.body.followerCount, 0);

      const updated = await t.request({ method: 'PUT', url: '/v1/creators/me', token: a.token, body: { handle: a.handle, displayName: 'New name', bio: 'hi' } });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.id, a.id, 'the profile is updated, not created again');
      assert.equal(updated.body.displayName, 'New name');

      const byHandle = await t.request({ url: `/v1/creators/${a.handle}` });
      assert.equal(byHandle.status, 200);
      assert.equal(byHandle.body.id, a.id);
      const byId = await t.request({ url: `/v1/creators/${a.id}` });
      assert.equal(byId.body.handle, a.handle);
      assert.equal((await t.request({ url: '/v1/creators/nobody_here' })).status, 404);

      const b = await t.signUp('creator');
      const taken = await t.request({ method: 'PUT', url: '/v1/creators/me', token: b.token, body: { handle: a.handle, displayName: 'Copycat' } });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error.code, 'handle_taken');
      for (const handle of ['ab', 'Has_Caps', 'with space', 'x'.repeat(31), 'dash-ed']) {
        const bad = await t.request({ method: 'PUT', url: '/v1/creators/me', token: b.token, body: { handle, displayName: 'B' } });
        assert.equal(bad.status, 400, handle);
        assert.equal(bad.body.error.code, 'validation_failed');
      }
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creators/me', token: shopper.token, body: { handle: `s_${uniq()}`, displayName: 'S' } })).status, 403);
    });

    it('publishes a post with tags, each carrying a product card and a referral token', async () => {
      const c = await creator();
      const p = await product();
      const res = await post(c.token, { caption: 'my look', tags: [{ productId: p.id, x: 0.25, y: 0.75 }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.id, /^pst_/);
      assert.equal(res.body.kind, 'post');
      assert.equal(res.body.caption, 'my look');
      assert.equal(res.body.creator.handle, c.handle);
      assert.equal(res.body.expiresAt, null);
      assert.equal(res.body.tags.length, 1);
      const tag = res.body.tags[0];
      assert.deepEqual([tag.x, tag.y], [0.25, 0.75]);
      assert.equal(tag.product.id, p.id);
      assert.equal(tag.product.priceMinor, 1299);
      assert.equal(tag.product.availability, 'in_stock');
      const v = t.app.referrals.verify(tag.referralToken);
      assert.ok(v.ok);
      assert.equal(v.claims.tagId, tag.id);
      assert.equal(v.claims.postId, res.body.id);

      const got = await t.request({ url: `/v1/posts/${res.body.id}` });
      assert.equal(got.status, 200);
      assert.equal(got.body.tags[0].id, tag.id);

      const page = await t.request({ url: `/v1/creators/${c.id}/posts` });
      assert.equal(page.status, 200);
      assert.deepEqual(page.body.posts.map((x: { id: string }) => x.id), [res.body.id]);
    });

    it('validates tag positions', async () => {
      const c = await creator();
      const p = await product();
      for (const tag of [{ x: 1.2, y: 0.5 }, { x: -0.1, y: 0.5 }, { x: '0.5', y: 0.5 }, { x: 0.5 }, { x: 0.5, y: 0.5, z: 1 }]) {
        const res = await post(c.token, { tags: [{ productId: p.id, ...tag }] });
        assert.equal(res.status, 400, JSON.stringify(tag));
        assert.equal(res.body.error.code, 'validation_failed');
      }
      const p2 = await product();
      const edges = await post(c.token, { tags: [{ productId: p.id, x: 0, y: 1 }, { productId: p2.id, x: 1, y: 0 }] });
      assert.equal(edges.status, 201);
      assert.deepEqual(edges.body.tags.map((x: { x: number; y: number }) => [x.x, x.y]), [[0, 1], [1, 0]]);
      const late = await t.request({ method: 'POST', url: `/v1/posts/${edges.body.id}/tags`, token: c.token, body: { productId: p.id, x: 2, y: 0 } });
      assert.equal(late.status, 400);
    });

    it('refuses unknown and unpublished products', async () => {
      const c = await creator();
      const draft = await product('draft');
      const missing = await post(c.token, { tags: [{ productId: 'prd_01JZZZZZZZZZZZZZZZZZZZZZZZ', x: 0.5, y: 0.5 }] });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.code, 'unknown_product');
      const notOnSale = await post(c.token, { tags: [{ productId: draft.id, x: 0.5, y: 0.5 }] });
      assert.equal(notOnSale.body.error.code, 'unknown_product');
    });

    it('lets only creators with a profile post', async () => {
      const shopper = await t.signUp('shopper');
      assert.equal((await post(shopper.token, {})).status, 403);
      assert.equal((await post('', {})).status, 401);
      const bare = await t.signUp('creator');
      const res = await post(bare.token, {});
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'creator_profile_required');
    });

    it("refuses to let another creator tag, untag or delete your post", async () => {
      const owner = await creator();
      const other = await creator();
      const p = await product();
      const res = await post(owner.token, { tags: [{ productId: p.id, x: 0.5, y: 0.5 }] });
      const postId = res.body.id as string;
      const tagId = res.body.tags[0].id as string;
      const tag = await t.request({ method: 'POST', url: `/v1/posts/${postId}/tags`, token: other.token, body: { productId: p.id, x: 0.1, y: 0.1 } });
      assert.equal(tag.status, 403);
      assert.equal(tag.body.error.code, 'forbidden');
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/tags/${tagId}`, token: other.token })).status, 403);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${postId}`, token: other.token })).status, 403);
      assert.equal((await t.request({ url: `/v1/posts/${postId}` })).body.tags.length, 1, 'nothing changed');

      const added = await t.request({ method: 'POST', url: `/v1/posts/${postId}/tags`, token: owner.token, body: { productId: (await product()).id, x: 0.1, y: 0.9 } });
      assert.equal(added.status, 201);
      assert.ok(t.app.referrals.verify(added.body.referralToken).ok);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${postId}`, token: owner.token })).status, 204);
      assert.equal((await t.request({ url: `/v1/posts/${postId}` })).status, 404);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${postId}`, token: owner.token })).status, 404);
    });

    it('drops a deactivated tag from the feed and the post', async () => {
      const c = await creator();
      const p1 = await product();
      const p2 = await product();
      const res = await post(c.token, { tags: [{ productId: p1.id, x: 0.2, y: 0.2 }, { productId: p2.id, x: 0.8, y: 0.8 }] });
      const [keep, drop] = res.body.tags as Array<{ id: string }>;
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/tags/${drop!.id}`, token: c.token })).status, 204);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/tags/${drop!.id}`, token: c.token })).status, 204, 'idempotent');
      const got = await t.request({ url: `/v1/posts/${res.body.id}` });
      assert.deepEqual(got.body.tags.map((x: { id: string }) => x.id), [keep!.id]);

      const fan = await t.signUp('shopper');
      await t.request({ method: 'PUT', url: `/v1/creators/${c.id}/follow`, token: fan.token });
      const feed = await t.request({ url: '/v1/feed?limit=50', token: fan.token });
      const inFeed = feed.body.posts.find((x: { id: string }) => x.id === res.body.id);
      assert.ok(inFeed, 'the post is in the feed');
      assert.deepEqual(inFeed.tags.map((x: { id: string }) => x.id), [keep!.id]);
    });

    it('drops tags whose product is no longer on sale', async () => {
      const c = await creator();
      const p = await product();
      const res = await post(c.token, { tags: [{ productId: p.id, x: 0.5, y: 0.5 }] });
      const archived = await t.app.contexts.catalog.service.updateOwnProduct(p.merchant.accountId, p.id, { status: 'archived' });
      assert.ok(archived.ok);
      assert.equal((await t.request({ url: `/v1/posts/${res.body.id}` })).body.tags.length, 0);
    });

    it('follows and unfollows idempotently, keeping follower_count right', async () => {
      const c = await creator();
      const fans = [await t.signUp('shopper'), await t.signUp('shopper')];
      const follow = (token: string, method: 'PUT' | 'DELETE') => t.request({ method, url: `/v1/creators/${c.id}/follow`, token });
      assert.equal((await follow(fans[0]!.token, 'PUT')).body.followerCount, 1);
      const again = await follow(fans[0]!.token, 'PUT');
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { creatorId: c.id, following: true, followerCount: 1 });
      assert.equal((await follow(fans[1]!.token, 'PUT')).body.followerCount, 2);
      assert.equal((await t.request({ url: `/v1/creators/${c.id}` })).body.followerCount, 2);
      const viewed = await t.request({ url: `/v1/creators/${c.handle}`, token: fans[0]!.token });
      assert.equal(viewed.body.following, true);

      const following = await t.request({ url: '/v1/me/following', token: fans[0]!.token });
      assert.equal(following.status, 200);
      assert.deepEqual(following.body.creators.map((x: { id: string }) => x.id), [c.id]);

      assert.equal((await follow(fans[0]!.token, 'DELETE')).body.followerCount, 1);
      const twice = await follow(fans[0]!.token, 'DELETE');
      assert.deepEqual(twice.body, { creatorId: c.id, following: false, followerCount: 1 });
      assert.equal((await t.request({ url: '/v1/me/following', token: fans[0]!.token })).body.creators.length, 0);

      const self = await follow(c.token, 'PUT');
      assert.equal(self.status, 400);
      assert.equal(self.body.error.code, 'cannot_follow_self');
      assert.equal((await follow('', 'PUT')).status, 401);
      const ghost = await t.request({ method: 'PUT', url: '/v1/creators/cre_01JZZZZZZZZZZZZZZZZZZZZZZZ/follow', token: fans[1]!.token });
      assert.equal(ghost.status, 404);
    });

    it('shows a story until it expires, then never again', async () => {
      const c = await creator();
      const p = await product();
      const fan = await t.signUp('shopper');
      await t.request({ method: 'PUT', url: `/v1/creators/${c.id}/follow`, token: fan.token });
      const story = await post(c.token, { kind: 'story', mediaType: 'video', tags: [{ productId: p.id, x: 0.5, y: 0.5 }] });
      assert.equal(story.status, 201);
      const ttl = t.app.config.storyTtlHours * HOUR;
      assert.equal(new Date(story.body.expiresAt).getTime() - new Date(story.body.publishedAt).getTime(), ttl);

      const feed = await t.request({ url: '/v1/feed', token: fan.token });
      assert.equal(feed.body.stories[0].creator.id, c.id, 'a followed creator leads the tray');
      assert.equal(feed.body.stories[0].followed, true);
      assert.deepEqual(feed.body.stories[0].storyIds, [story.body.id]);
      assert.equal(feed.body.stories[0].cover.mediaType, 'video');
      assert.ok(!feed.body.posts.some((x: { id: string }) => x.id === story.body.id), 'stories are not posts');
      // the opened tray carries the stories with their tags and product cards
      const opened = await t.request({ url: '/v1/stories', token: fan.token });
      assert.equal(opened.status, 200);
      assert.equal(opened.body.stories[0].creator.id, c.id);
      const inTray = opened.body.stories[0].stories.find((s: { id: string }) => s.id === story.body.id);
      assert.equal(inTray.tags[0].product.id, p.id);
      assert.ok(t.app.referrals.verify(inTray.tags[0].referralToken).ok);
      assert.equal((await t.request({ url: `/v1/posts/${story.body.id}` })).status, 200);

      (t.clock as ManualClock).advance(ttl + 1);
      const later = await t.request({ url: '/v1/feed', token: fan.token });
      assert.ok(!later.body.stories.some((e: { creator: { id: string } }) => e.creator.id === c.id));
      const closed = await t.request({ url: '/v1/stories', token: fan.token });
      assert.ok(!closed.body.stories.some((e: { creator: { id: string } }) => e.creator.id === c.id));
      assert.equal((await t.request({ url: `/v1/posts/${story.body.id}` })).status, 404);
    });

    it("keeps the tray's size bounded: 10 stories per creator, the rest page by page with creatorId", async () => {
      const c = await creator();
      const fan = await t.signUp('shopper');
      await t.request({ method: 'PUT', url: `/v1/creators/${c.id}/follow`, token: fan.token });
      const ids: string[] = [];
      for (let i = 0; i < 23; i++) {
        const story = await post(c.token, { kind: 'story', mediaType: 'photo' });
        assert.equal(story.status, 201);
        ids.push(story.body.id);
        (t.clock as ManualClock).advance(1_000);
      }
      const feed = await t.request({ url: '/v1/feed', token: fan.token });
      const ring = feed.body.stories.find((e: { creator: { id: string } }) => e.creator.id === c.id);
      assert.deepEqual(ring.storyIds, ids.slice(0, 10), 'the first ten to watch, oldest first');
      assert.equal(ring.storyCount, 23);
      const tray = await t.request({ url: '/v1/stories', token: fan.token });
      assert.equal(tray.status, 200);
      assert.equal(tray.body.nextCursor, null);
      const opened = tray.body.stories.find((e: { creator: { id: string } }) => e.creator.id === c.id);
      assert.deepEqual(opened.stories.map((s: { id: string }) => s.id), ids.slice(0, 10));
      assert.equal(opened.storyCount, 23);

      // one creator's stories, page by page, in watch order: no gap, no repeat
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `creatorId=${c.id}&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await t.request({ url: `/v1/stories?${q}`, token: fan.token });
        assert.equal(page.status, 200, JSON.stringify(page.body));
        assert.equal(page.body.stories.length, 1);
        assert.equal(page.body.stories[0].creator.id, c.id);
        assert.equal(page.body.stories[0].storyCount, 23);
        seen.push(...page.body.stories[0].stories.map((s: { id: string }) => s.id));
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids);

      // one expires: it leaves the count and the pages
      (t.clock as ManualClock).advance(t.app.config.storyTtlHours * HOUR - 23_000 + 1);
      const after = await t.request({ url: `/v1/stories?creatorId=${c.id}&limit=50` });
      assert.equal(after.body.stories[0].storyCount, 22);
      assert.deepEqual(after.body.stories[0].stories.map((s: { id: string }) => s.id), ids.slice(1));

      const bad = await t.request({ url: `/v1/stories?creatorId=${c.id}&cursor=garbage` });
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'invalid_cursor']);
      const alone = await t.request({ url: `/v1/stories?cursor=${encodeURIComponent(feed.body.nextCursor ?? 'x')}` });
      assert.deepEqual([alone.status, alone.body.error.code], [400, 'invalid_cursor']);
      const ghost = await t.request({ url: '/v1/stories?creatorId=cre_01JZZZZZZZZZZZZZZZZZZZZZZZ' });
      assert.deepEqual([ghost.status, ghost.body.error.code], [404, 'not_found']);
      const quiet = await creator();
      const none = await t.request({ url: `/v1/stories?creatorId=${quiet.id}` });
      assert.deepEqual([none.status, none.body], [200, { stories: [], nextCursor: null }]);
      const tooMany = await t.request({ url: `/v1/stories?creatorId=${c.id}&limit=51` });
      assert.deepEqual([tooMany.status, tooMany.body.error.code], [400, 'validation_failed']);
    });

    it('documents its routes in the OpenAPI document', async () => {
      const res = await t.request({ url: '/openapi.json' });
      assert.equal(res.status, 200);
      for (const path of ['/v1/feed', '/v1/stories', '/v1/posts', '/v1/posts/{id}/tags', '/v1/tags/{id}', '/v1/creators/{id}/follow', '/v1/me/following']) {
        assert.ok(res.body.paths[path], `${path} is missing`);
      }
    });

    it('publishes its events in the outbox', async () => {
      const c = await creator();
      const p = await product();
      const res = await post(c.token, { tags: [{ productId: p.id, x: 0.5, y: 0.5 }] });
      const { sql } = await import('kysely');
      const rows = await sql<{ name: string; payload: { postId?: string } }>`
        SELECT name, payload FROM outbox.events WHERE payload->>'postId' = ${res.body.id} ORDER BY id`.execute(t.app.db);
      assert.deepEqual(rows.rows.map((r) => r.name), ['social.tag.created', 'social.post.published']);
    });

    it('caps the tags added to a post at the 20 a new post may carry, even when added at once (409 too_many_tags)', async () => {
      const c = await creator();
      // a product is tagged once per post (duplicate_tag): each tag names its own product
      const products = await Promise.all(Array.from({ length: 25 }, () => product()));
      const tag = (i: number) => ({ productId: products[i]!.id, x: 0.5, y: 0.5 });
      const created = await post(c.token, { tags: Array.from({ length: 18 }, (_, i) => tag(i)) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const postId = created.body.id as string;
      let next = 18;
      const add = () => t.request({ method: 'POST', url: `/v1/posts/${postId}/tags`, token: c.token, body: tag(next++) });
      const answers = await Promise.all(Array.from({ length: 5 }, add));
      assert.deepEqual(answers.map((r) => r.status).sort(), [201, 201, 409, 409, 409]);
      const refused = answers.find((r) => r.status === 409)!;
      assert.equal(refused.body.error.code, 'too_many_tags');
      assert.equal((await t.request({ url: `/v1/posts/${postId}` })).body.tags.length, 20);
      // a removed tag frees its place
      const untag = await t.request({ method: 'DELETE', url: `/v1/tags/${created.body.tags[0].id}`, token: c.token });
      assert.equal(untag.status, 204);
      assert.equal((await add()).status, 201);
      assert.equal((await add()).status, 409);
    });

    it('refuses forged cursors whose times no date can hold (400 invalid_cursor, not 500)', async () => {
      const c = await creator();
      const p = await product();
      const shopper = await t.signUp('shopper');
      const cursor = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const postId = 'pst_00000000000000000000000000';
      const urls = [
        `/v1/creators/${c.id}/posts?cursor=${cursor({ t: Number.MAX_SAFE_INTEGER, i: postId })}`,
        `/v1/stories?creatorId=${c.id}&cursor=${cursor({ t: Number.MAX_SAFE_INTEGER, i: postId })}`,
        `/v1/me/following?cursor=${cursor({ f: Number.MAX_SAFE_INTEGER, c: c.id })}`,
        `/v1/feed?cursor=${cursor({ p: 'f', k: [Number.MAX_SAFE_INTEGER, postId], b: Date.now() })}`,
        `/v1/feed?cursor=${cursor({ p: 'p', k: null, b: Number.MAX_SAFE_INTEGER })}`,
        `/v1/products/${p.id}/reviews?cursor=${cursor({ t: '-271821-04-20T00:00:00.000Z', id: 'rev_00000000000000000000000000' })}`,
        `/v1/products/${p.id}/reviews?cursor=${cursor({ t: '2026-01-01T00:00:00.000Z', id: 'x\u0000' })}`,
      ];
      for (const url of urls) {
        const res = await t.request({ url, token: shopper.token });
        assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'invalid_cursor', url);
      }
    });

    it("finds a creator whose handle starts like an id ('cre_…') by that handle", async () => {
      const account = await t.signUp('creator');
      const handle = `cre_${uniq()}`;
      const put = await t.request({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: 'Lookalike' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      for (const asked of [handle, handle.toUpperCase(), put.body.id]) {
        const res = await t.request({ url: `/v1/creators/${asked}` });
        assert.equal(res.status, 200, `${asked}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.id, put.body.id);
      }
    });
  });
}
