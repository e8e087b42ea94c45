import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { backends, startTestApp, type TestApp } from './support/harness';

const word = () => `w${randomBytes(4).toString('hex')}`;

const product = (over: Record<string, unknown> = {}) => ({
  name: `Linen shirt ${word()}`,
  description: 'Breathable summer linen',
  status: 'active',
  currency: 'EUR',
  media: [
    { kind: 'image', url: 'https://cdn.example.test/a.jpg', alt: 'front' },
    { kind: 'video', url: 'https://cdn.example.test/a.mp4' },
  ],
  variants: [
    { title: 'S', priceMinor: 4900, options: { size: 'S' }, stock: 10 },
    { title: 'M', priceMinor: 4500, options: { size: 'M' }, stock: 2 },
  ],
  ...over,
});

for (const backend of backends()) {
  describe(`catalog [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { lowStockThreshold: 5 } });
    });
    after(() => t.close());

    /** A merchant account with its profile. */
    const merchant = async (name = `Shop ${word()}`) => {
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name } });
      assert.equal(res.status, 201);
      return { ...m, merchantId: res.body.id as string };
    };
    const create = async (token: string, body: unknown = product()) => {
      const res = await t.request({ method: 'POST', url: '/v1/merchant/products', token, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };

    it('a merchant creates and updates their profile; anyone can read it', async () => {
      const m = await t.signUp('merchant');
      assert.equal((await t.request({ url: '/v1/merchants/me', token: m.token })).status, 404);
      const created = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: 'Atelier', description: 'Hand made' } });
      assert.equal(created.status, 201);
      assert.match(created.body.id, /^mer_/);
      const updated = await t.request({ method: 'PUT', url: '/v1/merchants/me', token: m.token, body: { name: 'Atelier Nord' } });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.id, created.body.id);
      assert.equal(updated.body.description, 'Hand made', 'an omitted description is kept');
      const me = await t.request({ url: '/v1/merchants/me', token: m.token });
      assert.equal(me.body.name, 'Atelier Nord');
      const pub = await t.request({ url: `/v1/merchants/${created.body.id}` });
      assert.deepEqual(pub.body, me.body);
      assert.equal((await t.request({ url: '/v1/merchants/mer_01JZZZZZZZZZZZZZZZZZZZZZZZ' })).status, 404);
    });

    it('the merchant console needs a merchant profile first', async () => {
      const m = await t.signUp('merchant');
      const res = await t.request({ method: 'POST', url: '/v1/merchant/products', token: m.token, body: product() });
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'merchant_profile_required');
      assert.equal((await t.request({ url: '/v1/merchant/products', token: m.token })).body.error.code, 'merchant_profile_required');
    });

    it('creates a product with variants, media and stock, then edits it', async () => {
      const m = await merchant();
      const p = await create(m.token);
      assert.match(p.id, /^prd_/);
      assert.equal(p.merchant.id, m.merchantId);
      assert.deepEqual(p.media.map((x: any) => [x.kind, x.alt]), [['image', 'front'], ['video', '']]);
      assert.deepEqual(
        p.variants.map((v: any) => [v.title, v.priceMinor, v.currency, v.available, v.availability, v.options.size]),
        [
          ['S', 4900, 'EUR', 10, 'in_stock', 'S'],
          ['M', 4500, 'EUR', 2, 'low', 'M'],
        ],
      );
      assert.deepEqual(p.rating, { average: null, count: 0, distribution: { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 } });

      const edited = await t.request({
        method: 'PATCH',
        url: `/v1/merchant/products/${p.id}`,
        token: m.token,
        body: { name: 'Linen shirt, sand', status: 'draft', media: [{ kind: 'image', url: '/media/demo/x.svg' }] },
      });
      assert.equal(edited.status, 200);
      assert.equal(edited.body.name, 'Linen shirt, sand');
      assert.equal(edited.body.status, 'draft');
      assert.deepEqual(edited.body.media.map((x: any) => x.url), ['/media/demo/x.svg']);

      const added = await t.request({ method: 'POST', url: `/v1/merchant/products/${p.id}/variants`, token: m.token, body: { title: 'L', priceMinor: 5200, stock: 0 } });
      assert.equal(added.status, 201);
      assert.match(added.body.id, /^sku_/);
      assert.equal(added.body.availability, 'sold_out');

      const repriced = await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${added.body.id}`, token: m.token, body: { priceMinor: 3900, title: 'Large' } });
      assert.equal(repriced.status, 200);
      assert.deepEqual([repriced.body.title, repriced.body.priceMinor], ['Large', 3900]);

      const detail = await t.request({ url: `/v1/products/${p.id}`, token: m.token });
      assert.deepEqual(detail.body.variants.map((v: any) => v.title), ['S', 'M', 'Large']);
      const cards = await t.app.contexts.catalog.service.getProductCards([p.id]);
      assert.equal(cards.get(p.id)!.priceMinor, 3900, 'the card shows the lowest variant price');
    });

    it('sets and adjusts stock of own SKUs, journaled; refuses going below zero', async () => {
      const m = await merchant();
      const p = await create(m.token);
      const sku = p.variants[0].id;
      const set = await t.request({ method: 'PUT', url: `/v1/merchant/variants/${sku}/stock`, token: m.token, body: { onHand: 7, reason: 'stock count' } });
      assert.equal(set.status, 200);
      assert.deepEqual([set.body.onHand, set.body.available, set.body.availability], [7, 7, 'in_stock']);
      const adj = await t.request({ method: 'POST', url: `/v1/merchant/variants/${sku}/stock-adjustments`, token: m.token, body: { delta: -3, reason: 'damaged' } });
      assert.equal(adj.status, 200);
      assert.deepEqual([adj.body.onHand, adj.body.availability], [4, 'low']);
      const refused = await t.request({ method: 'POST', url: `/v1/merchant/variants/${sku}/stock-adjustments`, token: m.token, body: { delta: -5, reason: 'oversold' } });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'insufficient_stock');
      const stock = await t.request({ url: `/v1/merchant/variants/${sku}/stock`, token: m.token });
      assert.equal(stock.status, 200);
      assert.equal(stock.body.level.onHand, 4);
      assert.deepEqual(
        stock.body.adjustments.map((a: any) => [a.delta, a.onHandAfter, a.reason, a.accountId]),
        [
          [-3, 4, 'damaged', m.accountId],
          [-3, 7, 'stock count', m.accountId],
          [10, 10, 'initial stock', m.accountId],
        ],
      );
    });

    it('refuses stock past 1,000,000,000 on hand with 409 stock_limit_exceeded, changing nothing (it was a 500: integer overflow)', async () => {
      const m = await merchant();
      const p = await create(m.token);
      const sku = p.variants[0].id;
      const url = `/v1/merchant/variants/${sku}/stock-adjustments`;
      assert.equal((await t.request({ method: 'PUT', url: `/v1/merchant/variants/${sku}/stock`, token: m.token, body: { onHand: 1_000_000_000, reason: 'count' } })).status, 200);
      for (const delta of [1, 1_000_000_000]) {
        const over = await t.request({ method: 'POST', url, token: m.token, body: { delta, reason: 'too many' } });
        assert.equal(over.status, 409, JSON.stringify(over.body));
        assert.equal(over.body.error.code, 'stock_limit_exceeded');
        assert.deepEqual(over.body.error.details, { onHand: 1_000_000_000, max: 1_000_000_000 });
      }
      const stock = await t.request({ url: `/v1/merchant/variants/${sku}/stock`, token: m.token });
      assert.equal(stock.body.level.onHand, 1_000_000_000);
      assert.equal(stock.body.adjustments[0].reason, 'count', 'no adjustment was journaled');
      const down = await t.request({ method: 'POST', url, token: m.token, body: { delta: -1_000_000_000, reason: 'write-off' } });
      assert.deepEqual([down.status, down.body.onHand], [200, 0]);
    });

    it("another merchant gets 404 on a merchant's product and SKUs and cannot change them", async () => {
      const owner = await merchant();
      const other = await merchant();
      const p = await create(owner.token, product({ status: 'draft' }));
      const sku = p.variants[0].id;
      const attempts = [
        { method: 'PATCH' as const, url: `/v1/merchant/products/${p.id}`, body: { name: 'Mine now' } },
        { method: 'POST' as const, url: `/v1/merchant/products/${p.id}/variants`, body: { title: 'X', priceMinor: 100 } },
        { method: 'PATCH' as const, url: `/v1/merchant/variants/${sku}`, body: { priceMinor: 1 } },
        { method: 'PUT' as const, url: `/v1/merchant/variants/${sku}/stock`, body: { onHand: 0, reason: 'x' } },
        { method: 'POST' as const, url: `/v1/merchant/variants/${sku}/stock-adjustments`, body: { delta: -1, reason: 'x' } },
        { method: 'GET' as const, url: `/v1/merchant/variants/${sku}/stock` },
        { method: 'GET' as const, url: `/v1/products/${p.id}` },
      ];
      for (const a of attempts) {
        const res = await t.request({ ...a, token: other.token });
        assert.equal(res.status, 404, `${a.method} ${a.url}`);
        assert.equal(res.body.error.code, 'not_found');
      }
      const mine = await t.request({ url: '/v1/merchant/products', token: other.token });
      assert.ok(!mine.body.items.some((c: any) => c.id === p.id));
      const unchanged = await t.request({ url: `/v1/products/${p.id}`, token: owner.token });
      assert.equal(unchanged.body.name, p.name);
      assert.deepEqual(unchanged.body.variants.map((v: any) => [v.priceMinor, v.available]), [[4900, 10], [4500, 2]]);
    });

    it('shoppers and creators get 403, anonymous callers 401, on merchant routes', async () => {
      const shopper = await t.signUp('shopper');
      const creator = await t.signUp('creator');
      const routes = [
        { method: 'GET' as const, url: '/v1/merchant/products' },
        { method: 'POST' as const, url: '/v1/merchant/products', body: product() },
        { method: 'PUT' as const, url: '/v1/merchants/me', body: { name: 'Nope' } },
      ];
      for (const r of routes) {
        assert.equal((await t.request({ ...r, token: shopper.token })).status, 403, `shopper ${r.method} ${r.url}`);
        assert.equal((await t.request({ ...r, token: creator.token })).status, 403, `creator ${r.method} ${r.url}`);
        const anon = await t.request(r);
        assert.equal(anon.status, 401, `anonymous ${r.method} ${r.url}`);
        assert.equal(anon.body.error.code, 'unauthenticated');
      }
    });

    it('lists and searches active products as cards, keyset paginated without duplicates', async () => {
      const m = await merchant();
      const tag = word();
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await create(m.token, product({ name: `Tote ${tag} ${i}` })));
      const draft = await create(m.token, product({ name: `Tote ${tag} draft`, status: 'draft' }));

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/products?q=${encodeURIComponent(`tote ${tag.toUpperCase()}`)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await t.request({ url });
        assert.equal(res.status, 200);
        assert.ok(res.body.items.length <= 2);
        seen.push(...res.body.items.map((c: any) => c.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, made.map((p) => p.id).reverse(), 'newest first, every active match once, no draft');
      assert.ok(!seen.includes(draft.id));

      const card = (await t.request({ url: `/v1/products?q=${tag}&limit=1` })).body.items[0];
      assert.deepEqual(
        { ...card, id: undefined },
        { id: undefined, merchantId: m.merchantId, name: `Tote ${tag} 4`, priceMinor: 4500, currency: 'EUR', imageUrl: 'https://cdn.example.test/a.jpg', availability: 'in_stock', status: 'active' },
      );
      const byMerchant = await t.request({ url: `/v1/products?merchantId=${m.merchantId}&limit=100` });
      assert.equal(byMerchant.body.items.length, 5);

      const console = await t.request({ url: '/v1/merchant/products?limit=100', token: m.token });
      assert.equal(console.body.items.length, 6, 'the console lists every status');

      const bad = await t.request({ url: '/v1/products?cursor=not-a-cursor' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_cursor');
      // well-formed but forged: it names no product id
      const forged = Buffer.from(JSON.stringify({ id: 'ord_x' })).toString('base64url');
      for (const url of [`/v1/products?cursor=${forged}`, `/v1/merchant/products?cursor=${forged}`]) {
        const r = await t.request({ url, token: m.token });
        assert.deepEqual([r.status, r.body.error?.code], [400, 'invalid_cursor'], url);
      }
    });

    it('refuses every invalid product with 400 validation_failed', async () => {
      const m = await merchant();
      const base = product();
      const variant = base.variants[0]!;
      const cases: Array<[string, unknown]> = [
        ['price 0', { ...base, variants: [{ ...variant, priceMinor: 0 }] }],
        ['price -1', { ...base, variants: [{ ...variant, priceMinor: -1 }] }],
        ['price 1.5', { ...base, variants: [{ ...variant, priceMinor: 1.5 }] }],
        ['price "10"', { ...base, variants: [{ ...variant, priceMinor: '10' }] }],
        ['price too high', { ...base, variants: [{ ...variant, priceMinor: 100_000_001 }] }],
        ['currency usd', { ...base, currency: 'usd' }],
        ['unknown field', { ...base, color: 'red' }],
        ['unknown variant field', { ...base, variants: [{ ...variant, sale: true }] }],
        ['missing variants', { ...base, variants: undefined }],
        ['no variants', { ...base, variants: [] }],
        ['empty name', { ...base, name: '' }],
        ['stock 2.5', { ...base, variants: [{ ...variant, stock: 2.5 }] }],
        ['bad status', { ...base, status: 'live' }],
        ['empty option name', { ...base, variants: [{ ...variant, options: { '': 'S' } }] }],
        ['option name of 51', { ...base, variants: [{ ...variant, options: { ['k'.repeat(51)]: 'S' } }] }],
      ];
      for (const [what, body] of cases) {
        const res = await t.request({ method: 'POST', url: '/v1/merchant/products', token: m.token, body });
        assert.equal(res.status, 400, what);
        assert.equal(res.body.error.code, 'validation_failed', what);
      }
      const p = await create(m.token);
      const sku = p.variants[0].id;
      const more: Array<[string, string, string, unknown]> = [
        ['variant price 0', 'PATCH', `/v1/merchant/variants/${sku}`, { priceMinor: 0 }],
        ['variant empty option name', 'PATCH', `/v1/merchant/variants/${sku}`, { options: { '': 'x' } }],
        ['empty patch', 'PATCH', `/v1/merchant/products/${p.id}`, {}],
        ['stock -1', 'PUT', `/v1/merchant/variants/${sku}/stock`, { onHand: -1, reason: 'x' }],
        ['stock without reason', 'PUT', `/v1/merchant/variants/${sku}/stock`, { onHand: 1 }],
        ['delta "3"', 'POST', `/v1/merchant/variants/${sku}/stock-adjustments`, { delta: '3', reason: 'x' }],
      ];
      for (const [what, method, url, body] of more) {
        const res = await t.request({ method: method as 'PATCH', url, token: m.token, body });
        assert.equal(res.status, 400, what);
        assert.equal(res.body.error.code, 'validation_failed', what);
      }
      const mine = await t.request({ url: '/v1/merchant/products?limit=100', token: m.token });
      assert.equal(mine.body.items.length, 1, 'nothing invalid was created');
    });
  });
}
