import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createPaymentsContext, type PaymentsOptions, type PaymentsServiceImpl } from '../src/contexts/payments';
import { newId } from '../src/platform/ids';
import type { ManualClock } from '../src/platform/clock';
import { backends, startTestApp, type TestApp } from './support/harness';

const SECRET = `whsec_test_${randomBytes(16).toString('hex')}`;
const CARD = { ok: '4242 4242 4242 4242', declined: '4000 0000 0000 0002', noFunds: '4000000000009995', slow: '4000 0000 0000 0259', error: '4000 0000 0000 0119' };

function sign(body: string, unixSeconds: number, secret = SECRET): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

for (const backend of backends()) {
  describe(`payments, simulated provider [${backend.name}]`, () => {
    let t: TestApp;
    let payments: PaymentsServiceImpl;
    before(async () => {
      t = await startTestApp(backend, { config: { simulatedWebhookSecret: SECRET } });
      payments = t.app.contexts.payments.service;
    });
    after(() => t.close());

    /** Another payments module over the same database and provider books, with test-only provider behaviour. */
    const variant = (options: PaymentsOptions): PaymentsServiceImpl => {
      const { db, clock, config, outbox, metrics, log } = t.app;
      return createPaymentsContext({ db, clock, config, outbox, metrics, log }, options).service;
    };
    const authorize = (card: string, amountMinor = 10_000, svc = payments) =>
      svc.authorize({ checkoutId: newId('checkout'), amountMinor, currency: 'EUR', paymentMethod: card, accountId: null });
    const eventsOf = async (paymentId: string) => {
      const r = await sql<{ name: string; payload: any }>`
        SELECT name, payload FROM outbox.events WHERE payload->>'paymentId' = ${paymentId} ORDER BY id`.execute(t.app.db);
      return r.rows;
    };
    const now = () => Math.floor(t.clock.now().getTime() / 1000);
    const postWebhook = (body: string, signature: string | undefined, provider = 'simulated') =>
      t.request({
        method: 'POST',
        url: `/v1/payments/webhooks/${provider}`,
        payload: body,
        headers: { 'content-type': 'application/json', ...(signature ? { 'x-sim-signature': signature } : {}) },
      });
    /** The newest webhook the simulator queued for a payment (what it would post to us). */
    const queuedWebhook = async (ref: string) => {
      const r = await sql<{ body: string }>`SELECT body FROM payments_sim.webhooks WHERE body::jsonb->'data'->>'ref' = ${ref} ORDER BY id DESC LIMIT 1`.execute(t.app.db);
      return r.rows[0]!.body;
    };

    it('authorizes a good card once, however often the checkout retries', async () => {
      const checkoutId = newId('checkout');
      const input = { checkoutId, amountMinor: 2_500, currency: 'EUR', paymentMethod: CARD.ok, accountId: null };
      const first = await payments.authorize(input);
      assert.ok(first.ok);
      assert.equal(first.payment.status, 'authorized');
      assert.equal(first.payment.amountMinor, 2_500);
      assert.equal(first.payment.capturedMinor, 0);
      assert.match(first.payment.providerRef ?? '', /^simpi_/);
      const again = await payments.authorize(input);
      assert.ok(again.ok);
      assert.equal(again.payment.id, first.payment.id);
      assert.equal((await payments.simulator!.intentsForCheckout(checkoutId)).length, 1, 'the provider holds one authorization');
      assert.deepEqual((await eventsOf(first.payment.id)).map((e) => e.name), ['payments.payment.authorized']);
      assert.deepEqual(await payments.findByCheckout(checkoutId), first.payment);
    });

    it('captures all of it, idempotently', async () => {
      const auth = await authorize(CARD.ok, 4_000);
      assert.ok(auth.ok);
      const captured = await payments.capture(auth.payment.id);
      assert.ok(captured.ok);
      assert.equal(captured.payment.status, 'captured');
      assert.equal(captured.payment.capturedMinor, 4_000);
      const again = await payments.capture(auth.payment.id);
      assert.ok(again.ok);
      assert.equal(again.payment.capturedMinor, 4_000);
      const events = (await eventsOf(auth.payment.id)).filter((e) => e.name === 'payments.payment.captured');
      assert.equal(events.length, 1);
      assert.equal(events[0]!.payload.capturedMinor, 4_000);
    });

    it('captures part of an authorization; more than authorized is refused', async () => {
      const auth = await authorize(CARD.ok, 1_000);
      assert.ok(auth.ok);
      assert.deepEqual(await payments.capture(auth.payment.id, 1_001), { ok: false, code: 'not_capturable' });
      const partial = await payments.capture(auth.payment.id, 600);
      assert.ok(partial.ok);
      assert.equal(partial.payment.capturedMinor, 600);
      assert.equal(partial.payment.amountMinor, 1_000);
    });

    it('voids an authorization; a voided payment cannot be captured and a captured one cannot be voided', async () => {
      const auth = await authorize(CARD.ok);
      assert.ok(auth.ok);
      const voided = await payments.void(auth.payment.id);
      assert.ok(voided.ok);
      assert.equal(voided.payment.status, 'voided');
      const again = await payments.void(auth.payment.id);
      assert.ok(again.ok, 'voiding twice is fine');
      assert.deepEqual(await payments.capture(auth.payment.id), { ok: false, code: 'not_capturable' });
      assert.equal((await eventsOf(auth.payment.id)).filter((e) => e.name === 'payments.payment.voided').length, 1);

      const other = await authorize(CARD.ok);
      assert.ok(other.ok);
      assert.ok((await payments.capture(other.payment.id)).ok);
      assert.deepEqual(await payments.void(other.payment.id), { ok: false, code: 'not_voidable' });
    });

    it('refunds in parts, idempotently per key, and never more than was captured', async () => {
      const auth = await authorize(CARD.ok, 5_000);
      assert.ok(auth.ok);
      assert.deepEqual(await payments.refund(auth.payment.id, 100, 'early:1', 'before capture'), { ok: false, code: 'not_refundable' });
      assert.ok((await payments.capture(auth.payment.id)).ok);
      const key = `${auth.payment.id}:refund`;
      const r1 = await payments.refund(auth.payment.id, 1_000, `${key}:1`, 'damaged');
      assert.ok(r1.ok);
      assert.equal(r1.payment.refundedMinor, 1_000);
      assert.equal(r1.payment.status, 'partially_refunded');
      const r1again = await payments.refund(auth.payment.id, 1_000, `${key}:1`, 'damaged');
      assert.ok(r1again.ok);
      assert.equal(r1again.payment.refundedMinor, 1_000, 'the same key refunds once');
      const r2 = await payments.refund(auth.payment.id, 2_500, `${key}:2`, 'returned');
      assert.ok(r2.ok);
      assert.equal(r2.payment.refundedMinor, 3_500);
      assert.deepEqual(await payments.refund(auth.payment.id, 1_501, `${key}:3`, 'too much'), { ok: false, code: 'amount_exceeds_captured' });
      assert.deepEqual(await payments.refund(auth.payment.id, 0, `${key}:4`, 'zero'), { ok: false, code: 'not_refundable' });
      assert.deepEqual(await payments.refund(auth.payment.id, 7, `${key}:1`, 'same key, other amount'), { ok: false, code: 'not_refundable' });
      const rest = await payments.refund(auth.payment.id, 1_500, `${key}:5`, 'the rest');
      assert.ok(rest.ok);
      assert.equal(rest.payment.status, 'refunded');
      assert.equal(rest.payment.refundedMinor, 5_000);
      const refunded = (await eventsOf(auth.payment.id)).filter((e) => e.name === 'payments.payment.refunded');
      assert.deepEqual(refunded.map((e) => e.payload.amountMinor), [1_000, 2_500, 1_500]);
    });

    it('a declined card and insufficient funds fail with their code, and a retry does not ask again', async () => {
      for (const [card, code] of [
        [CARD.declined, 'card_declined'],
        [CARD.noFunds, 'insufficient_funds'],
      ] as const) {
        const checkoutId = newId('checkout');
        const input = { checkoutId, amountMinor: 900, currency: 'USD', paymentMethod: card, accountId: null };
        const res = await payments.authorize(input);
        assert.equal(res.ok, false);
        assert.ok(!res.ok);
        assert.equal(res.code, code);
        assert.equal(res.payment?.status, 'failed');
        assert.equal(res.payment?.failureCode, code);
        const again = await payments.authorize(input);
        assert.ok(!again.ok);
        assert.equal(again.code, code);
        assert.equal((await payments.simulator!.intentsForCheckout(checkoutId)).length, 1);
        assert.deepEqual((await eventsOf(res.payment!.id)).map((e) => e.name), ['payments.payment.failed']);
        assert.ok((await payments.void(res.payment!.id)).ok, 'undoing a failed payment has nothing to do');
      }
    });

    it('a slow provider times out as provider_timeout; reconcile finds the authorization it made', async () => {
      const quick = variant({ providerTimeoutMs: 150, simulator: { slowDelayMs: 600 } });
      const checkoutId = newId('checkout');
      const res = await quick.authorize({ checkoutId, amountMinor: 3_000, currency: 'EUR', paymentMethod: CARD.slow, accountId: null });
      assert.ok(!res.ok);
      assert.equal(res.code, 'provider_timeout');
      assert.equal(res.payment?.status, 'pending');
      const settled = await quick.reconcile(checkoutId);
      assert.equal(settled?.status, 'authorized');
      assert.equal(settled?.amountMinor, 3_000);
      assert.equal((await payments.simulator!.intentsForCheckout(checkoutId)).length, 1);
      // the usual undo then works: nothing stays held
      const voided = await quick.void(settled!.id);
      assert.ok(voided.ok);
      assert.equal(voided.payment.status, 'voided');
      assert.equal(await payments.reconcile(newId('checkout')), null);
    });

    it('a provider error answers provider_unavailable; reconcile records that nothing was authorized', async () => {
      const checkoutId = newId('checkout');
      const res = await payments.authorize({ checkoutId, amountMinor: 1_200, currency: 'EUR', paymentMethod: CARD.error, accountId: null });
      assert.ok(!res.ok);
      assert.equal(res.code, 'provider_unavailable');
      assert.equal((await payments.simulator!.intentsForCheckout(checkoutId)).length, 0);
      const settled = await payments.reconcile(checkoutId);
      assert.equal(settled?.status, 'failed');
      assert.equal(settled?.failureCode, 'provider_unavailable');
    });

    /**
     * A payment given up because the provider did not answer (reconcile found nothing), then authorized at the
     * provider after all (a request that was still on its way): a hold on the card nobody will capture.
     */
    const givenUpThenAuthorizedLate = async (amountMinor: number) => {
      const checkoutId = newId('checkout');
      const res = await payments.authorize({ checkoutId, amountMinor, currency: 'EUR', paymentMethod: CARD.error, accountId: null });
      assert.ok(!res.ok);
      assert.equal((await payments.reconcile(checkoutId))?.status, 'failed'); // the provider knew nothing then
      const late = await payments.simulator!.authorize({
        amountMinor,
        currency: 'EUR',
        paymentMethod: CARD.ok,
        idempotencyKey: `${checkoutId}:authorize`,
        metadata: { payment_id: res.payment!.id, checkout_id: checkoutId },
      });
      assert.equal(late.status, 200);
      const [intent] = await payments.simulator!.intentsForCheckout(checkoutId);
      assert.equal(intent?.status, 'requires_capture');
      return { checkoutId, paymentId: res.payment!.id, ref: intent!.ref };
    };

    it('an authorization the provider makes after we gave the payment up is voided when its webhook arrives', async () => {
      const { checkoutId, paymentId, ref } = await givenUpThenAuthorizedLate(1_300);
      const body = await queuedWebhook(ref);
      const answer = await postWebhook(body, sign(body, now()));
      assert.equal(answer.status, 200);
      assert.equal((await payments.simulator!.intentsForCheckout(checkoutId))[0]?.status, 'canceled');
      const payment = await payments.getPayment(paymentId);
      assert.equal(payment?.status, 'failed');
      assert.equal(payment?.capturedMinor, 0);
    });

    it('the sweep voids a late authorization whose webhook never came', async () => {
      const { checkoutId, paymentId, ref } = await givenUpThenAuthorizedLate(1_400);
      // the webhook is lost on the way
      await sql`DELETE FROM payments_sim.webhooks WHERE body::jsonb->'data'->>'ref' = ${ref}`.execute(t.app.db);
      await payments.sweep();
      assert.equal((await payments.simulator!.intentsForCheckout(checkoutId))[0]?.status, 'canceled');
      const payment = await payments.getPayment(paymentId);
      assert.deepEqual([payment?.status, payment?.providerRef, payment?.capturedMinor], ['failed', ref, 0]);
    });

    it('applies a correctly signed webhook (a capture made on the provider side)', async () => {
      const auth = await authorize(CARD.ok, 2_000);
      assert.ok(auth.ok);
      // captured at the provider (e.g. from its dashboard): only the webhook tells us
      await payments.simulator!.capture(auth.payment.providerRef!, undefined, `dashboard:${auth.payment.id}`);
      const body = await queuedWebhook(auth.payment.providerRef!);
      const res = await postWebhook(body, sign(body, now()));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { received: true, duplicate: false });
      const payment = await payments.getPayment(auth.payment.id);
      assert.equal(payment?.status, 'captured');
      assert.equal(payment?.capturedMinor, 2_000);
    });

    it('refuses a tampered body, a wrong secret, a stale timestamp or no signature, and changes nothing', async () => {
      const auth = await authorize(CARD.ok, 2_000);
      assert.ok(auth.ok);
      await payments.simulator!.capture(auth.payment.providerRef!, undefined, `dashboard:${auth.payment.id}`);
      const body = await queuedWebhook(auth.payment.providerRef!);
      const tampered = body.replace('"capturedMinor":2000', '"capturedMinor":1');
      assert.notEqual(tampered, body);
      const attempts = [
        { body: tampered, sig: sign(body, now()) },
        { body, sig: sign(body, now(), 'whsec_not_the_secret_at_all') },
        { body, sig: sign(body, now() - 301) },
        { body, sig: undefined },
        { body, sig: 't=abc,v1=00' },
      ];
      for (const a of attempts) {
        const res = await postWebhook(a.body, a.sig);
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, 'invalid_signature');
      }
      assert.equal((await payments.getPayment(auth.payment.id))?.status, 'authorized');
      const inbox = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payments.webhook_events WHERE payment_id = ${auth.payment.id}`.execute(t.app.db);
      assert.equal(inbox.rows[0]!.n, 0);
      // the same webhook with a good signature still applies afterwards
      const ok = await postWebhook(body, sign(body, now()));
      assert.equal(ok.status, 200);
      assert.equal((await payments.getPayment(auth.payment.id))?.status, 'captured');
    });

    it('a webhook delivered twice is applied once', async () => {
      const auth = await authorize(CARD.ok, 2_000);
      assert.ok(auth.ok);
      await payments.simulator!.capture(auth.payment.providerRef!, 1_500, `dashboard:${auth.payment.id}`);
      const body = await queuedWebhook(auth.payment.providerRef!);
      const first = await postWebhook(body, sign(body, now()));
      (t.clock as ManualClock).advance(60_000);
      const second = await postWebhook(body, sign(body, now()));
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal(first.body.duplicate, false);
      assert.equal(second.body.duplicate, true);
      const captured = (await eventsOf(auth.payment.id)).filter((e) => e.name === 'payments.payment.captured');
      assert.equal(captured.length, 1);
      assert.equal((await payments.getPayment(auth.payment.id))?.capturedMinor, 1_500);
    });

    it('the simulator delivers its queued webhooks through the same handler; redelivery changes nothing', async () => {
      const auth = await authorize(CARD.ok, 800);
      assert.ok(auth.ok);
      assert.ok((await payments.capture(auth.payment.id)).ok);
      await t.app.sweep(); // posts queued webhooks (authorized, captured): they confirm what we already recorded
      const payment = await payments.getPayment(auth.payment.id);
      assert.equal(payment?.status, 'captured');
      const inbox = await sql<{ event_type: string }>`SELECT event_type FROM payments.webhook_events WHERE payment_id = ${auth.payment.id} ORDER BY id`.execute(t.app.db);
      assert.deepEqual(inbox.rows.map((r) => r.event_type), ['payment.authorized', 'payment.captured']);
      assert.deepEqual((await eventsOf(auth.payment.id)).map((e) => e.name), ['payments.payment.authorized', 'payments.payment.captured']);
    });

    it('a webhook that arrives before the API answer leads to the same final state', async () => {
      const eager = variant({ simulator: { webhookTiming: 'before_response' } });
      const auth = await authorize(CARD.ok, 1_700, eager);
      assert.ok(auth.ok);
      assert.equal(auth.payment.status, 'authorized');
      const inbox = await sql<{ event_type: string }>`SELECT event_type FROM payments.webhook_events WHERE payment_id = ${auth.payment.id}`.execute(t.app.db);
      assert.deepEqual(inbox.rows.map((r) => r.event_type), ['payment.authorized'], 'the webhook was applied before the call returned');
      const captured = await eager.capture(auth.payment.id);
      assert.ok(captured.ok);
      const refunded = await eager.refund(auth.payment.id, 700, `${auth.payment.id}:r1`, 'partial');
      assert.ok(refunded.ok);
      assert.equal(refunded.payment.refundedMinor, 700);
      assert.deepEqual((await eventsOf(auth.payment.id)).map((e) => e.name), ['payments.payment.authorized', 'payments.payment.captured', 'payments.payment.refunded']);

      const declined = await authorize(CARD.declined, 500, eager);
      assert.ok(!declined.ok);
      assert.equal(declined.code, 'card_declined');
      assert.equal(declined.payment?.status, 'failed');
    });

    it('answers 404 for a provider this process does not use', async () => {
      const body = JSON.stringify({ id: 'evt_1', type: 'payment_intent.succeeded', data: { object: {} } });
      const res = await postWebhook(body, sign(body, now()), 'stripe');
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'unknown_provider');
      const other = await postWebhook(body, sign(body, now()), 'paypal');
      assert.equal(other.status, 404);
    });

    it('the sweeper settles a payment whose authorization answer never came', async () => {
      const checkoutId = newId('checkout');
      const quick = variant({ providerTimeoutMs: 100, simulator: { slowDelayMs: 400 } });
      const res = await quick.authorize({ checkoutId, amountMinor: 999, currency: 'EUR', paymentMethod: CARD.slow, accountId: null });
      assert.ok(!res.ok);
      (t.clock as ManualClock).advance(10 * 60_000);
      await t.app.sweep();
      assert.equal((await payments.findByCheckout(checkoutId))?.status, 'authorized');
    });
  });
}
