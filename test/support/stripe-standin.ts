import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Stripe's HTTP API, for exactly the calls our adapters make (PaymentIntents with manual
 * capture: create+confirm, retrieve with expand[]=latest_charge, capture, cancel; refunds.create; and for Connect
 * payouts: accounts create/retrieve, transfers create/retrieve, balance retrieve, also on behalf of a connected
 * account with the Stripe-Account header). It speaks the
 * wire format the official SDK uses: form-encoded bodies with bracket keys, Bearer secret-key auth, Stripe's
 * Idempotency-Key semantics, its object shapes and error JSON (`{ error: { type, code, decline_code, message } }`,
 * 402 for card errors), and it posts Stripe-signed webhooks (`Stripe-Signature: t=…,v1=…`) to a URL you give it.
 */

type Json = Record<string, any>;

export interface StripeStandInOptions {
  secretKey?: string;
  webhookSecret?: string;
  webhookUrl?: string;
  /** Clock for `created` and webhook signatures (match the verifier's clock). */
  nowSeconds?: () => number;
  /** 'after' (default): webhooks are posted after the API answer; 'before': posted (and awaited) before it. */
  webhookTiming?: 'after' | 'before';
  /**
   * Connect payouts: where `transfer.*` events (an account endpoint, signed with transferWebhookSecret) and
   * `account.updated` events of connected accounts (a Connect endpoint, signed with connectWebhookSecret) are posted.
   * Unset: they are only recorded in `payoutEvents`.
   */
  payoutWebhookUrl?: string;
  transferWebhookSecret?: string;
  connectWebhookSecret?: string;
}

export interface StripeStandIn {
  url: string;
  secretKey: string;
  webhookSecret: string;
  /** PaymentIntents by id (the stand-in's books). */
  paymentIntents: Map<string, Json>;
  /** Every API request received: method, path, Idempotency-Key. */
  requests: Array<{ method: string; path: string; idempotencyKey: string | undefined }>;
  setWebhookUrl(url: string): void;
  /** Answers the next API request with this HTTP status and an api_error (5xx simulation). */
  failNext(status: number): void;
  /** Resolves when every webhook queued so far has been posted. */
  settle(): Promise<void>;
  /** Webhook posts made: event type and receiver's status. */
  webhooks: Array<{ type: string; status: number }>;
  /** Connect: connected accounts by id, transfers by id. */
  accounts: Map<string, Json>;
  transfers: Map<string, Json>;
  /** Connect: creates a connected account (Custom), with the transfers capability active unless told otherwise. */
  createAccount(opts?: { transfers?: 'active' | 'inactive' | 'pending' }): string;
  /** The platform's available balance in minor units per lowercase currency (transfers draw from it). */
  setPlatformBalance(currency: string, amountMinor: number): void;
  /** A connected account's available balance (what transfers to it added). */
  balanceOf(accountId: string, currency: string): number;
  /**
   * Handles the next `count` API requests but drops the connection instead of answering (the work is done, the answer
   * lost). The SDK itself replays once, with the same key, on a closed connection: lose 2 to make a call fail.
   */
  loseNextResponse(count?: number): void;
  close(): Promise<void>;
  /** Connect payouts: the two endpoints' signing secrets (see StripeStandInOptions). */
  transferWebhookSecret: string;
  connectWebhookSecret: string;
  /** Every `transfer.*` and `account.updated` event made, in order, with the secret of the endpoint it belongs to. */
  payoutEvents: Array<{ event: Json; secret: string }>;
  /** Posts made of those events: event type and receiver's status. */
  payoutWebhooks: Array<{ type: string; status: number }>;
  setPayoutWebhookUrl(url: string): void;
  /** A reversal made in the Dashboard: as `POST /v1/transfers/:id/reversals` (amount: the rest when absent). */
  reverseTransfer(transferId: string, amountMinor?: number): Json;
  /** Stripe changes a connected account's transfers capability (a review, missing documents…): `account.updated`. */
  setAccountTransfers(accountId: string, transfers: 'active' | 'inactive' | 'pending'): void;
  /** An event's body and headers exactly as Stripe posts them: pretty JSON, `Stripe-Signature: t=…,v1=…`. */
  signedPayoutEvent(entry: { event: Json; secret: string }, opts?: { t?: number }): { payload: string; headers: Record<string, string> };
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** `a[b][0]=x` → { a: { b: { 0: 'x' } } } (the SDK's encoding). */
function parseForm(body: string): Json {
  const out: Json = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.split(/\[|\]\[|\]/).filter((s) => s !== '');
    let node = out;
    for (const [i, seg] of path.entries()) {
      if (i === path.length - 1) node[seg] = value;
      else node = node[seg] ??= {};
    }
  }
  return out;
}

const listOf = (v: unknown): string[] => (v && typeof v === 'object' ? Object.values(v as Json).map(String) : typeof v === 'string' ? [v] : []);

const PAYMENT_METHODS: Record<string, { decline: string | null }> = {
  pm_card_visa: { decline: null },
  pm_card_chargeDeclined: { decline: 'generic_decline' },
  pm_card_chargeDeclinedInsufficientFunds: { decline: 'insufficient_funds' },
};

class HttpError {
  constructor(
    readonly status: number,
    readonly error: Json,
  ) {}
}

const invalid = (message: string, code?: string, param?: string) => new HttpError(400, { type: 'invalid_request_error', message, ...(code ? { code } : {}), ...(param ? { param } : {}) });

export async function startStripeStandIn(opts: StripeStandInOptions = {}): Promise<StripeStandIn> {
  const secretKey = opts.secretKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
  const webhookSecret = opts.webhookSecret ?? `whsec_${randomBytes(16).toString('hex')}`;
  const nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  let webhookUrl = opts.webhookUrl;
  let failNext: number | null = null;
  let loseNext = 0;
  const paymentIntents = new Map<string, Json>();
  const accounts = new Map<string, Json>();
  const transfers = new Map<string, Json>();
  // available balances in minor units: the platform's by currency, each connected account's by account and currency
  const platformBalance = new Map<string, number>([
    ['eur', 1_000_000_000],
    ['usd', 1_000_000_000],
  ]);
  const accountBalance = new Map<string, number>();
  const charges = new Map<string, Json>();
  const idempotency = new Map<string, { fingerprint: string; status: number; body: Json }>();
  const requests: StripeStandIn['requests'] = [];
  const webhooks: StripeStandIn['webhooks'] = [];
  const inFlight = new Set<Promise<void>>();
  let queued: Json[] = [];

  const event = (type: string, object: Json, idempotencyKey: string | undefined) => {
    queued.push({
      id: id('evt'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: nowSeconds(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: id('req'), idempotency_key: idempotencyKey ?? null },
      type,
    });
  };

  const post = async (evt: Json): Promise<void> => {
    if (!webhookUrl) return;
    const payload = JSON.stringify(evt, null, 2);
    const t = nowSeconds();
    const signature = createHmac('sha256', webhookSecret).update(`${t}.${payload}`).digest('hex');
    try {
      const res = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': `t=${t},v1=${signature}` },
        body: payload,
      });
      await res.text();
      webhooks.push({ type: evt.type, status: res.status });
    } catch {
      webhooks.push({ type: evt.type, status: 0 });
    }
  };

  const flush = () => {
    const batch = queued;
    queued = [];
    // delivered in order, one after the other, like Stripe's per-endpoint queue (best effort)
    const p = batch.reduce<Promise<void>>((prev, evt) => prev.then(() => post(evt)), Promise.resolve());
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    return p;
  };

  const intentView = (pi: Json, expand: string[]): Json => {
    const view = structuredClone(pi);
    if (expand.includes('latest_charge') && pi.latest_charge) view.latest_charge = structuredClone(charges.get(pi.latest_charge));
    return view;
  };

  const findIntent = (piId: string): Json => {
    const pi = paymentIntents.get(piId);
    if (!pi) throw new HttpError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'intent', message: `No such payment_intent: '${piId}'` });
    return pi;
  };

  const unexpectedState = (pi: Json, action: string) =>
    invalid(`This PaymentIntent could not be ${action} because it has a status of ${pi.status}.`, 'payment_intent_unexpected_state');

  function createIntent(params: Json, key: string | undefined): Json {
    const amount = Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0) throw invalid('Invalid positive integer', 'parameter_invalid_integer', 'amount');
    if (typeof params.currency !== 'string' || !/^[a-z]{3}$/.test(params.currency)) throw invalid('Invalid currency', 'parameter_invalid_string', 'currency');
    const method = PAYMENT_METHODS[params.payment_method];
    if (!method) throw invalid(`No such PaymentMethod: '${params.payment_method}'`, 'resource_missing', 'payment_method');
    const manual = params.capture_method === 'manual';
    const pi: Json = {
      id: id('pi'),
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      capture_method: params.capture_method ?? 'automatic_async',
      client_secret: `${id('pi')}_secret_${randomBytes(8).toString('hex')}`,
      confirmation_method: 'automatic',
      created: nowSeconds(),
      currency: params.currency,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: params.metadata ?? {},
      payment_method: params.payment_method,
      status: 'requires_confirmation',
      canceled_at: null,
      cancellation_reason: null,
    };
    paymentIntents.set(pi.id, pi);
    if (params.confirm !== 'true') return pi;
    const charge: Json = {
      id: id('ch'),
      object: 'charge',
      amount,
      amount_captured: 0,
      amount_refunded: 0,
      captured: false,
      refunded: false,
      currency: pi.currency,
      metadata: pi.metadata,
      payment_intent: pi.id,
      status: method.decline ? 'failed' : 'succeeded',
      created: nowSeconds(),
    };
    charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    if (method.decline) {
      const error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: method.decline,
        message: method.decline === 'insufficient_funds' ? 'Your card has insufficient funds.' : 'Your card was declined.',
        charge: charge.id,
        doc_url: 'https://stripe.com/docs/error-codes/card-declined',
      };
      pi.status = 'requires_payment_method';
      pi.last_payment_error = error;
      event('payment_intent.payment_failed', pi, key);
      throw new HttpError(402, { ...error, payment_intent: structuredClone(pi) });
    }
    if (manual) {
      pi.status = 'requires_capture';
      pi.amount_capturable = amount;
      event('payment_intent.amount_capturable_updated', pi, key);
    } else {
      pi.status = 'succeeded';
      pi.amount_received = amount;
      Object.assign(charge, { captured: true, amount_captured: amount });
      event('payment_intent.succeeded', pi, key);
    }
    return pi;
  }

  function capture(pi: Json, params: Json, key: string | undefined): Json {
    if (pi.status !== 'requires_capture') throw unexpectedState(pi, 'captured');
    const amount = params.amount_to_capture === undefined ? pi.amount_capturable : Number(params.amount_to_capture);
    if (!Number.isInteger(amount) || amount <= 0 || amount > pi.amount_capturable) throw invalid('Amount to capture exceeds the capturable amount', 'amount_too_large', 'amount_to_capture');
    Object.assign(pi, { status: 'succeeded', amount_received: amount, amount_capturable: 0 });
    Object.assign(charges.get(pi.latest_charge)!, { captured: true, amount_captured: amount });
    event('payment_intent.succeeded', pi, key);
    return pi;
  }

  function cancel(pi: Json, key: string | undefined): Json {
    if (!['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'].includes(pi.status)) throw unexpectedState(pi, 'canceled');
    Object.assign(pi, { status: 'canceled', amount_capturable: 0, canceled_at: nowSeconds() });
    event('payment_intent.canceled', pi, key);
    return pi;
  }

  function refund(params: Json, key: string | undefined): Json {
    const pi = findIntent(String(params.payment_intent ?? ''));
    const charge = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
    if (pi.status !== 'succeeded' || !charge) throw invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, 'charge_not_refundable');
    const remaining = charge.amount_captured - charge.amount_refunded;
    if (remaining === 0) throw invalid(`Charge ${charge.id} has already been refunded.`, 'charge_already_refunded');
    const amount = params.amount === undefined ? remaining : Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0) throw invalid('Invalid positive integer', 'parameter_invalid_integer', 'amount');
    if (amount > remaining) throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, 'amount_too_large', 'amount');
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount_captured;
    const re = { id: id('re'), object: 'refund', amount, charge: charge.id, currency: pi.currency, payment_intent: pi.id, status: 'succeeded', created: nowSeconds(), metadata: {} };
    event('charge.refunded', charge, key);
    return re;
  }

  function createAccount(params: Json, transfersCapability = params.capabilities?.transfers?.requested === 'false' ? 'inactive' : 'active'): Json {
    const account: Json = {
      id: `acct_${randomBytes(8).toString('hex')}`,
      object: 'account',
      type: params.type ?? 'custom',
      country: params.country ?? 'US',
      default_currency: 'usd',
      capabilities: { transfers: transfersCapability },
      charges_enabled: false,
      payouts_enabled: transfersCapability === 'active',
      details_submitted: transfersCapability === 'active',
      metadata: params.metadata ?? {},
      created: nowSeconds(),
    };
    accounts.set(account.id, account);
    return account;
  }

  const findAccount = (acctId: string): Json => {
    const account = accounts.get(acctId);
    if (!account) throw new HttpError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'account', message: `No such account: '${acctId}'` });
    return account;
  };

  function createTransfer(params: Json): Json {
    const amount = Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0) throw invalid('Invalid positive integer', 'parameter_invalid_integer', 'amount');
    if (typeof params.currency !== 'string' || !/^[a-z]{3}$/.test(params.currency)) throw invalid('Invalid currency', 'parameter_invalid_string', 'currency');
    const destination = accounts.get(String(params.destination ?? ''));
    if (!destination) throw invalid(`No such destination: '${params.destination}'`, 'resource_missing', 'destination');
    if (destination.capabilities?.transfers !== 'active') {
      throw invalid(`Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments`, 'insufficient_capabilities_for_transfer', 'destination');
    }
    const available = platformBalance.get(params.currency) ?? 0;
    if (available < amount) throw invalid('You have insufficient available funds in your Stripe account.', 'balance_insufficient');
    platformBalance.set(params.currency, available - amount);
    const balanceKey = `${destination.id}:${params.currency}`;
    accountBalance.set(balanceKey, (accountBalance.get(balanceKey) ?? 0) + amount);
    const transfer: Json = {
      id: id('tr'),
      object: 'transfer',
      amount,
      amount_reversed: 0,
      balance_transaction: id('txn'),
      created: nowSeconds(),
      currency: params.currency,
      destination: destination.id,
      destination_payment: id('py'),
      livemode: false,
      metadata: params.metadata ?? {},
      reversed: false,
      reversals: { object: 'list', data: [], has_more: false, total_count: 0, url: '' },
      source_type: 'card',
      transfer_group: params.transfer_group ?? null,
    };
    transfer.reversals.url = `/v1/transfers/${transfer.id}/reversals`;
    transfers.set(transfer.id, transfer);
    return transfer;
  }

  const findTransfer = (trId: string): Json => {
    const transfer = transfers.get(trId);
    if (!transfer) throw new HttpError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'id', message: `No such transfer: '${trId}'` });
    return transfer;
  };

  // ---- Connect payouts: transfer reversals and account updates, and their events (their own endpoints and secrets)

  const transferWebhookSecret = opts.transferWebhookSecret ?? `whsec_${randomBytes(16).toString('hex')}`;
  const connectWebhookSecret = opts.connectWebhookSecret ?? `whsec_${randomBytes(16).toString('hex')}`;
  const payoutEvents: StripeStandIn['payoutEvents'] = [];
  const payoutWebhooks: StripeStandIn['payoutWebhooks'] = [];
  let payoutWebhookUrl = opts.payoutWebhookUrl;

  const signedPayoutEvent: StripeStandIn['signedPayoutEvent'] = ({ event: evt, secret }, o = {}) => {
    const payload = JSON.stringify(evt, null, 2);
    const t = o.t ?? nowSeconds();
    const signature = createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex');
    return { payload, headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': `t=${t},v1=${signature}` } };
  };

  /** Records the event and, when an endpoint URL is set, posts it (awaited: delivered in order). */
  const payoutEvent = async (type: string, object: Json, secret: string, account?: string): Promise<void> => {
    const entry = {
      event: {
        id: id('evt'),
        object: 'event',
        ...(account ? { account } : {}),
        api_version: '2026-10-28.endive',
        created: nowSeconds(),
        data: { object: structuredClone(object) },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      },
      secret,
    };
    payoutEvents.push(entry);
    if (!payoutWebhookUrl) return;
    const { payload, headers } = signedPayoutEvent(entry);
    try {
      const res = await fetch(payoutWebhookUrl, { method: 'POST', headers, body: payload });
      await res.text();
      payoutWebhooks.push({ type, status: res.status });
    } catch {
      payoutWebhooks.push({ type, status: 0 });
    }
  };
  const trackPayoutEvent = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  /** `POST /v1/transfers/:id/reversals`: money back from the connected account to the platform, at most the rest. */
  function createReversal(transfer: Json, params: Json): Json {
    const rest = transfer.amount - transfer.amount_reversed;
    const amount = params.amount === undefined ? rest : Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0) throw invalid('Invalid positive integer', 'parameter_invalid_integer', 'amount');
    if (rest === 0) throw invalid(`Transfer ${transfer.id} has already been reversed.`, 'transfer_already_reversed');
    if (amount > rest) throw invalid(`Reversal amount (${amount}) is greater than the amount left on the transfer (${rest}).`, 'amount_too_large', 'amount');
    const balanceKey = `${transfer.destination}:${transfer.currency}`;
    accountBalance.set(balanceKey, (accountBalance.get(balanceKey) ?? 0) - amount);
    platformBalance.set(transfer.currency, (platformBalance.get(transfer.currency) ?? 0) + amount);
    const reversal = {
      id: id('trr'),
      object: 'transfer_reversal',
      amount,
      balance_transaction: id('txn'),
      created: nowSeconds(),
      currency: transfer.currency,
      destination_payment_refund: id('pyr'),
      metadata: params.metadata ?? {},
      source_refund: null,
      transfer: transfer.id,
    };
    transfer.amount_reversed += amount;
    transfer.reversed = transfer.amount_reversed === transfer.amount;
    transfer.reversals.data.unshift(reversal);
    transfer.reversals.total_count += 1;
    trackPayoutEvent(payoutEvent('transfer.reversed', transfer, transferWebhookSecret));
    return reversal;
  }

  function setAccountTransfers(accountId: string, transfers: 'active' | 'inactive' | 'pending'): void {
    const account = findAccount(accountId);
    account.capabilities.transfers = transfers;
    account.payouts_enabled = transfers === 'active';
    account.requirements = { disabled_reason: transfers === 'active' ? null : 'requirements.past_due', currently_due: transfers === 'active' ? [] : ['individual.verification.document'] };
    trackPayoutEvent(payoutEvent('account.updated', account, connectWebhookSecret, account.id));
  }

  function balance(stripeAccount: string | undefined): Json {
    const entries = stripeAccount
      ? [...accountBalance].filter(([k]) => k.startsWith(`${findAccount(stripeAccount).id}:`)).map(([k, amount]) => ({ currency: k.split(':')[1]!, amount }))
      : [...platformBalance].map(([currency, amount]) => ({ currency, amount }));
    return {
      object: 'balance',
      livemode: false,
      available: entries.map((e) => ({ ...e, source_types: { card: e.amount } })),
      pending: entries.map((e) => ({ currency: e.currency, amount: 0, source_types: { card: 0 } })),
    };
  }

  function route(method: string, path: string, params: Json, query: Json, key: string | undefined, stripeAccount?: string): Json {
    let m: RegExpMatchArray | null;
    if (method === 'POST' && path === '/v1/accounts') return createAccount(params);
    if (method === 'GET' && (m = path.match(/^\/v1\/accounts\/([^/]+)$/))) return findAccount(decodeURIComponent(m[1]!));
    if (method === 'POST' && path === '/v1/transfers') return createTransfer(params);
    if (method === 'GET' && (m = path.match(/^\/v1\/transfers\/([^/]+)$/))) return findTransfer(decodeURIComponent(m[1]!));
    if (method === 'POST' && (m = path.match(/^\/v1\/transfers\/([^/]+)\/reversals$/))) return createReversal(findTransfer(decodeURIComponent(m[1]!)), params);
    if (method === 'GET' && path === '/v1/balance') return balance(stripeAccount);
    if (method === 'POST' && path === '/v1/payment_intents') return createIntent(params, key);
    if (method === 'GET' && (m = path.match(/^\/v1\/payment_intents\/([^/]+)$/))) return intentView(findIntent(decodeURIComponent(m[1]!)), listOf(query.expand));
    if (method === 'POST' && (m = path.match(/^\/v1\/payment_intents\/([^/]+)\/capture$/))) return capture(findIntent(decodeURIComponent(m[1]!)), params, key);
    if (method === 'POST' && (m = path.match(/^\/v1\/payment_intents\/([^/]+)\/cancel$/))) return cancel(findIntent(decodeURIComponent(m[1]!)), key);
    if (method === 'POST' && path === '/v1/refunds') return refund(params, key);
    throw new HttpError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` });
  }

  const send = (res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), 'stripe-version': '2026-10-28.endive', ...headers });
    res.end(JSON.stringify(body));
  };

  /** The work is done (and recorded under its key), but the answer never reaches the caller. */
  const loseAnswer = (res: ServerResponse): boolean => {
    if (loseNext === 0) return false;
    loseNext--;
    res.socket?.destroy();
    return true;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://standin');
    const method = req.method ?? 'GET';
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
    requests.push({ method, path: url.pathname, idempotencyKey: key });
    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      return send(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }
    if (failNext !== null) {
      const status = failNext;
      failNext = null;
      return send(res, status, { error: { type: 'api_error', message: 'An unknown error occurred' } }, { 'stripe-should-retry': 'false' });
    }
    const params = parseForm(raw);
    const fingerprint = createHash('sha256').update(`${method} ${url.pathname} ${raw}`).digest('hex');
    if (method === 'POST' && key) {
      const prior = idempotency.get(key);
      if (prior) {
        if (prior.fingerprint !== fingerprint) {
          return send(res, 400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            },
          });
        }
        if (loseAnswer(res)) return;
        return send(res, prior.status, prior.body, { 'idempotency-key': key, 'idempotent-replayed': 'true' });
      }
    }
    let status = 200;
    let body: Json;
    try {
      const stripeAccount = typeof req.headers['stripe-account'] === 'string' ? req.headers['stripe-account'] : undefined;
      body = route(method, url.pathname, params, parseForm(url.search.slice(1)), key, stripeAccount);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      status = e.status;
      body = { error: e.error };
    }
    if (method === 'POST' && key) idempotency.set(key, { fingerprint, status, body: structuredClone(body) });
    if (opts.webhookTiming === 'before') await flush();
    if (loseAnswer(res)) {
      void flush();
      return;
    }
    send(res, status, body, key ? { 'idempotency-key': key } : {});
    if (opts.webhookTiming !== 'before') void flush();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, { error: { type: 'api_error', message: String(e) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    webhookSecret,
    paymentIntents,
    requests,
    webhooks,
    accounts,
    transfers,
    createAccount: (o = {}) => createAccount({}, o.transfers ?? 'active').id,
    setPlatformBalance: (currency, amountMinor) => {
      platformBalance.set(currency.toLowerCase(), amountMinor);
    },
    balanceOf: (accountId, currency) => accountBalance.get(`${accountId}:${currency.toLowerCase()}`) ?? 0,
    loseNextResponse: (count = 1) => {
      loseNext = count;
    },
    transferWebhookSecret,
    connectWebhookSecret,
    payoutEvents,
    payoutWebhooks,
    setPayoutWebhookUrl: (u) => {
      payoutWebhookUrl = u;
    },
    reverseTransfer: (transferId, amountMinor) => createReversal(findTransfer(transferId), amountMinor === undefined ? {} : { amount: String(amountMinor) }),
    setAccountTransfers,
    signedPayoutEvent,
    setWebhookUrl: (u) => {
      webhookUrl = u;
    },
    failNext: (s) => {
      failNext = s;
    },
    settle: async () => {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
