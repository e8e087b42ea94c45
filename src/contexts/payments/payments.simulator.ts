import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Clock } from '../../platform/clock';
import { Batcher } from '../../platform/batcher';
import { insertJsonRows, type AnyDb } from '../../platform/db';
import { ulid } from '../../platform/ids';
import {
  headerValue,
  type AuthorizeRequest,
  type PaymentProvider,
  type ProviderEvent,
  type ProviderResult,
  type ProviderSnapshot,
  type WebhookHeaders,
} from './payments.provider';

/**
 * The built-in simulated provider (quickstart and tests), in two halves:
 * - `PaymentSimulator` plays the remote provider. Its books live in the schema `payments_sim` (not in memory) so
 *   they survive our crashes and every process sees the same authorizations, as with a real provider. It honours
 *   idempotency keys like Stripe (same key + same request → the first answer; different request → refused) and
 *   queues signed webhooks in its own table.
 * - `SimulatedProvider` is our adapter to it, with a client-side timeout like any network call.
 *
 * Test cards (docs/payments.md): 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 card_declined;
 * 4000 0000 0000 9995 insufficient_funds; 4000 0000 0000 0259 authorizes but answers after slowDelayMs (longer than
 * the timeout: our side sees provider_timeout, reconcile finds the authorization); 4000 0000 0000 0119 fails like a
 * 5xx (provider_unavailable, nothing recorded). Stripe's test payment-method ids work too (pm_card_visa, …).
 */

export const SIM_SIGNATURE_HEADER = 'x-sim-signature';
export const SIM_TOLERANCE_SECONDS = 300;

type CardBehaviour = 'success' | 'card_declined' | 'insufficient_funds' | 'slow' | 'provider_error';

const TEST_CARDS: Record<string, CardBehaviour> = {
  '4242424242424242': 'success',
  '4000000000000002': 'card_declined',
  '4000000000009995': 'insufficient_funds',
  '4000000000000259': 'slow',
  '4000000000000119': 'provider_error',
  pm_card_visa: 'success',
  pm_card_chargeDeclined: 'card_declined',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

function cardBehaviour(paymentMethod: string): CardBehaviour {
  // an unknown card number is declined, as a real provider would
  return TEST_CARDS[paymentMethod.replace(/[\s-]/g, '')] ?? 'card_declined';
}

interface SimIntent {
  ref: string;
  status: 'requires_capture' | 'succeeded' | 'canceled' | 'failed';
  currency: string;
  amountMinor: number;
  capturedMinor: number;
  refundedMinor: number;
  failureCode: string | null;
  metadata: Record<string, string>;
}

/** A provider answer as it would come over the wire: an HTTP-like status and a JSON body. */
type SimResponse =
  | { status: 200; body: { intent: SimIntent } }
  | { status: 400 | 402 | 404 | 500; body: { error: { type: string; code: string; message: string; intent?: SimIntent } } };

interface IntentRow {
  ref: string;
  status: SimIntent['status'];
  currency: string;
  amount_minor: number;
  captured_minor: number;
  refunded_minor: number;
  failure_code: string | null;
  metadata: Record<string, string>;
}

type SimDb = Kysely<any> | Transaction<any>;

const toIntent = (r: IntentRow): SimIntent => ({
  ref: r.ref,
  status: r.status,
  currency: r.currency,
  amountMinor: Number(r.amount_minor),
  capturedMinor: Number(r.captured_minor),
  refundedMinor: Number(r.refunded_minor),
  failureCode: r.failure_code,
  metadata: r.metadata,
});

const invalid = (code: string, message: string): SimResponse => ({ status: 400, body: { error: { type: 'invalid_request_error', code, message } } });

/** Signs a webhook body like Stripe does: HMAC-SHA256 of "<t>.<body>", header `t=<unix>,v1=<hex>`. */
export function signSimulatedWebhook(body: string, secret: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type WebhookReceiver = (rawBody: string, headers: Record<string, string>) => Promise<{ status: number }>;

export interface SimulatorOptions {
  /** How long the slow test card takes to answer. */
  slowDelayMs: number;
  /** 'queued' (default): webhooks wait for deliverWebhooks(); 'before_response': delivered before the call answers. */
  webhookTiming?: 'queued' | 'before_response';
}

interface SimCall {
  key: string;
  operation: string;
  hash: string;
  /** The intent the call acts on (capture, cancel, refund): locked for the whole batch up front. */
  ref: string | null;
  run: (trx: Transaction<any>) => Promise<SimResponse>;
}

/**
 * The writes of one batch of requests, applied together before it commits: the batch's intents are locked in one
 * statement up front, and new intents, intent changes and webhooks are written in one statement each.
 */
interface SimBatch {
  intents: Map<string, SimIntent | null>;
  inserted: Array<IntentRow & { idempotency_key: string; created_at: Date }>;
  changed: Map<string, SimIntent>;
  webhooks: Array<{ id: string; body: string; created_at: Date }>;
}

/** The simulated provider's side: its own books, idempotency and webhook queue. */
export class PaymentSimulator {
  readonly #db: AnyDb;
  readonly #clock: Clock;
  readonly #secret: string;
  readonly #options: SimulatorOptions;
  #receiver: WebhookReceiver | null = null;

  constructor(db: AnyDb, clock: Clock, secret: string, options: SimulatorOptions) {
    this.#db = db;
    this.#clock = clock;
    this.#secret = secret;
    this.#options = options;
  }

  /** Where webhooks are posted (our webhook handler, in-process). */
  setReceiver(receiver: WebhookReceiver): void {
    this.#receiver = receiver;
  }

  async authorize(req: AuthorizeRequest): Promise<SimResponse> {
    const behaviour = cardBehaviour(req.paymentMethod);
    if (behaviour === 'provider_error') {
      return { status: 500, body: { error: { type: 'api_error', code: 'internal', message: 'Simulated provider failure' } } };
    }
    const response = await this.#idempotent(req.idempotencyKey, 'authorize', req, async (trx) => {
      const declined = behaviour === 'card_declined' || behaviour === 'insufficient_funds' ? behaviour : null;
      const intent = await this.#insertIntent(trx, req, declined);
      await this.#enqueue(trx, declined ? 'payment.failed' : 'payment.authorized', intent);
      if (declined) return { status: 402, body: { error: { type: 'card_error', code: declined, message: 'The card was declined', intent } } };
      return { status: 200, body: { intent } };
    });
    await this.#afterCommit();
    if (behaviour === 'slow') await sleep(this.#options.slowDelayMs);
    return response;
  }

  async capture(ref: string, amountMinor: number | undefined, key: string): Promise<SimResponse> {
    const response = await this.#idempotent(key, 'capture', { ref, amountMinor }, async (trx) => {
      const intent = await this.#lockIntent(trx, ref);
      if (!intent) return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No intent ${ref}` } } };
      if (intent.status !== 'requires_capture') return invalid('payment_intent_unexpected_state', `Intent is ${intent.status}`);
      const amount = amountMinor ?? intent.amountMinor;
      if (amount <= 0 || amount > intent.amountMinor) return invalid('amount_too_large', 'Capture amount exceeds the authorization');
      const next = await this.#updateIntent(trx, ref, { status: 'succeeded', captured_minor: amount });
      await this.#enqueue(trx, 'payment.captured', next);
      return { status: 200, body: { intent: next } };
    });
    await this.#afterCommit();
    return response;
  }

  async cancel(ref: string, key: string): Promise<SimResponse> {
    const response = await this.#idempotent(key, 'cancel', { ref }, async (trx) => {
      const intent = await this.#lockIntent(trx, ref);
      if (!intent) return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No intent ${ref}` } } };
      if (intent.status !== 'requires_capture') return invalid('payment_intent_unexpected_state', `Intent is ${intent.status}`);
      const next = await this.#updateIntent(trx, ref, { status: 'canceled' });
      await this.#enqueue(trx, 'payment.voided', next);
      return { status: 200, body: { intent: next } };
    });
    await this.#afterCommit();
    return response;
  }

  async refund(ref: string, amountMinor: number, key: string): Promise<SimResponse> {
    const response = await this.#idempotent(key, 'refund', { ref, amountMinor }, async (trx) => {
      const intent = await this.#lockIntent(trx, ref);
      if (!intent) return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No intent ${ref}` } } };
      if (intent.status !== 'succeeded') return invalid('payment_intent_unexpected_state', `Intent is ${intent.status}`);
      if (amountMinor <= 0 || intent.refundedMinor + amountMinor > intent.capturedMinor) return invalid('amount_too_large', 'Refund exceeds the captured amount');
      await sql`INSERT INTO payments_sim.refunds (ref, intent_ref, amount_minor, created_at)
                VALUES (${`simre_${ulid()}`}, ${ref}, ${amountMinor}, ${this.#clock.now()})`.execute(trx);
      const next = await this.#updateIntent(trx, ref, { refunded_minor: intent.refundedMinor + amountMinor });
      await this.#enqueue(trx, 'payment.refunded', next);
      return { status: 200, body: { intent: next } };
    });
    await this.#afterCommit();
    return response;
  }

  async retrieve(ref: string): Promise<SimIntent | null> {
    const r = await sql<IntentRow>`SELECT * FROM payments_sim.intents WHERE ref = ${ref}`.execute(this.#db);
    return r.rows[0] ? toIntent(r.rows[0]) : null;
  }

  async findByIdempotencyKey(key: string): Promise<SimIntent | null> {
    const r = await sql<IntentRow>`SELECT * FROM payments_sim.intents WHERE idempotency_key = ${key}`.execute(this.#db);
    return r.rows[0] ? toIntent(r.rows[0]) : null;
  }

  /** The simulator's own record of a checkout's authorizations (tests check that a retry made no second one). */
  async intentsForCheckout(checkoutId: string): Promise<SimIntent[]> {
    const r = await sql<IntentRow>`SELECT * FROM payments_sim.intents WHERE metadata->>'checkout_id' = ${checkoutId} ORDER BY created_at, ref`.execute(this.#db);
    return r.rows.map(toIntent);
  }

  /** Signs a body with the simulator's secret at the clock's current time. */
  sign(body: string, unixSeconds = Math.floor(this.#clock.now().getTime() / 1000)): string {
    return signSimulatedWebhook(body, this.#secret, unixSeconds);
  }

  /**
   * Posts queued webhooks to the receiver, oldest first. A delivery is leased (several processes may deliver) and
   * marked delivered only when the receiver answered 2xx; otherwise it is retried after the lease.
   */
  async deliverWebhooks(limit = 50): Promise<number> {
    if (!this.#receiver) return 0;
    const now = this.#clock.now();
    const claimed = await sql<{ id: string; body: string }>`
      UPDATE payments_sim.webhooks w SET lease_until = ${new Date(now.getTime() + 30_000)}, attempts = w.attempts + 1
      WHERE w.id IN (
        SELECT id FROM payments_sim.webhooks
        WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until < ${now})
        ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED
      )
      RETURNING w.id, w.body
    `.execute(this.#db);
    let delivered = 0;
    for (const row of claimed.rows.sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const headers = { 'content-type': 'application/json', [SIM_SIGNATURE_HEADER]: this.sign(row.body) };
      const answer = await this.#receiver(row.body, headers).catch(() => ({ status: 500 }));
      if (answer.status >= 200 && answer.status < 300) {
        await sql`UPDATE payments_sim.webhooks SET delivered_at = ${this.#clock.now()} WHERE id = ${row.id}`.execute(this.#db);
        delivered++;
      }
    }
    return delivered;
  }

  /** Checks an `x-sim-signature` header: right secret, unchanged body, timestamp within 5 minutes of the clock. */
  verify(rawBody: string, header: string | undefined): boolean {
    if (!header) return false;
    const parts = new Map<string, string[]>();
    for (const item of header.split(',')) {
      const eq = item.indexOf('=');
      if (eq <= 0) continue;
      const k = item.slice(0, eq).trim();
      parts.set(k, [...(parts.get(k) ?? []), item.slice(eq + 1).trim()]);
    }
    const t = Number(parts.get('t')?.[0]);
    if (!Number.isInteger(t)) return false;
    const age = Math.abs(Math.floor(this.#clock.now().getTime() / 1000) - t);
    if (age > SIM_TOLERANCE_SECONDS) return false;
    const expected = Buffer.from(createHmac('sha256', this.#secret).update(`${t}.${rawBody}`).digest('hex'));
    return (parts.get('v1') ?? []).some((sig) => {
      const given = Buffer.from(sig);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }

  // ---- internals

  /**
   * Stripe's idempotency: the first request under a key runs and its answer is stored in the same transaction;
   * a concurrent request with that key waits on the key's row, then gets the stored answer. Requests arriving
   * together are handled in one transaction per batch (a provider's own throughput, not a behaviour the caller
   * can see): each keeps its own key, its own run and its own answer.
   */
  #idempotent(key: string, operation: string, request: unknown, run: (trx: Transaction<any>) => Promise<SimResponse>): Promise<SimResponse> {
    const hash = createHash('sha256').update(`${operation}:${JSON.stringify(request)}`).digest('hex');
    const ref = typeof (request as { ref?: unknown }).ref === 'string' ? (request as { ref: string }).ref : null;
    return this.#requests.submit({ key, operation, hash, ref, run });
  }

  readonly #requests = new Batcher<SimCall, SimResponse>((calls) => {
    // a key twice in one batch would read its own unanswered row: refused, so the batcher runs them one by one
    if (new Set(calls.map((c) => c.key)).size !== calls.length) throw new Error('an idempotency key twice in one batch');
    return this.#db.transaction().execute(async (trx) => {
      const now = this.#clock.now();
      const inserted = await sql<{ idempotency_key: string }>`
        INSERT INTO payments_sim.requests (idempotency_key, operation, request_hash, created_at)
        SELECT x.key, x.operation, x.hash, ${now}::timestamptz FROM jsonb_to_recordset(${JSON.stringify(calls.map(({ key, operation, hash }) => ({ key, operation, hash })))}::jsonb)
          AS x(key text, operation text, hash text)
        ORDER BY x.key -- one lock order for every batch: two batches sharing keys wait, never deadlock
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key
      `.execute(trx);
      const fresh = new Set(inserted.rows.map((r) => r.idempotency_key));
      const repeats = calls.filter((c) => !fresh.has(c.key)).map((c) => c.key);
      const prior = new Map<string, { request_hash: string; status: number; response: SimResponse['body'] }>();
      if (repeats.length > 0) {
        const rows = await sql<{ idempotency_key: string; request_hash: string; status: number; response: SimResponse['body'] }>`
          SELECT idempotency_key, request_hash, status, response FROM payments_sim.requests WHERE idempotency_key = ANY (${repeats}::text[])
        `.execute(trx);
        for (const r of rows.rows) prior.set(r.idempotency_key, r);
      }
      const answers: SimResponse[] = [];
      const batch: SimBatch = { intents: new Map(), inserted: [], changed: new Map(), webhooks: [] };
      const refs = [...new Set(calls.flatMap((c) => (c.ref && fresh.has(c.key) ? [c.ref] : [])))];
      if (refs.length > 0) {
        const locked = await sql<IntentRow>`SELECT * FROM payments_sim.intents WHERE ref = ANY (${refs}::text[]) ORDER BY ref FOR UPDATE`.execute(trx);
        for (const ref of refs) batch.intents.set(ref, null);
        for (const row of locked.rows) batch.intents.set(row.ref, toIntent(row));
      }
      this.#batchOf.set(trx, batch);
      for (const c of calls) {
        if (fresh.has(c.key)) {
          answers.push(await c.run(trx));
          continue;
        }
        const row = prior.get(c.key)!;
        answers.push(
          row.request_hash !== c.hash
            ? { status: 400, body: { error: { type: 'idempotency_error', code: 'idempotency_key_reused', message: 'Keys can only be reused with the same parameters' } } }
            : ({ status: row.status, body: row.response } as SimResponse),
        );
      }
      this.#batchOf.delete(trx);
      await this.#flush(trx, batch);
      const stored = calls.flatMap((c, i) => (fresh.has(c.key) ? [{ key: c.key, status: answers[i]!.status, response: answers[i]!.body }] : []));
      if (stored.length > 0) {
        await sql`
          UPDATE payments_sim.requests r SET status = x.status, response = x.response
          FROM jsonb_to_recordset(${JSON.stringify(stored)}::jsonb) AS x(key text, status integer, response jsonb)
          WHERE r.idempotency_key = x.key
        `.execute(trx);
      }
      return answers;
    });
  }, { name: 'simulator.requests' });

  async #insertIntent(trx: SimDb, req: AuthorizeRequest, declined: string | null): Promise<SimIntent> {
    const row = {
      ref: `simpi_${ulid()}`,
      idempotency_key: req.idempotencyKey,
      status: (declined ? 'failed' : 'requires_capture') as SimIntent['status'],
      currency: req.currency,
      amount_minor: req.amountMinor,
      captured_minor: 0,
      refunded_minor: 0,
      failure_code: declined,
      metadata: req.metadata,
      created_at: this.#clock.now(),
    };
    const batch = this.#batchOf.get(trx);
    if (batch) {
      batch.inserted.push(row);
      const intent = toIntent(row);
      batch.intents.set(row.ref, intent);
      return intent;
    }
    await this.#insertIntents(trx, [row]);
    return toIntent(row);
  }

  async #insertIntents(trx: SimDb, rows: SimBatch['inserted']): Promise<void> {
    await sql`${insertJsonRows('payments_sim.intents', rows)}`.execute(trx);
  }

  async #lockIntent(trx: SimDb, ref: string): Promise<SimIntent | null> {
    const batch = this.#batchOf.get(trx);
    if (batch?.intents.has(ref)) return batch.intents.get(ref)!;
    const r = await sql<IntentRow>`SELECT * FROM payments_sim.intents WHERE ref = ${ref} FOR UPDATE`.execute(trx);
    const intent = r.rows[0] ? toIntent(r.rows[0]) : null;
    batch?.intents.set(ref, intent);
    return intent;
  }

  async #updateIntent(trx: SimDb, ref: string, set: { status?: SimIntent['status']; captured_minor?: number; refunded_minor?: number }): Promise<SimIntent> {
    const batch = this.#batchOf.get(trx);
    const cur = batch?.intents.get(ref);
    if (batch && cur) {
      // the intent is locked by this batch: the change is written with the batch's others before it commits
      const next: SimIntent = {
        ...cur,
        status: set.status ?? cur.status,
        capturedMinor: set.captured_minor ?? cur.capturedMinor,
        refundedMinor: set.refunded_minor ?? cur.refundedMinor,
      };
      batch.intents.set(ref, next);
      batch.changed.set(ref, next);
      return next;
    }
    const r = await sql<IntentRow>`
      UPDATE payments_sim.intents SET
        status = coalesce(${set.status ?? null}, status),
        captured_minor = coalesce(${set.captured_minor ?? null}::bigint, captured_minor),
        refunded_minor = coalesce(${set.refunded_minor ?? null}::bigint, refunded_minor)
      WHERE ref = ${ref} RETURNING *
    `.execute(trx);
    return toIntent(r.rows[0]!);
  }

  async #enqueue(trx: SimDb, type: string, intent: SimIntent): Promise<void> {
    const id = `simevt_${ulid()}`;
    const body = JSON.stringify({ id, type, created: Math.floor(this.#clock.now().getTime() / 1000), data: intent });
    const batch = this.#batchOf.get(trx);
    if (batch) batch.webhooks.push({ id, body, created_at: this.#clock.now() });
    else await sql`INSERT INTO payments_sim.webhooks (id, body, created_at) VALUES (${id}, ${body}, ${this.#clock.now()})`.execute(trx);
  }

  /** Writes a batch's new intents, changed intents and webhooks, one statement each, before the batch commits. */
  async #flush(trx: SimDb, batch: SimBatch): Promise<void> {
    if (batch.inserted.length > 0) await this.#insertIntents(trx, batch.inserted);
    if (batch.changed.size > 0) {
      const rows = [...batch.changed.values()].map((i) => ({ ref: i.ref, status: i.status, captured_minor: i.capturedMinor, refunded_minor: i.refundedMinor }));
      await sql`
        UPDATE payments_sim.intents t SET status = x.status, captured_minor = x.captured_minor, refunded_minor = x.refunded_minor
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(ref text, status text, captured_minor bigint, refunded_minor bigint)
        WHERE t.ref = x.ref
      `.execute(trx);
    }
    if (batch.webhooks.length > 0) await sql`${insertJsonRows('payments_sim.webhooks', batch.webhooks)}`.execute(trx);
  }

  /** The unit of work of the batch a transaction belongs to (absent outside a batch). */
  readonly #batchOf = new WeakMap<object, SimBatch>();

  async #afterCommit(): Promise<void> {
    // a provider may well send its webhook before the API call's answer reaches the caller
    if (this.#options.webhookTiming === 'before_response') await this.deliverWebhooks();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

class ProviderTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProviderTimeout(`no answer in ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function snapshotOf(intent: SimIntent): ProviderSnapshot {
  const status = intent.status === 'requires_capture' ? 'authorized' : intent.status === 'succeeded' ? 'captured' : intent.status === 'canceled' ? 'voided' : 'failed';
  return {
    ref: intent.ref,
    status,
    amountMinor: intent.amountMinor,
    capturedMinor: intent.capturedMinor,
    refundedMinor: intent.refundedMinor,
    failureCode: intent.failureCode,
  };
}

/** Our adapter to the simulator: a client-side timeout, and wire answers mapped to provider results. */
export class SimulatedProvider implements PaymentProvider {
  readonly name = 'simulated' as const;
  readonly simulator: PaymentSimulator;
  readonly #timeoutMs: number;

  constructor(simulator: PaymentSimulator, opts: { timeoutMs: number }) {
    this.simulator = simulator;
    this.#timeoutMs = opts.timeoutMs;
  }

  authorize(req: AuthorizeRequest): Promise<ProviderResult> {
    return this.#call(() => this.simulator.authorize(req));
  }

  capture(ref: string, amountMinor: number | undefined, key: string): Promise<ProviderResult> {
    return this.#call(() => this.simulator.capture(ref, amountMinor, key));
  }

  void(ref: string, key: string): Promise<ProviderResult> {
    return this.#call(() => this.simulator.cancel(ref, key));
  }

  refund(ref: string, amountMinor: number, key: string): Promise<ProviderResult> {
    return this.#call(() => this.simulator.refund(ref, amountMinor, key));
  }

  async retrieve(ref: string): Promise<ProviderResult> {
    const intent = await this.simulator.retrieve(ref);
    return intent ? { ok: true, snapshot: snapshotOf(intent) } : { ok: false, code: 'rejected', message: `no intent ${ref}` };
  }

  async recoverAuthorization(req: AuthorizeRequest): Promise<ProviderResult | { ok: false; code: 'not_found' }> {
    const intent = await this.simulator.findByIdempotencyKey(req.idempotencyKey);
    return intent ? { ok: true, snapshot: snapshotOf(intent) } : { ok: false, code: 'not_found' };
  }

  verifyWebhook(rawBody: string, headers: WebhookHeaders): ProviderEvent | null {
    if (!this.simulator.verify(rawBody, headerValue(headers, SIM_SIGNATURE_HEADER))) return null;
    let event: { id?: unknown; type?: unknown; data?: SimIntent };
    try {
      event = JSON.parse(rawBody) as typeof event;
    } catch {
      return null;
    }
    // signed but not an event (JSON null, an array, a number…): refused like a bad signature, never a 5xx
    if (typeof event !== 'object' || event === null || typeof event.id !== 'string' || typeof event.type !== 'string') return null;
    const intent = typeof event.data === 'object' && event.data !== null && typeof event.data.ref === 'string' ? event.data : null;
    return { id: event.id, type: event.type, snapshot: intent ? snapshotOf(intent) : null, paymentId: intent?.metadata?.payment_id ?? null };
  }

  async #call(run: () => Promise<SimResponse>): Promise<ProviderResult> {
    let res: SimResponse;
    try {
      res = await withTimeout(run(), this.#timeoutMs);
    } catch (e) {
      if (e instanceof ProviderTimeout) return { ok: false, code: 'provider_timeout', message: e.message };
      throw e;
    }
    if (res.status === 200) return { ok: true, snapshot: snapshotOf(res.body.intent) };
    const { error } = res.body;
    if (res.status === 402) {
      return { ok: false, code: error.code === 'insufficient_funds' ? 'insufficient_funds' : 'card_declined', snapshot: error.intent ? snapshotOf(error.intent) : undefined };
    }
    if (res.status >= 500) return { ok: false, code: 'provider_unavailable', message: error.message };
    return { ok: false, code: 'rejected', message: `${error.code}: ${error.message}` };
  }
}
