import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { StripeProvider } from '../src/contexts/payments/payments.stripe';
import { createPaymentsContext, type PaymentsServiceImpl } from '../src/contexts/payments';
import { ConfigError, loadConfig } from '../src/config';
import type { ContextDeps } from '../src/platform/context';
import { newId } from '../src/platform/ids';
import { backends, startTestApp, type TestApp } from './support/harness';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-standin';

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('Stripe adapter against the local stand-in', () => {
  let standin: StripeStandIn;
  let stripe: StripeProvider;
  const received: Array<{ body: string; headers: IncomingHttpHeaders }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(200).end('{}');
    });
  });

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    standin = await startStripeStandIn({ webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
    stripe = new StripeProvider({ secretKey: standin.secretKey, webhookSecret: standin.webhookSecret, apiBase: standin.url, timeoutMs: 2_000, nowSeconds });
  });
  after(async () => {
    await standin.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  const auth = (key: string, paymentMethod = 'pm_card_visa', amountMinor = 5_000) =>
    stripe.authorize({ amountMinor, currency: 'EUR', paymentMethod, idempotencyKey: key, metadata: { payment_id: `pay_${key}`, checkout_id: key } });

  it('authorizes with manual capture, captures part, refunds part, and refuses to refund more', async () => {
    const a = await auth(newId('checkout'));
    assert.ok(a.ok);
    assert.equal(a.snapshot.status, 'authorized');
    assert.match(a.snapshot.ref, /^pi_/);
    const pi = standin.paymentIntents.get(a.snapshot.ref)!;
    assert.equal(pi.capture_method, 'manual');
    assert.equal(pi.status, 'requires_capture');
    assert.equal(pi.currency, 'eur');

    const c = await stripe.capture(a.snapshot.ref, 4_000, `${a.snapshot.ref}:capture`);
    assert.ok(c.ok);
    assert.equal(c.snapshot.status, 'captured');
    assert.equal(c.snapshot.capturedMinor, 4_000);

    const r = await stripe.refund(a.snapshot.ref, 1_500, `${a.snapshot.ref}:r1`);
    assert.ok(r.ok);
    assert.equal(r.snapshot.refundedMinor, 1_500);
    const again = await stripe.refund(a.snapshot.ref, 1_500, `${a.snapshot.ref}:r1`);
    assert.ok(again.ok);
    assert.equal(again.snapshot.refundedMinor, 1_500, 'a replayed refund key refunds once');
    const tooMuch = await stripe.refund(a.snapshot.ref, 2_501, `${a.snapshot.ref}:r2`);
    assert.ok(!tooMuch.ok);
    assert.equal(tooMuch.code, 'rejected');
    const retrieved = await stripe.retrieve(a.snapshot.ref);
    assert.ok(retrieved.ok);
    assert.deepEqual([retrieved.snapshot.capturedMinor, retrieved.snapshot.refundedMinor], [4_000, 1_500]);
  });

  it('cancels an authorization; capturing it afterwards is refused', async () => {
    const a = await auth(newId('checkout'));
    assert.ok(a.ok);
    const v = await stripe.void(a.snapshot.ref, `${a.snapshot.ref}:void`);
    assert.ok(v.ok);
    assert.equal(v.snapshot.status, 'voided');
    const c = await stripe.capture(a.snapshot.ref, undefined, `${a.snapshot.ref}:capture`);
    assert.ok(!c.ok);
    assert.equal(c.code, 'rejected');
  });

  it('maps card errors to our decline codes', async () => {
    const declined = await auth(newId('checkout'), 'pm_card_chargeDeclined');
    assert.ok(!declined.ok);
    assert.equal(declined.code, 'card_declined');
    assert.equal(declined.snapshot?.status, 'failed');
    const poor = await auth(newId('checkout'), 'pm_card_chargeDeclinedInsufficientFunds');
    assert.ok(!poor.ok);
    assert.equal(poor.code, 'insufficient_funds');
    assert.equal(poor.snapshot?.failureCode, 'insufficient_funds');
  });

  it('replays an idempotency key: the same PaymentIntent, never a second one; other parameters are refused', async () => {
    const key = `${newId('checkout')}:authorize`;
    const before = standin.paymentIntents.size;
    const first = await auth(key);
    const second = await auth(key);
    const recovered = await stripe.recoverAuthorization({ amountMinor: 5_000, currency: 'EUR', paymentMethod: 'pm_card_visa', idempotencyKey: key, metadata: { payment_id: `pay_${key}`, checkout_id: key } });
    assert.ok(first.ok && second.ok && recovered.ok);
    assert.equal(second.snapshot.ref, first.snapshot.ref);
    assert.equal(recovered.snapshot.ref, first.snapshot.ref);
    assert.equal(standin.paymentIntents.size, before + 1);
    assert.ok(standin.requests.filter((r) => r.idempotencyKey === key).length === 3, 'our key was sent on every call');
    const other = await auth(key, 'pm_card_visa', 6_000);
    assert.ok(!other.ok);
    assert.equal(other.code, 'rejected');
  });

  it('maps 5xx to provider_unavailable and an unreachable API to provider_timeout', async () => {
    standin.failNext(500);
    const down = await auth(newId('checkout'));
    assert.ok(!down.ok);
    assert.equal(down.code, 'provider_unavailable');
    const nowhere = new StripeProvider({ secretKey: standin.secretKey, apiBase: 'http://127.0.0.1:9', timeoutMs: 500, nowSeconds });
    const lost = await nowhere.authorize({ amountMinor: 100, currency: 'EUR', paymentMethod: 'pm_card_visa', idempotencyKey: newId('checkout'), metadata: {} });
    assert.ok(!lost.ok);
    assert.equal(lost.code, 'provider_timeout');
  });

  it('verifies webhook signatures through the SDK', async () => {
    received.length = 0;
    const a = await auth(newId('checkout'));
    assert.ok(a.ok);
    await standin.settle();
    const hook = received.find((h) => h.body.includes(a.snapshot.ref))!;
    assert.ok(hook, 'the stand-in posted a webhook');
    const event = stripe.verifyWebhook(hook.body, hook.headers);
    assert.equal(event?.type, 'payment_intent.amount_capturable_updated');
    assert.equal(event?.snapshot?.status, 'authorized');
    assert.equal(event?.snapshot?.ref, a.snapshot.ref);
    assert.equal(stripe.verifyWebhook(hook.body.replace('"amount": 5000', '"amount": 1'), hook.headers), null, 'tampered body');
    const stranger = new StripeProvider({ secretKey: standin.secretKey, webhookSecret: 'whsec_other', apiBase: standin.url, timeoutMs: 500, nowSeconds });
    assert.equal(stranger.verifyWebhook(hook.body, hook.headers), null, 'wrong secret');
    const late = new StripeProvider({ secretKey: standin.secretKey, webhookSecret: standin.webhookSecret, apiBase: standin.url, timeoutMs: 500, nowSeconds: () => nowSeconds() + 301 });
    assert.equal(late.verifyWebhook(hook.body, hook.headers), null, 'outside the 5-minute tolerance');
  });

  it('refuses to start with paymentProvider stripe and no secret key', () => {
    const config = loadConfig({}, { paymentProvider: 'stripe', logLevel: 'silent' });
    // the check happens before anything touches the database
    assert.throws(() => createPaymentsContext({ config } as ContextDeps), (e: unknown) => e instanceof ConfigError && /STRIPE_SECRET_KEY/.test(e.message));
  });
});

for (const backend of backends()) {
  describe(`payments through Stripe (stand-in) [${backend.name}]`, () => {
    let t: TestApp;
    let standin: StripeStandIn;
    let payments: PaymentsServiceImpl;
    before(async () => {
      let clockSeconds = () => nowSeconds();
      standin = await startStripeStandIn({ nowSeconds: () => clockSeconds() });
      t = await startTestApp(backend, {
        config: { paymentProvider: 'stripe', stripeSecretKey: standin.secretKey, stripeWebhookSecret: standin.webhookSecret, stripeApiBase: standin.url },
      });
      clockSeconds = () => Math.floor(t.clock.now().getTime() / 1000);
      await t.app.http.listen({ host: '127.0.0.1', port: 0 });
      const { port } = t.app.http.server.address() as AddressInfo;
      standin.setWebhookUrl(`http://127.0.0.1:${port}/v1/payments/webhooks/stripe`);
      payments = t.app.contexts.payments.service;
    });
    after(async () => {
      await standin.close();
      await t.close();
    });

    const eventNames = async (paymentId: string) =>
      (await sql<{ name: string }>`SELECT name FROM outbox.events WHERE payload->>'paymentId' = ${paymentId} ORDER BY id`.execute(t.app.db)).rows.map((r) => r.name);

    it('authorize → capture → refund through PaymentsService; the webhooks confirm, once each', async () => {
      const checkoutId = newId('checkout');
      const a = await payments.authorize({ checkoutId, amountMinor: 7_000, currency: 'USD', paymentMethod: 'pm_card_visa', accountId: null });
      assert.ok(a.ok);
      assert.equal(a.payment.provider, 'stripe');
      assert.match(a.payment.providerRef ?? '', /^pi_/);
      const c = await payments.capture(a.payment.id);
      assert.ok(c.ok);
      assert.equal(c.payment.capturedMinor, 7_000);
      const r = await payments.refund(a.payment.id, 2_000, `${a.payment.id}:refund:1`, 'one item back');
      assert.ok(r.ok);
      assert.equal(r.payment.refundedMinor, 2_000);
      assert.equal(r.payment.status, 'partially_refunded');
      await standin.settle();
      const acks = standin.webhooks.filter((w) => w.status !== 200);
      assert.deepEqual(acks, [], 'every webhook was accepted');
      const inbox = await sql<{ event_type: string }>`SELECT event_type FROM payments.webhook_events WHERE payment_id = ${a.payment.id} ORDER BY received_at, id`.execute(t.app.db);
      assert.deepEqual(inbox.rows.map((x) => x.event_type).sort(), ['charge.refunded', 'payment_intent.amount_capturable_updated', 'payment_intent.succeeded']);
      assert.deepEqual(await eventNames(a.payment.id), ['payments.payment.authorized', 'payments.payment.captured', 'payments.payment.refunded']);
      const final = await payments.reconcile(checkoutId);
      assert.deepEqual([final?.status, final?.capturedMinor, final?.refundedMinor], ['partially_refunded', 7_000, 2_000]);
    });

    it('a declined card fails the payment; voiding it afterwards is a no-op', async () => {
      const a = await payments.authorize({ checkoutId: newId('checkout'), amountMinor: 1_000, currency: 'USD', paymentMethod: 'pm_card_chargeDeclined', accountId: null });
      assert.ok(!a.ok);
      assert.equal(a.code, 'card_declined');
      assert.equal(a.payment?.status, 'failed');
      assert.ok((await payments.void(a.payment!.id)).ok);
      await standin.settle();
      assert.deepEqual(await eventNames(a.payment!.id), ['payments.payment.failed']);
    });

    it('a void reaches Stripe and its webhook changes nothing more', async () => {
      const a = await payments.authorize({ checkoutId: newId('checkout'), amountMinor: 1_000, currency: 'USD', paymentMethod: 'pm_card_visa', accountId: null });
      assert.ok(a.ok);
      const v = await payments.void(a.payment.id);
      assert.ok(v.ok);
      assert.equal(standin.paymentIntents.get(a.payment.providerRef!)?.status, 'canceled');
      await standin.settle();
      assert.deepEqual(await eventNames(a.payment.id), ['payments.payment.authorized', 'payments.payment.voided']);
    });
  });
}
