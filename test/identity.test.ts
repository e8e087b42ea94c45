import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { SESSION_COOKIE } from '../src/platform/auth';
import type { ManualClock } from '../src/platform/clock';
import { backends, startTestApp, type TestApp } from './support/harness';

const PASSWORD = 'correct horse battery staple';
const uniqueEmail = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}@example.test`;

/** The fs_session cookie as the server set it, e.g. "fs_session=abc; Max-Age=…; Path=/; HttpOnly; SameSite=Lax". */
function sessionCookie(headers: Record<string, unknown>): string | undefined {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  return all.find((c: string) => c.startsWith(`${SESSION_COOKIE}=`));
}

for (const backend of backends()) {
  describe(`identity [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(() => t.close());

    const signUp = (body: Record<string, unknown>, headers?: Record<string, string>) =>
      t.request({ method: 'POST', url: '/v1/auth/signup', body, ...(headers ? { headers } : {}) });
    const logInFrom = async (ip: string, email: string, password: string) => {
      const res = await t.app.http.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { email, password } });
      return { status: res.statusCode, body: res.json(), headers: res.headers };
    };

    it('signs up, logs in, answers /me, and logs out', async () => {
      const email = uniqueEmail('Flow').toUpperCase();
      const created = await signUp({ email, password: PASSWORD, displayName: 'Flo', role: 'creator' });
      assert.equal(created.status, 201);
      assert.equal(created.body.account.email, email.toLowerCase());
      assert.deepEqual(created.body.account.roles, ['creator']);
      assert.match(created.body.account.id, /^acc_/);
      assert.equal(typeof created.body.token, 'string');
      assert.equal(JSON.stringify(created.body).includes('scrypt'), false);

      const login = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email, password: PASSWORD } });
      assert.equal(login.status, 200);
      assert.equal(login.body.account.id, created.body.account.id);
      assert.notEqual(login.body.token, created.body.token);
      const ttlMs = t.app.config.sessionTtlHours * 3_600_000;
      assert.equal(new Date(login.body.expiresAt).getTime(), t.clock.now().getTime() + ttlMs);

      const me = await t.request({ url: '/v1/me', token: login.body.token });
      assert.equal(me.status, 200);
      assert.deepEqual(Object.keys(me.body).sort(), ['createdAt', 'displayName', 'email', 'id', 'roles']);
      assert.equal(me.body.displayName, 'Flo');

      const out = await t.request({ method: 'POST', url: '/v1/auth/logout', token: login.body.token });
      assert.equal(out.status, 204);
      const afterOut = await t.request({ url: '/v1/me', token: login.body.token });
      assert.equal(afterOut.status, 401);
      assert.equal(afterOut.body.error.code, 'unauthenticated');
      // the sign-up session is a different session and still works
      assert.equal((await t.request({ url: '/v1/me', token: created.body.token })).status, 200);
    });

    it('answers who is signed in at /v1/auth/session, null (200) when no one is', async () => {
      const anonymous = await t.request({ url: '/v1/auth/session' });
      assert.equal(anonymous.status, 200);
      assert.deepEqual(anonymous.body, { account: null });
      const res = await signUp({ email: uniqueEmail('session'), password: PASSWORD, displayName: 'Sess', role: 'shopper' });
      const byToken = await t.request({ url: '/v1/auth/session', token: res.body.token });
      assert.equal(byToken.status, 200);
      assert.equal(byToken.body.account.id, res.body.account.id);
      assert.deepEqual(byToken.body.account.roles, ['shopper']);
      const byCookie = await t.request({ url: '/v1/auth/session', headers: { cookie: sessionCookie(res.headers)!.split(';')[0]! } });
      assert.equal(byCookie.body.account.id, res.body.account.id);
      assert.equal((await t.request({ method: 'POST', url: '/v1/auth/logout', token: res.body.token })).status, 204);
      const revoked = await t.request({ url: '/v1/auth/session', token: res.body.token });
      assert.equal(revoked.status, 200);
      assert.deepEqual(revoked.body, { account: null });
    });

    it('works with the HTTP-only cookie alone, and log-out clears it', async () => {
      const res = await signUp({ email: uniqueEmail('cookie'), password: PASSWORD, displayName: 'Cookie', role: 'shopper' });
      assert.equal(res.status, 201);
      const cookie = sessionCookie(res.headers);
      assert.ok(cookie, 'sign-up sets the session cookie');
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Lax/);
      assert.match(cookie, /; Path=\//);
      assert.doesNotMatch(cookie, /; Secure/);
      const pair = cookie.split(';')[0]!;
      assert.equal(pair, `${SESSION_COOKIE}=${res.body.token}`);

      const me = await t.request({ url: '/v1/me', headers: { cookie: pair } });
      assert.equal(me.status, 200);
      assert.equal(me.body.id, res.body.account.id);

      const out = await t.request({ method: 'POST', url: '/v1/auth/logout', headers: { cookie: pair } });
      assert.equal(out.status, 204);
      const cleared = sessionCookie(out.headers);
      assert.ok(cleared);
      assert.match(cleared, /^fs_session=;/);
      assert.equal((await t.request({ url: '/v1/me', headers: { cookie: pair } })).status, 401);
    });

    it('refuses wrong passwords and unknown e-mails with the same answer', async () => {
      const { email } = await t.signUp('shopper');
      const wrong = await logInFrom('10.9.0.1', email, 'not the password at all');
      const unknown = await logInFrom('10.9.0.1', uniqueEmail('nobody'), PASSWORD);
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.deepEqual(wrong.body, unknown.body);
      assert.equal(wrong.body.error.code, 'invalid_credentials');
    });

    it('refuses a duplicate e-mail (whatever its case) with 409', async () => {
      const email = uniqueEmail('dup');
      assert.equal((await signUp({ email, password: PASSWORD, displayName: 'A', role: 'shopper' })).status, 201);
      const again = await signUp({ email: email.toUpperCase(), password: PASSWORD, displayName: 'B', role: 'merchant' });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'email_taken');
    });

    it('refuses a short password and the admin role at sign-up', async () => {
      const short = await signUp({ email: uniqueEmail('short'), password: 'short', displayName: 'S', role: 'shopper' });
      assert.equal(short.status, 400);
      assert.equal(short.body.error.code, 'validation_failed');
      const admin = await signUp({ email: uniqueEmail('admin'), password: PASSWORD, displayName: 'Root', role: 'admin' });
      assert.equal(admin.status, 400);
      assert.equal(admin.body.error.code, 'validation_failed');
    });

    it('stores an scrypt hash, never the password, and only a hash of the session token', async () => {
      const { email, token } = await t.signUp('merchant');
      const account = await sql<{ id: string; password_hash: string }>`
        SELECT id, password_hash FROM identity.accounts WHERE email = ${email}`.execute(t.app.db);
      const hash = account.rows[0]!.password_hash;
      assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
      assert.equal(hash.includes(PASSWORD), false);

      const sessions = await sql<{ token_hash: string }>`
        SELECT token_hash FROM identity.sessions WHERE account_id = ${account.rows[0]!.id}`.execute(t.app.db);
      const expected = createHash('sha256').update(token).digest('hex');
      assert.ok(sessions.rows.some((s) => s.token_hash === expected));
      assert.ok(sessions.rows.every((s) => s.token_hash !== token));
    });

    it('rate-limits failed log-ins per e-mail and per IP, in the database, until the window passes', async () => {
      const max = t.app.config.loginMaxAttempts;
      const victim = await t.signUp('shopper');
      const other = await t.signUp('shopper');
      for (let i = 0; i < max; i++) {
        assert.equal((await logInFrom('10.1.1.1', victim.email, `wrong password ${i}`)).status, 401);
      }
      const limited = await logInFrom('10.1.1.1', victim.email, PASSWORD);
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error.code, 'rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= t.app.config.loginWindowSeconds, `retry-after ${retryAfter}`);

      // the same e-mail from elsewhere, and another e-mail from the same IP, are both still limited
      assert.equal((await logInFrom('10.2.2.2', victim.email, PASSWORD)).status, 429);
      assert.equal((await logInFrom('10.1.1.1', other.email, PASSWORD)).status, 429);
      // a different e-mail from another IP is not
      assert.equal((await logInFrom('10.2.2.2', other.email, PASSWORD)).status, 200);

      (t.clock as ManualClock).advance((t.app.config.loginWindowSeconds + 1) * 1000);
      assert.equal((await logInFrom('10.1.1.1', victim.email, PASSWORD)).status, 200);
    });

    it("keeps counting a scanner's failures against its IP when an account it guessed at signs in", async () => {
      const max = t.app.config.loginMaxAttempts;
      const [a, b, c] = [await t.signUp('shopper'), await t.signUp('shopper'), await t.signUp('shopper')];
      for (let i = 0; i < max - 1; i++) assert.equal((await logInFrom('10.3.3.3', a.email, `guess ${i}`)).status, 401);
      assert.equal((await logInFrom('10.3.3.3', b.email, 'guess')).status, 401);
      // the account owner signs in from elsewhere: their e-mail's count is cleared...
      assert.equal((await logInFrom('10.4.4.4', a.email, PASSWORD)).status, 200);
      assert.equal((await logInFrom('10.4.4.4', a.email, 'typo once')).status, 401);
      assert.equal((await logInFrom('10.4.4.4', a.email, PASSWORD)).status, 200);
      // ...but the scanner's IP still has its failures
      assert.equal((await logInFrom('10.3.3.3', c.email, 'guess')).status, 429);
    });

    it('concurrent wrong guesses cannot pass the limit together: exactly the limit is checked, the rest refused', async () => {
      const max = t.app.config.loginMaxAttempts;
      const victim = await t.signUp('shopper');
      const answers = await Promise.all(Array.from({ length: max + 12 }, (_, i) => logInFrom(`10.9.9.${i}`, victim.email, `guess ${i}`)));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [...Array(max).fill(401), ...Array(12).fill(429)]);
      // the right password is refused too until the window passes: the limit holds whatever the guesses' timing
      assert.equal((await logInFrom('10.9.9.200', victim.email, PASSWORD)).status, 429);
      (t.clock as ManualClock).advance((t.app.config.loginWindowSeconds + 1) * 1000);
      assert.equal((await logInFrom('10.9.9.200', victim.email, PASSWORD)).status, 200);
    });

    it('expires sessions after the configured lifetime', async () => {
      const { token } = await t.signUp('shopper');
      assert.equal((await t.request({ url: '/v1/me', token })).status, 200);
      (t.clock as ManualClock).advance(t.app.config.sessionTtlHours * 3_600_000 + 1000);
      const expired = await t.request({ url: '/v1/me', token });
      assert.equal(expired.status, 401);
      assert.equal(expired.body.error.code, 'unauthenticated');
    });

    it('lists accounts for admins only, page by page', async () => {
      const shopper = await t.signUp('shopper');
      const creator = await t.signUp('creator');
      const merchant = await t.signUp('merchant');
      const admin = await t.signUp('admin');

      assert.equal((await t.request({ url: '/v1/admin/accounts' })).status, 401);
      for (const who of [shopper, creator, merchant]) {
        const res = await t.request({ url: '/v1/admin/accounts', token: who.token });
        assert.equal(res.status, 403);
        assert.equal(res.body.error.code, 'forbidden');
      }

      const firstPage = await t.request({ url: '/v1/admin/accounts', token: admin.token });
      assert.equal(firstPage.status, 200);
      assert.equal(firstPage.body.items[0].id, admin.accountId, 'newest first, default page size');

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/admin/accounts?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await t.request({ url, token: admin.token });
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 2);
        seen.push(...page.body.items.map((a: { id: string }) => a.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      assert.equal(new Set(seen).size, seen.length, 'no account appears twice');
      for (const who of [shopper, creator, merchant, admin]) assert.ok(seen.includes(who.accountId));
      assert.deepEqual([...seen].sort().reverse(), seen, 'newest first');

      const merchants = await t.request({ url: '/v1/admin/accounts?role=merchant&limit=100', token: admin.token });
      assert.equal(merchants.status, 200);
      assert.ok(merchants.body.items.length >= 1);
      assert.ok(merchants.body.items.every((a: { roles: string[] }) => a.roles.includes('merchant')));
      assert.ok(merchants.body.items.some((a: { id: string }) => a.id === merchant.accountId));

      const bad = await t.request({ url: '/v1/admin/accounts?cursor=not-a-cursor', token: admin.token });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_cursor');
    });

    it('finds accounts by the start of an e-mail or a part of a name, either case, page by page', async () => {
      const admin = await t.signUp('admin');
      const tag = randomBytes(4).toString('hex');
      const make = async (email: string, displayName: string) => {
        const res = await signUp({ email, password: PASSWORD, displayName, role: 'shopper' });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body.account.id as string;
      };
      const ada = await make(`ada.${tag}@example.test`, 'Ada Lovelace');
      const adam = await make(`adam.${tag}@example.test`, 'Adam Smith');
      const grace = await make(`grace-${tag}@example.test`, `Grace ${tag.toUpperCase()} Hopper`);
      const pct = await make(`pct_${tag}@example.test`, '100% Cotton');
      const find = async (q: string, extra = '') => {
        const res = await t.request({ url: `/v1/admin/accounts?q=${encodeURIComponent(q)}${extra}`, token: admin.token });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body as { items: { id: string }[]; nextCursor: string | null };
      };
      assert.deepEqual((await find(`ADA.${tag}`)).items.map((a) => a.id), [ada], 'an e-mail prefix, either case');
      assert.deepEqual((await find(`${tag}@`)).items.map((a) => a.id), [], 'the middle of an e-mail is not a prefix');
      assert.deepEqual((await find(tag)).items.map((a) => a.id), [grace], 'a part of a name, either case');
      // LIKE's wildcards are plain characters: "%" and "_" match only themselves
      assert.deepEqual((await find(`pct_${tag}`)).items.map((a) => a.id), [pct]);
      assert.deepEqual((await find('pct%')).items.map((a) => a.id), []);
      assert.ok((await find('100%')).items.some((a) => a.id === pct));
      // with a role and page by page
      const first = await find(`ada`, `&role=shopper&limit=1`);
      assert.equal(first.items.length, 1);
      const ids = [first.items[0]!.id];
      for (let cursor = first.nextCursor; cursor; ) {
        const page = await find('ada', `&role=shopper&limit=1&cursor=${encodeURIComponent(cursor)}`);
        ids.push(...page.items.map((a) => a.id));
        cursor = page.nextCursor;
      }
      assert.ok(ids.includes(ada) && ids.includes(adam), JSON.stringify(ids));
      assert.equal(new Set(ids).size, ids.length);
      assert.deepEqual((await find('ada', '&role=merchant')).items.filter((a) => a.id === ada || a.id === adam), []);
      for (const q of ['', '   ', 'x'.repeat(255)]) {
        const bad = await t.request({ url: `/v1/admin/accounts?q=${encodeURIComponent(q)}`, token: admin.token });
        assert.equal(bad.status, 400, JSON.stringify(q));
        assert.equal(bad.body.error.code, 'validation_failed');
      }
    });

    it('links the browsing device to the account in the outbox on sign-up and log-in', async () => {
      const email = uniqueEmail('device');
      const res = await signUp({ email, password: PASSWORD, displayName: 'D', role: 'shopper' }, { 'x-device-id': 'dev-signup-0001' });
      assert.equal(res.status, 201);
      const accountId = res.body.account.id as string;
      const login = await t.request({ method: 'POST', url: '/v1/auth/login', body: { email, password: PASSWORD }, headers: { 'x-device-id': 'dev-login-0002' } });
      assert.equal(login.status, 200);

      const linked = await sql<{ device_id: string }>`
        SELECT payload->>'deviceId' AS device_id FROM outbox.events
        WHERE name = 'identity.device.linked' AND payload->>'accountId' = ${accountId} ORDER BY id`.execute(t.app.db);
      assert.deepEqual(linked.rows.map((r) => r.device_id), ['dev-signup-0001', 'dev-login-0002']);
      const created = await sql<{ roles: string[] }>`
        SELECT payload->'roles' AS roles FROM outbox.events
        WHERE name = 'identity.account.created' AND payload->>'accountId' = ${accountId}`.execute(t.app.db);
      assert.deepEqual(created.rows.map((r) => r.roles), [['shopper']]);
    });
  });
}
