import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROLES, type Role } from '../src/platform/auth';
import { backends, startTestApp, type TestApp } from './support/harness';

/**
 * The authorization matrix: every /v1 route × {anonymous, each role}. Each denied case is asserted: anonymous on a
 * protected route gets 401 `unauthenticated`, a signed-in account without a listed role gets 403 `forbidden`.
 * Allowed cases are exercised by each context's own suite (ownership rules included).
 */
for (const backend of backends()) {
  describe(`authorization matrix [${backend.name}]`, () => {
    let t: TestApp;
    const tokens = {} as Record<Role, string>;
    before(async () => {
      t = await startTestApp(backend);
      for (const role of ROLES) tokens[role] = (await t.signUp(role)).token;
    });
    after(() => t.close());

    const fill = (url: string) => url.replace(/:(\w+)/g, (_m, name: string) => `zz_${name}_00000000000000000000000000`);

    it('every /v1 route declares who may call it, and the table is not empty', () => {
      assert.ok(t.app.http.routeTable.length >= 20, `only ${t.app.http.routeTable.length} routes`);
      for (const r of t.app.http.routeTable) assert.ok(r.auth !== undefined, `${r.method} ${r.url}`);
    });

    it('anonymous callers get 401 on every protected route', async () => {
      const protectedRoutes = t.app.http.routeTable.filter((r) => r.auth !== 'public');
      assert.ok(protectedRoutes.length > 0);
      for (const r of protectedRoutes) {
        const res = await t.request({ method: r.method as never, url: fill(r.url), body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
        assert.equal(res.status, 401, `${r.method} ${r.url} answered ${res.status}`);
        assert.equal(res.body.error.code, 'unauthenticated', `${r.method} ${r.url}`);
      }
    });

    it('each role without a listed role gets 403 on every role-restricted route', async () => {
      let denied = 0;
      for (const r of t.app.http.routeTable) {
        if (typeof r.auth === 'string') continue;
        const allowed = r.auth as readonly Role[];
        for (const role of ROLES.filter((x) => !allowed.includes(x))) {
          const res = await t.request({ method: r.method as never, url: fill(r.url), token: tokens[role], body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
          assert.equal(res.status, 403, `${role} on ${r.method} ${r.url} answered ${res.status}`);
          assert.equal(res.body.error.code, 'forbidden');
          denied++;
        }
      }
      assert.ok(denied > 10, `only ${denied} denied cases`);
    });

    it('a revoked or made-up token is treated as anonymous: 401 on protected routes', async () => {
      const res = await t.request({ url: '/v1/me', token: 'not-a-real-token' });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'unauthenticated');
    });
  });
}
