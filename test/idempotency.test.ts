import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { AppError } from '../src/platform/errors';
import type { ManualClock } from '../src/platform/clock';
import { requireIdempotencyKey, withIdempotency, type IdempotencyDeps } from '../src/platform/idempotency';
import { backends, startTestApp, type TestApp } from './support/harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  });
}
