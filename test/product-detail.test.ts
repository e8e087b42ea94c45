import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { countQueries } from '../src/platform/db';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

const word = () => `w${randomBytes(4).toString('hex')}`;

const newProduct = (over: Record<string, unknown> = {}) => ({
  name: `Ceramic mug ${word()}`,
  description: 'Stoneware, 350 ml',
  status: 'active' as const,
  currency: 'EUR',
  media: [
    { kind: 'video' as const, url: 'https://cdn.example.test/mug.mp4' },
    { kind: 'image' as const, url: 'https://cdn.example.test/mug-1.jpg', alt: 'mug' },
    { kind: 'image' as const, url: 'https://cdn.example.test/mug-2.jpg' },
  ],
  variants: [
    { title: 'White', priceMinor: 1800, options: { color: 'white' }, stock: 20 },
    { title: 'Black', priceMinor: 2000, options: { color: 'black' }, stock: 3 },
  ],
  ...over,
});

for (const backend of backends()) {
  describe(`product detail [${backend.name}]`, () => {
    let t: TestApp;
    let owner: { token: string; accountId: string; merchantId: string };
    before(async () => {
      t = await startTestApp(backend, { config: { lowStockThreshold: 5 } });
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: 'Kiln & Co' } });
      owner = { ...m, merchantId: res.body.id };
    });
    after(() => t.close());

    const catalog = () => t.app.contexts.catalog.service;
    const create = async (over: Record<string, unknown> = {}) => {
      const res = await t.request({ method: 'POST', url: '/v1/merchant/products', token: owner.token, body: newProduct(over) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };

    it('answers the full product sheet', async () => {
      const p = await create();
      const res = await t.request({ url: `/v1/products/${p.id}` });
      assert.equal(res.status, 200);
      const b = res.body;
      assert.deepEqual(Object.keys(b).sort(), ['currency', 'description', 'id', 'media', 'merchant', 'name', 'rating', 'reviews', 'status', 'updatedAt', 'variants']);
      assert.deepEqual(b.merchant, { id: owner.merchantId, name: 'Kiln & Co' });
      assert.equal(b.description, 'Stoneware, 350 ml');
      assert.deepEqual(b.media.map((m: any) => [m.kind, m.url, m.alt]), [
        ['video', 'https://cdn.example.test/mug.mp4', ''],
        ['image', 'https://cdn.example.test/mug-1.jpg', 'mug'],
        ['image', 'https://cdn.example.test/mug-2.jpg', ''],
      ]);
      assert.deepEqual(b.variants.map((v: any) => ({ ...v, id: v.id.slice(0, 4) })), [
        { id: 'sku_', title: 'White', options: { color: 'white' }, priceMinor: 1800, currency: 'EUR', available: 20, availability: 'in_stock' },
        { id: 'sku_', title: 'Black', options: { color: 'black' }, priceMinor: 2000, currency: 'EUR', available: 3, availability: 'low' },
      ]);
      assert.deepEqual(b.rating, { average: null, count: 0, distribution: { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 } });
      assert.deepEqual(b.reviews, { items: [], nextCursor: null });
      assert.match(String(res.headers.etag), /^"[A-Za-z0-9_-]+"$/);
    });

    it('hides drafts and archived products from everyone but the owning merchant', async () => {
      const draft = await create({ status: 'draft' });
      const shopper = await t.signUp('shopper');
      assert.equal((await t.request({ url: `/v1/products/${draft.id}` })).status, 404);
      assert.equal((await t.request({ url: `/v1/products/${draft.id}`, token: shopper.token })).status, 404);
      assert.equal((await t.request({ url: `/v1/products/${draft.id}`, token: owner.token })).status, 200);
      await t.request({ method: 'PATCH', url: `/v1/merchant/products/${draft.id}`, token: owner.token, body: { status: 'active' } });
      assert.equal((await t.request({ url: `/v1/products/${draft.id}` })).status, 200);
      await t.request({ method: 'PATCH', url: `/v1/merchant/products/${draft.id}`, token: owner.token, body: { status: 'archived' } });
      assert.equal((await t.request({ url: `/v1/products/${draft.id}` })).status, 404);
      assert.equal((await t.request({ url: '/v1/products/prd_01JZZZZZZZZZZZZZZZZZZZZZZZ' })).status, 404);
    });

    it('answers 304 to a matching If-None-Match, and a new ETag after a stock or price change', async () => {
      const p = await create();
      const url = `/v1/products/${p.id}`;
      const first = await t.request({ url });
      const etag = String(first.headers.etag);
      const again = await t.request({ url, headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.equal(again.body, '');
      assert.equal(again.headers.etag, etag);

      const sku = p.variants[1].id;
      await t.request({ method: 'POST', url: `/v1/merchant/variants/${sku}/stock-adjustments`, token: owner.token, body: { delta: -3, reason: 'broken' } });
      const afterStock = await t.request({ url, headers: { 'if-none-match': etag } });
      assert.equal(afterStock.status, 200);
      assert.equal(afterStock.body.variants[1].availability, 'sold_out');
      const etag2 = String(afterStock.headers.etag);
      assert.notEqual(etag2, etag);

      await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${sku}`, token: owner.token, body: { priceMinor: 2100 } });
      const afterPrice = await t.request({ url, headers: { 'if-none-match': etag2 } });
      assert.equal(afterPrice.status, 200);
      assert.equal(afterPrice.body.variants[1].priceMinor, 2100);
      assert.notEqual(String(afterPrice.headers.etag), etag2);
    });

    it('takes one review per shopper and keeps the summary equal to a recomputation', async () => {
      const p = await create();
      const shoppers = await Promise.all([1, 2, 3, 4].map(() => t.signUp('shopper')));
      const ratings = [5, 4, 4, 1];
      for (const [i, s] of shoppers.entries()) {
        const res = await t.request({ method: 'POST', url: `/v1/products/${p.id}/reviews`, token: s.token, body: { rating: ratings[i], title: 'Mug', body: `Review ${i}` } });
        assert.equal(res.status, 201);
        assert.equal(res.body.verifiedBuyer, false);
      }
      const second = await t.request({ method: 'POST', url: `/v1/products/${p.id}/reviews`, token: shoppers[0]!.token, body: { rating: 1, body: 'again' } });
      assert.equal(second.status, 409);
      assert.equal(second.body.error.code, 'review_exists');

      const recomputed = async () => {
        const r = await sql<{ rating: number }>`SELECT rating FROM catalog.reviews WHERE product_id = ${p.id}`.execute(t.app.db);
        const distribution = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 } as Record<number, number>;
        for (const { rating } of r.rows) distribution[rating]!++;
        const sum = r.rows.reduce((s, x) => s + x.rating, 0);
        return { average: r.rows.length ? Math.round((sum / r.rows.length) * 10) / 10 : null, count: r.rows.length, distribution };
      };
      const rating = async () => (await t.request({ url: `/v1/products/${p.id}` })).body.rating;

      assert.deepEqual(await rating(), { average: 3.5, count: 4, distribution: { 1: 1, 2: 0, 3: 0, 4: 2, 5: 1 } });
      assert.deepEqual(await rating(), await recomputed());

      const edit = await t.request({ method: 'PUT', url: `/v1/products/${p.id}/reviews/mine`, token: shoppers[3]!.token, body: { rating: 3, body: 'It grew on me' } });
      assert.equal(edit.status, 200);
      assert.equal(edit.body.rating, 3);
      assert.deepEqual(await rating(), { average: 4, count: 4, distribution: { 1: 0, 2: 0, 3: 1, 4: 2, 5: 1 } });
      assert.deepEqual(await rating(), await recomputed());

      assert.equal((await t.request({ method: 'DELETE', url: `/v1/products/${p.id}/reviews/mine`, token: shoppers[0]!.token })).status, 204);
      assert.deepEqual(await rating(), { average: 3.7, count: 3, distribution: { 1: 0, 2: 0, 3: 1, 4: 2, 5: 0 } });
      assert.deepEqual(await rating(), await recomputed());
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/products/${p.id}/reviews/mine`, token: shoppers[0]!.token })).status, 404);

      // the shopper may review again after deleting
      assert.equal((await t.request({ method: 'POST', url: `/v1/products/${p.id}/reviews`, token: shoppers[0]!.token, body: { rating: 2, body: 'Second thoughts' } })).status, 201);
      assert.deepEqual(await rating(), await recomputed());

      const merchantReview = await t.request({ method: 'POST', url: `/v1/products/${p.id}/reviews`, token: owner.token, body: { rating: 5, body: 'Best mug' } });
      assert.equal(merchantReview.status, 403, 'only shoppers review');
      const invalid = await t.request({ method: 'POST', url: `/v1/products/${p.id}/reviews`, token: shoppers[1]!.token, body: { rating: 6, body: 'x' } });
      assert.equal(invalid.status, 400);
    });

    it('keeps the summary consistent under concurrent reviews', async () => {
      const p = await create();
      const shoppers = await Promise.all(Array.from({ length: 8 }, () => t.signUp('shopper')));
      await Promise.all(shoppers.map((s, i) => catalog().addReview(p.id, s.accountId, { rating: (i % 5) + 1, body: 'ok' })));
      const rating = (await t.request({ url: `/v1/products/${p.id}` })).body.rating;
      assert.deepEqual(rating, { average: 2.6, count: 8, distribution: { 1: 2, 2: 2, 3: 2, 4: 1, 5: 1 } });
    });

    it('pages reviews newest first without duplicates, also while new ones arrive', async () => {
      const p = await create();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const s = await t.signUp('shopper');
        const r = await catalog().addReview(p.id, s.accountId, { rating: 4, body: `r${i}` });
        assert.ok(r.ok);
        ids.push(r.value.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: any = await t.request({ url: `/v1/products/${p.id}/reviews?limit=3${cursor ? `&cursor=${cursor}` : ''}` });
        assert.equal(res.status, 200);
        seen.push(...res.body.items.map((r: any) => r.id));
        cursor = res.body.nextCursor;
        if (pages++ === 0) {
          const late = await t.signUp('shopper');
          await catalog().addReview(p.id, late.accountId, { rating: 1, body: 'late' });
        }
      } while (cursor);
      assert.deepEqual(seen, [...ids].reverse());
      const detail = await t.request({ url: `/v1/products/${p.id}` });
      assert.equal(detail.body.reviews.items.length, 8);
      assert.equal(detail.body.reviews.items[0].body, 'late');
      assert.equal((await t.request({ url: `/v1/products/${p.id}/reviews?cursor=%%%` })).body.error.code, 'invalid_cursor');
    });

    it('builds product cards in the same number of queries for 1 and for 50 products, with availability', async () => {
      const products = await catalog().importProducts(
        owner.merchantId,
        Array.from({ length: 50 }, (_, i) => newProduct({ name: `Card ${i}`, variants: [{ title: 'One', priceMinor: 1000 + i, stock: i % 3 === 0 ? 0 : i % 3 === 1 ? 2 : 40 }] })),
      );
      const ids = products.map((p) => p.id);
      const one = await countQueries(() => catalog().getProductCards(ids.slice(0, 1)));
      const fifty = await countQueries(() => catalog().getProductCards(ids));
      assert.equal(fifty.result.size, 50);
      assert.equal(one.queries, fifty.queries);
      assert.ok(fifty.queries <= 2, `${fifty.queries} queries`);
      assert.deepEqual(
        ids.slice(0, 3).map((id) => fifty.result.get(id)!.availability),
        ['sold_out', 'low', 'in_stock'],
      );
      const card = fifty.result.get(ids[4]!)!;
      assert.deepEqual(card, {
        id: ids[4],
        merchantId: owner.merchantId,
        name: 'Card 4',
        priceMinor: 1004,
        currency: 'EUR',
        imageUrl: 'https://cdn.example.test/mug-1.jpg',
        availability: 'low',
        status: 'active',
      });
    });

    it('takes the best availability over a product\'s variants', async () => {
      const p = await create({ variants: [{ title: 'A', priceMinor: 500, stock: 0 }, { title: 'B', priceMinor: 700, stock: 4 }] });
      const cards = await catalog().getProductCards([p.id]);
      assert.equal(cards.get(p.id)!.availability, 'low');
      assert.equal(cards.get(p.id)!.priceMinor, 500);
    });

    it('records a tap for a valid referral token and still answers 200', async () => {
      const p = await create();
      const claims = { tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: p.id, tagCreatedAt: t.clock.now() };
      const ref = t.app.referrals.sign(claims);
      const deviceId = `dev-${word()}`;
      const res = await t.request({ url: `/v1/products/${p.id}?ref=${ref}`, headers: { 'x-device-id': deviceId } });
      assert.equal(res.status, 200);
      // a 304 still records the tap
      const cached = await t.request({ url: `/v1/products/${p.id}?ref=${ref}`, headers: { 'x-device-id': deviceId, 'if-none-match': String(res.headers.etag) } });
      assert.equal(cached.status, 304);
      const touches = await t.app.contexts.attribution.service.listTouches({ deviceId });
      assert.ok(touches.length >= 1);
      assert.deepEqual(
        { kind: touches[0]!.kind, tagId: touches[0]!.tagId, productId: touches[0]!.productId, creatorId: touches[0]!.creatorId },
        { kind: 'tap', tagId: claims.tagId, productId: p.id, creatorId: claims.creatorId },
      );
    });

    it('ignores a tampered or mismatched token for credit, counts it, and still answers 200', async () => {
      const p = await create();
      const other = await create();
      const attribution = t.app.contexts.attribution.service;
      const total = async () => Object.values(await attribution.invalidTokenCounts()).reduce((a, b) => a + b, 0);
      const claims = { tagId: newId('tag'), postId: newId('post'), creatorId: newId('creator'), productId: p.id, tagCreatedAt: t.clock.now() };
      const ref = t.app.referrals.sign(claims);
      const tampered = ref.slice(0, 20) + (ref[20] === 'A' ? 'B' : 'A') + ref.slice(21);
      const deviceId = `dev-${word()}`;

      const before = await total();
      const res = await t.request({ url: `/v1/products/${p.id}?ref=${tampered}`, headers: { 'x-device-id': deviceId } });
      assert.equal(res.status, 200);
      assert.equal(res.body.id, p.id);
      assert.equal(await total(), before + 1);

      const mismatch = await t.request({ url: `/v1/products/${other.id}?ref=${ref}`, headers: { 'x-device-id': deviceId } });
      assert.equal(mismatch.status, 200);
      assert.equal(await total(), before + 2);
      assert.ok((await attribution.invalidTokenCounts()).product_mismatch! >= 1);

      const garbage = await t.request({ url: `/v1/products/${p.id}?ref=not-a-token`, headers: { 'x-device-id': deviceId } });
      assert.equal(garbage.status, 200);
      assert.equal(await total(), before + 3);
      assert.deepEqual(await attribution.listTouches({ deviceId }), [], 'no credit for bad tokens');
    });
  });
}
