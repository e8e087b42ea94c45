import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createMediaContext } from '../src/contexts/media';
import { OBJECT_RECHECK_MS } from '../src/contexts/media/media.service';
import type { ManualClock } from '../src/platform/clock';
import { countQueries } from '../src/platform/db';
import { backends, shopOwner, startTestApp, type TestApp } from './support/harness';

/** Tiny real files of each accepted type (the PNG, GIF and WebP are valid 1×1 images). */
const FILES = {
  'image/png': Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'),
  'image/gif': Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64'),
  'image/webp': Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64'),
  // a JPEG's start-of-image and JFIF marker, then its end-of-image
  'image/jpeg': Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex'),
  // an ISO base media `ftyp` box (brand isom)
  'video/mp4': Buffer.concat([Buffer.from('00000018', 'hex'), Buffer.from('ftypisom'), Buffer.from('00000200', 'hex'), Buffer.from('isommp41')]),
  // an EBML header declaring DocType "webm"
  'video/webm': Buffer.from('1a45dfa39f4286810142f7810142f2810442f381084282847765626d42878104428581' + '02', 'hex'),
} as const;
type FileType = keyof typeof FILES;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** A file of `size` bytes that starts with the given signature. */
const padded = (signature: Buffer, size: number, fill = 7) => Buffer.concat([signature, Buffer.alloc(size - signature.length, fill)]);
/** Distinct content of a type: the signature plus a random-looking tail, so tests never share an object by accident. */
const unique = (type: FileType) => Buffer.concat([FILES[type], Buffer.from(`${Math.random()}`)]);

const IMAGE_LIMIT = 4096;

for (const backend of backends()) {
  describe(`media uploads [${backend.name}]`, () => {
    let t: TestApp;
    let creator: { token: string; accountId: string };
    before(async () => {
      t = await startTestApp(backend, { config: { mediaImageMaxBytes: IMAGE_LIMIT } });
      creator = await t.signUp('creator');
    });
    after(() => t.close());

    /** Uploads as the creator unless another token (or null: anonymous) is given. */
    const upload = (bytes: Buffer | undefined, contentType: string | undefined, token: string | null = creator.token) =>
      t.request({ method: 'POST', url: '/v1/media', token: token ?? undefined, ...(bytes !== undefined ? { body: bytes } : {}), headers: contentType ? { 'content-type': contentType } : {} });

    /** Another process sharing the database: its own media context, with caches of its own. */
    const otherProcess = (app = t.app) => {
      const { db, clock, config, outbox, metrics, log, contexts } = app;
      return createMediaContext({
        db, clock, config, outbox, metrics, log,
        uses: { postIdsUsing: (a, url) => contexts.social.service.livePostIdsUsingMedia(a, url), productIdsUsing: (a, url) => contexts.catalog.service.productIdsUsingMedia(a, url) },
      });
    };
    const remove = (id: string, token: string | null = creator.token) => t.request({ method: 'DELETE', url: `/v1/media/${id}`, token: token ?? undefined });
    /** How many stored blobs hold this content, and how many objects they count. */
    const blobOf = async (hash: string, app = t.app) => {
      const r = await sql<{ refs: number }>`SELECT refs FROM media.blobs WHERE sha256 = ${hash}`.execute(app.db);
      return r.rows[0]?.refs ?? null;
    };

    /** A new product of the merchant behind `token` with the image at `url` as its media. */
    const productShowing = async (token: string, url: string, status: 'active' | 'draft') => {
      const body = { name: 'Shown', status, currency: 'EUR', media: [{ kind: 'image', url, alt: 'Front' }], variants: [{ title: 'One', priceMinor: 1000, stock: 1 }] };
      const product = await t.request({ method: 'POST', url: '/v1/merchant/products', token, body });
      assert.equal(product.status, 201, JSON.stringify(product.body));
      return product;
    };

    /** GET a file as bytes (the harness decodes bodies as text). */
    const fetchFile = async (url: string, headers: Record<string, string> = {}) => {
      const res = await t.app.http.inject({ method: 'GET', url, headers });
      return { status: res.statusCode, headers: res.headers, bytes: res.rawPayload, json: () => res.json() };
    };

    it('stores each accepted type and serves back the same bytes, immutable, with its type and a strong ETag', async () => {
      for (const type of Object.keys(FILES) as FileType[]) {
        const bytes = unique(type);
        const res = await upload(bytes, type);
        assert.equal(res.status, 201, `${type}: ${JSON.stringify(res.body)}`);
        assert.match(res.body.id, /^upl_[0-9A-Z]{26}$/);
        assert.deepEqual(res.body, { id: res.body.id, url: `/media/${res.body.id}`, contentType: type, size: bytes.length, sha256: sha256(bytes) });

        const file = await fetchFile(res.body.url);
        assert.equal(file.status, 200, type);
        assert.ok(file.bytes.equals(bytes), `${type}: the served bytes are the uploaded ones`);
        assert.equal(file.headers['content-type'], type);
        assert.equal(file.headers['content-length'], String(bytes.length));
        assert.equal(file.headers['cache-control'], 'public, max-age=31536000, immutable');
        assert.equal(file.headers['x-content-type-options'], 'nosniff');
        // publicly cacheable: no device cookie, which a shared cache would hand to every visitor
        assert.equal(file.headers['set-cookie'], undefined);
        assert.equal(file.headers.etag, `"${sha256(bytes)}"`);
        assert.equal(file.headers['accept-ranges'], 'bytes');
      }
    });

    it('is served by another process sharing the database, whose cache never saw it', async () => {
      const bytes = unique('image/png');
      const { body } = await upload(bytes, 'image/png');
      const other = otherProcess();
      const object = await other.service.find(body.id);
      assert.ok(object);
      assert.equal(object.contentType, 'image/png');
      assert.ok((await other.service.read(object))?.equals(bytes));
    });

    it('answers a HEAD with the file\'s headers and length without reading its bytes', async () => {
      // over 8 MiB: never kept in memory, so every GET reads the store
      const big = Buffer.concat([FILES['video/mp4'], randomBytes(9 * 1024 * 1024)]);
      const { body } = await upload(big, 'video/mp4');
      const head = (headers: Record<string, string> = {}) => t.app.http.inject({ method: 'HEAD', url: body.url, headers });
      await head(); // the object's details are kept from here on; its bytes never are
      const whole = await countQueries(() => head());
      assert.equal(whole.queries, 0, 'a HEAD reads no bytes');
      const w = whole.result;
      assert.deepEqual([w.statusCode, w.headers['content-length'], w.headers['content-type'], w.headers.etag, w.rawPayload.length], [200, String(big.length), 'video/mp4', `"${body.sha256}"`, 0]);
      const part = await countQueries(() => head({ range: 'bytes=2-5' }));
      assert.equal(part.queries, 0);
      assert.deepEqual([part.result.statusCode, part.result.headers['content-length'], part.result.headers['content-range']], [206, '4', `bytes 2-5/${big.length}`]);
      const get = await countQueries(() => fetchFile(body.url, { range: 'bytes=2-5' }));
      assert.ok(get.queries > 0, 'a GET of the same range reads the store');
      assert.ok(get.result.bytes.equals(big.subarray(2, 6)));
    });

    it('serves a file again from memory: a popular image costs no query after the first', async () => {
      const bytes = unique('image/png');
      const { body } = await upload(bytes, 'image/png');
      const first = await countQueries(() => fetchFile(body.url));
      assert.ok(first.result.bytes.equals(bytes));
      assert.ok(first.queries > 0, 'the first request looks the file up');
      const again = await countQueries(() => fetchFile(body.url, { range: 'bytes=0-3' }));
      assert.equal(again.result.status, 206);
      assert.equal(again.queries, 0, 'no database round trip');
    });

    it('answers 304 to If-None-Match with its ETag, and the file to any other', async () => {
      const bytes = unique('image/gif');
      const { body } = await upload(bytes, 'image/gif');
      const etag = `"${body.sha256}"`;
      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const res = await fetchFile(body.url, { 'if-none-match': ifNoneMatch });
        assert.equal(res.status, 304, ifNoneMatch);
        assert.equal(res.bytes.length, 0);
        assert.equal(res.headers.etag, etag);
        // a cache refreshing its copy takes the 304's headers: none may say the file is something else
        assert.equal(res.headers['content-type'], undefined);
        assert.equal(res.headers['content-length'], undefined);
      }
      const changed = await fetchFile(body.url, { 'if-none-match': '"something-else"' });
      assert.equal(changed.status, 200);
      assert.ok(changed.bytes.equals(bytes));
    });

    it('answers one Range with 206 and Content-Range, a range past the end with 416, and several with the whole file', async () => {
      const bytes = padded(FILES['image/png'], 1000, 1);
      for (let i = 0; i < bytes.length; i++) bytes[i] = i < FILES['image/png'].length ? bytes[i]! : i % 251;
      const { body } = await upload(bytes, 'image/png');
      const cases: Array<[string, number, number]> = [
        ['bytes=10-19', 10, 19],
        ['bytes=990-', 990, 999],
        ['bytes=-5', 995, 999],
        ['bytes=900-5000', 900, 999],
        ['bytes=0-0', 0, 0],
      ];
      for (const [range, start, end] of cases) {
        const res = await fetchFile(body.url, { range });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers['content-range'], `bytes ${start}-${end}/1000`, range);
        assert.ok(res.bytes.equals(bytes.subarray(start, end + 1)), range);
        assert.equal(res.headers['content-type'], 'image/png');
      }
      for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
        const res = await fetchFile(body.url, { range });
        assert.equal(res.status, 416, range);
        assert.equal(res.headers['content-range'], 'bytes */1000');
        assert.equal(res.json().error.code, 'range_not_satisfiable');
        assert.equal(res.headers['cache-control'], undefined, 'a refusal is not to be kept');
      }
      for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3']) {
        const res = await fetchFile(body.url, { range });
        assert.equal(res.status, 200, range);
        assert.ok(res.bytes.equals(bytes));
      }
      // If-Range: the range only while the file is still the one the client has (it always is)
      assert.equal((await fetchFile(body.url, { range: 'bytes=0-1', 'if-range': `"${body.sha256}"` })).status, 206);
      assert.equal((await fetchFile(body.url, { range: 'bytes=0-1', 'if-range': '"older"' })).status, 200);
    });

    it('reads a large video by ranges from the store, answering an open-ended range a chunk at a time', async () => {
      const size = 9 * 1024 * 1024 + 123;
      const bytes = padded(FILES['video/mp4'], size);
      for (let i = FILES['video/mp4'].length; i < size; i += 4096) bytes[i] = (i / 4096) % 256;
      const { status, body } = await upload(bytes, 'video/mp4');
      assert.equal(status, 201);
      const chunk = 4 * 1024 * 1024;
      let at = 0;
      const parts: Buffer[] = [];
      while (at < size) {
        const res = await fetchFile(body.url, { range: `bytes=${at}-` });
        assert.equal(res.status, 206);
        const end = Math.min(at + chunk, size) - 1;
        assert.equal(res.headers['content-range'], `bytes ${at}-${end}/${size}`);
        parts.push(res.bytes);
        at = end + 1;
      }
      assert.equal(parts.length, 3);
      assert.ok(Buffer.concat(parts).equals(bytes), 'the chunks make up the file');
      const middle = await fetchFile(body.url, { range: 'bytes=5000000-5000099' });
      assert.ok(middle.bytes.equals(bytes.subarray(5000000, 5000100)));
      const whole = await fetchFile(body.url);
      assert.equal(whole.status, 200);
      assert.ok(whole.bytes.equals(bytes));
    });

    it('gives the same object for the same bytes from the same owner, and another owner their own', async () => {
      const bytes = unique('image/webp');
      const first = await upload(bytes, 'image/webp');
      const again = await upload(bytes, 'image/webp');
      assert.equal(first.status, 201);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body);
      const merchant = await t.signUp('merchant');
      const theirs = await upload(bytes, 'image/webp', merchant.token);
      assert.equal(theirs.status, 201);
      assert.notEqual(theirs.body.id, first.body.id);
      assert.equal(theirs.body.sha256, first.body.sha256);
      assert.ok((await fetchFile(theirs.body.url)).bytes.equals(bytes));
    });

    it('lets creators, merchants and admins upload; refuses anonymous callers (401) and shoppers (403)', async () => {
      for (const role of ['merchant', 'admin'] as const) {
        const { token } = await t.signUp(role);
        assert.equal((await upload(unique('image/png'), 'image/png', token)).status, 201, role);
      }
      const anonymous = await upload(unique('image/png'), 'image/png', null);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error.code, 'unauthenticated');
      const shopper = await t.signUp('shopper');
      const refused = await upload(unique('image/png'), 'image/png', shopper.token);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'forbidden');
    });

    it('refuses a body over its type\'s limit with 413 (images and videos have their own)', async () => {
      const big = padded(FILES['image/png'], IMAGE_LIMIT + 1);
      const res = await upload(big, 'image/png');
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'body_too_large');
      assert.equal((await upload(padded(FILES['image/png'], IMAGE_LIMIT), 'image/png')).status, 201, 'exactly the limit is fine');
      assert.equal((await upload(padded(FILES['video/mp4'], IMAGE_LIMIT + 1), 'video/mp4')).status, 201, 'a video of that size is within its limit');
    });

    it('refuses another type with 415, and a file whose bytes are not its declared type with 400', async () => {
      for (const type of ['text/plain', 'application/json', 'image/svg+xml', 'application/octet-stream']) {
        const res = await upload(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), type);
        assert.equal(res.status, 415, type);
        assert.equal(res.body.error.code, 'unsupported_media_type');
        assert.match(res.body.error.message, /image\/jpeg/);
      }
      const png = await upload(unique('image/png'), 'image/jpeg');
      assert.equal(png.status, 400);
      assert.equal(png.body.error.code, 'media_type_mismatch');
      assert.deepEqual(png.body.error.details, { declared: 'image/jpeg', detected: 'image/png' });
      const junk = await upload(Buffer.from('definitely not a video'), 'video/mp4');
      assert.equal(junk.status, 400);
      assert.equal(junk.body.error.code, 'media_type_mismatch');
      // an AVIF still image shares MP4's box format, but is not a video
      const avif = await upload(Buffer.concat([Buffer.from('0000001c', 'hex'), Buffer.from('ftypavif'), Buffer.alloc(16)]), 'video/mp4');
      assert.equal(avif.body.error.code, 'media_type_mismatch');
      // nor are audio-only MP4 (M4A), a HEIF image sequence, or an `ftyp` box whose size is not one
      const ftyp = (size: string, brand: string) => Buffer.concat([Buffer.from(size, 'hex'), Buffer.from(`ftyp${brand}`), Buffer.alloc(16)]);
      for (const [file, what] of [[ftyp('0000001c', 'M4A '), 'M4A'], [ftyp('00000018', 'hevc'), 'HEIF sequence'], [ftyp('58585858', 'isom'), 'garbage size']] as const) {
        const res = await upload(file, 'video/mp4');
        assert.equal(res.body.error?.code, 'media_type_mismatch', what);
      }
      // a Content-Type that is not a media type at all is told what to send, not "application/json" alone
      for (const type of ['image/png, image/jpeg', 'image/', '/png']) {
        const res = await upload(unique('image/png'), type);
        assert.equal(res.status, 415, type);
        assert.doesNotMatch(res.body.error.message, /^Send application\/json$/);
      }
    });

    it('refuses a new file past the account\'s quota with 409, and still answers a file the account has', async () => {
      const small = await startTestApp(backend, { config: { mediaQuotaBytes: 2048 } });
      try {
        const owner = await small.signUp('creator');
        const post = (bytes: Buffer) => small.request({ method: 'POST', url: '/v1/media', token: owner.token, body: bytes, headers: { 'content-type': 'image/png' } });
        const pad = (n: number) => Buffer.concat([unique('image/png'), Buffer.alloc(n)]);
        const first = pad(1200);
        assert.equal((await post(first)).status, 201);
        const over = await post(pad(1000));
        assert.equal(over.status, 409);
        assert.equal(over.body.error.code, 'media_quota_exceeded');
        assert.deepEqual(over.body.error.details, { quotaBytes: 2048, usedBytes: first.length });
        // the same file again stores nothing new: answered as before
        assert.equal((await post(first)).status, 200);
        // another account has its own quota
        const other = await small.signUp('merchant');
        const theirs = await small.request({ method: 'POST', url: '/v1/media', token: other.token, body: pad(1000), headers: { 'content-type': 'image/png' } });
        assert.equal(theirs.status, 201);
      } finally {
        await small.close();
      }
    });

    it('refuses an empty upload with 400', async () => {
      const empty = await upload(Buffer.alloc(0), 'image/png');
      assert.equal(empty.status, 400);
      assert.equal(empty.body.error.code, 'empty_body');
      const none = await upload(undefined, undefined);
      assert.equal(none.status, 400);
      assert.equal(none.body.error.code, 'empty_body');
    });

    it('answers 404 in the error shape for an unknown or malformed id', async () => {
      for (const id of ['upl_00000000000000000000000000', 'med_00000000000000000000000000', 'nope', 'prd_01HZZZZZZZZZZZZZZZZZZZZZZZ', '%20']) {
        const res = await fetchFile(`/media/${id}`);
        assert.equal(res.status, 404, id);
        assert.equal(res.json().error.code, 'not_found');
      }
    });

    it('leaves the JSON routes JSON-only: a file sent to one is refused with 415', async () => {
      const res = await t.request({ method: 'POST', url: '/v1/auth/login', body: FILES['image/png'], headers: { 'content-type': 'image/png' } });
      assert.equal(res.status, 415);
      assert.equal(res.body.error.code, 'unsupported_media_type');
    });

    it('gives a url that a post and a product accept, and the post shows in the feed with it', async () => {
      const { body: photo } = await upload(unique('image/png'), 'image/png');
      const handle = `up_${Math.random().toString(36).slice(2, 10)}`;
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creators/me', token: creator.token, body: { handle, displayName: 'Uploader' } })).status, 200);
      const post = await t.request({ method: 'POST', url: '/v1/posts', token: creator.token, body: { mediaType: 'photo', mediaUrl: photo.url, caption: 'Uploaded from my phone' } });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      const fan = await t.signUp('shopper');
      assert.equal((await t.request({ method: 'PUT', url: `/v1/creators/${post.body.creator.id}/follow`, token: fan.token })).status, 200);
      const feed = await t.request({ url: '/v1/feed?limit=50', token: fan.token });
      const shown = feed.body.posts.find((p: { id: string }) => p.id === post.body.id);
      assert.ok(shown, 'the post is in the feed');
      assert.equal(shown.mediaUrl, photo.url);

      const owner = await shopOwner(t);
      const { body: image } = await upload(unique('image/jpeg'), 'image/jpeg', owner.token);
      const product = await productShowing(owner.token, image.url, 'active');
      const detail = await t.request({ url: `/v1/products/${product.body.id}` });
      assert.equal(detail.body.media[0].url, image.url);

      // what is neither an http(s) URL nor a path on this server is refused alike by posts and products: another host
      // behind `//`, whitespace, quotes or angle brackets
      for (const url of ['//evil.example/x.png', '/ " onerror=alert(1) x="', '/a<b>', 'https://', 'javascript:alert(1)']) {
        const badPost = await t.request({ method: 'POST', url: '/v1/posts', token: creator.token, body: { mediaType: 'photo', mediaUrl: url, caption: 'x' } });
        assert.equal(badPost.status, 400, url);
        assert.equal(badPost.body.error.code, 'validation_failed');
        const badProduct = await t.request({
          method: 'POST',
          url: '/v1/merchant/products',
          token: owner.token,
          body: { name: 'Bad', currency: 'EUR', media: [{ kind: 'image', url }], variants: [{ title: 'One', priceMinor: 1000 }] },
        });
        assert.equal(badProduct.status, 400, url);
      }
    });

    it('lets the uploader delete a file: it is 404 from then on, a second delete is 404, and the bytes it used are freed', async () => {
      const bytes = unique('image/png');
      const { body } = await upload(bytes, 'image/png');
      assert.equal((await fetchFile(body.url)).status, 200);
      const before = (await t.request({ url: '/v1/media?limit=100', token: creator.token })).body.usedBytes;
      const res = await remove(body.id);
      assert.equal(res.status, 204, JSON.stringify(res.body));
      const gone = await fetchFile(body.url);
      assert.equal(gone.status, 404);
      assert.equal(gone.json().error.code, 'not_found');
      assert.equal(gone.headers['cache-control'], undefined);
      assert.equal((await t.app.http.inject({ method: 'HEAD', url: body.url })).statusCode, 404);
      const again = await remove(body.id);
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, 'not_found');
      const list = (await t.request({ url: '/v1/media?limit=100', token: creator.token })).body;
      assert.equal(list.usedBytes, before - bytes.length);
      assert.ok(!list.items.some((i: { id: string }) => i.id === body.id));
      assert.equal(await blobOf(body.sha256), null, 'no object names the bytes: they are removed');
      // the same file uploaded again is a new object, served
      const back = await upload(bytes, 'image/png');
      assert.equal(back.status, 201);
      assert.notEqual(back.body.id, body.id);
      assert.ok((await fetchFile(back.body.url)).bytes.equals(bytes));
    });

    it('answers someone else\'s file exactly like an unknown id (404), lets an admin delete it, and refuses shoppers and anonymous callers', async () => {
      const { body } = await upload(unique('image/gif'), 'image/gif');
      const other = await t.signUp('creator');
      const theirs = await remove(body.id, other.token);
      const unknown = await remove('upl_00000000000000000000000000', other.token);
      assert.equal(theirs.status, 404);
      // the same answer as for an id that never existed, but for the id itself
      assert.deepEqual(JSON.parse(JSON.stringify(theirs.body).replaceAll(body.id, 'upl_00000000000000000000000000')), unknown.body);
      for (const id of ['nope', 'prd_01HZZZZZZZZZZZZZZZZZZZZZZZ', '%20']) assert.equal((await remove(id)).status, 404, id);
      assert.equal((await remove(body.id, null)).status, 401);
      assert.equal((await remove(body.id, (await t.signUp('shopper')).token)).status, 403);
      assert.equal((await fetchFile(body.url)).status, 200, 'still there');
      const admin = await t.signUp('admin');
      assert.equal((await remove(body.id, admin.token)).status, 204);
      assert.equal((await fetchFile(body.url)).status, 404);
    });

    it('refuses to delete a file the uploader\'s live post, story or product shows (409 media_in_use, with their ids), not one only others link to', async () => {
      const c = await t.signUp('creator');
      const handle = `del_${Math.random().toString(36).slice(2, 10)}`;
      assert.equal((await t.request({ method: 'PUT', url: '/v1/creators/me', token: c.token, body: { handle, displayName: 'Deleter' } })).status, 200);
      const publish = async (url: string, kind: 'post' | 'story' = 'post') => {
        const res = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { kind, mediaType: 'photo', mediaUrl: url, caption: kind } });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body.id as string;
      };
      const { body: photo } = await upload(unique('image/png'), 'image/png', c.token);
      const postId = await publish(photo.url);
      const storyId = await publish(photo.url, 'story');
      const inUse = await remove(photo.id, c.token);
      assert.equal(inUse.status, 409);
      assert.equal(inUse.body.error.code, 'media_in_use');
      assert.deepEqual(inUse.body.error.details, { postIds: [postId, storyId].sort(), productIds: [] });
      assert.match(inUse.body.error.message, /2 posts or stories/);
      assert.equal((await fetchFile(photo.url)).status, 200, 'nothing was deleted');
      // a deleted post no longer counts; an expired story neither
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/posts/${postId}`, token: c.token })).status, 204);
      assert.deepEqual((await remove(photo.id, c.token)).body.error.details, { postIds: [storyId], productIds: [] });
      (t.clock as ManualClock).advance(25 * 3_600_000);
      assert.equal((await remove(photo.id, c.token)).status, 204);

      // a product's media, in any status
      const owner = await shopOwner(t);
      const { body: image } = await upload(unique('image/jpeg'), 'image/jpeg', owner.token);
      const product = await productShowing(owner.token, image.url, 'draft');
      const shown = await remove(image.id, owner.token);
      assert.equal(shown.status, 409);
      assert.deepEqual(shown.body.error.details, { postIds: [], productIds: [product.body.id] });

      // another account's post linking the URL does not keep its uploader from deleting it
      const { body: linked } = await upload(unique('image/png'), 'image/png', owner.token);
      await publish(linked.url);
      assert.equal((await remove(linked.id, owner.token)).status, 204);
    });

    it('keeps shared bytes while another account\'s object names them, and removes them with the last', async () => {
      const bytes = unique('image/webp');
      const merchant = await t.signUp('merchant');
      const mine = (await upload(bytes, 'image/webp')).body;
      const theirs = (await upload(bytes, 'image/webp', merchant.token)).body;
      assert.equal(await blobOf(mine.sha256), 2);
      assert.equal((await remove(mine.id)).status, 204);
      assert.equal(await blobOf(mine.sha256), 1);
      // read through a process that never cached it: the bytes are in the store
      const fresh = otherProcess();
      assert.ok((await fresh.service.read((await fresh.service.find(theirs.id))!))?.equals(bytes));
      assert.equal((await remove(theirs.id, merchant.token)).status, 204);
      assert.equal(await blobOf(mine.sha256), null);
    });

    it('stops serving a file deleted through another process once its description is re-checked, and never answers 5xx meanwhile', async () => {
      const clock = t.clock as ManualClock;
      const small = unique('image/png');
      const { body: a } = await upload(small, 'image/png');
      // over 8 MiB: its bytes are never kept in memory, so a read after the delete finds them gone
      const big = Buffer.concat([FILES['video/mp4'], randomBytes(9 * 1024 * 1024)]);
      const { body: b } = await upload(big, 'video/mp4');
      assert.equal((await fetchFile(a.url)).status, 200);
      assert.equal((await t.app.http.inject({ method: 'HEAD', url: b.url })).statusCode, 200);
      const elsewhere = otherProcess();
      assert.equal((await elsewhere.service.remove({ accountId: creator.accountId, admin: false }, a.id)).ok, true);
      assert.equal((await elsewhere.service.remove({ accountId: creator.accountId, admin: false }, b.id)).ok, true);
      // within OBJECT_RECHECK_MS this process still knows them: a file it holds is served, one it must read is 404
      assert.equal((await fetchFile(a.url)).status, 200);
      const unread = await fetchFile(b.url, { range: 'bytes=0-99' });
      assert.equal(unread.status, 404);
      assert.equal(unread.headers['cache-control'], undefined);
      clock.advance(OBJECT_RECHECK_MS);
      assert.equal((await fetchFile(a.url)).status, 404);
      assert.equal((await t.app.http.inject({ method: 'HEAD', url: b.url })).statusCode, 404);
    });

    it('never leaves an object without its bytes when an upload of the same file races a delete', async () => {
      const other = await t.signUp('merchant');
      const elsewhere = otherProcess();
      for (let i = 0; i < 20; i++) {
        const bytes = unique('image/png');
        const { body } = await upload(bytes, 'image/png');
        // the delete and the upload of the same bytes by another account, at once, through two processes
        const [removed, uploaded] = await Promise.all([
          elsewhere.service.remove({ accountId: creator.accountId, admin: false }, body.id),
          t.app.contexts.media.service.upload(other.accountId, 'image/png', bytes),
        ]);
        assert.equal(removed.ok, true);
        assert.ok(uploaded.ok);
        const fresh = otherProcess();
        assert.ok((await fresh.service.read((await fresh.service.find(uploaded.object.id))!))?.equals(bytes), `round ${i}: served`);
        assert.equal(await blobOf(body.sha256), 1, `round ${i}: the upload's object is counted`);
        // and a delete racing a re-upload by the same account ends with either the object and its bytes or neither
        const [again, gone] = await Promise.all([
          t.app.contexts.media.service.upload(other.accountId, 'image/png', bytes),
          elsewhere.service.remove({ accountId: other.accountId, admin: true }, uploaded.object.id),
        ]);
        assert.ok(again.ok && gone.ok);
        const left = await otherProcess().service.find(again.object.id);
        assert.equal(await blobOf(body.sha256), left ? 1 : null, `round ${i}`);
      }
      const orphans = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM media.objects o WHERE NOT EXISTS (SELECT 1 FROM media.blobs b WHERE b.sha256 = o.sha256)
      `.execute(t.app.db);
      assert.equal(orphans.rows[0]!.n, 0);
      const miscounted = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM media.blobs b WHERE refs <> (SELECT count(*) FROM media.objects o WHERE o.sha256 = b.sha256)
      `.execute(t.app.db);
      assert.equal(miscounted.rows[0]!.n, 0);
    });

    it('lists the caller\'s own uploads newest first, by keyset pages, with the bytes used and the quota', async () => {
      const lister = await t.signUp('merchant');
      const sizes: number[] = [];
      const ids: string[] = [];
      for (const type of ['image/png', 'image/gif', 'video/mp4'] as const) {
        const bytes = unique(type);
        const { body } = await upload(bytes, type, lister.token);
        sizes.push(bytes.length);
        ids.push(body.id);
      }
      await upload(unique('image/png'), 'image/png'); // someone else's
      const first = await t.request({ url: '/v1/media?limit=2', token: lister.token });
      assert.equal(first.status, 200);
      assert.deepEqual(first.body.items.map((i: { id: string }) => i.id), [ids[2], ids[1]]);
      assert.equal(first.body.items[0].url, `/media/${ids[2]}`);
      assert.equal(first.body.items[0].contentType, 'video/mp4');
      assert.equal(first.body.items[0].createdAt, t.clock.now().toISOString());
      assert.equal(first.body.usedBytes, sizes[0]! + sizes[1]! + sizes[2]!);
      assert.equal(first.body.quotaBytes, t.app.config.mediaQuotaBytes);
      const second = await t.request({ url: `/v1/media?limit=2&cursor=${first.body.nextCursor}`, token: lister.token });
      assert.deepEqual(second.body.items.map((i: { id: string }) => i.id), [ids[0]]);
      assert.equal(second.body.nextCursor, null);
      for (const cursor of ['nope', Buffer.from('{"id":"prd_01HZZZZZZZZZZZZZZZZZZZZZZZ"}').toString('base64url')]) {
        const bad = await t.request({ url: `/v1/media?cursor=${cursor}`, token: lister.token });
        assert.equal(bad.status, 400, cursor);
        assert.equal(bad.body.error.code, 'invalid_cursor');
      }
      for (const query of ['limit=0', 'limit=101', 'limit=x', 'other=1']) assert.equal((await t.request({ url: `/v1/media?${query}`, token: lister.token })).status, 400, query);
      const fresh = await t.signUp('creator');
      assert.deepEqual((await t.request({ url: '/v1/media', token: fresh.token })).body, { items: [], nextCursor: null, usedBytes: 0, quotaBytes: t.app.config.mediaQuotaBytes });
      assert.equal((await t.request({ url: '/v1/media', token: (await t.signUp('shopper')).token })).status, 403);
      assert.equal((await t.request({ url: '/v1/media' })).status, 401);
    });

    it('keeps an account within its quota however many of its uploads run at once', async () => {
      const quota = 10_000;
      const small = await startTestApp(backend, { config: { mediaQuotaBytes: quota } });
      try {
        const owner = await small.signUp('creator');
        const service = small.app.contexts.media.service;
        // two processes, 16 uploads of 1,500 bytes at once: 6 fit
        const processes = [service, otherProcess(small.app).service];
        const files = Array.from({ length: 16 }, () => Buffer.concat([unique('image/png'), Buffer.alloc(1500)]).subarray(0, 1500));
        const results = await Promise.all(files.map((f, i) => processes[i % 2]!.upload(owner.accountId, 'image/png', f)));
        const stored = results.filter((r) => r.ok);
        assert.equal(stored.length, 6);
        for (const r of results) if (!r.ok) assert.equal(r.code, 'media_quota_exceeded');
        const page = (await small.request({ url: '/v1/media?limit=100', token: owner.token })).body;
        assert.equal(page.items.length, 6);
        assert.equal(page.usedBytes, 9000);
        // a delete frees its bytes for the next upload
        assert.equal((await small.request({ method: 'DELETE', url: `/v1/media/${page.items[0].id}`, token: owner.token })).status, 204);
        const next = await small.request({ method: 'POST', url: '/v1/media', token: owner.token, body: files.find((f, i) => !results[i]!.ok), headers: { 'content-type': 'image/png' } });
        assert.equal(next.status, 201);
      } finally {
        await small.close();
      }
    });

    it('describes the upload\'s binary body and the file\'s answers in the OpenAPI document', async () => {
      const doc = (await t.request({ url: '/openapi.json' })).body;
      const post = doc.paths['/v1/media'].post;
      assert.deepEqual(Object.keys(post.requestBody.content).sort(), Object.keys(FILES).sort());
      assert.equal(post.requestBody.content['image/png'].schema.format, 'binary');
      for (const status of ['200', '201', '400', '401', '403', '413', '415']) assert.ok(post.responses[status], `POST /v1/media documents ${status}`);
      assert.ok(post.responses['201'].content['application/json'].schema.properties.sha256);
      const get = doc.paths['/media/{id}'].get;
      for (const status of ['200', '206', '304', '404', '416']) assert.ok(get.responses[status], `GET /media/{id} documents ${status}`);
      assert.equal(get.responses['200'].content['video/mp4'].schema.format, 'binary');
      assert.ok(get.responses['206'].headers['content-range']);
      assert.ok(get.parameters.some((p: { in: string; name: string }) => p.in === 'header' && p.name === 'range'));
      const list = doc.paths['/v1/media'].get;
      assert.ok(list.responses['200'].content['application/json'].schema.properties.usedBytes);
      assert.ok(list.parameters.some((p: { in: string; name: string }) => p.in === 'query' && p.name === 'cursor'));
      const del = doc.paths['/v1/media/{id}'].delete;
      for (const status of ['204', '401', '403', '404', '409']) assert.ok(del.responses[status], `DELETE /v1/media/{id} documents ${status}`);
      assert.match(del.description, /media_in_use/);
    });
  });
}
