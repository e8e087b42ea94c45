import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backends, shopOwner, startTestApp, type TestApp } from './support/harness';
import { eventReader } from './support/sse';

for (const backend of backends()) {
  describe(`live availability counts only what is for sale [${backend.name}]`, () => {
    let t: TestApp;
    let base: string;
    before(async () => {
      t = await startTestApp(backend);
      await t.app.http.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(t.app.http.server.address() as { port: number }).port}`;
    });
    after(async () => {
      await t?.close();
    });

    it('an archived variant streams as sold out (0 available), as the sheet and the card see it; selling it again brings its stock back', async () => {
      const m = await shopOwner(t);
      const created = await t.request<{ id: string; variants: { id: string; title: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: m.token,
        body: { name: 'Two Lamps', currency: 'EUR', status: 'active', variants: [{ title: 'Big', priceMinor: 2500, stock: 40 }, { title: 'Small', priceMinor: 1500, stock: 2 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const productId = created.body.id;
      const big = created.body.variants.find((v) => v.title === 'Big')!.id;
      const small = created.body.variants.find((v) => v.title === 'Small')!.id;

      const res = await fetch(`${base}/v1/live/availability?skuIds=${big},${small}&productIds=${productId}`);
      assert.equal(res.status, 200);
      const events = eventReader(res.body!, 10_000);
      const first = [await events.next(), await events.next(), await events.next()];
      assert.deepEqual(new Set(first.map((e) => JSON.stringify(e))), new Set([
        JSON.stringify({ skuId: big, available: 40, availability: 'in_stock' }),
        JSON.stringify({ skuId: small, available: 2, availability: 'low' }),
        JSON.stringify({ productId, availability: 'in_stock' }),
      ]));

      const archived = await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${big}`, token: m.token, body: { status: 'archived' } });
      assert.equal(archived.status, 200, JSON.stringify(archived.body));
      // the sheet and the card no longer count the big lamp's 40 units: the stream says the same
      const sheet = await t.request<{ variants: { id: string }[] }>({ url: `/v1/products/${productId}` });
      assert.deepEqual(sheet.body.variants.map((v) => v.id), [small]);
      const card = await t.app.contexts.catalog.service.getProductCards([productId]);
      assert.equal(card.get(productId)!.availability, 'low');
      const changed = [await events.next(), await events.next()];
      assert.deepEqual(new Set(changed.map((e) => JSON.stringify(e))), new Set([
        JSON.stringify({ skuId: big, available: 0, availability: 'sold_out' }),
        JSON.stringify({ productId, availability: 'low' }),
      ]));

      const back = await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${big}`, token: m.token, body: { status: 'active' } });
      assert.equal(back.status, 200, JSON.stringify(back.body));
      const again = [await events.next(), await events.next()];
      assert.deepEqual(new Set(again.map((e) => JSON.stringify(e))), new Set([
        JSON.stringify({ skuId: big, available: 40, availability: 'in_stock' }),
        JSON.stringify({ productId, availability: 'in_stock' }),
      ]));
      await events.cancel();
    });

    it('a stream opened on an archived variant starts sold out; an archived product streams sold out, SKUs and product alike', async () => {
      const m = await shopOwner(t);
      const created = await t.request<{ id: string; variants: { id: string; title: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: m.token,
        body: { name: 'Mugs', currency: 'EUR', status: 'active', variants: [{ title: 'Red', priceMinor: 900, stock: 30 }, { title: 'Blue', priceMinor: 900, stock: 30 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const productId = created.body.id;
      const red = created.body.variants.find((v) => v.title === 'Red')!.id;
      const blue = created.body.variants.find((v) => v.title === 'Blue')!.id;
      assert.equal((await t.request({ method: 'PATCH', url: `/v1/merchant/variants/${red}`, token: m.token, body: { status: 'archived' } })).status, 200);

      const res = await fetch(`${base}/v1/live/availability?skuIds=${red},${blue}&productIds=${productId}`);
      const events = eventReader(res.body!, 10_000);
      const first = [await events.next(), await events.next(), await events.next()];
      assert.deepEqual(new Set(first.map((e) => JSON.stringify(e))), new Set([
        JSON.stringify({ skuId: red, available: 0, availability: 'sold_out' }),
        JSON.stringify({ skuId: blue, available: 30, availability: 'in_stock' }),
        JSON.stringify({ productId, availability: 'in_stock' }),
      ]));

      const gone = await t.request({ method: 'PATCH', url: `/v1/merchant/products/${productId}`, token: m.token, body: { status: 'archived' } });
      assert.equal(gone.status, 200, JSON.stringify(gone.body));
      assert.equal((await t.request({ url: `/v1/products/${productId}` })).status, 404, 'shoppers no longer see it');
      const changed = [await events.next(), await events.next()];
      assert.deepEqual(new Set(changed.map((e) => JSON.stringify(e))), new Set([
        JSON.stringify({ skuId: blue, available: 0, availability: 'sold_out' }),
        JSON.stringify({ productId, availability: 'sold_out' }),
      ]));
      await events.cancel();
    });
  });
}
