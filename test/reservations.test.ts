import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ManualClock } from '../src/platform/clock';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

const actor = (reason: string) => ({ accountId: 'acc_TESTACTOR', reason });
const MINUTE = 60_000;

for (const backend of backends()) {
  describe(`inventory reservations [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { reservationTtlMinutes: 10, lowStockThreshold: 0 } });
    });
    after(() => t.close());
    const inventory = () => t.app.contexts.inventory.service;
    const level = async (sku: string) => (await inventory().getStockLevels([sku])).get(sku)!;
    const audit = async (sku: string) => (await inventory().auditStock([sku]))[0]!;
    const stocked = async (onHand: number) => {
      const sku = newId('variant');
      await inventory().setOnHand(sku, onHand, actor('received'));
      return sku;
    };

    it('holds units, and a retried reserve returns the same hold without taking more', async () => {
      const sku = await stocked(10);
      const holder = newId('checkout');
      const first = await inventory().reserve(holder, [{ skuId: sku, quantity: 3 }]);
      assert.equal(first.ok, true);
      assert.equal(first.ok && first.holderId, holder);
      const expected = (t.clock.now().getTime() + 10 * MINUTE);
      assert.equal(first.ok && first.expiresAt.getTime(), expected);
      const retry = await inventory().reserve(holder, [{ skuId: sku, quantity: 3 }]);
      assert.deepEqual(retry, first);
      assert.deepEqual(await level(sku), { skuId: sku, onHand: 10, reserved: 3, available: 7, availability: 'in_stock' });
      assert.deepEqual(await inventory().getHold(holder), { holderId: holder, status: 'held', expiresAt: new Date(expected), lines: [{ skuId: sku, quantity: 3 }] });
    });

    it('commits once: held units become sold, and retries change nothing', async () => {
      const sku = await stocked(10);
      const holder = newId('checkout');
      assert.equal((await inventory().reserve(holder, [{ skuId: sku, quantity: 4 }])).ok, true);
      assert.deepEqual(await inventory().commitReservation(holder), { ok: true });
      assert.deepEqual(await inventory().commitReservation(holder), { ok: true });
      assert.deepEqual(await inventory().commitReservation(holder), { ok: true });
      assert.deepEqual(await level(sku), { skuId: sku, onHand: 6, reserved: 0, available: 6, availability: 'in_stock' });
      assert.equal((await audit(sku)).sold, 4);
      // releasing a committed hold does not give sold units back
      await inventory().releaseReservation(holder);
      assert.equal((await level(sku)).onHand, 6);
      assert.equal((await inventory().getHold(holder)).status, 'committed');
    });

    it('releases once: units come back, retries change nothing, and a released hold cannot be committed', async () => {
      const sku = await stocked(5);
      const holder = newId('checkout');
      const other = newId('checkout');
      await inventory().reserve(holder, [{ skuId: sku, quantity: 2 }]);
      await inventory().reserve(other, [{ skuId: sku, quantity: 1 }]);
      await inventory().releaseReservation(holder);
      await inventory().releaseReservation(holder);
      assert.deepEqual(await level(sku), { skuId: sku, onHand: 5, reserved: 1, available: 4, availability: 'in_stock' });
      assert.deepEqual(await inventory().commitReservation(holder), { ok: false, code: 'not_held' });
      assert.deepEqual(await inventory().commitReservation(newId('checkout')), { ok: false, code: 'not_held' }, 'a holder that never held');
      assert.equal((await inventory().getHold(holder)).status, 'released');
    });

    it('holds a multi-line cart all-or-nothing and names the line that did not fit', async () => {
      const a = await stocked(5);
      const b = await stocked(2);
      const c = await stocked(0);
      const holder = newId('checkout');
      const short = await inventory().reserve(holder, [
        { skuId: a, quantity: 3 },
        { skuId: b, quantity: 3 },
      ]);
      assert.deepEqual(short, { ok: false, code: 'insufficient_stock', skuId: b, available: 2 });
      const gone = await inventory().reserve(holder, [
        { skuId: a, quantity: 1 },
        { skuId: c, quantity: 1 },
      ]);
      assert.deepEqual(gone, { ok: false, code: 'sold_out', skuId: c, available: 0 });
      assert.equal((await level(a)).reserved, 0, 'nothing of the refused holds stayed reserved');
      assert.equal((await level(b)).reserved, 0);
      assert.equal((await inventory().getHold(holder)).status, 'none');

      const ok = await inventory().reserve(holder, [
        { skuId: a, quantity: 2 },
        { skuId: b, quantity: 2 },
        { skuId: a, quantity: 1 }, // the same SKU twice is one line of 3
      ]);
      assert.equal(ok.ok, true);
      assert.deepEqual([(await level(a)).reserved, (await level(b)).available], [3, 0]);
      assert.deepEqual(
        (await inventory().getHold(holder)).lines.sort((x, y) => x.skuId.localeCompare(y.skuId)),
        [
          { skuId: a, quantity: 3 },
          { skuId: b, quantity: 2 },
        ].sort((x, y) => x.skuId.localeCompare(y.skuId)),
      );
      assert.deepEqual(await inventory().commitReservation(holder), { ok: true });
      assert.deepEqual([(await level(a)).onHand, (await level(b)).onHand], [2, 0]);
    });

    it('expires abandoned holds after the TTL: the sweeper returns the units, then commit answers not_held', async () => {
      const clock = t.clock as ManualClock;
      const sku = await stocked(4);
      const holder = newId('checkout');
      const shortLived = newId('checkout');
      await inventory().reserve(holder, [{ skuId: sku, quantity: 3 }]);
      await inventory().reserve(shortLived, [{ skuId: sku, quantity: 1 }], { ttlMs: MINUTE });
      assert.equal((await level(sku)).available, 0);

      clock.advance(2 * MINUTE);
      assert.ok((await inventory().expireReservations()) >= 1);
      assert.deepEqual([(await level(sku)).reserved, (await inventory().getHold(shortLived)).status], [3, 'expired']);

      clock.advance(9 * MINUTE);
      assert.equal((await inventory().getHold(holder)).status, 'held', 'past its expiry but not yet swept');
      assert.ok((await inventory().expireReservations()) >= 1);
      assert.equal(await inventory().expireReservations(), 0, 'a second sweep finds nothing');
      assert.deepEqual(await level(sku), { skuId: sku, onHand: 4, reserved: 0, available: 4, availability: 'in_stock' });
      assert.deepEqual(await inventory().commitReservation(holder), { ok: false, code: 'not_held' });
      assert.equal((await level(sku)).onHand, 4);
      // the module's sweep runs the same expiry
      const late = newId('checkout');
      await inventory().reserve(late, [{ skuId: sku, quantity: 2 }], { ttlMs: 1000 });
      clock.advance(2000);
      await t.app.contexts.inventory.sweep!();
      assert.equal((await inventory().getHold(late)).status, 'expired');
      assert.equal((await level(sku)).reserved, 0);
    });

    it('restocks sold units once per key, journaled with who and why', async () => {
      const sku = await stocked(6);
      const holder = newId('checkout');
      await inventory().reserve(holder, [{ skuId: sku, quantity: 4 }]);
      await inventory().commitReservation(holder);
      const key = `${newId('orderLine')}:cancel`;
      await inventory().restock(sku, 3, key, { accountId: 'acc_MERCHANT', reason: 'order cancelled' });
      await inventory().restock(sku, 3, key, { accountId: 'acc_MERCHANT', reason: 'order cancelled' });
      await Promise.all([1, 2, 3].map(() => inventory().restock(sku, 3, key, actor('racing retry'))));
      const a = await audit(sku);
      assert.deepEqual([a.onHand, a.sold, a.reserved], [5, 1, 0]);
      const journal = await inventory().listAdjustments(sku);
      assert.deepEqual(
        journal.map(({ delta, onHandAfter, accountId, reason }) => ({ delta, onHandAfter, accountId, reason })),
        [
          { delta: 3, onHandAfter: 5, accountId: 'acc_MERCHANT', reason: 'order cancelled' },
          { delta: 6, onHandAfter: 6, accountId: 'acc_TESTACTOR', reason: 'received' },
        ],
      );
      // more than was sold is a caller bug: refused loudly, nothing changes
      await assert.rejects(inventory().restock(sku, 2, `${key}:again`, actor('too many')), /check constraint|sold/);
      assert.deepEqual((await audit(sku)).sold, 1);
    });

    it('publishes stock.changed on reserve, release and commit, and sold_out when the last unit is held', async () => {
      const sku = await stocked(2);
      const h1 = newId('checkout');
      await inventory().reserve(h1, [{ skuId: sku, quantity: 2 }]);
      await inventory().releaseReservation(h1);
      const h2 = newId('checkout');
      await inventory().reserve(h2, [{ skuId: sku, quantity: 1 }]);
      await inventory().commitReservation(h2);
      const r = await sql<{ name: string; payload: any }>`
        SELECT name, payload FROM outbox.events WHERE payload->>'skuId' = ${sku} ORDER BY id`.execute(t.app.db);
      assert.deepEqual(
        r.rows.map((e) => [e.name, e.payload.onHand ?? null, e.payload.reserved ?? null]),
        [
          ['inventory.stock.changed', 2, 0], // setOnHand
          ['inventory.stock.changed', 2, 2], // reserve
          ['inventory.sku.sold_out', null, null],
          ['inventory.stock.changed', 2, 0], // release
          ['inventory.stock.changed', 2, 1], // reserve
          ['inventory.stock.changed', 1, 0], // commit
        ],
      );
    });

    it('refuses zero, negative, fractional and oversized quantities without touching the stock', async () => {
      const sku = await stocked(5);
      const holder = newId('checkout');
      for (const quantity of [0, -1, 1.5, Number.NaN, 2 ** 31, Number.MAX_SAFE_INTEGER + 2]) {
        await assert.rejects(inventory().reserve(holder, [{ skuId: sku, quantity }]), RangeError, `quantity ${quantity}`);
      }
      await assert.rejects(inventory().reserve(holder, []), RangeError);
      await assert.rejects(inventory().reserve('', [{ skuId: sku, quantity: 1 }]), RangeError);
      await assert.rejects(inventory().restock(sku, 0, 'k', actor('x')), RangeError);
      await assert.rejects(inventory().restock(sku, -2, 'k', actor('x')), RangeError);
      // a huge but valid quantity is an ordinary refusal
      assert.deepEqual(await inventory().reserve(holder, [{ skuId: sku, quantity: 2 ** 31 - 1 }]), {
        ok: false,
        code: 'insufficient_stock',
        skuId: sku,
        available: 5,
      });
      assert.deepEqual(await level(sku), { skuId: sku, onHand: 5, reserved: 0, available: 5, availability: 'in_stock' });
      assert.equal((await inventory().getHold(holder)).status, 'none');
    });

    it('conserves stock through a random sequence of operations', async () => {
      const clock = t.clock as ManualClock;
      const skus = [await stocked(20), await stocked(7), await stocked(1)];
      let seed = 42;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const holders: string[] = [];
      const committed: string[] = [];
      for (let step = 0; step < 120; step++) {
        const sku = skus[random(skus.length)]!;
        const op = random(8);
        if (op <= 2) {
          const holder = newId('checkout');
          const lines = random(2) === 0 ? [{ skuId: sku, quantity: 1 + random(4) }] : skus.slice(0, 1 + random(3)).map((s) => ({ skuId: s, quantity: 1 + random(3) }));
          const r = await inventory().reserve(holder, lines, { ttlMs: (1 + random(5)) * MINUTE });
          if (r.ok) holders.push(holder);
        } else if (op === 3 && holders.length > 0) {
          const holder = holders[random(holders.length)]!;
          if ((await inventory().commitReservation(holder)).ok) committed.push(holder);
        } else if (op === 4 && holders.length > 0) {
          await inventory().releaseReservation(holders[random(holders.length)]!);
        } else if (op === 5) {
          await inventory().adjust(sku, random(7) - 3, actor('count'));
        } else if (op === 6 && committed.length > 0) {
          const holder = committed[random(committed.length)]!;
          const line = (await inventory().getHold(holder)).lines[0]!;
          await inventory().restock(line.skuId, 1, `${holder}:${line.skuId}`, actor('returned')).catch(() => undefined);
        } else {
          clock.advance(random(3) * MINUTE);
          await inventory().expireReservations();
        }
      }
      for (const a of await inventory().auditStock(skus)) {
        assert.equal(a.journaled, a.onHand + a.sold, `journal balances on hand + sold for ${a.skuId}`);
        assert.equal(a.held, a.reserved, `held reservations are what is reserved for ${a.skuId}`);
        assert.ok(a.reserved <= a.onHand && a.onHand >= 0 && a.sold >= 0);
        const l = await level(a.skuId);
        assert.equal(l.available, a.onHand - a.reserved);
      }
    });
  });
}
