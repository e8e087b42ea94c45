import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listenWarm } from '../src/platform/http';
import { activeProduct, backends, shopOwner, startTestApp, type Response, type TestApp } from './support/harness';

// The platform's HTTP edge, with identity's routes as the subject: one error shape, strict bodies, no 5xx.
for (const backend of backends()) {
  describe(`platform http [${backend.name}]`, () => {
    let t: TestApp;
    const seen: Response[] = [];
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const request = async (...args: Parameters<TestApp['request']>) => {
      const res = await t.request(...args);
      seen.push(res);
      return res;
    };
    const login = (payload: string, contentType = 'application/json') =>
      request({ method: 'POST', url: '/v1/auth/login', payload, headers: { 'content-type': contentType } });

    it('answers malformed JSON with 400 malformed_json', async () => {
      const res = await login('{"email": "a@example.test",');
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'malformed_json');
      assert.equal(typeof res.body.error.message, 'string');
    });

    it('refuses an unknown body field, naming it', async () => {
      const res = await request({ method: 'POST', url: '/v1/auth/login', body: { email: 'a@example.test', password: 'x', isAdmin: true } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'validation_failed');
      assert.ok(
        res.body.error.details.some((d: { field?: string }) => d.field === 'isAdmin'),
        JSON.stringify(res.body.error.details),
      );
    });

    it('refuses a wrong type without coercing it', async () => {
      const res = await request({ method: 'POST', url: '/v1/auth/login', body: { email: 12345, password: 'long enough password' } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'validation_failed');
      assert.ok(res.body.error.details.some((d: { path: string }) => d.path === '/email'), JSON.stringify(res.body.error.details));
    });

    it('refuses a number JSON reads as Infinity (1e400) as any wrong type, on every route', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 5 });
      const shopper = await t.signUp('shopper');
      // Ajv without strictNumbers takes Infinity as an integer, so a field with no maximum let it through to the service
      // (an admin reversal's amount did); the edge's validators now refuse it whatever the schema's bounds
      const res = await request({
        method: 'POST',
        url: '/v1/cart/lines',
        token: shopper.token,
        payload: `{"skuId":${JSON.stringify(p.skuId)},"quantity":1e400}`,
        headers: { 'content-type': 'application/json' },
      });
      assert.deepEqual([res.status, res.body.error?.code], [400, 'validation_failed']);
      assert.deepEqual((await request({ url: '/v1/cart', token: shopper.token })).body.lines, []);
    });

    it('refuses a body over the limit with 413', async () => {
      const big = JSON.stringify({ email: 'a@example.test', password: 'x'.repeat(t.app.config.bodyLimitBytes) });
      const res = await login(big);
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'body_too_large');
    });

    it('refuses a text/plain body with 415', async () => {
      const res = await login('email=a@example.test', 'text/plain');
      assert.equal(res.status, 415);
      assert.equal(res.body.error.code, 'unsupported_media_type');
    });

    it('refuses an unknown query field on a route that takes none, as an unknown body field', async () => {
      const res = await request({ url: '/v1/cart?zzUnknown=1' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'validation_failed');
    });

    it('refuses a body with fields on a route that takes none, changing nothing; {} and no body are the same request', async () => {
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 900, stock: 5 });
      const shopper = await t.signUp('shopper');
      const added = await request({ method: 'POST', url: '/v1/cart/lines', token: shopper.token, body: { skuId: p.skuId, quantity: 2 } });
      assert.equal(added.status, 201);
      const lineUrl = `/v1/cart/lines/${added.body.lines[0].id}`;
      // was: the fields were ignored and the line removed, as if the caller's "quantity" meant nothing
      const withField = await request({ method: 'DELETE', url: lineUrl, token: shopper.token, body: { quantity: 1 } });
      assert.deepEqual([withField.status, withField.body.error?.code, withField.body.error?.details?.[0]?.field], [400, 'validation_failed', 'quantity']);
      const asArray = await request({ method: 'DELETE', url: lineUrl, token: shopper.token, body: [] });
      assert.deepEqual([asArray.status, asArray.body.error?.code], [400, 'validation_failed']);
      assert.deepEqual((await request({ url: '/v1/cart', token: shopper.token })).body.lines.map((l: any) => l.quantity), [2]);
      const empty = await request({ method: 'DELETE', url: lineUrl, token: shopper.token, body: {} });
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.deepEqual(empty.body.lines, []);
      const none = await request({ method: 'POST', url: '/v1/auth/logout', token: shopper.token });
      assert.ok(none.status < 300, JSON.stringify(none.body));
    });

    it('answers an unknown route with 404 route_not_found', async () => {
      const res = await request({ url: '/v1/no/such/thing' });
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'route_not_found');
    });

    it('answers a path the router cannot take (over-long id, broken %-escape) with 404 route_not_found, in the error shape', async () => {
      for (const [method, url] of [
        ['POST', `/v1/orders/${'a'.repeat(120)}/cancel`],
        ['DELETE', '/v1/cart/lines/%zz'],
        ['GET', '/v1/products/%E0%A4%A'],
      ] as const) {
        const res = await request({ method, url, body: method === 'POST' ? { reason: 'x' } : undefined, headers: { 'idempotency-key': 'k-framework-errors' } });
        assert.equal(res.status, 404, `${method} ${url}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'route_not_found', `${method} ${url}`);
        assert.equal(typeof res.body.error.message, 'string');
      }
    });

    it('puts a request id on every response, and keeps one the caller sent', async () => {
      const res = await request({ url: '/healthz' });
      assert.match(String(res.headers['x-request-id']), /^[0-9A-Z]{26}$/);
      const mine = await request({ url: '/v1/no/such/thing', headers: { 'x-request-id': 'trace-abc-123' } });
      assert.equal(mine.headers['x-request-id'], 'trace-abc-123');
    });

    it('answers health and readiness', async () => {
      const health = await request({ url: '/healthz' });
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'ok');
      const ready = await request({ url: '/readyz' });
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'ready');
    });

    it('exports request latency, pool and event backlog metrics', async () => {
      await request({ url: '/healthz' });
      const res = await request({ url: '/metrics' });
      assert.equal(res.status, 200);
      const text = String(res.body);
      assert.match(text, /feedshop_http_request_duration_seconds_count\{[^}]*route="\/healthz"/);
      assert.match(text, /^feedshop_db_pool_connections \d+/m);
      assert.match(text, /^feedshop_event_backlog \d+/m);
    });

    it('serves the OpenAPI document generated from the route schemas', async () => {
      const res = await request({ url: '/openapi.json' });
      assert.equal(res.status, 200);
      assert.equal(res.body.openapi, '3.1.0');
      assert.ok(res.body.paths['/v1/auth/login']?.post, 'the log-in route is documented');
      assert.ok(res.body.components.schemas.ErrorBody, 'the error shape is a component');
      // a route with a body documents the edge's refusals of a body: too large, not JSON
      const login = res.body.paths['/v1/auth/login'].post.responses;
      assert.ok(login['413'] && login['415'], JSON.stringify(Object.keys(login)));
      // every operation has an operationId (client generators name their methods by it), unique across the document
      const ids: string[] = [];
      for (const [path, item] of Object.entries(res.body.paths as Record<string, Record<string, { operationId?: string }>>))
        for (const [method, op] of Object.entries(item)) {
          assert.match(op.operationId ?? '', /^[a-z]+[A-Z][A-Za-z0-9]*$/, `${method} ${path}`);
          ids.push(op.operationId!);
        }
      assert.ok(ids.length > 50, `${ids.length} operations`);
      assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'operationIds are unique');
      assert.equal(res.body.paths['/v1/checkout/buy-now'].post.operationId, 'postCheckoutBuyNow');
      assert.equal(res.body.paths['/v1/products/{id}'].get.operationId, 'getProductsById');
    });

    it('serves the API reference as an HTML page', async () => {
      let res = await request({ url: '/docs' });
      for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 3; hops++) {
        const location = String(res.headers.location);
        res = await request({ url: location.startsWith('/') ? location : `/docs/${location.replace(/^\.\//, '')}` });
      }
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.match(String(res.body), /<html/i);
    });

    it('says ready only once the edge has served itself a warm-up (listenWarm)', async () => {
      // t.request, not request: the 503 while warming up is expected, not one of the 5xx the last case looks for
      const warming = listenWarm(t.app.http, { port: 0, host: '127.0.0.1' });
      const during = await t.request<any>({ url: '/readyz' });
      assert.equal(during.status, 503);
      assert.match(during.body.error.message, /warming up/);
      await warming;
      assert.equal((await t.request({ url: '/readyz' })).status, 200);
      const metrics = String((await t.request({ url: '/metrics' })).body);
      const served = Number(/feedshop_http_request_duration_seconds_count\{[^}]*route="\/healthz"[^}]*\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(served >= 256, `the edge served itself ${served} requests`);
    });

    it('answers headers over 16 KiB with 431 headers_too_large, in the error shape', async () => {
      // listening since the warm-up case above (or now, when run alone)
      const server = t.app.http.server;
      if (!server.listening) await t.app.http.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.address() as import('node:net').AddressInfo;
      const { connect } = await import('node:net');
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
        let text = '';
        socket.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 431 /);
      assert.deepEqual(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.code, 'headers_too_large');
    });

    it('refuses a NUL character in any text with 400 validation_failed, changing nothing', async () => {
      const merchant = await t.signUp('merchant');
      const nul = [
        // a JSON body's string (a signup's display name, a merchant profile's name), a query string, a path
        await request({ method: 'POST', url: '/v1/auth/signup', body: { email: 'nul@example.test', password: 'correct horse battery staple', displayName: 'a\u0000b', role: 'shopper' } }),
        await request({ method: 'PUT', url: '/v1/merchants/me', token: merchant.token, body: { name: 'Shop\u0000' } }),
        await request({ url: '/v1/products?q=%00' }),
        await request({ url: '/v1/creators/abc%00' }),
      ];
      for (const res of nul) {
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'validation_failed');
        assert.match(res.body.error.message, /NUL/);
      }
      // nothing was recorded: the e-mail is still free
      const again = await request({ method: 'POST', url: '/v1/auth/signup', body: { email: 'nul@example.test', password: 'correct horse battery staple', displayName: 'ab', role: 'shopper' } });
      assert.equal(again.status, 201);
    });

    it('answered none of the above with a 5xx', () => {
      assert.ok(seen.length > 10);
      assert.deepEqual(seen.filter((r) => r.status >= 500).map((r) => r.status), []);
    });
  });
}
