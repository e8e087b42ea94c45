import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import type { DeliveredEvent } from '../src/platform/events';
import { backends, startTestApp, type TestApp } from './support/harness';

declare module '../src/platform/events' {
  interface EventMap {
    /** Test-only: a row was written to outbox_test.things. */
    'outbox_test.thing.recorded': { run: string; n: number };
  }
}

const EVENT = 'outbox_test.thing.recorded';
type ThingEvent = DeliveredEvent<typeof EVENT>;

for (const backend of backends()) {
  describe(`outbox [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
      await sql`CREATE SCHEMA outbox_test`.execute(t.app.db);
      await sql`CREATE TABLE outbox_test.things (run text NOT NULL, n integer NOT NULL, PRIMARY KEY (run, n))`.execute(t.app.db);
    });
    after(() => t.close());

    /** A fresh subscriber whose handler sees only this test's events (earlier tests' subscribers stay registered). */
    async function subscribe(handle: (event: ThingEvent) => Promise<void> = async () => {}) {
      const run = randomBytes(4).toString('hex');
      const calls: ThingEvent[] = [];
      t.app.outbox.subscribe(`outbox_test.${run}`, [EVENT], async (event) => {
        if (event.payload.run !== run) return;
        calls.push(event);
        await handle(event);
      });
      await t.app.outbox.register();
      return { run, calls };
    }

    /** Writes a thing and its event in one transaction, the way a context does. */
    async function recordThing(run: string, n: number, opts: { rollback?: boolean } = {}) {
      await t.app.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO outbox_test.things (run, n) VALUES (${run}, ${n})`.execute(trx);
        await t.app.outbox.publish(trx, EVENT, { run, n });
        if (opts.rollback) throw new Error('rolled back on purpose');
      });
    }

    it('never delivers an event whose transaction rolled back', async () => {
      const { run, calls } = await subscribe();
      await assert.rejects(recordThing(run, 1, { rollback: true }), /rolled back on purpose/);
      await recordThing(run, 2);
      await t.app.outbox.drain();
      assert.deepEqual(calls.map((e) => e.payload.n), [2]);
      const things = await sql<{ n: number }>`SELECT n FROM outbox_test.things WHERE run = ${run}`.execute(t.app.db);
      assert.deepEqual(things.rows.map((r) => r.n), [2]);
    });

    it('delivers each committed event exactly once to a subscriber, in order', async () => {
      const { run, calls } = await subscribe();
      for (let n = 1; n <= 5; n++) await recordThing(run, n);
      await t.app.outbox.drain();
      await t.app.outbox.drain();
      assert.deepEqual(calls.map((e) => e.payload.n), [1, 2, 3, 4, 5]);
      assert.equal(new Set(calls.map((e) => e.id)).size, 5);
      assert.ok(calls.every((e) => e.name === EVENT && e.occurredAt.getTime() === t.clock.now().getTime()));
    });

    it('retries a failing handler after a back-off, then marks it delivered', async () => {
      let failuresLeft = 1;
      const { run, calls } = await subscribe(async () => {
        if (failuresLeft-- > 0) throw new Error('downstream is down');
      });
      await recordThing(run, 1);
      await t.app.outbox.drain();
      assert.equal(calls.length, 1, 'first attempt failed');
      const pending = await sql<{ attempts: number; last_error: string | null; delivered_at: Date | null }>`
        SELECT attempts, last_error, delivered_at FROM outbox.deliveries WHERE subscriber = ${`outbox_test.${run}`}`.execute(t.app.db);
      assert.deepEqual(pending.rows, [{ attempts: 1, last_error: 'downstream is down', delivered_at: null }]);

      await t.app.outbox.drain();
      assert.equal(calls.length, 1, 'not retried before the back-off passes');

      (t.clock as ManualClock).advance(60_000);
      await t.app.outbox.drain();
      assert.equal(calls.length, 2, 'retried once the back-off passed');
      assert.equal(calls[0]!.id, calls[1]!.id);
      const done = await sql<{ attempts: number; last_error: string | null; delivered: boolean }>`
        SELECT attempts, last_error, delivered_at IS NOT NULL AS delivered FROM outbox.deliveries
        WHERE subscriber = ${`outbox_test.${run}`}`.execute(t.app.db);
      assert.deepEqual(done.rows, [{ attempts: 2, last_error: null, delivered: true }]);
    });

    it('never hands the same delivery to two concurrent deliverOnce calls', async () => {
      const { run, calls } = await subscribe(async () => {
        await sleep(2); // keep the claims overlapping
      });
      const count = 40;
      for (let n = 1; n <= count; n++) await recordThing(run, n);
      await Promise.all([t.app.outbox.deliverOnce(15), t.app.outbox.deliverOnce(15), t.app.outbox.deliverOnce(15)]);
      await t.app.outbox.drain();
      const perEvent = new Map<number, number>();
      for (const e of calls) perEvent.set(e.payload.n, (perEvent.get(e.payload.n) ?? 0) + 1);
      assert.equal(perEvent.size, count, 'every event was delivered');
      assert.deepEqual([...perEvent.values()].filter((c) => c !== 1), [], 'none was delivered twice');
    });
  });
}
