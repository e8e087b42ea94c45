import type { ContextDeps } from '../../platform/context';
import { Batcher } from '../../platform/batcher';
import { newId } from '../../platform/ids';
import type { EventMap } from '../../platform/events';
import type { PaymentFailure, PaymentStatus, PaymentsService, PaymentView } from './index';
import type { PaymentsFailure } from './payments.errors';
import { describePaymentMethod, type AuthorizeRequest, type PaymentProvider, type ProviderSnapshot, type WebhookHeaders } from './payments.provider';
import type { PaymentsRepository, PaymentRow, Trx } from './payments.repository';
import type { PaymentSimulator } from './payments.simulator';

/** What the provider told us, or (for a failure with no provider record) just the failure. */
type Observation = Omit<ProviderSnapshot, 'ref'> & { ref: string | null };

export type WebhookResult = { ok: true; duplicate: boolean; paymentId: string | null } | { ok: false; code: Extract<PaymentsFailure, 'invalid_signature' | 'unknown_provider'> };

export interface PaymentsServiceImpl extends PaymentsService {
  /** Verifies and applies one provider webhook; a redelivered event is acknowledged and changes nothing. */
  handleWebhook(provider: string, rawBody: string, headers: WebhookHeaders): Promise<WebhookResult>;
  /** Periodic work: posts queued simulator webhooks, settles payments and refunds whose outcome is still unknown. */
  sweep(): Promise<void>;
  /** The simulated provider's side, when it is the configured provider (tests inspect its books). */
  readonly simulator: PaymentSimulator | null;
}

const toView = (r: PaymentRow): PaymentView => ({
  id: r.id,
  checkoutId: r.checkout_id,
  provider: r.provider,
  providerRef: r.provider_ref,
  status: r.status,
  currency: r.currency,
  amountMinor: Number(r.amount_minor),
  capturedMinor: Number(r.captured_minor),
  refundedMinor: Number(r.refunded_minor),
  failureCode: r.failure_code,
});

type PendingEvent = { [N in keyof EventMap]: { name: N; payload: EventMap[N] } }[keyof EventMap];

/**
 * Merges what the provider reports into our record. Amounts only grow and states only move forward
 * (pending → authorized → captured → partially_refunded → refunded; voided and failed are final), so the API
 * answer, a webhook and a reconcile converge on the same row whatever order they arrive in.
 */
export function mergeObservation(cur: PaymentRow, obs: Observation): { next: PaymentRow; events: PendingEvent[] } {
  const next = { ...cur, captured_minor: Number(cur.captured_minor), refunded_minor: Number(cur.refunded_minor) };
  const base = { paymentId: cur.id, checkoutId: cur.checkout_id };
  const events: PendingEvent[] = [];
  if (next.provider_ref === null && obs.ref !== null) next.provider_ref = obs.ref;
  if (cur.status === 'voided' || cur.status === 'failed') return { next, events };

  if (obs.status === 'failed') {
    if (cur.status === 'pending') {
      next.status = 'failed';
      next.failure_code = obs.failureCode ?? 'card_declined';
      events.push({ name: 'payments.payment.failed', payload: { ...base, code: next.failure_code } });
    }
    return { next, events };
  }
  if (obs.status === 'voided') {
    if (cur.status === 'pending' || cur.status === 'authorized') {
      next.status = 'voided';
      events.push({ name: 'payments.payment.voided', payload: base });
    }
    return { next, events };
  }
  if (next.status === 'pending') {
    next.status = 'authorized';
    events.push({ name: 'payments.payment.authorized', payload: { ...base, amountMinor: Number(cur.amount_minor), currency: cur.currency } });
  }
  const captured = Math.min(obs.capturedMinor, Number(cur.amount_minor));
  if (obs.status === 'captured' && captured > next.captured_minor) {
    next.captured_minor = captured;
    events.push({ name: 'payments.payment.captured', payload: { ...base, capturedMinor: captured, currency: cur.currency } });
  }
  const refunded = Math.min(obs.refundedMinor, next.captured_minor);
  if (refunded > next.refunded_minor) {
    events.push({
      name: 'payments.payment.refunded',
      payload: { ...base, amountMinor: refunded - next.refunded_minor, refundedMinor: refunded, currency: cur.currency },
    });
    next.refunded_minor = refunded;
  }
  if (next.captured_minor > 0) {
    next.status = next.refunded_minor === 0 ? 'captured' : next.refunded_minor >= next.captured_minor ? 'refunded' : 'partially_refunded';
  }
  return { next, events };
}

const CAPTURED: readonly PaymentStatus[] = ['captured', 'partially_refunded', 'refunded'];

/** How long after a payment was given up for a silent provider the sweep still looks for a late authorization. */
const LATE_AUTHORIZATION_WINDOW_MS = 10 * 60_000;

export function createPaymentsService(
  deps: ContextDeps,
  repo: PaymentsRepository,
  provider: PaymentProvider,
  opts: { simulator: PaymentSimulator | null; staleAfterMs: number },
): PaymentsServiceImpl {
  const { clock, outbox } = deps;

  /**
   * Applies observations inside `trx`: lock, merge, write, publish every transition in the same transaction. Several
   * observations of one payment merge in the order given; each answer is the payment as its own observation left it.
   */
  async function applyManyIn(trx: Trx, items: ReadonlyArray<{ paymentId: string; obs: Observation }>): Promise<PaymentRow[]> {
    const current = new Map((await repo.lockMany(trx, [...new Set(items.map((i) => i.paymentId))])).map((r) => [r.id, r]));
    const changed = new Map<string, PaymentRow>();
    const events: PendingEvent[] = [];
    const answers = items.map(({ paymentId, obs }) => {
      const cur = current.get(paymentId);
      if (!cur) throw new Error(`payment ${paymentId} vanished`);
      const merged = mergeObservation(cur, obs);
      if (merged.events.length === 0 && merged.next.provider_ref === cur.provider_ref) return cur;
      const next: PaymentRow = { ...merged.next, updated_at: clock.now() };
      current.set(paymentId, next);
      changed.set(paymentId, next);
      events.push(...merged.events);
      return next;
    });
    await repo.updateMany(trx, [...changed.values()]);
    await outbox.publishMany(trx, events);
    return answers;
  }

  const applyIn = async (trx: Trx, paymentId: string, obs: Observation): Promise<PaymentRow> => (await applyManyIn(trx, [{ paymentId, obs }]))[0]!;

  /** What the provider answered concurrent checkouts, recorded together: one transaction per batch. */
  const applier = new Batcher<{ paymentId: string; obs: Observation }, PaymentRow>((items) => repo.db.transaction().execute((trx) => applyManyIn(trx, items)), { name: 'payments.apply' });

  const apply = (paymentId: string, obs: Observation): Promise<PaymentRow> => applier.submit({ paymentId, obs });

  const failedObservation = (row: PaymentRow, code: string): Observation => ({
    ref: null,
    status: 'failed',
    amountMinor: Number(row.amount_minor),
    capturedMinor: 0,
    refundedMinor: 0,
    failureCode: code,
  });

  const authorizeRequest = (row: PaymentRow): AuthorizeRequest => ({
    amountMinor: Number(row.amount_minor),
    currency: row.currency,
    paymentMethod: row.payment_method,
    idempotencyKey: `${row.checkout_id}:authorize`,
    metadata: { payment_id: row.id, checkout_id: row.checkout_id },
  });

  /** A pending payment's truth, asked of the provider under the authorization's idempotency key. */
  async function settlePending(row: PaymentRow): Promise<PaymentRow> {
    const res = await provider.recoverAuthorization(authorizeRequest(row));
    if (res.ok) return apply(row.id, res.snapshot);
    // the provider never saw it (a crash before the call, or a 5xx): nothing is held, so it failed
    if (res.code === 'not_found') return apply(row.id, failedObservation(row, 'provider_unavailable'));
    if (res.code === 'card_declined' || res.code === 'insufficient_funds') return apply(row.id, res.snapshot ?? failedObservation(row, res.code));
    return row; // still no answer: stays pending for the next attempt
  }

  /** Calls the provider for a recorded refund (same key every time) and records the outcome. */
  async function completeRefund(row: PaymentRow, refund: { key: string; amount_minor: number }): Promise<{ ok: true; payment: PaymentRow } | { ok: false; code: 'not_refundable' | 'provider_timeout' | 'provider_unavailable' }> {
    const res = await provider.refund(row.provider_ref!, Number(refund.amount_minor), refund.key);
    if (res.ok) {
      const payment = await repo.db.transaction().execute(async (trx) => {
        await repo.finishRefund(trx, refund.key, { status: 'succeeded', provider_ref: null, failure_code: null, updated_at: clock.now() });
        return applyIn(trx, row.id, res.snapshot);
      });
      return { ok: true, payment };
    }
    if (res.code === 'provider_timeout' || res.code === 'provider_unavailable') return { ok: false, code: res.code };
    await repo.db.transaction().execute((trx) => repo.finishRefund(trx, refund.key, { status: 'failed', provider_ref: null, failure_code: 'not_refundable', updated_at: clock.now() }));
    return { ok: false, code: 'not_refundable' };
  }

  /** Brings a payment in line with the provider: settles a pending authorization, syncs a known one, retries refunds. */
  async function settle(row: PaymentRow): Promise<PaymentRow> {
    if (row.status === 'pending') row = await settlePending(row);
    else if (row.provider_ref && row.status !== 'failed') {
      const res = await provider.retrieve(row.provider_ref);
      if (res.ok) row = await apply(row.id, res.snapshot);
    }
    if (row.provider_ref && CAPTURED.includes(row.status)) {
      for (const refund of await repo.listPendingRefunds(row.id)) {
        const done = await completeRefund(row, refund);
        if (done.ok) row = done.payment;
      }
    }
    return row;
  }

  /**
   * The provider authorized a payment we had already given up (failed or voided: final), e.g. an authorize request
   * that reached it after reconcile had found nothing: a hold on the shopper's card that no order will capture.
   * Voided under one key however often it is found; a void that fails is tried again by the sweep (for
   * LATE_AUTHORIZATION_WINDOW_MS after the payment was made).
   */
  async function voidLateAuthorization(paymentId: string, ref: string): Promise<void> {
    const res = await provider.void(ref, `${paymentId}:void-late-authorization`);
    if (res.ok) {
      await repo.setProviderRef(paymentId, ref, clock.now());
      deps.log.warn({ paymentId, ref }, 'voided an authorization that arrived after its payment was given up');
    } else {
      deps.log.error({ paymentId, ref, code: res.code }, 'could not void a late authorization; the sweep tries again');
    }
  }

  /**
   * Payments this process authorized and has not captured yet (a checkout captures right after placing its orders):
   * what capture needs without reading the row again. Bounded; a payment not found here is read as before.
   */
  const justAuthorized = new Map<string, { ref: string; amountMinor: number }>();
  const rememberAuthorized = (id: string, ref: string, amountMinor: number) => {
    if (justAuthorized.size >= 50_000) justAuthorized.clear();
    justAuthorized.set(id, { ref, amountMinor });
  };

  /**
   * Asks the provider to capture (under the payment's one capture key) and records its answer. A refusal is explained
   * from the books and the provider's record: it may have been captured or voided meanwhile. `row`: the payment as
   * just read, if it was.
   */
  async function captureAt(paymentId: string, ref: string, amountMinor: number | undefined, row?: PaymentRow): ReturnType<PaymentsServiceImpl['capture']> {
    const res = await provider.capture(ref, amountMinor, `${paymentId}:capture`);
    if (res.ok) return { ok: true, payment: toView(await apply(paymentId, res.snapshot)) };
    if (res.code === 'provider_timeout' || res.code === 'provider_unavailable') return { ok: false, code: res.code };
    const found = row ?? (await repo.findById(paymentId));
    const settled = found ? await settle(found) : null;
    return settled && CAPTURED.includes(settled.status) ? { ok: true, payment: toView(settled) } : { ok: false, code: 'not_capturable' };
  }

  const service: PaymentsServiceImpl = {
    simulator: opts.simulator,

    async authorize(input) {
      if (!Number.isSafeInteger(input.amountMinor) || input.amountMinor <= 0) throw new RangeError(`amountMinor must be a positive integer, got ${input.amountMinor}`);
      if (!/^[A-Z]{3}$/.test(input.currency)) throw new RangeError(`currency must be ISO 4217, got ${input.currency}`);
      const now = clock.now();
      // pending is written first, so a crash during the provider call leaves a trace reconcile can follow; a checkout
      // that has its payment already (a retry) gets that one back instead, in the same statement (no look-up first)
      let row = await repo.insertPending({
        id: newId('payment'),
        checkout_id: input.checkoutId,
        account_id: input.accountId,
        provider: provider.name,
        provider_ref: null,
        payment_method: describePaymentMethod(input.paymentMethod),
        status: 'pending',
        currency: input.currency,
        amount_minor: input.amountMinor,
        captured_minor: 0,
        refunded_minor: 0,
        failure_code: null,
        created_at: now,
        updated_at: now,
      });
      if (row.status === 'pending') {
        const res = await provider.authorize({ ...authorizeRequest(row), paymentMethod: input.paymentMethod });
        if (res.ok) row = await apply(row.id, res.snapshot);
        else if (res.code === 'card_declined' || res.code === 'insufficient_funds') row = await apply(row.id, res.snapshot ?? failedObservation(row, res.code));
        else if (res.code === 'rejected') row = await apply(row.id, failedObservation(row, 'card_declined'));
        else return { ok: false, code: res.code, payment: toView(row) };
      }
      if (row.status === 'failed') return { ok: false, code: (row.failure_code ?? 'card_declined') as PaymentFailure, payment: toView(row) };
      if (row.status === 'pending') return { ok: false, code: 'provider_timeout', payment: toView(row) };
      if (row.status === 'authorized' && row.provider_ref) rememberAuthorized(row.id, row.provider_ref, Number(row.amount_minor));
      return { ok: true, payment: toView(row) };
    },

    async capture(paymentId, amountMinor) {
      const known = justAuthorized.get(paymentId);
      justAuthorized.delete(paymentId);
      // authorized by this process moments ago (a checkout's next step): no look-up first. The provider is the
      // authority on whether the intent can still be captured (a void, ours or anyone's, went to it first)
      if (known && (amountMinor === undefined || amountMinor === known.amountMinor)) return captureAt(paymentId, known.ref, amountMinor);
      let row = await repo.findById(paymentId);
      if (!row) return { ok: false, code: 'not_capturable' };
      if (row.status === 'pending') row = await settlePending(row);
      if (row.status === 'pending') return { ok: false, code: 'provider_timeout' };
      if (CAPTURED.includes(row.status)) return { ok: true, payment: toView(row) };
      if (row.status !== 'authorized') return { ok: false, code: 'not_capturable' };
      if (amountMinor !== undefined && (!Number.isSafeInteger(amountMinor) || amountMinor <= 0 || amountMinor > Number(row.amount_minor))) {
        return { ok: false, code: 'not_capturable' };
      }
      return captureAt(row.id, row.provider_ref!, amountMinor, row);
    },

    async void(paymentId) {
      let row = await repo.findById(paymentId);
      if (!row) return { ok: false, code: 'not_voidable' };
      if (row.status === 'pending') row = await settlePending(row);
      if (row.status === 'pending') return { ok: false, code: 'provider_timeout' };
      // nothing is held for a voided or failed payment: the undo has nothing left to do
      if (row.status === 'voided' || row.status === 'failed') return { ok: true, payment: toView(row) };
      if (row.status !== 'authorized') return { ok: false, code: 'not_voidable' };
      const res = await provider.void(row.provider_ref!, `${row.id}:void`);
      if (res.ok) return { ok: true, payment: toView(await apply(row.id, res.snapshot)) };
      if (res.code === 'provider_timeout' || res.code === 'provider_unavailable') return { ok: false, code: res.code };
      row = await settle(row);
      return row.status === 'voided' ? { ok: true, payment: toView(row) } : { ok: false, code: 'not_voidable' };
    },

    async refund(paymentId, amountMinor, key, reason) {
      let existing = await repo.findRefundByKey(key);
      if (!existing) {
        if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) return { ok: false, code: 'not_refundable' };
        const refused = await repo.db.transaction().execute(async (trx) => {
          const payment = await repo.lock(trx, paymentId);
          if (!payment || !payment.provider_ref || !CAPTURED.includes(payment.status)) return 'not_refundable' as const;
          // a concurrent call with this key recorded it while this one waited for the lock: it is this refund, not
          // another one to count against the capture
          if (await repo.findRefundByKey(key, trx)) return null;
          // refunds asked for but not yet answered count too, so two concurrent refunds cannot exceed the capture
          if ((await repo.openRefundTotal(trx, paymentId)) + amountMinor > Number(payment.captured_minor)) return 'amount_exceeds_captured' as const;
          const now = clock.now();
          await repo.insertRefund(trx, {
            id: newId('refund'),
            payment_id: paymentId,
            key,
            amount_minor: amountMinor,
            reason,
            status: 'pending',
            provider_ref: null,
            failure_code: null,
            created_at: now,
            updated_at: now,
          });
          return null;
        });
        if (refused) return { ok: false, code: refused };
        existing = (await repo.findRefundByKey(key))!;
      }
      // a key names one refund: reusing it for another payment or amount is refused, like a provider would
      if (existing.payment_id !== paymentId || Number(existing.amount_minor) !== amountMinor) return { ok: false, code: 'not_refundable' };
      const row = (await repo.findById(paymentId))!;
      if (existing.status === 'succeeded') return { ok: true, payment: toView(row) };
      if (existing.status === 'failed') return { ok: false, code: 'not_refundable' };
      const done = await completeRefund(row, existing);
      return done.ok ? { ok: true, payment: toView(done.payment) } : done;
    },

    async getPayment(paymentId) {
      const row = await repo.findById(paymentId);
      return row ? toView(row) : null;
    },

    async findByCheckout(checkoutId) {
      const row = await repo.findByCheckout(checkoutId);
      return row ? toView(row) : null;
    },

    async reconcile(checkoutId) {
      const row = await repo.findByCheckout(checkoutId);
      return row ? toView(await settle(row)) : null;
    },

    async handleWebhook(providerName, rawBody, headers) {
      if (providerName !== provider.name) return { ok: false, code: 'unknown_provider' };
      const event = provider.verifyWebhook(rawBody, headers);
      if (!event) return { ok: false, code: 'invalid_signature' };
      let orphan: { paymentId: string; ref: string } | null = null;
      const result = await repo.db.transaction().execute(async (trx): Promise<WebhookResult> => {
        const inboxId = newId('webhook');
        const fresh = await repo.insertWebhookEvent(trx, {
          id: inboxId,
          provider: provider.name,
          provider_event_id: event.id,
          event_type: event.type,
          payment_id: null,
          raw_body: rawBody,
          received_at: clock.now(),
        });
        if (!fresh) return { ok: true, duplicate: true, paymentId: null };
        if (!event.snapshot) return { ok: true, duplicate: false, paymentId: null };
        const paymentId = await repo.findIdForWebhook(trx, provider.name, event.paymentId, event.snapshot.ref);
        // a payment we do not know (made elsewhere on the account) is acknowledged and kept for audit only
        if (!paymentId) return { ok: true, duplicate: false, paymentId: null };
        await repo.setWebhookPayment(trx, inboxId, paymentId);
        const row = await applyIn(trx, paymentId, event.snapshot);
        // the provider authorized after we had given the payment up (failed or voided: final): a hold on the
        // shopper's card that no order will ever capture
        if ((row.status === 'failed' || row.status === 'voided') && event.snapshot.status === 'authorized') orphan = { paymentId, ref: event.snapshot.ref };
        return { ok: true, duplicate: false, paymentId };
      });
      const late = orphan as { paymentId: string; ref: string } | null;
      // released at once, outside the transaction (no provider call inside one)
      if (late) await voidLateAuthorization(late.paymentId, late.ref);
      return result;
    },

    async sweep() {
      if (opts.simulator) await opts.simulator.deliverWebhooks();
      // a late authorization whose webhook never came: asked for under the authorization's own key while it may land
      const since = new Date(clock.now().getTime() - LATE_AUTHORIZATION_WINDOW_MS);
      for (const row of await repo.listGivenUpSince(since, 20)) {
        try {
          const res = row.provider_ref ? await provider.retrieve(row.provider_ref) : await provider.recoverAuthorization(authorizeRequest(row));
          if (res.ok && res.snapshot.status === 'authorized') await voidLateAuthorization(row.id, res.snapshot.ref);
        } catch (err) {
          deps.log.error({ err, paymentId: row.id }, 'late-authorization check failed');
        }
      }
      const before = new Date(clock.now().getTime() - opts.staleAfterMs);
      for (const checkoutId of await repo.listStalePending(before, 20)) {
        try {
          await service.reconcile(checkoutId);
        } catch (err) {
          deps.log.error({ err, checkoutId }, 'payment reconcile failed');
        }
      }
      for (const paymentId of await repo.listStaleRefundPayments(before, 20)) {
        const row = await repo.findById(paymentId);
        if (row) await settle(row).catch((err: unknown) => deps.log.error({ err, paymentId }, 'refund retry failed'));
      }
    },
  };
  return service;
}
