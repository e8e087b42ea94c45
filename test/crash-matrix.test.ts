import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createFeedshop, type Feedshop } from '../src/app';
import { loadConfig, type Config } from '../src/config';
import { ATTEMPT_LOCK_MS } from '../src/contexts/checkout';
import { ManualClock } from '../src/platform/clock';
import { backends } from './support/harness';
import { call, createDatabase, freePort, startCli, waitReady, type CliProcess } from './support/processes';

/**
 * The crash matrix: the real CLI (`api`) kills itself with SIGKILL right after each checkout step
 * (FEEDSHOP_CRASH_AT), in the middle of a buy-now. The store is then reopened by a fresh process whose clock is past
 * every lock the dead one held, as a restart minutes later would be, and the checkout must end completed (one order,
 * payment captured for its total) or rolled back (no order, no live authorization, no hold), with stock conserved.
 * The client's retry with the same Idempotency-Key gets that final answer, never a second checkout.
 */
const POINTS = ['reserved', 'started', 'authorized', 'committed', 'recorded', 'ordered', 'captured'] as const;
type Point = (typeof POINTS)[number];

/**
 * Where the attempt's journal stands after the kill. The hold comes before the attempt is written ('reserved': no
 * attempt yet, only a hold, which expires); the authorization and the stock commit are recorded by one move
 * ('recorded'), so a kill after either and before it leaves the attempt 'started'; the orders and the capture are
 * recorded with the outcome ('completed'), so a kill after either leaves it 'authorized'.
 */
const JOURNALED: Record<Point, string | null> = {
  reserved: null,
  started: 'started',
  authorized: 'started',
  committed: 'started',
  recorded: 'authorized',
  ordered: 'authorized',
  captured: 'authorized',
};
/** Recovery by the sweeper: before authorization there is nothing to finish with (no payment method), so undo. */
const AFTER_SWEEP: Record<Point, 'completed' | 'rolled_back' | 'never_started'> = {
  reserved: 'never_started',
  started: 'rolled_back',
  authorized: 'completed',
  committed: 'completed',
  recorded: 'completed',
  ordered: 'completed',
  captured: 'completed',
};

const CARD_OK = '4242424242424242';
const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
const TAX_BPS = 825;
const STOCK = 5;
const QTY = 2;
const PRICE = 1999;
const NET = PRICE * QTY;
const TOTAL = NET + Math.floor((NET * TAX_BPS + 5000) / 10000);
const PASSWORD = 'correct horse battery staple';

async function signUp(p: CliProcess, role: 'merchant' | 'shopper') {
  const email = `${role}-${randomBytes(4).toString('hex')}@example.test`;
  const res = await call(p, 'POST', '/v1/auth/signup', { body: { email, password: PASSWORD, displayName: `${role} ${email}`, role } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const login = await call(p, 'POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return { token: login.body.token as string, accountId: login.body.account.id as string };
}

interface Crashed {
  skuId: string;
  shopper: { token: string; accountId: string };
  key: string;
  body: Record<string, unknown>;
}

/** Starts `api` with the crash point set, seeds a product through the merchant API, and buys it: the process dies. */
async function crashDuringBuyNow(env: Record<string, string>, point: Point): Promise<Crashed> {
  const p = startCli('api', await freePort(), { ...env, FEEDSHOP_CRASH_AT: point });
  try {
    await waitReady(p);
    const merchant = await signUp(p, 'merchant');
    const shop = await call(p, 'PUT', '/v1/merchants/me', { token: merchant.token, body: { name: `Crash shop ${point}` } });
    assert.ok(shop.status === 200 || shop.status === 201, JSON.stringify(shop.body));
    const created = await call(p, 'POST', '/v1/merchant/products', {
      token: merchant.token,
      body: { name: `Crash test ${point}`, status: 'active', currency: 'EUR', variants: [{ title: 'One', priceMinor: PRICE, stock: STOCK }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const detail = await call(p, 'GET', `/v1/products/${created.body.id}`);
    const skuId = detail.body.variants[0].id as string;
    const shopper = await signUp(p, 'shopper');

    const key = randomUUID();
    const body = { skuId, quantity: QTY, paymentMethod: CARD_OK, shipping: SHIPPING };
    await assert.rejects(
      call(p, 'POST', '/v1/checkout/buy-now', { token: shopper.token, body, headers: { 'idempotency-key': key } }),
      'the connection dies with the process: the client never gets an answer',
    );
    const exit = await p.exited;
    assert.equal(exit.signal, 'SIGKILL', `the process died by its crash point; output:\n${p.output()}`);
    return { skuId, shopper, key, body };
  } finally {
    p.kill();
  }
}

/** What a user and an operator would look at: the attempt, its orders, the payment on both sides, the stock. */
async function stateOf(app: Feedshop, checkoutId: string, skuId: string) {
  const { checkout, orders, payments, inventory } = app.contexts;
  const events = await sql<{ name: string }>`
    SELECT name FROM outbox.events WHERE name LIKE 'checkout.checkout.%' AND payload->>'checkoutId' = ${checkoutId} ORDER BY id
  `.execute(app.db);
  const [audit] = await inventory.service.auditStock([skuId]);
  return {
    attempt: (await checkout.service.getAttempt(checkoutId))!,
    orders: await orders.service.findByCheckout(checkoutId),
    payment: await payments.service.findByCheckout(checkoutId),
    intents: await payments.service.simulator!.intentsForCheckout(checkoutId),
    audit: audit!,
    hold: await inventory.service.getHold(checkoutId),
    events: events.rows.map((e) => e.name.replace('checkout.checkout.', '')),
  };
}

type State = Awaited<ReturnType<typeof stateOf>>;

function assertInvariants(s: State): void {
  // never money without an order
  const live = s.intents.filter((i) => i.status === 'requires_capture' || i.status === 'succeeded');
  if (live.length > 0) assert.ok(s.orders.length > 0, `the provider holds money (${live.map((i) => i.status)}) but there is no order`);
  assert.ok(s.intents.length <= 1, `one authorization per checkout at the provider, found ${s.intents.length}`);
  // never an order without its payment
  if (s.orders.length > 0) assert.ok(s.payment && ['authorized', 'captured'].includes(s.payment.status), `orders exist with payment ${s.payment?.status}`);
  // stock conserved: everything taken in is on hand or sold, nothing is left held
  assert.equal(s.audit.journaled, s.audit.onHand + s.audit.sold, `journal ${s.audit.journaled} ≠ on hand ${s.audit.onHand} + sold ${s.audit.sold}`);
  assert.equal(s.audit.held, s.audit.reserved);
  assert.equal(s.audit.reserved, 0, 'no units held after recovery');
}

function assertCompleted(s: State): void {
  assertInvariants(s);
  assert.equal(s.attempt.status, 'completed');
  assert.equal(s.orders.length, 1, 'exactly one order');
  assert.equal(s.orders[0]!.status, 'paid');
  assert.equal(s.orders[0]!.totalMinor, TOTAL);
  assert.equal(s.payment?.status, 'captured');
  assert.equal(s.payment?.capturedMinor, TOTAL, 'captured for the order total');
  assert.deepEqual(
    s.intents.map((i) => [i.status, i.capturedMinor]),
    [['succeeded', TOTAL]],
    'the provider captured once, for the total',
  );
  assert.deepEqual([s.audit.onHand, s.audit.sold, s.audit.journaled], [STOCK - QTY, QTY, STOCK]);
  assert.equal(s.hold.status, 'committed');
  assert.equal(s.events.filter((e) => e === 'completed').length, 1, `events: ${s.events}`);
  assert.ok(!s.events.includes('failed'), `events: ${s.events}`);
}

function assertRolledBack(s: State): void {
  assertInvariants(s);
  assert.equal(s.attempt.status, 'failed');
  assert.equal(s.attempt.undone, true, 'every step undone');
  assert.deepEqual(s.orders, [], 'no order');
  assert.ok(s.payment === null || ['voided', 'failed'].includes(s.payment.status), `payment ${s.payment?.status}`);
  assert.ok(s.intents.every((i) => i.status === 'canceled' || i.status === 'failed'), `provider intents: ${s.intents.map((i) => i.status)}`);
  assert.deepEqual([s.audit.onHand, s.audit.sold, s.audit.journaled], [STOCK, 0, STOCK], 'every unit back on sale');
  assert.ok(['released', 'none', 'expired'].includes(s.hold.status), `hold ${s.hold.status}`);
  assert.equal(s.events.filter((e) => e === 'failed').length, 1, `events: ${s.events}`);
  assert.ok(!s.events.includes('completed'), `events: ${s.events}`);
}

/**
 * A cell whose process died holding stock before it wrote the attempt: nothing was recorded, so there is nothing to
 * finish; the hold expires (the sweep), and the client's retry is a new checkout that completes.
 */
async function neverStartedCell(app: Feedshop, crashed: Crashed, first: 'sweep' | 'retry'): Promise<void> {
  assert.equal(await app.contexts.checkout.service.repo.findAttemptByKey(crashed.shopper.accountId, crashed.key), null, 'no attempt was written');
  const [before] = await app.contexts.inventory.service.auditStock([crashed.skuId]);
  assert.deepEqual([before!.onHand, before!.reserved, before!.sold], [STOCK, QTY, 0], 'the dead process held the units');
  const buy = async () => {
    const res = await app.http.inject({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      headers: { authorization: `Bearer ${crashed.shopper.token}`, 'idempotency-key': crashed.key },
      payload: crashed.body,
    });
    return { status: res.statusCode, body: res.json(), replayed: res.headers['idempotent-replayed'] === 'true' };
  };
  if (first === 'sweep') await app.sweep();
  const answer = await buy();
  await app.sweep();
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.equal(answer.replayed, false, 'a new checkout, not a replay');
  const s = await stateOf(app, answer.body.checkoutId, crashed.skuId);
  // the abandoned hold expired: the only units taken are the new checkout's
  assertCompleted(s);
  const again = await buy();
  assert.deepEqual([again.status, again.body, again.replayed], [201, answer.body, true]);
}

/**
 * One cell of the matrix. `first` says who reaches the crashed checkout first after the restart: the sweeper (it
 * finishes or undoes it alone) or the client's retry (it carries the payment method, so it may finish the checkout).
 */
async function runCell(backend: 'pglite' | 'postgres', point: Point, first: 'sweep' | 'retry', template: string | null): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-crash-'));
  if (template) cpSync(template, dataDir, { recursive: true });
  const store = backend === 'postgres' ? await createDatabase(process.env.TEST_DATABASE_URL!, 'feedshop_test_crash') : null;
  const settings: Partial<Config> = { dataDir, taxRateBps: TAX_BPS, ...(store ? { databaseUrl: store.url } : {}) };
  const env: Record<string, string> = { DATA_DIR: dataDir, TAX_RATE_BPS: String(TAX_BPS), ...(store ? { DATABASE_URL: store.url } : {}) };
  let app: Feedshop | undefined;
  try {
    const crashed = await crashDuringBuyNow(env, point);

    // the restart: same store, no crash point, a clock past the dead process's lock on the attempt (and, when it died
    // before writing the attempt, past its hold's expiry: that hold is an abandoned reservation)
    const neverStarted = JOURNALED[point] === null;
    const config = loadConfig({}, { ...settings, logLevel: 'silent' });
    const later = ATTEMPT_LOCK_MS + 60_000 + (neverStarted ? config.reservationTtlMinutes * 60_000 : 0);
    app = await createFeedshop({ config, clock: new ManualClock(new Date(Date.now() + later)) });
    await app.migrate();
    const checkout = app.contexts.checkout.service;
    const attempt = await checkout.repo.findAttemptByKey(crashed.shopper.accountId, crashed.key);
    if (neverStarted) return await neverStartedCell(app, crashed, first);
    assert.ok(attempt, 'the checkout was journalled before the crash');
    assert.equal(attempt.status, JOURNALED[point], 'the process died right after the step it was told to');
    const checkoutId = attempt.id;

    const retry = async () => {
      const res = await app!.http.inject({
        method: 'POST',
        url: '/v1/checkout/buy-now',
        headers: { authorization: `Bearer ${crashed.shopper.token}`, 'idempotency-key': crashed.key },
        payload: crashed.body,
      });
      return { status: res.statusCode, body: res.json(), replayed: res.headers['idempotent-replayed'] === 'true' };
    };

    let answer: Awaited<ReturnType<typeof retry>>;
    if (first === 'sweep') {
      await app.sweep();
      answer = await retry();
    } else {
      answer = await retry();
      await app.sweep(); // finds nothing left to do
    }
    const outcome = first === 'sweep' ? AFTER_SWEEP[point] : 'completed';
    const s = await stateOf(app, checkoutId, crashed.skuId);
    if (outcome === 'completed') {
      assertCompleted(s);
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      assert.equal(answer.body.checkoutId, checkoutId, 'the retry answers the crashed checkout, not a new one');
      assert.equal(answer.body.status, 'completed');
      assert.deepEqual(answer.body.orders.map((o: { id: string }) => o.id), s.orders.map((o) => o.id));
      assert.equal(answer.body.totalMinor, TOTAL);
    } else {
      assertRolledBack(s);
      assert.equal(answer.status, 409, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'checkout_abandoned');
    }
    // after the sweep the checkout has its outcome, which the retry replays; a retry that comes first takes it over
    assert.equal(answer.replayed, first === 'sweep');

    // a second retry replays the answer; still one checkout for this shopper
    const again = await retry();
    assert.deepEqual([again.status, again.body, again.replayed], [answer.status, answer.body, true]);
    const attempts = await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout.attempts WHERE account_id = ${crashed.shopper.accountId}`.execute(app.db);
    assert.equal(attempts.rows[0]!.n, 1, 'no second checkout');
    await app.sweep();
    const settled = await stateOf(app, checkoutId, crashed.skuId);
    if (outcome === 'completed') assertCompleted(settled);
    else assertRolledBack(settled);

    // the shop keeps selling what is left: a new purchase with a new key completes
    const next = await app.http.inject({
      method: 'POST',
      url: '/v1/checkout/buy-now',
      headers: { authorization: `Bearer ${crashed.shopper.token}`, 'idempotency-key': randomUUID() },
      payload: crashed.body,
    });
    assert.equal(next.statusCode, 201, next.body);
    const [audit] = await app.contexts.inventory.service.auditStock([crashed.skuId]);
    const sold = (outcome === 'completed' ? 2 : 1) * QTY;
    assert.deepEqual([audit!.onHand, audit!.sold, audit!.reserved, audit!.journaled], [STOCK - sold, sold, 0, STOCK]);
  } finally {
    await app?.close();
    await store?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const backend of backends()) {
  // each cell has its own store and processes, so cells run side by side (they mostly wait on process start-up)
  describe(`crash matrix: kill -9 during buy-now, then restart [${backend.name}]`, { concurrency: 3 }, () => {
    // PGlite: every cell starts from a copy of one migrated, closed store (creating and migrating one costs seconds)
    let template: string | null = null;
    before(async () => {
      if (backend.name !== 'pglite') return;
      template = mkdtempSync(join(tmpdir(), 'feedshop-crash-template-'));
      const app = await createFeedshop({ config: loadConfig({}, { dataDir: template, logLevel: 'silent' }) });
      await app.migrate();
      await app.close();
    });
    after(() => {
      if (template) rmSync(template, { recursive: true, force: true });
    });

    const bySweep = { completed: 'the sweeper completes it; the retry gets that answer', rolled_back: 'the sweeper rolls it back; the retry gets that answer', never_started: 'its hold expires; the retry is a new checkout that completes' };
    for (const point of POINTS) {
      it(`dies after "${point}": ${bySweep[AFTER_SWEEP[point]]}`, { timeout: 240_000 }, () => runCell(backend.name, point, 'sweep', template));
    }
    for (const point of ['reserved', 'started', 'committed'] as const) {
      it(`dies after "${point}": the client's retry reaches it before the sweeper, carries the payment method and completes it`, { timeout: 240_000 }, () =>
        runCell(backend.name, point, 'retry', template),
      );
    }
  });
}
