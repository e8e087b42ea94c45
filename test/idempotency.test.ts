import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { AppError } from '../src/platform/errors';
import type { ManualClock } from '../src/platform/clock';
import { requireIdempotencyKey, withIdempotency, type IdempotencyDeps } from '../src/platform/idempotency';
import { backends, startTestApp, type TestApp } from './support/harness';
import { sql } from 'kysely';
import { countQueries } from '../src/platform/db';
import { requestHash } from '../src/platform/idempotency';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('request hash', () => {
  it('ignores key order and undefined members, tells values apart, and is the hash of the canonical JSON stored keys were made with', () => {
    const a = { action: 'POST /v1/checkout/buy-now', params: {}, body: { skuId: 'sku_1', quantity: 2, shipping: { city: 'Berlin', country: 'DE' }, lines: [1, { y: 1, x: 2 }] } };
    const b = { body: { lines: [1, { x: 2, y: 1 }], shipping: { country: 'DE', city: 'Berlin' }, quantity: 2, skuId: 'sku_1', note: undefined }, params: {}, action: 'POST /v1/checkout/buy-now' };
    assert.equal(requestHash(a), requestHash(b));
    assert.notEqual(requestHash(a), requestHash({ ...a, body: { ...a.body, quantity: 3 } }));
    assert.notEqual(requestHash({ v: [1, 2] }), requestHash({ v: [2, 1] }));
    assert.notEqual(requestHash({ v: '1' }), requestHash({ v: 1 }));
    // keys claimed before a deploy must still match after it: the canonical text is fixed
    const canonical = '{"action":"POST /v1/checkout/buy-now","body":{"lines":[1,{"x":2,"y":1}],"quantity":2,"shipping":{"city":"Berlin","country":"DE"},"skuId":"sku_1"},"params":{}}';
    assert.equal(requestHash(b), createHash('sha256').update(canonical).digest('base64url'));
    // few keys are sorted in place, many with Array#sort: the same code-unit order either way
    const names = ['b', 'a', 'Z', 'é', 'a1', '_', '10', '9', 'aa', 'A'];
    const many = Object.fromEntries([...names, ...names.map((k) => `${k}${k}`)].reverse().map((k, i) => [k, i]));
    const sorted = (o: Record<string, number>) => `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${o[k]}`).join(',')}}`;
    assert.equal(requestHash(many), createHash('sha256').update(sorted(many)).digest('base64url'));
    const few = Object.fromEntries(names.map((k, i) => [k, i]));
    assert.equal(requestHash(few), createHash('sha256').update(sorted(few)).digest('base64url'));
  });
});

for (const backend of backends()) {
  describe(`idempotency keys [${backend.name}]`, () => {
    let t: TestApp;
    let deps: IdempotencyDeps;
    before(async () => {
      t = await startTestApp(backend);
      deps = { db: t.app.db, clock: t.clock };
    });
    after(() => t.close());

    it('replays the first answer for the same key and request, without running again', async () => {
      const key = randomUUID();
      let runs = 0;
      const run = async () => ({ status: 201, body: { n: ++runs, at: 'x' } });
      const first = await withIdempotency(deps, { scope: 'acc_a', key, request: { a: 1, b: [1, 2] } }, run);
      const second = await withIdempotency(deps, { scope: 'acc_a', key, request: { b: [1, 2], a: 1 } }, run);
      assert.deepEqual(first, { status: 201, body: { n: 1, at: 'x' }, replayed: false });
      assert.deepEqual(second, { status: 201, body: { n: 1, at: 'x' }, replayed: true });
      assert.equal(runs, 1);
    });

    it('keeps keys of different callers apart', async () => {
      const key = randomUUID();
      let runs = 0;
      const run = async () => ({ status: 200, body: { n: ++runs } });
      await withIdempotency(deps, { scope: 'acc_a', key, request: {} }, run);
      const other = await withIdempotency(deps, { scope: 'dev_b', key, request: { different: true } }, run);
      assert.equal(other.replayed, false);
      assert.equal(runs, 2);
    });

    it('refuses the same key with a different request (422 idempotency_key_reused)', async () => {
      const key = randomUUID();
      await withIdempotency(deps, { scope: 'acc_a', key, request: { qty: 1 } }, async () => ({ status: 201, body: {} }));
      await assert.rejects(
        withIdempotency(deps, { scope: 'acc_a', key, request: { qty: 2 } }, async () => ({ status: 201, body: {} })),
        (e: unknown) => e instanceof AppError && e.code === 'idempotency_key_reused' && e.status === 422,
      );
    });

    it('runs concurrent requests with one key once; the others wait and get the same answer', async () => {
      const key = randomUUID();
      let runs = 0;
      const run = async () => {
        runs++;
        await sleep(150);
        return { status: 201, body: { id: 'chk_1' } };
      };
      const answers = await Promise.all(Array.from({ length: 8 }, () => withIdempotency(deps, { scope: 'acc_c', key, request: { x: 1 } }, run)));
      assert.equal(runs, 1);
      assert.equal(answers.filter((a) => !a.replayed).length, 1);
      for (const a of answers) assert.deepEqual(a.body, { id: 'chk_1' });
    });

    it('answers 409 idempotency_in_progress when the first run outlasts the wait', async () => {
      const key = randomUUID();
      let release!: () => void;
      const slow = withIdempotency(deps, { scope: 'acc_d', key, request: {} }, () => new Promise((r) => (release = () => r({ status: 201, body: { ok: 1 } }))));
      await sleep(50);
      await assert.rejects(
        withIdempotency(deps, { scope: 'acc_d', key, request: {}, waitMs: 200 }, async () => ({ status: 201, body: { ok: 2 } })),
        (e: unknown) => e instanceof AppError && e.code === 'idempotency_in_progress' && e.status === 409,
      );
      release();
      assert.deepEqual((await slow).body, { ok: 1 });
    });

    it('stores an expected failure (AppError) as the answer and replays it', async () => {
      const key = randomUUID();
      let runs = 0;
      const run = async (): Promise<never> => {
        runs++;
        throw new AppError('not_found', 'gone');
      };
      await assert.rejects(withIdempotency(deps, { scope: 'acc_e', key, request: {} }, run), (e: unknown) => e instanceof AppError);
      const replay = await withIdempotency(deps, { scope: 'acc_e', key, request: {} }, run);
      assert.equal(replay.status, 404);
      assert.deepEqual(replay.body, { error: { code: 'not_found', message: 'gone' } });
      assert.equal(runs, 1);
    });

    it('releases the claim after an unexpected exception so a retry runs again', async () => {
      const key = randomUUID();
      await assert.rejects(
        withIdempotency(deps, { scope: 'acc_f', key, request: {} }, async () => {
          throw new Error('database went away');
        }),
      );
      const retry = await withIdempotency(deps, { scope: 'acc_f', key, request: {} }, async () => ({ status: 201, body: { second: true } }));
      assert.deepEqual(retry, { status: 201, body: { second: true }, replayed: false });
    });

    it('takes over a claim whose process crashed once its lock has expired', async () => {
      const key = randomUUID();
      // a process claimed the key and died: its run never finishes
      void withIdempotency(deps, { scope: 'acc_g', key, request: { q: 1 }, lockMs: 30_000 }, () => new Promise(() => {}));
      await sleep(50);
      await assert.rejects(
        withIdempotency(deps, { scope: 'acc_g', key, request: { q: 1 }, waitMs: 100 }, async () => ({ status: 201, body: {} })),
        (e: unknown) => e instanceof AppError && e.code === 'idempotency_in_progress',
      );
      (t.clock as ManualClock).advance(31_000);
      let runs = 0;
      const taken = await withIdempotency(deps, { scope: 'acc_g', key, request: { q: 1 } }, async () => ({ status: 201, body: { run: ++runs } }));
      assert.deepEqual(taken, { status: 201, body: { run: 1 }, replayed: false });
      const replay = await withIdempotency(deps, { scope: 'acc_g', key, request: { q: 1 } }, async () => ({ status: 201, body: { run: ++runs } }));
      assert.deepEqual(replay, { status: 201, body: { run: 1 }, replayed: true });
    });

    it('requires the header where a route asks for it', () => {
      assert.throws(() => requireIdempotencyKey({ headers: {} }), (e: unknown) => e instanceof AppError && e.code === 'idempotency_key_required' && e.status === 400);
      assert.throws(() => requireIdempotencyKey({ headers: { 'idempotency-key': 'has space' } }), (e: unknown) => e instanceof AppError && e.code === 'validation_failed');
      assert.equal(requireIdempotencyKey({ headers: { 'idempotency-key': 'abc-123' } }), 'abc-123');
    });

    // --- group-committed claims and answers (src/platform/batcher.ts) ---

    interface StoredKey {
      key: string;
      request_hash: string;
      status: string;
      response_status: number | null;
      response_body: unknown;
      finished: boolean;
    }

    async function storedKeys(scope: string): Promise<Map<string, StoredKey>> {
      const r = await sql<StoredKey>`
        SELECT key, request_hash, status, response_status, response_body, finished_at IS NOT NULL AS finished
        FROM idempotency.keys WHERE scope = ${scope}`.execute(t.app.db);
      return new Map(r.rows.map((row) => [row.key, row]));
    }

    it('runs 50 concurrent calls with distinct keys, started in the same tick, once each, and stores each its own answer', async () => {
      const scope = `acc_burst_${randomUUID().slice(0, 8)}`;
      const keys = Array.from({ length: 50 }, () => randomUUID());
      const runs = new Map<string, number>();
      const call = (key: string, i: number) =>
        withIdempotency(deps, { scope, key, request: { key, i } }, async () => {
          runs.set(key, (runs.get(key) ?? 0) + 1);
          return { status: 200 + (i % 5), body: { key, i } };
        });

      const { result: answers, queries } = await countQueries(() => Promise.all(keys.map(call)));
      answers.forEach((a, i) => assert.deepEqual(a, { status: 200 + (i % 5), body: { key: keys[i], i }, replayed: false }, `answer ${i}`));
      // one claim and one answer per call would be 100 round trips; group-committed, a handful
      assert.ok(queries <= 6, `50 calls made ${queries} queries: the claims and answers were not batched`);
      assert.equal(runs.size, 50);
      assert.deepEqual([...runs.values()].filter((n) => n !== 1), [], 'each ran exactly once');

      const rows = await storedKeys(scope);
      assert.equal(rows.size, 50);
      keys.forEach((key, i) => {
        assert.deepEqual(rows.get(key), {
          key,
          request_hash: requestHash({ key, i }),
          status: 'done',
          response_status: 200 + (i % 5),
          response_body: { key, i },
          finished: true,
        });
      });

      // and the same 50 again, in one tick: all replayed, none runs
      const again = await Promise.all(keys.map(call));
      again.forEach((a, i) => assert.deepEqual(a, { status: 200 + (i % 5), body: { key: keys[i], i }, replayed: true }, `replay ${i}`));
      assert.deepEqual([...runs.values()].filter((n) => n !== 1), []);
    });

    it('runs two calls with the same key and request in the same tick once; both get the same answer, one replayed', async () => {
      const scope = 'acc_twin';
      const key = randomUUID();
      let runs = 0;
      const run = async () => {
        runs++;
        await sleep(20);
        return { status: 201, body: { checkout: 'chk_twin', run: runs } };
      };
      const answers = await Promise.all([
        withIdempotency(deps, { scope, key, request: { qty: 1 } }, run),
        withIdempotency(deps, { scope, key, request: { qty: 1 } }, run),
      ]);
      assert.equal(runs, 1);
      assert.deepEqual(answers.map((a) => a.replayed).sort(), [false, true]);
      for (const a of answers) assert.deepEqual({ status: a.status, body: a.body }, { status: 201, body: { checkout: 'chk_twin', run: 1 } });
      const row = (await storedKeys(scope)).get(key);
      assert.equal(row?.status, 'done');
      assert.deepEqual(row?.response_body, { checkout: 'chk_twin', run: 1 });
    });

    it('runs each of 20 keys submitted twice in the same tick once, with exactly one replay per key', async () => {
      const scope = `acc_pairs_${randomUUID().slice(0, 8)}`;
      const keys = Array.from({ length: 20 }, () => randomUUID());
      const runs = new Map<string, number>();
      const call = (key: string) =>
        withIdempotency(deps, { scope, key, request: { key } }, async () => {
          runs.set(key, (runs.get(key) ?? 0) + 1);
          return { status: 201, body: { key } };
        });
      // key order a, b, …, a, b, …: the twins sit in the same claim batch
      const answers = await Promise.all([...keys, ...keys].map(call));
      assert.deepEqual([...runs.entries()].filter(([, n]) => n !== 1), []);
      assert.equal(runs.size, 20);
      keys.forEach((key, i) => {
        const pair = [answers[i]!, answers[i + 20]!];
        assert.deepEqual(pair.map((a) => a.body), [{ key }, { key }]);
        assert.deepEqual(pair.map((a) => a.replayed).sort(), [false, true], `key ${i}: one ran, one replayed`);
      });
      const rows = await storedKeys(scope);
      assert.deepEqual([...rows.values()].filter((r) => r.status !== 'done'), []);
      assert.equal(rows.size, 20);
    });

    it('refuses one of two calls with the same key and different requests in the same tick (idempotency_key_reused)', async () => {
      const scope = 'acc_clash';
      const key = randomUUID();
      const ran: number[] = [];
      const call = (qty: number) =>
        withIdempotency(deps, { scope, key, request: { qty } }, async () => {
          ran.push(qty);
          return { status: 201, body: { qty } };
        });
      const [one, two] = await Promise.allSettled([call(1), call(2)]);
      const settled = [one!, two!];
      const fulfilled = settled.filter((s): s is PromiseFulfilledResult<Awaited<ReturnType<typeof call>>> => s.status === 'fulfilled');
      const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      assert.equal(fulfilled.length, 1);
      assert.equal(rejected.length, 1);
      const reason = rejected[0]!.reason;
      assert.ok(reason instanceof AppError && reason.code === 'idempotency_key_reused' && reason.status === 422, `refused with ${String(reason)}`);
      assert.equal(ran.length, 1, 'only the winner ran');
      const winner = ran[0]!;
      assert.deepEqual(fulfilled[0]!.value, { status: 201, body: { qty: winner }, replayed: false });
      const row = (await storedKeys(scope)).get(key);
      assert.equal(row?.request_hash, requestHash({ qty: winner }));
      assert.equal(row?.status, 'done');
      assert.deepEqual(row?.response_body, { qty: winner });
    });

    it('stores each answer of a burst whose runs end differently: results, AppErrors, and a released claim', async () => {
      const scope = `acc_mixed_${randomUUID().slice(0, 8)}`;
      const keys = Array.from({ length: 12 }, () => randomUUID());
      const outcome = (i: number) => (i % 3 === 0 ? 'ok' : i % 3 === 1 ? 'app-error' : 'crash');
      const settled = await Promise.allSettled(
        keys.map((key, i) =>
          withIdempotency(deps, { scope, key, request: { i } }, async () => {
            if (outcome(i) === 'app-error') throw new AppError('not_found', `missing ${i}`);
            if (outcome(i) === 'crash') throw new Error(`crash ${i}`);
            return { status: 201, body: { i } };
          }),
        ),
      );
      const rows = await storedKeys(scope);
      keys.forEach((key, i) => {
        const s = settled[i]!;
        if (outcome(i) === 'ok') {
          assert.deepEqual(s, { status: 'fulfilled', value: { status: 201, body: { i }, replayed: false } });
          assert.deepEqual([rows.get(key)?.status, rows.get(key)?.response_status, rows.get(key)?.response_body], ['done', 201, { i }]);
        } else if (outcome(i) === 'app-error') {
          assert.ok(s.status === 'rejected' && s.reason instanceof AppError && s.reason.code === 'not_found', `key ${i}`);
          assert.deepEqual(
            [rows.get(key)?.status, rows.get(key)?.response_status, rows.get(key)?.response_body],
            ['done', 404, { error: { code: 'not_found', message: `missing ${i}` } }],
          );
        } else {
          assert.ok(s.status === 'rejected' && (s.reason as Error).message === `crash ${i}`, `key ${i}`);
          assert.equal(rows.has(key), false, `key ${i}: claim released`);
        }
      });
    });

    it('one claim the database refuses does not fail the other claims of its batch', async () => {
      const scope = `acc_bad_${randomUUID().slice(0, 8)}`;
      const good = Array.from({ length: 5 }, () => randomUUID());
      const tooLong = 'k'.repeat(256); // breaks the CHECK on key length: the multi-row INSERT fails as a whole
      let runs = 0;
      const call = (key: string) => withIdempotency(deps, { scope, key, request: {} }, async () => ({ status: 201, body: { n: ++runs } }));
      const settled = await Promise.allSettled([call(good[0]!), call(good[1]!), call(tooLong), call(good[2]!), call(good[3]!), call(good[4]!)]);
      assert.equal(settled[2]!.status, 'rejected', 'the bad claim fails');
      const others = settled.filter((_, i) => i !== 2);
      assert.deepEqual(others.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
      assert.equal(runs, 5);
      const rows = await storedKeys(scope);
      assert.deepEqual(good.map((k) => rows.get(k)?.status), ['done', 'done', 'done', 'done', 'done']);
      assert.equal(rows.has(tooLong), false);
    });
  });
}
