import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';

const actor = (reason: string) => ({ accountId: 'acc_TESTACTOR', reason });

for (const backend of backends()) {
  describe(`inventory [${backend.name}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend, { config: { lowStockThreshold: 5 } });
    });
    after(() => t.close());
    const inventory = () => t.app.contexts.inventory.service;

    it('reads never-stocked SKUs as zero and sold out, for any number of SKUs in one call', async () => {
      const a = newId('variant');
      const b = newId('variant');
      await inventory().setOnHand(a, 12, actor('received'));
      const levels = await inventory().getStockLevels([a, b]);
      assert.deepEqual(levels.get(a), { skuId: a, onHand: 12, reserved: 0, available: 12, availability: 'in_stock' });
      assert.deepEqual(levels.get(b), { skuId: b, onHand: 0, reserved: 0, available: 0, availability: 'sold_out' });
      assert.equal((await inventory().getStockLevels([])).size, 0);
    });

    it('classifies availability at the low-stock threshold', async () => {
      const sku = newId('variant');
      const at = async (n: number) => (await inventory().setOnHand(sku, n, actor('count'))).availability;
      assert.equal(await at(6), 'in_stock');
      assert.equal(await at(5), 'low');
      assert.equal(await at(1), 'low');
      assert.equal(await at(0), 'sold_out');
    });

    it('adjusts up and down, and refuses to go below zero without changing anything', async () => {
      const sku = newId('variant');
      const up = await inventory().adjust(sku, 10, actor('delivery'));
      assert.equal(up.ok && up.level.onHand, 10);
      const down = await inventory().adjust(sku, -4, actor('damaged'));
      assert.equal(down.ok && down.level.onHand, 6);
      const refused = await inventory().adjust(sku, -7, actor('too many'));
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.code, 'insufficient_stock');
      assert.equal(refused.level.onHand, 6);
      assert.equal((await inventory().getStockLevels([sku])).get(sku)!.onHand, 6);
      const journal = await inventory().listAdjustments(sku);
      assert.deepEqual(journal.map((j) => j.delta), [-4, 10], 'the refused change left no journal row');
    });

    it('refuses a removal on a SKU that was never stocked', async () => {
      const sku = newId('variant');
      const r = await inventory().adjust(sku, -1, actor('oops'));
      assert.equal(r.ok, false);
      assert.equal(r.level.onHand, 0);
      assert.deepEqual(await inventory().listAdjustments(sku), []);
    });

    it('records every change with who, why, the delta and the count after', async () => {
      const sku = newId('variant');
      await inventory().setOnHand(sku, 8, { accountId: 'acc_A', reason: 'initial count' });
      await inventory().adjust(sku, 3, { accountId: 'acc_B', reason: 'restock' });
      await inventory().setOnHand(sku, 2, { accountId: 'acc_A', reason: 'recount' });
      const journal = await inventory().listAdjustments(sku);
      assert.deepEqual(
        journal.map(({ delta, onHandAfter, accountId, reason }) => ({ delta, onHandAfter, accountId, reason })),
        [
          { delta: -9, onHandAfter: 2, accountId: 'acc_A', reason: 'recount' },
          { delta: 3, onHandAfter: 11, accountId: 'acc_B', reason: 'restock' },
          { delta: 8, onHandAfter: 8, accountId: 'acc_A', reason: 'initial count' },
        ],
      );
      assert.ok(journal.every((j) => j.id.startsWith('adj_') && j.createdAt instanceof Date));
    });

    it('publishes stock.changed on every change and sold_out when availability reaches zero', async () => {
      const sku = newId('variant');
      await inventory().setOnHand(sku, 2, actor('in'));
      await inventory().adjust(sku, -2, actor('out'));
      const r = await sql<{ name: string; payload: any }>`
        SELECT name, payload FROM outbox.events WHERE payload->>'skuId' = ${sku} ORDER BY id`.execute(t.app.db);
      assert.deepEqual(
        r.rows.map((e) => [e.name, e.payload.available ?? null]),
        [
          ['inventory.stock.changed', 2],
          ['inventory.stock.changed', 0],
          ['inventory.sku.sold_out', null],
        ],
      );
    });

    it('keeps concurrent adjustments exact (no lost update)', async () => {
      const sku = newId('variant');
      await inventory().setOnHand(sku, 100, actor('in'));
      const results = await Promise.all(Array.from({ length: 30 }, () => inventory().adjust(sku, -4, actor('sale'))));
      const granted = results.filter((r) => r.ok).length;
      assert.equal(granted, 25);
      assert.equal((await inventory().getStockLevels([sku])).get(sku)!.onHand, 0);
    });

    it('the database itself refuses more reserved than on hand, or negative stock', async () => {
      const sku = newId('variant');
      await inventory().setOnHand(sku, 3, actor('in'));
      await assert.rejects(
        sql`UPDATE inventory.stock SET reserved = 4 WHERE sku_id = ${sku}`.execute(t.app.db),
        /stock_reserved_within_on_hand/,
      );
      await assert.rejects(sql`UPDATE inventory.stock SET on_hand = -1 WHERE sku_id = ${sku}`.execute(t.app.db), /check constraint/);
      // with units reserved, neither adjust nor set may go below them
      await sql`UPDATE inventory.stock SET reserved = 2 WHERE sku_id = ${sku}`.execute(t.app.db);
      const level = (await inventory().getStockLevels([sku])).get(sku)!;
      assert.deepEqual([level.available, level.availability], [1, 'low']);
      assert.equal((await inventory().adjust(sku, -2, actor('too far'))).ok, false);
      assert.equal((await inventory().trySetOnHand(sku, 1, actor('too far'))).ok, false);
      assert.equal((await inventory().getStockLevels([sku])).get(sku)!.onHand, 3);
    });
  });
}
