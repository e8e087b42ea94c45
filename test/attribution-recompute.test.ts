import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { activeProduct, backends, shopOwner, startTestApp, type TestApp } from './support/harness';

const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
const DAY = 86_400_000;
const LEASE_SECONDS = 30;
const URL = '/v1/admin/attribution/recompute';
/** A wider view window takes each sale's 2-day-old impression in: every line's linear split changes. */
const WIDE = { viewWindowHours: 72 };

for (const backend of backends()) {
  describe(`attribution recompute jobs [${backend.name}]`, () => {
    let t: TestApp;
    let admin: { token: string; accountId: string };
    before(async () => {
      t = await startTestApp(backend, { config: { attributionRecomputeLeaseSeconds: LEASE_SECONDS } });
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const attribution = () => t.app.contexts.attribution.service;
    const clock = () => t.clock as ManualClock;

    const tagOf = async (productId: string) => {
      const c = await t.signUp('creator');
      const handle = `c_${randomBytes(4).toString('hex')}`;
      const me = await t.request({ method: 'PUT', url: '/v1/creators/me', token: c.token, body: { handle, displayName: `Creator ${handle}` } });
      const post = await t.request({ method: 'POST', url: '/v1/posts', token: c.token, body: { mediaType: 'photo', mediaUrl: '/media/demo/a.svg', tags: [{ productId, x: 0.5, y: 0.5 }] } });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      return { tagId: post.body.tags[0].id as string, postId: post.body.id as string, creatorId: me.body.id as string, token: post.body.tags[0].referralToken as string };
    };

    /**
     * `n` paid sales in a range of their own: each shopper saw tag A (an impression) 2 days before tapping tag B and
     * buying, so under the default 24 h view window B gets everything and under 72 h the linear model splits.
     */
    const sales = async (n: number) => {
      clock().advance(DAY);
      const from = t.clock.now();
      const m = await shopOwner(t);
      const p = await activeProduct(t, m, { priceMinor: 1000, stock: 100 });
      const [seen, tapped] = [await tagOf(p.productId), await tagOf(p.productId)];
      const shoppers = [];
      for (let i = 0; i < n; i++) {
        const shopper = await t.signUp('shopper');
        await attribution().recordTouch({
          kind: 'impression',
          accountId: shopper.accountId,
          deviceId: `dev_${newId('device').slice(4)}`,
          claims: { ...seen, productId: p.productId, tagCreatedAt: from, kid: 'k1' },
        });
        shoppers.push(shopper);
      }
      clock().advance(2 * DAY);
      const orderIds: string[] = [];
      for (const shopper of shoppers) {
        await t.request({ url: `/v1/products/${p.productId}?ref=${encodeURIComponent(tapped.token)}`, token: shopper.token });
        const res = await t.request({
          method: 'POST',
          url: '/v1/checkout/buy-now',
          token: shopper.token,
          headers: { 'idempotency-key': randomUUID() },
          body: { paymentMethod: '4242424242424242', skuId: p.skuId, quantity: 1, shipping: SHIPPING },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        orderIds.push(res.body.orders[0].id);
        clock().advance(1000);
      }
      await t.app.outbox.drain();
      return { range: { from: from.toISOString(), to: t.clock.now().toISOString() }, orderIds, seen, tapped };
    };
    const start = async (body: Record<string, unknown>) => {
      const res = await t.request({ method: 'POST', url: URL, token: admin.token, body });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body;
    };
    const job = async (id: string) => (await t.request({ url: `${URL}/${id}`, token: admin.token })).body;
    /** Every order's live credits (revision numbers aside): what a recompute decides. */
    const credits = async (orderIds: readonly string[]) =>
      Promise.all(orderIds.map(async (id) => ((await attribution().creditsForOrder(id)) ?? []).map((l) => l.credits)));
    const recomputedEvents = async (orderIds: readonly string[]) => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox.events WHERE name = 'attribution.line.recomputed' AND payload->>'orderId' = ANY (${[...orderIds]})`.execute(t.app.db);
      return r.rows[0]!.n;
    };
    const runToEnd = async (lease: NonNullable<Awaited<ReturnType<ReturnType<typeof attribution>['claimRecomputeJob']>>>, pageSize: number) => {
      let step;
      while ((step = await attribution().runRecomputePage(lease, pageSize)) === 'more');
      return step;
    };

    it('refuses bad input with its code and records no job; only admins may ask or look', async () => {
      const before = (await t.request({ url: `${URL}?limit=100`, token: admin.token })).body.items.length;
      const range = { from: '2026-01-02T00:00:00.000Z', to: '2026-01-03T00:00:00.000Z' };
      const refused = [
        [{ from: range.to, to: range.from }, 'invalid_range'],
        [{ from: range.from, to: range.from }, 'invalid_range'],
        [{ ...range, clickWindowDays: 0 }, 'validation_failed'],
        [{ ...range, extra: 1 }, 'validation_failed'],
        [{ from: 'yesterday', to: range.to }, 'validation_failed'],
      ] as const;
      for (const [body, code] of refused) {
        const res = await t.request({ method: 'POST', url: URL, token: admin.token, body });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.code, code, JSON.stringify(body));
      }
      assert.equal((await t.request({ url: `${URL}?limit=100`, token: admin.token })).body.items.length, before);
      const missing = await t.request({ url: `${URL}/rcj_${'0'.repeat(26)}`, token: admin.token });
      assert.deepEqual([missing.status, missing.body.error.code], [404, 'recompute_job_not_found']);
      assert.equal((await t.request({ url: `${URL}/not-a-job`, token: admin.token })).body.error.code, 'validation_failed');

      const queued = await start(range);
      const requests = [
        { method: 'POST' as const, url: URL, body: range },
        { method: 'GET' as const, url: URL },
        { method: 'GET' as const, url: `${URL}/${queued.id}` },
      ];
      for (const role of ['shopper', 'creator', 'merchant'] as const) {
        const { token } = await t.signUp(role);
        for (const r of requests) assert.equal((await t.request({ ...r, token })).status, 403, `${role} ${r.method} ${r.url}`);
      }
      for (const r of requests) assert.equal((await t.request(r)).status, 401, `anonymous ${r.method} ${r.url}`);
      assert.equal(await attribution().runRecomputeJobs(), 1);
    });

    it('two runners racing: the job is claimed once and each line recomputed once', async () => {
      const { range, orderIds } = await sales(3);
      const first = await start({ ...range, ...WIDE });
      const leases = (await Promise.all([1, 2, 3].map(() => attribution().claimRecomputeJob()))).filter((l) => l !== null);
      assert.equal(leases.length, 1);
      assert.equal(leases[0]!.id, first.id);
      assert.equal(await runToEnd(leases[0]!, 2), 'done');

      const second = await start(range);
      const finished = await Promise.all([attribution().runRecomputeJobs({ pageSize: 1 }), attribution().runRecomputeJobs({ pageSize: 1 })]);
      assert.deepEqual(finished.sort(), [0, 1]);
      for (const id of [first.id, second.id]) {
        const j = await job(id);
        assert.deepEqual([j.status, j.attempts, j.linesTotal, j.linesDone, j.recomputed], ['succeeded', 1, 3, 3, 3], JSON.stringify(j));
      }
      assert.equal(await recomputedEvents(orderIds), 6, 'each job recomputed each line once');
    });

    it('a runner that died is taken over once its lease lapses, resumes after its last committed page, and ends as an uninterrupted run would', async () => {
      const { range, orderIds } = await sales(5);
      const original = await credits(orderIds);
      // the uninterrupted run, then back to the default windows
      assert.equal(await attribution().runRecomputeJobs(), 0);
      const straight = await start({ ...range, ...WIDE });
      assert.equal(await attribution().runRecomputeJobs({ pageSize: 2 }), 1);
      const expected = await credits(orderIds);
      assert.notDeepEqual(expected, original);
      await start(range);
      assert.equal(await attribution().runRecomputeJobs({ pageSize: 2 }), 1);
      assert.deepEqual(await credits(orderIds), original);

      const interrupted = await start({ ...range, ...WIDE });
      const dead = (await attribution().claimRecomputeJob())!;
      assert.equal(dead.id, interrupted.id);
      assert.equal(await attribution().runRecomputePage(dead, 2), 'more');
      // the runner dies here: its lease holds the job until it lapses
      assert.equal(await attribution().runRecomputeJobs({ pageSize: 2 }), 0);
      assert.deepEqual([(await job(interrupted.id)).status, (await job(interrupted.id)).linesDone], ['running', 2]);
      clock().advance(LEASE_SECONDS * 1000 - 1);
      assert.equal(await attribution().claimRecomputeJob(), null, 'not before the lease lapses');
      clock().advance(1);
      const heir = (await attribution().claimRecomputeJob())!;
      assert.equal(heir.id, interrupted.id);
      assert.deepEqual(heir.after, dead.after, 'resumes from the last committed page');

      // the old runner was only stalled: its next page is fenced off and rolled back
      const events = await recomputedEvents(orderIds);
      assert.equal(await attribution().runRecomputePage(dead, 2), 'lost');
      assert.equal(await recomputedEvents(orderIds), events);
      assert.equal((await job(interrupted.id)).linesDone, 2);

      assert.equal(await runToEnd(heir, 2), 'done');
      const done = await job(interrupted.id);
      const reference = await job(straight.id);
      assert.deepEqual(
        [done.status, done.attempts, done.linesTotal, done.linesDone, done.recomputed],
        ['succeeded', 2, reference.linesTotal, reference.linesDone, reference.recomputed],
      );
      assert.deepEqual(await credits(orderIds), expected);
      assert.equal(await recomputedEvents(orderIds), 15, 'three jobs, each line recomputed once by each');
    });

    it('a graceful stop hands the job back at once, without counting the attempt', async () => {
      const { range } = await sales(2);
      const queued = await start({ ...range, ...WIDE });
      let checks = 0;
      assert.equal(await attribution().runRecomputeJobs({ pageSize: 1, shouldStop: () => checks++ >= 1 }), 0);
      assert.deepEqual([(await job(queued.id)).status, (await job(queued.id)).linesDone, (await job(queued.id)).attempts], ['running', 1, 0]);
      assert.equal(await attribution().runRecomputeJobs({ pageSize: 1 }), 1, 'taken over without waiting for the lease');
      assert.deepEqual([(await job(queued.id)).linesDone, (await job(queued.id)).attempts], [2, 1]);
    });

    it('a page that throws is noted on the job and tried again once the lease lapses; a job out of attempts fails', async () => {
      const { range } = await sales(1);
      await sql`CREATE FUNCTION attribution.test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`.execute(t.app.db);
      await sql`CREATE TRIGGER test_fault BEFORE INSERT ON attribution.credits FOR EACH ROW EXECUTE FUNCTION attribution.test_fault()`.execute(t.app.db);
      const queued = await start({ ...range, ...WIDE });
      try {
        assert.equal(await attribution().runRecomputeJobs(), 0);
        const failing = await job(queued.id);
        assert.deepEqual([failing.status, failing.linesDone, failing.attempts], ['running', 0, 1]);
        assert.match(failing.error, /injected fault/);
        assert.equal(await attribution().runRecomputeJobs(), 0, 'not again before its lease lapses');
        assert.equal((await job(queued.id)).attempts, 1);
      } finally {
        await sql`DROP TRIGGER test_fault ON attribution.credits`.execute(t.app.db);
        await sql`DROP FUNCTION attribution.test_fault()`.execute(t.app.db);
      }
      clock().advance(LEASE_SECONDS * 1000);
      assert.equal(await attribution().runRecomputeJobs(), 1);
      const retried = await job(queued.id);
      assert.deepEqual([retried.status, retried.linesDone, retried.recomputed, retried.attempts, retried.error], ['succeeded', 1, 1, 2, null]);

      const doomed = await start(range);
      for (let attempt = 1; attempt <= 5; attempt++) {
        assert.ok(await attribution().claimRecomputeJob(), `attempt ${attempt}`); // and its runner dies
        clock().advance(LEASE_SECONDS * 1000);
      }
      assert.equal(await attribution().runRecomputeJobs(), 0);
      const failed = await job(doomed.id);
      assert.deepEqual([failed.status, failed.attempts, failed.linesDone, failed.finishedAt], ['failed', 5, 0, t.clock.now().toISOString()]);
      assert.equal(failed.error, 'gave up after 5 attempts: each runner stopped before the end');
    });

    // last: the runner this starts in the background may still be looking for work until the app closes
    it('answers 202 with the queued job and its Location; a worker’s sweep runs it to succeeded; the list is newest first', async () => {
      const { range, orderIds, seen, tapped } = await sales(3);
      const res = await t.request({ method: 'POST', url: URL, token: admin.token, body: { ...range, ...WIDE } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const queued = res.body;
      assert.match(queued.id, /^rcj_[0-9A-Z]{26}$/);
      assert.equal(res.headers.location, `${URL}/${queued.id}`);
      // and the OpenAPI document says so, so a generated client knows where to poll
      const doc = (await t.request({ url: '/openapi.json' })).body;
      assert.equal(doc.paths['/v1/admin/attribution/recompute'].post.responses['202'].headers.location.schema.type, 'string');
      assert.deepEqual(
        { ...queued, id: undefined, createdAt: undefined },
        {
          id: undefined,
          status: 'queued',
          from: range.from,
          to: range.to,
          windows: { clickWindowDays: 7, viewWindowHours: 72 },
          linesDone: 0,
          linesTotal: null,
          recomputed: 0,
          attempts: 0,
          requestedBy: admin.accountId,
          createdAt: undefined,
          startedAt: null,
          finishedAt: null,
          error: null,
        },
      );
      assert.deepEqual(await job(queued.id), queued, 'nothing ran it in the request');
      assert.equal(await recomputedEvents(orderIds), 0);
      const newer = await start({ from: '2025-01-01T00:00:00.000Z', to: '2025-01-02T00:00:00.000Z' });
      const list = await t.request({ url: `${URL}?limit=2`, token: admin.token });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((j: { id: string }) => j.id),
        [newer.id, queued.id],
      );

      await t.app.sweep(); // the worker's timer: starts the runner in the background, which runs both jobs
      const finished = async () => (await Promise.all([job(queued.id), job(newer.id)])).every((j) => j.status === 'succeeded');
      for (let i = 0; i < 500 && !(await finished()); i++) await sleep(20);
      const polled = await job(queued.id);
      assert.equal(polled.status, 'succeeded', JSON.stringify(polled));
      assert.deepEqual([polled.linesTotal, polled.linesDone, polled.recomputed, polled.attempts, polled.error], [3, 3, 3, 1, null]);
      assert.equal(polled.startedAt, t.clock.now().toISOString());
      assert.equal(polled.finishedAt, t.clock.now().toISOString());
      for (const [line] of await credits(orderIds)) {
        const linear = Object.fromEntries(line!.filter((c) => c.model === 'linear').map((c) => [c.tagId, c.amountMinor]));
        assert.deepEqual(linear, { [seen.tagId]: 500, [tapped.tagId]: 500 });
      }
      assert.equal(await recomputedEvents(orderIds), 3);
      const empty = await job(newer.id);
      assert.deepEqual([empty.status, empty.linesTotal, empty.linesDone, empty.windows], ['succeeded', 0, 0, { clickWindowDays: 7, viewWindowHours: 24 }]);
    });
  });
}
