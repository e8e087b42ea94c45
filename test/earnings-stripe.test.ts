import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEarningsContext, StripeConnectPayoutProvider, type EarningsDeps } from '../src/contexts/earnings';
import { ConfigError, loadConfig } from '../src/config';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-standin';

describe('Stripe Connect payout adapter against the local stand-in', () => {
  let standin: StripeStandIn;
  let stripe: StripeConnectPayoutProvider;
  before(async () => {
    standin = await startStripeStandIn();
    stripe = new StripeConnectPayoutProvider({ secretKey: standin.secretKey, apiBase: standin.url, timeoutMs: 2_000 });
  });
  after(() => standin.close());

  const transfer = (destination: string, idempotencyKey: string, amountMinor = 2_500) =>
    stripe.transfer({ amountMinor, currency: 'EUR', destination, idempotencyKey, metadata: { payout_id: idempotencyKey, creator_id: 'cre_x' } });

  it('accepts a connected account with the transfers capability and refuses unknown or restricted ones', async () => {
    assert.deepEqual(await stripe.checkAccount(standin.createAccount()), { ok: true });
    const unknown = await stripe.checkAccount('acct_nope');
    assert.deepEqual([unknown.ok, !unknown.ok && unknown.code], [false, 'account_invalid']);
    const restricted = await stripe.checkAccount(standin.createAccount({ transfers: 'inactive' }));
    assert.deepEqual([restricted.ok, !restricted.ok && restricted.code], [false, 'account_invalid']);
  });

  it('creates one Transfer per idempotency key, to the destination, in lowercase currency, with our metadata', async () => {
    const acct = standin.createAccount();
    const first = await transfer(acct, 'pyo_key_1');
    assert.ok(first.ok);
    assert.match(first.ref, /^tr_/);
    const again = await transfer(acct, 'pyo_key_1');
    assert.ok(again.ok);
    assert.equal(again.ref, first.ref, 'a replayed key answers the first transfer');
    const tr = standin.transfers.get(first.ref)!;
    assert.deepEqual([tr.amount, tr.currency, tr.destination, tr.transfer_group, tr.metadata.payout_id], [2_500, 'eur', acct, 'pyo_key_1', 'pyo_key_1']);
    assert.equal(standin.balanceOf(acct, 'eur'), 2_500, 'the connected account was credited once');
    assert.ok(standin.requests.filter((r) => r.path === '/v1/transfers').every((r) => r.idempotencyKey === 'pyo_key_1'), 'our key on every call');
    const reused = await transfer(acct, 'pyo_key_1', 9_999);
    assert.deepEqual([reused.ok, !reused.ok && reused.code], [false, 'rejected'], 'same key, other amount: refused, never a second transfer');
  });

  it('maps refusals to rejected and 5xx, lost answers and an unreachable API to unavailable', async () => {
    const acct = standin.createAccount();
    standin.setPlatformBalance('eur', 100);
    const poor = await transfer(acct, 'pyo_key_2');
    assert.ok(!poor.ok);
    assert.equal(poor.code, 'rejected');
    assert.match(poor.message, /balance_insufficient/);
    standin.setPlatformBalance('eur', 1_000_000);
    const nowhere = await transfer('acct_unknown', 'pyo_key_3');
    assert.deepEqual([nowhere.ok, !nowhere.ok && nowhere.code], [false, 'rejected']);

    standin.failNext(500);
    const down = await transfer(acct, 'pyo_key_4');
    assert.deepEqual([down.ok, !down.ok && down.code], [false, 'unavailable']);

    standin.loseNextResponse(2);
    const lost = await transfer(acct, 'pyo_key_5');
    assert.deepEqual([lost.ok, !lost.ok && lost.code], [false, 'unavailable'], 'made, but the answer never came');
    const replay = await transfer(acct, 'pyo_key_5');
    assert.ok(replay.ok);
    assert.equal([...standin.transfers.values()].filter((x) => x.metadata.payout_id === 'pyo_key_5').length, 1);

    const unreachable = new StripeConnectPayoutProvider({ secretKey: standin.secretKey, apiBase: 'http://127.0.0.1:9', timeoutMs: 500 });
    const gone = await unreachable.transfer({ amountMinor: 100, currency: 'EUR', destination: acct, idempotencyKey: 'pyo_key_6', metadata: {} });
    assert.deepEqual([gone.ok, !gone.ok && gone.code], [false, 'unavailable']);
  });

  it('reads balances through the SDK: the platform and, with Stripe-Account, a connected account', async () => {
    const acct = standin.createAccount();
    await transfer(acct, 'pyo_key_7', 700);
    const sdk = new (await import('stripe')).default(standin.secretKey, { host: '127.0.0.1', port: new URL(standin.url).port, protocol: 'http', telemetry: false });
    const connected = await sdk.balance.retrieve({}, { stripeAccount: acct });
    assert.deepEqual(connected.available.map((b) => [b.currency, b.amount]), [['eur', 700]]);
    const platform = await sdk.balance.retrieve();
    assert.ok(platform.available.some((b) => b.currency === 'eur'));
  });

  it('reverses a transfer in parts, once per key, answering its cumulative amount_reversed; more than is left is refused', async () => {
    const acct = standin.createAccount();
    const made = await transfer(acct, 'pyo_key_8', 1_000);
    assert.ok(made.ok);
    const first = await stripe.reverseTransfer(made.ref, 300, 'pyo_key_8:reversal:a');
    assert.deepEqual(first, { ok: true, transfer: { ref: made.ref, payoutId: 'pyo_key_8', amountMinor: 1_000, currency: 'EUR', reversedMinor: 300 } });
    const replayed = await stripe.reverseTransfer(made.ref, 300, 'pyo_key_8:reversal:a');
    assert.deepEqual(replayed, first, 'the same key: no second reversal');
    const tooMuch = await stripe.reverseTransfer(made.ref, 701, 'pyo_key_8:reversal:b');
    assert.deepEqual([tooMuch.ok, !tooMuch.ok && tooMuch.code], [false, 'rejected']);
    assert.equal(standin.balanceOf(acct, 'eur'), 700);
    const tr = standin.transfers.get(made.ref)!;
    assert.deepEqual([tr.amount_reversed, tr.reversed, tr.reversals.total_count, tr.reversals.data[0].amount], [300, false, 1, 300]);
  });

  it('verifies webhooks with any of its endpoints’ secrets and reads transfers and accounts from them', async () => {
    const verifier = new StripeConnectPayoutProvider({ secretKey: standin.secretKey, apiBase: standin.url, timeoutMs: 2_000, webhookSecrets: [standin.transferWebhookSecret, standin.connectWebhookSecret] });
    const acct = standin.createAccount();
    const made = await transfer(acct, 'pyo_key_9', 500);
    assert.ok(made.ok);
    standin.reverseTransfer(made.ref, 200);
    standin.setAccountTransfers(acct, 'pending');
    await standin.settle();
    const [reversal, account] = standin.payoutEvents.slice(-2).map((e) => standin.signedPayoutEvent(e));
    const ev = verifier.verifyWebhook(reversal!.payload, reversal!.headers);
    assert.ok(ev && ev !== 'not_configured');
    assert.deepEqual([ev.type, ev.transfer], ['transfer.reversed', { ref: made.ref, payoutId: 'pyo_key_9', amountMinor: 500, currency: 'EUR', reversedMinor: 200 }]);
    const acc = verifier.verifyWebhook(account!.payload, account!.headers);
    assert.ok(acc && acc !== 'not_configured');
    assert.deepEqual(acc.account, { ref: acct, canReceiveTransfers: false, reason: 'transfers capability pending (requirements.past_due)' });
    assert.equal(verifier.verifyWebhook(`${reversal!.payload} `, reversal!.headers), null, 'a changed body');
    assert.equal(stripe.verifyWebhook(reversal!.payload, reversal!.headers), 'not_configured', 'no secret: not accepted, never verified');
  });

  it('reads STRIPE_CONNECT_WEBHOOK_SECRET as a list of whsec_ secrets and refuses anything else at startup', () => {
    assert.equal(loadConfig({ STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_a1,whsec_b2' }).stripeConnectWebhookSecret, 'whsec_a1,whsec_b2');
    for (const bad of ['secret', 'whsec_a,', 'whsec_a, whsec_b']) assert.throws(() => loadConfig({ STRIPE_CONNECT_WEBHOOK_SECRET: bad }), ConfigError, bad);
  });

  it('refuses to start with payoutProvider stripe and no secret key', () => {
    const config = loadConfig({}, { payoutProvider: 'stripe', logLevel: 'silent' });
    assert.throws(() => createEarningsContext({ config } as EarningsDeps), (e: unknown) => e instanceof ConfigError && /STRIPE_SECRET_KEY/.test(e.message));
  });
});
