import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createInventoryContext } from '../src/contexts/inventory';
import { createHttpServer, type App } from '../src/platform/http';
import { Metrics } from '../src/platform/metrics';
import { ensureWebBuilt, registerWebApp, WEB_DIST } from '../src/web';
import { backends, startTestApp, type TestApp } from './support/harness';
import { eventReader } from './support/sse';

for (const backend of backends()) {
  describe(`web server: the app at / and live availability [${backend.name}]`, () => {
    let t: TestApp;
    let other: App; // a second API process: its own streams and poller, the same database
    let base: string;
    let otherBase: string;
    before(async () => {
      await ensureWebBuilt();
      t = await startTestApp(backend);
      await t.app.http.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(t.app.http.server.address() as { port: number }).port}`;
      const deps = { db: t.app.db, clock: t.app.clock, config: t.app.config, outbox: t.app.outbox, metrics: new Metrics(), log: t.app.log };
      other = await createHttpServer({ logLevel: 'silent', bodyLimit: 1 << 20, cookieSecure: false, trustProxy: false, metrics: deps.metrics, authenticate: async () => null, ready: async () => {} });
      await registerWebApp(other, { config: t.app.config, log: t.app.log, inventory: createInventoryContext(deps).service, catalog: t.app.contexts.catalog.service });
      await other.listen({ port: 0, host: '127.0.0.1' });
      otherBase = `http://127.0.0.1:${(other.server.address() as { port: number }).port}`;
    });
    after(async () => {
      await other?.close();
      await t?.close();
    });

    it('serves the app: index.html for client routes, immutable hashed assets, JSON 404 for server paths', async () => {
      for (const path of ['/', '/orders/ord_x', '/creator/new']) {
        const res = await fetch(`${base}${path}`);
        assert.equal(res.status, 200, path);
        assert.match(res.headers.get('content-type')!, /text\/html/);
        assert.equal(res.headers.get('cache-control'), 'no-cache');
        assert.match(await res.text(), /<div id="root">/);
      }
      const asset = readdirSync(join(WEB_DIST, 'assets')).find((f) => f.endsWith('.js'))!;
      const js = await fetch(`${base}/assets/${asset}`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type')!, /javascript/);
      assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      const missing = await fetch(`${base}/assets/nope-123.js`);
      assert.equal(missing.status, 404);
      for (const path of ['/v1/nope', '/media/nope', '/docs/nope/deeper']) {
        const res = await fetch(`${base}${path}`);
        assert.equal(res.status, 404, path);
        assert.match(res.headers.get('content-type')!, /json/, path);
      }
      const escape = await fetch(`${base}/..%2f..%2fpackage.json`);
      assert.notEqual(await escape.text().then((s) => s.includes('"dependencies"')), true, 'no file outside web/dist');
    });

    it('declares the live stream in the OpenAPI document and refuses bad SKU lists', async () => {
      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(doc.paths['/v1/live/availability'], 'the stream is in the OpenAPI document');
      for (const q of ['skuIds=nope', 'productIds=sku_01M87PEK36RPCBB9RCTXZ7JN76', '']) {
        const bad = await fetch(`${base}/v1/live/availability?${q}`);
        assert.equal(bad.status, 400, q);
        assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'validation_failed', q);
      }
    });

    it('a stream on another process pushes the sales made through this one, per SKU and per product, down to sold out', async () => {
      const merchant = await t.signUp('merchant');
      const shopper = await t.signUp('shopper');
      await t.request({ method: 'PUT', url: '/v1/merchants/me', token: merchant.token, body: { name: 'Live Shop' } });
      const created = await t.request<{ id: string; variants: { id: string }[] }>({
        method: 'POST',
        url: '/v1/merchant/products',
        token: merchant.token,
        body: { name: 'Last Lamp', currency: 'EUR', status: 'active', variants: [{ title: 'One', priceMinor: 2500, stock: 2 }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const skuId = created.body.variants[0]!.id;

      const res = await fetch(`${otherBase}/v1/live/availability?skuIds=${skuId}&productIds=${created.body.id}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /text\/event-stream/);
      const events = eventReader(res.body!, 5000);
      assert.deepEqual(await events.next(), { skuId, available: 2, availability: 'low' });
      assert.deepEqual(await events.next(), { productId: created.body.id, availability: 'low' });

      const buy = () =>
        t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopper.token,
          headers: { 'idempotency-key': randomUUID() },
          body: { skuId, quantity: 1, paymentMethod: '4242424242424242' },
        });
      assert.equal((await buy()).status, 201);
      assert.deepEqual(await events.next(), { skuId, available: 1, availability: 'low' }, 'the product stays low: no product event');
      assert.equal((await buy()).status, 201);
      assert.deepEqual(await events.next(), { skuId, available: 0, availability: 'sold_out' });
      assert.deepEqual(await events.next(), { productId: created.body.id, availability: 'sold_out' });
      await events.cancel();
    });
  });
}
