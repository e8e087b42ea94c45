import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HOUR, type ManualClock } from '../src/platform/clock';
import { backends, startTestApp, type TestApp } from './support/harness';

/** What the creator QA pass found missing in the social API: editing a published post's caption. */
const uniq = () => randomBytes(4).toString('hex');

for (const backend of backends()) {
  describe(`social QA [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    async function creator() {
      const account = await t.signUp('creator');
      const handle = `q_${uniq()}`;
      const res = await t.request({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: `Creator ${handle}` } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return { ...account, id: res.body.id as string, handle };
    }
    const publish = async (token: string, body: object = {}) => {
      const res = await t.request({ method: 'POST', url: '/v1/posts', token, body: { mediaType: 'photo', mediaUrl: '/media/demo/q.svg', caption: 'Before', ...body } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string };
    };
    const edit = (token: string, id: string, body: unknown) => t.request({ method: 'PATCH', url: `/v1/posts/${id}`, token, body });

    it('PATCH /v1/posts/{id} changes the caption of your post; the post, your list and a follower\'s feed show it at once', async () => {
      const c = await creator();
      const p = await publish(c.token);
      const fan = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${c.id}/follow`, token: fan.token })).status, 200);
      // the feed and the post are cached by now: the edit must not leave them stale
      const feedBefore = await t.request({ url: '/v1/feed?limit=5', token: fan.token });
      assert.equal(feedBefore.body.posts.find((x: { id: string }) => x.id === p.id)?.caption, 'Before');
      assert.equal((await t.request({ url: `/v1/posts/${p.id}` })).body.caption, 'Before');

      const res = await edit(c.token, p.id, { caption: 'After, with a typo fixed' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id, p.id);
      assert.equal(res.body.caption, 'After, with a typo fixed');
      assert.equal((await t.request({ url: `/v1/posts/${p.id}` })).body.caption, 'After, with a typo fixed');
      const feed = await t.request({ url: '/v1/feed?limit=5', token: fan.token });
      assert.equal(feed.body.posts.find((x: { id: string }) => x.id === p.id)?.caption, 'After, with a typo fixed');
      const mine = await t.request({ url: `/v1/creators/${c.id}/posts` });
      assert.equal(mine.body.posts[0].caption, 'After, with a typo fixed');
      // an empty caption is a caption
      assert.equal((await edit(c.token, p.id, { caption: '' })).body.caption, '');
    });

    it('refuses another creator (403), a shopper (403), anonymous (401), a deleted post or expired story (404), and bad bodies (400)', async () => {
      const c = await creator();
      const other = await creator();
      const p = await publish(c.token);
      const shopper = await t.signUp('shopper');
      assert.deepEqual([(await edit(other.token, p.id, { caption: 'mine now' })).status], [403]);
      assert.equal((await edit(shopper.token, p.id, { caption: 'x' })).status, 403);
      assert.equal((await t.request({ method: 'PATCH', url: `/v1/posts/${p.id}`, body: { caption: 'x' } })).status, 401);
      for (const body of [{ caption: 'x'.repeat(2201) }, { caption: 'ok', mediaUrl: '/media/demo/other.svg' }, {}, { caption: 7 }]) {
        const bad = await edit(c.token, p.id, body);
        assert.deepEqual([bad.status, bad.body.error.code], [400, 'validation_failed'], JSON.stringify(body));
      }
      assert.equal((await t.request({ url: `/v1/posts/${p.id}` })).body.caption, 'Before', 'nothing changed');

      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${p.id}`, token: c.token })).status, 204);
      assert.deepEqual([(await edit(c.token, p.id, { caption: 'x' })).status], [404]);
      assert.equal((await edit(c.token, 'pst_01J0000000000000000000000Z', { caption: 'x' })).status, 404);

      const story = await publish(c.token, { kind: 'story' });
      assert.equal((await edit(c.token, story.id, { caption: 'Live story' })).body.caption, 'Live story');
      (t.clock as ManualClock).advance(25 * HOUR);
      assert.equal((await edit(c.token, story.id, { caption: 'Too late' })).status, 404);
    });

    it('documents the route', async () => {
      const doc = await t.request({ url: '/openapi.json' });
      assert.ok(doc.body.paths['/v1/posts/{id}']?.patch, 'PATCH /v1/posts/{id} is documented');
    });
  });
}
