import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeProduct, backends, creatorProfile, shopOwner, startTestApp, type TestApp } from './support/harness';

/** A product is tagged at most once on a post: at creation, added later, or both (409 duplicate_tag). */
for (const backend of backends()) {
  describe(`social QA 3: one tag per product on a post [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const product = async () => (await activeProduct(t, await shopOwner(t), { priceMinor: 1299, stock: 10 })).productId;
    const publish = (token: string, tags: Array<{ productId: string; x: number; y: number }>) =>
      t.request({ method: 'POST', url: '/v1/posts', token, body: { mediaType: 'photo', mediaUrl: '/media/demo/q3.svg', tags } });
    const addTag = (token: string, postId: string, productId: string) =>
      t.request({ method: 'POST', url: `/v1/posts/${postId}/tags`, token, body: { productId, x: 0.3, y: 0.3 } });
    const tagsOf = async (postId: string) => (await t.request({ url: `/v1/posts/${postId}` })).body.tags.map((x: { product: { id: string } }) => x.product.id) as string[];

    it('refuses a post naming one product twice in tags[] (409 duplicate_tag with the products), publishing nothing', async () => {
      const c = await creatorProfile(t);
      const [p, q] = [await product(), await product()];
      const res = await publish(c.token, [{ productId: p, x: 0.1, y: 0.1 }, { productId: q, x: 0.5, y: 0.5 }, { productId: p, x: 0.9, y: 0.9 }]);
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'duplicate_tag');
      assert.deepEqual(res.body.error.details, { productIds: [p] });
      assert.deepEqual((await t.request({ url: `/v1/creators/${c.id}/posts` })).body.posts, [], 'no post was published');
      // the same products once each are fine
      const ok = await publish(c.token, [{ productId: p, x: 0.1, y: 0.1 }, { productId: q, x: 0.5, y: 0.5 }]);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
    });

    it('refuses tagging a product the post already carries, even by concurrent requests; a removed tag may be put back', async () => {
      const c = await creatorProfile(t);
      const [p, q] = [await product(), await product()];
      const created = await publish(c.token, [{ productId: p, x: 0.5, y: 0.5 }]);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const postId = created.body.id as string;

      const again = await addTag(c.token, postId, p);
      assert.equal(again.status, 409, JSON.stringify(again.body));
      assert.equal(again.body.error.code, 'duplicate_tag');
      assert.deepEqual(again.body.error.details, { productIds: [p] });
      assert.deepEqual(await tagsOf(postId), [p], 'nothing added');

      const answers = await Promise.all(Array.from({ length: 4 }, () => addTag(c.token, postId, q)));
      assert.deepEqual(answers.map((r) => r.status).sort(), [201, 409, 409, 409]);
      assert.ok(answers.filter((r) => r.status === 409).every((r) => r.body.error.code === 'duplicate_tag'));
      assert.deepEqual((await tagsOf(postId)).sort(), [p, q].sort());

      const untag = await t.request({ method: 'DELETE', url: `/v1/tags/${created.body.tags[0].id}`, token: c.token });
      assert.equal(untag.status, 204);
      const back = await addTag(c.token, postId, p);
      assert.equal(back.status, 201, JSON.stringify(back.body));
      assert.equal(back.body.product.id, p);
    });

    it('a post that already carries a product twice (from before the rule) still reads everywhere, and takes no third', async () => {
      const c = await creatorProfile(t);
      const p = await product();
      const fan = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${c.id}/follow`, token: fan.token })).status, 200);
      const { postIds, tagIds } = await t.app.contexts.social.service.importPosts([
        { creatorId: c.id, mediaType: 'photo', mediaUrl: '/media/demo/old.svg', publishedAt: t.clock.now(), tags: [{ productId: p, x: 0.2, y: 0.2 }, { productId: p, x: 0.8, y: 0.8 }] },
      ]);
      const postId = postIds[0]!;

      const got = await t.request({ url: `/v1/posts/${postId}` });
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.deepEqual(got.body.tags.map((x: { id: string }) => x.id).sort(), [...tagIds].sort());
      const list = await t.request({ url: `/v1/creators/${c.id}/posts` });
      assert.equal(list.status, 200);
      assert.equal(list.body.posts.find((x: { id: string }) => x.id === postId)?.tags.length, 2);
      const feed = await t.request({ url: '/v1/feed?limit=20', token: fan.token });
      assert.equal(feed.status, 200);
      assert.equal(feed.body.posts.find((x: { id: string }) => x.id === postId)?.tags.length, 2);

      const third = await addTag(c.token, postId, p);
      assert.equal(third.status, 409);
      assert.equal(third.body.error.code, 'duplicate_tag');
    });

    it('documents the refusal in the OpenAPI document', async () => {
      const doc = (await t.request({ url: '/openapi.json' })).body;
      const create = doc.paths['/v1/posts'].post;
      assert.match(create.summary, /409 duplicate_tag/);
      assert.match(JSON.stringify(create.requestBody), /duplicate_tag/);
      assert.ok(create.responses['409'], 'the 409 is declared');
      const add = doc.paths['/v1/posts/{id}/tags'].post;
      assert.match(add.summary, /409 duplicate_tag/);
      assert.ok(add.responses['409']);
    });
  });
}
