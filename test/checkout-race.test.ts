import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createFeedshop, type Feedshop } from '../src/app';
import { loadConfig } from '../src/config';
import { call, createDatabase, freePort, startCli, waitReady, type CliProcess } from './support/processes';

/**
 * Two real `api` processes on one PostgreSQL, 60 shoppers buying the last units of one SKU at the same moment,
 * half through each process. Each process coalesces its own requests (design.md §5); only PostgreSQL sees both, so
 * exactly the stock is sold, everybody else gets a clear sold-out answer, and nothing is left held or charged.
 */
const url = process.env.TEST_DATABASE_URL;
if (!url && process.env.CI === 'true') throw new Error('CI=true but TEST_DATABASE_URL is not set: the two-process checkout race would be skipped');

const CARD_OK = '4242424242424242';
const PASSWORD = 'correct horse battery staple';
const BUYERS = 60;

describe('two API processes racing checkouts for the last units [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL: PGlite is one process by nature' }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-race-'));
  let store: Awaited<ReturnType<typeof createDatabase>>;
  let processes: CliProcess[] = [];
  let app: Feedshop;

  before(async () => {
    store = await createDatabase(url!, 'feedshop_test_race');
    // both migrate the fresh database at once on start-up (the migrator takes a lock)
    const env = { DATABASE_URL: store.url, DATA_DIR: dataDir, DATABASE_POOL_SIZE: '10' };
    processes = [startCli('api', await freePort(), env), startCli('api', await freePort(), env)];
    await Promise.all(processes.map((p) => waitReady(p)));
    // an in-process view of the same database, for the figures no route shows (stock audit, payments per checkout)
    app = await createFeedshop({ config: loadConfig({}, { databaseUrl: store.url, dataDir, logLevel: 'silent' }) });
    await app.migrate();
  });

  after(async () => {
    for (const p of processes) p.kill();
    await Promise.all(processes.map((p) => p.exited));
    await app?.close();
    await store?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A merchant (own shop, so its order list is this race's alone) with one active product of `stock` units. */
  async function productWithStock(stock: number) {
    const p = processes[0]!;
    const email = `merchant-${randomBytes(4).toString('hex')}@example.test`;
    assert.equal((await call(p, 'POST', '/v1/auth/signup', { body: { email, password: PASSWORD, displayName: 'Race shop', role: 'merchant' } })).status, 201);
    const token = (await call(p, 'POST', '/v1/auth/login', { body: { email, password: PASSWORD } })).body.token as string;
    await call(p, 'PUT', '/v1/merchants/me', { token, body: { name: `Race shop ${email}` } });
    const created = await call(p, 'POST', '/v1/merchant/products', {
      token,
      body: { name: `Last units ${stock}`, status: 'active', currency: 'EUR', variants: [{ title: 'One', priceMinor: 2500, stock }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const detail = await call(p, 'GET', `/v1/products/${created.body.id}`);
    return { token, skuId: detail.body.variants[0].id as string };
  }

  /** Fires BUYERS one-unit buy-nows at once, alternating between the processes, each from its own device and key. */
  async function race(skuId: string) {
    const tag = randomBytes(3).toString('hex');
    const answers = await Promise.all(
      Array.from({ length: BUYERS }, (_, i) =>
        call(processes[i % 2]!, 'POST', '/v1/checkout/buy-now', {
          headers: { 'x-device-id': `dev_race_${tag}_${i}`, 'idempotency-key': randomUUID() },
          body: { skuId, quantity: 1, paymentMethod: CARD_OK },
        }).then((r) => ({ ...r, process: i % 2 })),
      ),
    );
    const won = answers.filter((a) => a.status === 201);
    const soldOut = answers.filter((a) => a.status === 409 && a.body?.error?.code === 'sold_out');
    const other = answers.filter((a) => !won.includes(a) && !soldOut.includes(a)).map((a) => `${a.status} ${JSON.stringify(a.body)}`);
    return { won, soldOut, other };
  }

  async function assertSettled(skuId: string, merchantToken: string, stock: number, won: Array<{ body: any }>) {
    // the merchant sees exactly one paid order per winner
    const list = await call(processes[1]!, 'GET', '/v1/merchant/orders?limit=100', { token: merchantToken });
    assert.equal(list.status, 200);
    assert.equal(list.body.items.length, stock, 'one order per unit sold');
    assert.ok(list.body.items.every((o: { status: string; itemCount: number }) => o.status === 'paid' && o.itemCount === 1));
    assert.deepEqual(
      list.body.items.map((o: { checkoutId: string }) => o.checkoutId).sort(),
      won.map((w) => w.body.checkoutId as string).sort(),
      'the orders are the winners’ checkouts',
    );

    const [audit] = await app.contexts.inventory.service.auditStock([skuId]);
    assert.deepEqual(
      { onHand: audit!.onHand, sold: audit!.sold, reserved: audit!.reserved, held: audit!.held, journaled: audit!.journaled },
      { onHand: 0, sold: stock, reserved: 0, held: 0, journaled: stock },
    );

    // money only for the winners: every losing checkout ended before a payment existed, and nothing is left to undo
    const attempts = await sql<{ id: string; status: string; failure_code: string | null; undone: boolean }>`
      SELECT id, status, failure_code, undone FROM checkout.attempts WHERE lines->0->>'skuId' = ${skuId}
    `.execute(app.db);
    assert.equal(attempts.rows.length, BUYERS, 'one checkout per request, none run twice');
    for (const a of attempts.rows) {
      const payment = await app.contexts.payments.service.findByCheckout(a.id);
      if (a.status === 'completed') {
        assert.equal(payment?.status, 'captured');
        assert.equal(payment?.capturedMinor, 2500);
      } else {
        assert.deepEqual([a.status, a.failure_code, a.undone], ['failed', 'sold_out', true]);
        assert.equal(payment, null, 'a sold-out checkout never reached the payment provider');
      }
    }
    assert.equal(attempts.rows.filter((a) => a.status === 'completed').length, stock);
  }

  for (const stock of [7, 1]) {
    it(`stock ${stock}, ${BUYERS} buyers over two processes: exactly ${stock} sold, ${BUYERS - stock} told sold out`, { timeout: 120_000 }, async (t) => {
      const { token, skuId } = await productWithStock(stock);
      const { won, soldOut, other } = await race(skuId);
      t.diagnostic(`winners per process: ${[0, 1].map((n) => won.filter((w) => w.process === n).length).join(' + ')}`);
      assert.deepEqual(other, [], 'every answer is a sale or a sold-out');
      assert.equal(won.length, stock, 'exactly the stock is sold');
      assert.equal(soldOut.length, BUYERS - stock);
      for (const w of won) {
        assert.equal(w.body.status, 'completed');
        assert.equal(w.body.orders.length, 1);
      }
      for (const s of soldOut) assert.equal(s.body.error.message, 'Not enough stock left for this order');
      await assertSettled(skuId, token, stock, won);
    });
  }
});
