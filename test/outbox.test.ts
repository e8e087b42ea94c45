import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import type { DeliveredEvent } from '../src/platform/events';
import { backends, startTestApp, type TestApp } from './support/harness';
import type { OutboxEvent } from '../src/platform/events';

declare module '../src/platform/events' {
  interface EventMap {
    /** Test-only: a row was written to outbox_test.things. */
    'outbox_test.thing.recorded': { run: string; n: number };
  }
}

const EVENT = 'outbox_test.thing.recorded';
type ThingEvent = DeliveredEvent<typeof EVENT>;

declare module '../src/platform/events' {
  interface EventMap {
    /** Test-only: a second event name, for publishMany. */
    'outbox_test.thing.removed': { run: string; n: number };
  }
}

const REMOVED = 'outbox_test.thing.removed';

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

    // --- publishMany: several events in one statement, in array order ---

    /** A fresh subscriber to `names` that records only this run's events (of either test event). */
    function subscribeTo(run: string, suffix: string, names: Array<typeof EVENT | typeof REMOVED>) {
      const calls: Array<{ id: number; name: string; n: number }> = [];
      t.app.outbox.subscribe(`outbox_test.${run}.${suffix}`, names, async (event) => {
        if (event.payload.run !== run) return;
        calls.push({ id: event.id, name: event.name, n: event.payload.n });
      });
      return { subscriber: `outbox_test.${run}.${suffix}`, calls };
    }

    async function eventsOf(run: string) {
      const r = await sql<{ id: string; name: string; n: number; occurred_at: Date }>`
        SELECT id, name, (payload->>'n')::int AS n, occurred_at FROM outbox.events WHERE payload->>'run' = ${run} ORDER BY id`.execute(t.app.db);
      return r.rows.map((row) => ({ ...row, id: Number(row.id) }));
    }

    async function deliveriesOf(eventId: number) {
      const r = await sql<{ subscriber: string }>`SELECT subscriber FROM outbox.deliveries WHERE event_id = ${eventId} ORDER BY subscriber`.execute(t.app.db);
      return r.rows.map((row) => row.subscriber);
    }

    async function subscribersOf(name: string) {
      const r = await sql<{ subscriber: string }>`
        SELECT subscriber FROM outbox.subscriptions WHERE ${name} = ANY (event_names) OR '*' = ANY (event_names) ORDER BY subscriber`.execute(t.app.db);
      return r.rows.map((row) => row.subscriber);
    }

    async function counts() {
      const r = await sql<{ events: number; deliveries: number }>`
        SELECT (SELECT count(*)::int FROM outbox.events) AS events, (SELECT count(*)::int FROM outbox.deliveries) AS deliveries`.execute(t.app.db);
      return r.rows[0]!;
    }

    it('publishMany writes 3 events of 2 names with increasing ids in array order, one delivery per matching subscriber, delivered in that order', async () => {
      const run = randomBytes(4).toString('hex');
      const both = subscribeTo(run, 'both', [EVENT, REMOVED]);
      const removedOnly = subscribeTo(run, 'removed', [REMOVED]);
      const recordedOnly = subscribeTo(run, 'recorded', [EVENT]);
      await t.app.outbox.register();

      const events: OutboxEvent[] = [
        { name: EVENT, payload: { run, n: 1 } },
        { name: REMOVED, payload: { run, n: 2 } },
        { name: EVENT, payload: { run, n: 3 } },
      ];
      await t.app.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO outbox_test.things (run, n) VALUES (${run}, 1), (${run}, 3)`.execute(trx);
        await t.app.outbox.publishMany(trx, events);
      });

      const written = await eventsOf(run);
      assert.deepEqual(
        written.map((e) => [e.name, e.n]),
        [
          [EVENT, 1],
          [REMOVED, 2],
          [EVENT, 3],
        ],
        'ids follow the array order',
      );
      assert.ok(written[0]!.id < written[1]!.id && written[1]!.id < written[2]!.id, `ids increase: ${written.map((e) => e.id).join(', ')}`);
      assert.ok(written.every((e) => new Date(e.occurred_at).getTime() === t.clock.now().getTime()));

      for (const e of written) {
        const delivered = await deliveriesOf(e.id);
        assert.deepEqual(delivered, await subscribersOf(e.name), `event ${e.n}: one delivery row per subscriber of ${e.name}, no other`);
        assert.equal(delivered.includes(both.subscriber), true, `event ${e.n} is queued for the subscriber of both names`);
        assert.equal(delivered.includes(removedOnly.subscriber), e.name === REMOVED, `event ${e.n} for the ${REMOVED} subscriber`);
        assert.equal(delivered.includes(recordedOnly.subscriber), e.name === EVENT, `event ${e.n} for the ${EVENT} subscriber`);
      }

      await t.app.outbox.drain();
      assert.deepEqual(both.calls, written.map((e) => ({ id: e.id, name: e.name, n: e.n })), 'delivered once each, in array order');
      assert.deepEqual(removedOnly.calls.map((c) => c.n), [2]);
      assert.deepEqual(recordedOnly.calls.map((c) => c.n), [1, 3]);
      const pending = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM outbox.deliveries WHERE subscriber = ANY (${[both.subscriber, removedOnly.subscriber, recordedOnly.subscriber]}) AND delivered_at IS NULL`.execute(t.app.db);
      assert.equal(pending.rows[0]!.n, 0);
    });

    it('publishMany keeps the array order for a longer interleaved list', async () => {
      const run = randomBytes(4).toString('hex');
      const both = subscribeTo(run, 'both', [EVENT, REMOVED]);
      await t.app.outbox.register();
      // names interleaved irregularly, so neither grouping by name nor a hash order would pass
      const names = Array.from({ length: 30 }, (_, i) => ((i * 7) % 3 === 0 ? REMOVED : EVENT));
      const events = names.map((name, i) => ({ name, payload: { run, n: i + 1 } }) as OutboxEvent);
      await t.app.db.transaction().execute((trx) => t.app.outbox.publishMany(trx, events));

      const written = await eventsOf(run);
      assert.deepEqual(written.map((e) => e.n), Array.from({ length: 30 }, (_, i) => i + 1));
      assert.deepEqual(written.map((e) => e.name), names);
      await t.app.outbox.drain();
      assert.deepEqual(both.calls.map((c) => c.n), Array.from({ length: 30 }, (_, i) => i + 1));
    });

    it('publishMany with an empty array writes nothing', async () => {
      const run = randomBytes(4).toString('hex');
      const both = subscribeTo(run, 'both', [EVENT, REMOVED]);
      await t.app.outbox.register();
      const before = await counts();
      await t.app.db.transaction().execute((trx) => t.app.outbox.publishMany(trx, []));
      assert.deepEqual(await counts(), before);
      assert.equal(await t.app.outbox.drain(), 0);
      assert.deepEqual(both.calls, []);
    });

    it('publishMany with one event writes it like publish', async () => {
      const run = randomBytes(4).toString('hex');
      const removedOnly = subscribeTo(run, 'removed', [REMOVED]);
      await t.app.outbox.register();
      await t.app.db.transaction().execute((trx) => t.app.outbox.publishMany(trx, [{ name: REMOVED, payload: { run, n: 9 } }]));
      const written = await eventsOf(run);
      assert.deepEqual(written.map((e) => [e.name, e.n]), [[REMOVED, 9]]);
      assert.deepEqual(await deliveriesOf(written[0]!.id), await subscribersOf(REMOVED));
      await t.app.outbox.drain();
      assert.deepEqual(removedOnly.calls.map((c) => c.n), [9]);
    });

    it('publishMany in a transaction that rolls back leaves no event and no delivery', async () => {
      const run = randomBytes(4).toString('hex');
      const both = subscribeTo(run, 'both', [EVENT, REMOVED]);
      await t.app.outbox.register();
      const before = await counts();
      await assert.rejects(
        t.app.db.transaction().execute(async (trx) => {
          await t.app.outbox.publishMany(trx, [
            { name: EVENT, payload: { run, n: 1 } },
            { name: REMOVED, payload: { run, n: 2 } },
          ]);
          throw new Error('rolled back on purpose');
        }),
        /rolled back on purpose/,
      );
      assert.deepEqual(await eventsOf(run), []);
      assert.deepEqual(await counts(), before);
      await t.app.outbox.drain();
      assert.deepEqual(both.calls, []);
    });
  });
}
