import type { EventMap } from '../../platform/events';
import { DAY, HOUR } from '../../platform/clock';
import { idCursor, newId } from '../../platform/ids';
import type { CommissionableCredit } from '../attribution/attribution.events';
import type { EarningsDeps } from './index';
import type { EarningsFailure } from './earnings.errors';
import type { ConnectEvent, PayoutProvider, TransferResult, TransferState } from './earnings.payout-provider';
import * as repo from './earnings.repository';
import type { Bucket, LedgerRow, PayoutRow, PayoutStatus, PayoutTrigger } from './earnings.repository';

export type Result<T> = { ok: true; value: T } | { ok: false; code: EarningsFailure | 'invalid_cursor'; details?: unknown };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = (code: EarningsFailure | 'invalid_cursor', details?: unknown) => ({ ok: false, code, ...(details !== undefined ? { details } : {}) }) as const;

/** How long an in-flight payout may go untouched before the sweep replays its transfer (same idempotency key). */
export const PAYOUT_RETRY_AFTER_MS = 60_000;

export interface Balance {
  currency: string;
  pendingMinor: number;
  /** Signed: negative when refunds after a payout exceed what became available since (netted from the next payout). */
  availableMinor: number;
  inTransitMinor: number;
  paidMinor: number;
  /** What the next payout must first make up: max(0, −available). */
  negativeCarryMinor: number;
}

export interface LedgerEntryView {
  id: string;
  kind: repo.EntryKind;
  bucket: Bucket;
  currency: string;
  amountMinor: number;
  commissionId: string | null;
  orderId: string | null;
  payoutId: string | null;
  createdAt: string;
}

export interface PayoutView {
  id: string;
  creatorId: string;
  currency: string;
  amountMinor: number;
  status: PayoutStatus;
  trigger: PayoutTrigger;
  provider: 'simulated' | 'stripe';
  providerRef: string | null;
  failureCode: string | null;
  /** What the provider reversed of the transfer so far (moved from paid back to available). */
  reversedMinor: number;
  createdAt: string;
  settledAt: string | null;
}

export interface PayoutAccountView {
  provider: 'simulated' | 'stripe';
  accountId: string;
  /** false after the provider reported the account cannot receive transfers: payouts wait until it can. */
  canReceiveTransfers: boolean;
  restrictedReason: string | null;
  updatedAt: string;
}

export interface EarningsSummary {
  balances: Balance[];
  nextPayoutAt: string;
  minimumPayoutMinor: number;
}

export interface CommissionRulesView {
  /** The platform default (config.defaultCommissionBps), in force when the merchant has no rule. */
  defaultBps: number;
  merchantRateBps: number | null;
  products: Array<{ productId: string; rateBps: number; effectiveAt: string }>;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Commission = basis × rate / 10 000, rounded half to even (banker's rounding: no upward drift summed over many lines),
 * computed in BigInt so a large basis never loses precision.
 */
export function commissionOf(basisMinor: number, rateBps: number): number {
  return divideHalfEven(BigInt(basisMinor) * BigInt(rateBps), 10_000n);
}

/** The commission reversed once `reversedBasis` of `basis` was refunded: pro rata, exactly the whole at a full refund. */
export function reversedCommission(amountMinor: number, basisMinor: number, reversedBasisMinor: number): number {
  return divideHalfEven(BigInt(amountMinor) * BigInt(reversedBasisMinor), BigInt(basisMinor));
}

function divideHalfEven(n: bigint, d: bigint): number {
  const q = n / d;
  const twice = (n % d) * 2n;
  return Number(twice > d || (twice === d && q % 2n === 1n) ? q + 1n : q);
}

// each list takes back only a cursor naming one of its own ids: a forged or another list's cursor is invalid_cursor
const ledgerCursor = idCursor('ledgerEntry');
const payoutCursor = idCursor('payout');

const iso = (d: Date | string) => new Date(d).toISOString();

function entryView(r: LedgerRow): LedgerEntryView {
  return {
    id: r.id,
    kind: r.kind,
    bucket: r.bucket,
    currency: r.currency,
    amountMinor: Number(r.amount_minor),
    commissionId: r.commission_id,
    orderId: r.order_id,
    payoutId: r.payout_id,
    createdAt: iso(r.created_at),
  };
}

function payoutView(r: PayoutRow): PayoutView {
  return {
    id: r.id,
    creatorId: r.creator_id,
    currency: r.currency,
    amountMinor: Number(r.amount_minor),
    status: r.status,
    trigger: r.trigger,
    provider: r.provider,
    providerRef: r.provider_ref,
    failureCode: r.failure_code,
    reversedMinor: Number(r.reversed_minor),
    createdAt: iso(r.created_at),
    settledAt: r.settled_at ? iso(r.settled_at) : null,
  };
}

function accountView(a: repo.PayoutAccountRow): PayoutAccountView {
  return { provider: a.provider, accountId: a.account_ref, canReceiveTransfers: a.restricted_reason === null, restrictedReason: a.restricted_reason, updatedAt: iso(a.updated_at) };
}

/** The fields every payout event carries. */
function payoutEvent(r: PayoutRow, at: Date) {
  return { payoutId: r.id, creatorId: r.creator_id, currency: r.currency, amountMinor: Number(r.amount_minor), provider: r.provider, trigger: r.trigger, at: at.toISOString() };
}

function toBalances(rows: Array<{ currency: string; bucket: Bucket; sum: number }>): Balance[] {
  const by = new Map<string, Balance>();
  for (const r of rows) {
    const b = by.get(r.currency) ?? { currency: r.currency, pendingMinor: 0, availableMinor: 0, inTransitMinor: 0, paidMinor: 0, negativeCarryMinor: 0 };
    const v = Number(r.sum);
    if (r.bucket === 'pending') b.pendingMinor = v;
    else if (r.bucket === 'available') b.availableMinor = v;
    else if (r.bucket === 'in_transit') b.inTransitMinor = v;
    else b.paidMinor = v;
    b.negativeCarryMinor = Math.max(0, -b.availableMinor);
    by.set(r.currency, b);
  }
  return [...by.values()].sort((a, b) => a.currency.localeCompare(b.currency));
}

const BUCKETS: Bucket[] = ['pending', 'available', 'in_transit', 'paid'];

/** A statement month: `YYYY-MM` (UTC), from 1970-01 to 9999-12 (four-digit years). */
const STATEMENT_MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const FIRST_STATEMENT_YEAR = 1970;

function csvCell(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

type LineFacts = EventMap['attribution.line.credited'];

export function createEarningsService(deps: EarningsDeps, provider: PayoutProvider) {
  const { db, clock, config, outbox, log } = deps;
  const holdMs = config.earningsHoldDays * DAY;

  /**
   * The commission of a line exists exactly once, with its credit entry: created by whichever of the credit or an
   * early reversal arrives first (both carry the same frozen commissionable credit). The rate is the rule in force at
   * order time, so a rule changed later, or an event delivered late, never changes it.
   */
  async function ensureCommission(trx: repo.Executor, facts: Omit<LineFacts, 'quantity' | 'netAmountMinor' | 'credits' | 'commissionable'>, credit: CommissionableCredit): Promise<void> {
    if (credit.amountMinor <= 0) return;
    const orderedAt = new Date(facts.orderedAt);
    const rate = (await repo.rateAt(trx, facts.merchantId, facts.productId, orderedAt)) ?? config.defaultCommissionBps;
    const amount = commissionOf(credit.amountMinor, rate);
    const at = clock.now();
    const id = await repo.insertCommission(
      trx,
      {
        line_id: facts.lineId,
        order_id: facts.orderId,
        merchant_id: facts.merchantId,
        product_id: facts.productId,
        creator_id: credit.creatorId,
        post_id: credit.postId,
        tag_id: credit.tagId,
        currency: facts.currency,
        ordered_at: orderedAt,
        basis_minor: credit.amountMinor,
        rate_bps: rate,
        amount_minor: amount,
      },
      at,
    );
    if (id === null) return;
    await repo.appendEntries(
      trx,
      [{ creatorId: credit.creatorId, currency: facts.currency, kind: 'commission', bucket: 'pending', amountMinor: amount, sourceKey: `credit:${facts.lineId}`, commissionId: id, orderId: facts.orderId }],
      at,
    );
  }

  async function onCredited(p: EventMap['attribution.line.credited']): Promise<void> {
    if (!p.commissionable) return;
    await db.transaction().execute((trx) => ensureCommission(trx, p, p.commissionable!));
  }

  /**
   * A refund reduces the commission pro rata to the basis refunded, once per (refund, line); the reduction comes out of
   * pending before the release, out of available after it (which goes negative when the money was already paid out).
   */
  async function onReversed(p: EventMap['attribution.line.reversed']): Promise<void> {
    if (!p.originalCommissionable && !p.commissionable) return;
    await db.transaction().execute(async (trx) => {
      if (p.originalCommissionable) await ensureCommission(trx, p, p.originalCommissionable);
      const c = await repo.lockCommission(trx, p.lineId);
      if (!c) return;
      const refunded = Math.abs(p.commissionable?.amountMinor ?? 0);
      const basis = Math.min(refunded, Number(c.basis_minor) - Number(c.reversed_basis_minor));
      const total = reversedCommission(Number(c.amount_minor), Number(c.basis_minor), Number(c.reversed_basis_minor) + basis);
      const delta = total - Number(c.reversed_minor);
      const at = clock.now();
      if (!(await repo.insertReversal(trx, { refundId: p.refundId, lineId: p.lineId, commissionId: c.id, basisMinor: basis, commissionMinor: delta }, at))) return;
      await repo.addReversed(trx, c.id, basis, delta);
      await repo.appendEntries(
        trx,
        [
          {
            creatorId: c.creator_id,
            currency: c.currency,
            kind: 'reversal',
            bucket: c.released_at === null ? 'pending' : 'available',
            amountMinor: -delta,
            sourceKey: `reversal:${p.refundId}:${p.lineId}`,
            commissionId: c.id,
            orderId: c.order_id,
          },
        ],
        at,
      );
    });
  }

  /** Moves every commission whose hold after delivery elapsed from pending to available (each exactly once). */
  async function releaseDue(creatorId?: string): Promise<number> {
    const now = clock.now();
    return db.transaction().execute(async (trx) => {
      const released = await repo.markReleased(trx, new Date(now.getTime() - holdMs), now, creatorId);
      const entries = released.flatMap((c) => {
        const rest = Number(c.rest);
        const common = { creatorId: c.creator_id, currency: c.currency, kind: 'release' as const, sourceKey: `release:${c.id}`, commissionId: c.id, orderId: c.order_id };
        return [
          { ...common, bucket: 'pending' as const, amountMinor: -rest },
          { ...common, bucket: 'available' as const, amountMinor: rest },
        ];
      });
      await repo.appendEntries(trx, entries, now);
      return released.length;
    });
  }

  async function commissionRules(merchantId: string): Promise<CommissionRulesView> {
    const rules = await repo.currentRules(db, merchantId, clock.now());
    return {
      defaultBps: config.defaultCommissionBps,
      merchantRateBps: rules.merchant?.rateBps ?? null,
      products: rules.products.map((p) => ({ productId: p.productId, rateBps: p.rateBps, effectiveAt: p.effectiveAt.toISOString() })),
    };
  }

  /** Applies the provider's answer to an in-flight payout: sent → paid; refused → available again; unknown → stays in flight. */
  async function settle(payout: PayoutRow, result: TransferResult): Promise<PayoutRow> {
    const now = clock.now();
    if (!result.ok && result.code === 'unavailable') {
      await repo.notePayoutAttempt(db, payout.id, now);
      log.warn({ payoutId: payout.id, message: result.message }, 'payout transfer outcome unknown; the sweep replays it');
      return (await repo.findPayout(db, payout.id)) ?? payout;
    }
    const settled = await db.transaction().execute(async (trx) => {
      const row = await repo.settlePayout(trx, payout.id, result.ok ? { status: 'sent', ref: result.ref } : { status: 'failed', code: 'provider_rejected' }, now);
      if (!row) return null;
      const amount = Number(row.amount_minor);
      const common = { creatorId: row.creator_id, currency: row.currency, sourceKey: `settle:${row.id}`, payoutId: row.id };
      const to: Bucket = result.ok ? 'paid' : 'available';
      await repo.appendEntries(
        trx,
        [
          { ...common, kind: result.ok ? 'payout_paid' : 'payout_failed', bucket: 'in_transit', amountMinor: -amount },
          { ...common, kind: result.ok ? 'payout_paid' : 'payout_failed', bucket: to, amountMinor: amount },
        ],
        now,
      );
      const event = payoutEvent(row, now);
      if (result.ok) await outbox.publish(trx, 'earnings.payout.sent', { ...event, providerRef: result.ref });
      else await outbox.publish(trx, 'earnings.payout.failed', { ...event, failureCode: row.failure_code! });
      return row;
    });
    if (!result.ok) log.warn({ payoutId: payout.id, message: result.message }, 'payout refused by the provider; the money is available again');
    // another caller settled it first (sweep replay racing the original request): its answer stands
    return settled ?? (await repo.findPayout(db, payout.id)) ?? payout;
  }

  async function transfer(payout: PayoutRow): Promise<PayoutRow> {
    const result = await provider.transfer({
      amountMinor: Number(payout.amount_minor),
      currency: payout.currency,
      destination: payout.destination,
      // the payout id: a replay after a timeout or crash finds the first transfer, never makes a second
      idempotencyKey: payout.id,
      metadata: { payout_id: payout.id, creator_id: payout.creator_id },
    });
    return settle(payout, result);
  }

  /**
   * Pays out the whole available balance of one currency: the amount moves available → in_transit in the transaction
   * that creates the payout (so no concurrent payout can take it again), then the provider is called outside any
   * transaction with the payout id as idempotency key, then the answer settles it.
   */
  async function payout(creatorId: string, currency: string, trigger: PayoutTrigger): Promise<Result<PayoutView>> {
    await releaseDue(creatorId);
    const account = await repo.getPayoutAccount(db, creatorId);
    if (!account) return fail('payout_account_required');
    if (account.restricted_reason !== null) return fail('payout_account_restricted', { reason: account.restricted_reason });
    const now = clock.now();
    const notSince = trigger === 'scheduled' ? new Date(now.getTime() - config.payoutScheduleHours * HOUR) : null;
    const started = await db.transaction().execute(async (trx) => {
      await repo.lockPayouts(trx, creatorId);
      const row = await repo.startPayout(
        trx,
        { id: newId('payout'), creatorId, currency, minimumMinor: config.payoutMinimumMinor, trigger, provider: provider.name, destination: account.account_ref, notSince },
        now,
      );
      if (!row) return null;
      const common = { creatorId, currency, kind: 'payout' as const, sourceKey: `payout:${row.id}`, payoutId: row.id };
      await repo.appendEntries(
        trx,
        [
          { ...common, bucket: 'available', amountMinor: -Number(row.amount_minor) },
          { ...common, bucket: 'in_transit', amountMinor: Number(row.amount_minor) },
        ],
        now,
      );
      return row;
    });
    if (!started) {
      if (await repo.inFlightPayout(db, creatorId, currency)) return fail('payout_in_progress');
      return fail('payout_below_minimum', { availableMinor: await repo.availableSum(db, creatorId, currency), minimumMinor: config.payoutMinimumMinor });
    }
    return ok(payoutView(await transfer(started)));
  }

  /**
   * Books what the provider newly reversed of a payout's transfer: its cumulative `reversedMinor` less what the payout
   * recorded already, moved from paid back to available, with `earnings.payout.reversed`, in the caller's transaction
   * (the payout row lock orders concurrent events). A repeated or older event books nothing.
   */
  async function bookTransferReversal(trx: repo.Executor, payoutId: string, transfer: TransferState): Promise<void> {
    const payout = (await repo.lockPayout(trx, payoutId))!;
    const amount = Number(payout.amount_minor);
    const matches = transfer.ref === payout.provider_ref && transfer.amountMinor === amount && transfer.currency === payout.currency;
    if (!matches || (payout.status !== 'sent' && payout.status !== 'reversed')) {
      log.warn({ payoutId, transfer, status: payout.status }, 'transfer event does not match its payout; not booked');
      return;
    }
    const total = Math.min(transfer.reversedMinor, amount);
    const delta = total - Number(payout.reversed_minor);
    if (delta <= 0) return;
    const now = clock.now();
    const row = await repo.setPayoutReversed(trx, payoutId, total, now);
    // one source per cumulative total: a total is booked once, and every later total books only its difference
    const common = { creatorId: row.creator_id, currency: row.currency, kind: 'payout_reversed' as const, sourceKey: `payout_reversal:${row.id}:${total}`, payoutId: row.id };
    await repo.appendEntries(
      trx,
      [
        { ...common, bucket: 'paid', amountMinor: -delta },
        { ...common, bucket: 'available', amountMinor: delta },
      ],
      now,
    );
    await outbox.publish(trx, 'earnings.payout.reversed', { ...payoutEvent(row, now), providerRef: row.provider_ref!, reversedMinor: delta, totalReversedMinor: total });
  }

  /**
   * Applies one verified provider event, once per event id (stored raw for audit): a transfer's reversals are booked,
   * an account's state marks its payout accounts usable or restricted. A transfer that is not one of our payouts is
   * stored and otherwise ignored. An event about a payout still in flight proves its transfer exists: the payout is
   * settled as sent first, as the sweep's replay would.
   */
  async function applyConnectEvent(event: ConnectEvent, rawBody: string): Promise<{ duplicate: boolean }> {
    const { transfer, account } = event;
    const find = (ex: repo.Executor, t: TransferState) => repo.findPayoutOfTransfer(ex, provider.name, t.ref, t.payoutId);
    const inFlight = transfer ? await find(db, transfer) : null;
    if (inFlight?.status === 'processing' && transfer!.amountMinor === Number(inFlight.amount_minor) && transfer!.currency === inFlight.currency) {
      await settle(inFlight, { ok: true, ref: transfer!.ref });
    }
    return db.transaction().execute(async (trx) => {
      const payout = transfer ? await find(trx, transfer) : null;
      const now = clock.now();
      if (!(await repo.insertWebhookEvent(trx, { provider: provider.name, eventId: event.id, type: event.type, payoutId: payout?.id ?? null, rawBody }, now))) {
        return { duplicate: true };
      }
      if (payout) await bookTransferReversal(trx, payout.id, transfer!);
      if (account) await repo.applyAccountState(trx, provider.name, account.ref, account.canReceiveTransfers ? null : (account.reason ?? 'cannot receive transfers'), event.createdAt, now);
      return { duplicate: false };
    });
  }

  async function balances(creatorId: string): Promise<Balance[]> {
    await releaseDue(creatorId);
    return toBalances(await repo.bucketSums(db, creatorId));
  }

  async function summary(creatorId: string): Promise<EarningsSummary> {
    const current = await balances(creatorId);
    const last = await repo.lastPayoutAtByCurrency(db, creatorId);
    const now = clock.now().getTime();
    // the schedule considers each currency on its own (duePayouts): the soonest of them; a currency never paid is now
    const times = current.map((b) => {
      const at = last.get(b.currency);
      return at ? Math.max(now, at.getTime() + config.payoutScheduleHours * HOUR) : now;
    });
    const next = times.length > 0 ? Math.min(...times) : now;
    return { balances: current, nextPayoutAt: new Date(next).toISOString(), minimumPayoutMinor: config.payoutMinimumMinor };
  }

  return {
    /** Creator balances per currency, derived from the ledger (commissions whose hold elapsed are released first). */
    balances,

    /** The earnings overview: balances, when the schedule next considers this creator, and the payout minimum. */
    summary,

    /** Any creator's overview by id (the admin support view); `creator_not_found` when social knows no such creator. */
    async creatorSummary(creatorId: string): Promise<Result<EarningsSummary>> {
      if (!(await deps.social.accountsOfCreators([creatorId])).has(creatorId)) return fail('creator_not_found');
      return ok(await summary(creatorId));
    },

    /** Handles one attribution or orders event; idempotent under at-least-once delivery in any order. */
    async handle<N extends 'attribution.line.credited' | 'attribution.line.reversed' | 'orders.order.delivered'>(name: N, payload: EventMap[N]): Promise<void> {
      if (name === 'attribution.line.credited') await onCredited(payload as EventMap['attribution.line.credited']);
      else if (name === 'attribution.line.reversed') await onReversed(payload as EventMap['attribution.line.reversed']);
      else {
        const p = payload as EventMap['orders.order.delivered'];
        await repo.recordDelivery(db, p.orderId, new Date(p.at));
      }
    },

    releaseDue,

    /** On-demand payout of one currency (the route wraps it in the request's Idempotency-Key). */
    requestPayout: (creatorId: string, currency: string) => payout(creatorId, currency, 'on_demand'),

    /**
     * The periodic work: releases elapsed holds, replays in-flight payouts left untouched (crash or timeout; same
     * idempotency key, so never a second transfer), and pays every creator due on the schedule.
     */
    async sweep(): Promise<void> {
      await releaseDue();
      const now = clock.now();
      for (const stale of await repo.stalePayouts(db, new Date(now.getTime() - PAYOUT_RETRY_AFTER_MS))) await transfer(stale);
      const due = await repo.duePayouts(db, config.payoutMinimumMinor, new Date(now.getTime() - config.payoutScheduleHours * HOUR));
      for (const d of due) {
        const r = await payout(d.creator_id, d.currency, 'scheduled');
        if (!r.ok && r.code !== 'payout_in_progress' && r.code !== 'payout_below_minimum') log.warn({ creatorId: d.creator_id, code: r.code }, 'scheduled payout not made');
      }
    },

    /**
     * A keyset page of the creator's ledger, newest first. The first page releases elapsed holds first, as the balances
     * do, so the ledger and the balances shown next to it agree (later pages write nothing: a release adds entries
     * only at the top).
     */
    async ledger(creatorId: string, q: { cursor?: string | undefined; limit: number }): Promise<Result<Page<LedgerEntryView>>> {
      const before = ledgerCursor.decode(q.cursor);
      if (before === 'invalid') return fail('invalid_cursor');
      if (!before) await releaseDue(creatorId);
      const rows = await repo.ledgerPage(db, creatorId, before?.id, q.limit);
      const items = rows.slice(0, q.limit).map(entryView);
      return ok({ items, nextCursor: rows.length > q.limit ? ledgerCursor.encode(items[items.length - 1]!.id) : null });
    },

    /** Payouts, newest first: one creator's, or (admin) everyone's. */
    async payouts(f: { creatorId?: string | undefined; status?: PayoutStatus | undefined; cursor?: string | undefined; limit: number }): Promise<Result<Page<PayoutView>>> {
      const before = payoutCursor.decode(f.cursor);
      if (before === 'invalid') return fail('invalid_cursor');
      const rows = await repo.listPayouts(db, { creatorId: f.creatorId, status: f.status, beforeId: before?.id, limit: f.limit });
      const items = rows.slice(0, f.limit).map(payoutView);
      return ok({ items, nextCursor: rows.length > f.limit ? payoutCursor.encode(items[items.length - 1]!.id) : null });
    },

    /** Verifies and applies one provider webhook (the Stripe route); a redelivered event is acknowledged and changes nothing. */
    async handleWebhook(providerName: string, rawBody: string, headers: Record<string, string | string[] | undefined>): Promise<Result<{ duplicate: boolean }>> {
      if (providerName !== provider.name || !provider.verifyWebhook) return fail('unknown_provider');
      const event = provider.verifyWebhook(rawBody, headers);
      if (event === 'not_configured') return fail('connect_webhooks_disabled');
      if (!event) return fail('invalid_signature');
      return ok(await applyConnectEvent(event, rawBody));
    },

    applyConnectEvent,

    /**
     * Takes back `amountMinor` of a sent payout's transfer at the provider (admin), under `idempotencyKey`, and books
     * it as the provider's event would (which, arriving later, books nothing more).
     */
    async reversePayout(payoutId: string, amountMinor: number, idempotencyKey: string): Promise<Result<PayoutView>> {
      const payout = await repo.findPayout(db, payoutId);
      if (!payout) return fail('payout_not_found');
      const reversible = payout.status === 'sent' ? Number(payout.amount_minor) - Number(payout.reversed_minor) : 0;
      const transferred = payout.status === 'sent' || payout.status === 'reversed';
      if (!transferred || payout.provider !== provider.name || amountMinor > Number(payout.amount_minor)) return fail('payout_not_reversible', { reversibleMinor: reversible });
      // more than is left is still asked (the provider refuses it): a retry whose first try reversed at the provider but
      // lost the answer (503, and the provider's event booked it meanwhile) is answered by the provider's replay of the key
      const r = await provider.reverseTransfer(payout.provider_ref!, amountMinor, idempotencyKey);
      if (!r.ok && r.code === 'unavailable') return fail('payout_provider_unavailable', { message: r.message });
      if (!r.ok) return fail('payout_not_reversible', { reversibleMinor: reversible, message: r.message });
      await db.transaction().execute((trx) => bookTransferReversal(trx, payoutId, r.transfer));
      return ok(payoutView((await repo.findPayout(db, payoutId))!));
    },

    async getPayout(id: string): Promise<PayoutView | null> {
      const r = await repo.findPayout(db, id);
      return r ? payoutView(r) : null;
    },

    /** Registers (or replaces) the creator's connected account after the provider confirmed it can receive transfers. */
    async setPayoutAccount(creatorId: string, accountRef: string): Promise<Result<PayoutAccountView>> {
      const check = await provider.checkAccount(accountRef);
      if (!check.ok) return fail(check.code === 'unavailable' ? 'payout_provider_unavailable' : 'payout_account_invalid', { message: check.message });
      const now = clock.now();
      await repo.upsertPayoutAccount(db, creatorId, provider.name, accountRef, now);
      return ok({ provider: provider.name, accountId: accountRef, canReceiveTransfers: true, restrictedReason: null, updatedAt: now.toISOString() });
    },

    /** The creator's account, and whether it can receive transfers (the provider's last word on it). */
    async getPayoutAccount(creatorId: string): Promise<PayoutAccountView | null> {
      const a = await repo.getPayoutAccount(db, creatorId);
      return a ? accountView(a) : null;
    },

    /** Months (UTC) in which the creator's ledger has entries, newest first (elapsed holds released first). */
    async statementMonths(creatorId: string): Promise<Array<{ month: string; entries: number }>> {
      await releaseDue(creatorId);
      return repo.statementMonths(db, creatorId);
    },

    /**
     * One month's statement as CSV: per currency the opening balance of each bucket, every entry of the month in
     * order, and the closing balances (opening + entries = closing, by construction from the same ledger).
     */
    async statementCsv(creatorId: string, month: string): Promise<Result<string>> {
      const m = STATEMENT_MONTH.exec(month);
      // below 1970 Date.UTC would read a year under 100 as 19xx (0099-01 as 1999-01); no entry predates the epoch anyway
      if (!m || Number(m[1]) < FIRST_STATEMENT_YEAR) return fail('invalid_month', { month, first: `${FIRST_STATEMENT_YEAR}-01`, last: '9999-12' });
      const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
      const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
      await releaseDue(creatorId); // the month's releases that are due are in it, as in the balances
      const [opening, entries, closing] = await Promise.all([repo.sumsBefore(db, creatorId, from), repo.entriesBetween(db, creatorId, from, to), repo.sumsBefore(db, creatorId, to)]);
      const currencies = [...new Set(closing.map((r) => r.currency))].sort();
      const sum = (rows: typeof opening, currency: string, bucket: Bucket) => Number(rows.find((r) => r.currency === currency && r.bucket === bucket)?.sum ?? 0);
      const lines = ['row,date,entry_id,kind,bucket,currency,amount_minor,order_id,payout_id'];
      const balanceRows = (label: string, rows: typeof opening, at: Date) =>
        currencies.flatMap((c) => BUCKETS.map((b) => [label, at.toISOString(), '', '', b, c, sum(rows, c, b), '', ''].map(csvCell).join(',')));
      lines.push(...balanceRows('opening', opening, from));
      for (const e of entries) {
        lines.push(['entry', iso(e.created_at), e.id, e.kind, e.bucket, e.currency, Number(e.amount_minor), e.order_id, e.payout_id].map(csvCell).join(','));
      }
      lines.push(...balanceRows('closing', closing, to));
      return ok(`${lines.join('\r\n')}\r\n`);
    },

    /** The rules in force now for a merchant, and the platform default. */
    commissionRules,

    /**
     * Sets (or with null removes) a merchant's rate, for all its products or for one of its own products, from now on:
     * a new rule version, so commissions of earlier orders keep the rate they were computed with.
     */
    async setCommissionRule(merchantId: string, productId: string | null, rateBps: number | null): Promise<Result<CommissionRulesView>> {
      if (productId !== null) {
        const card = (await deps.catalog.getProductCards([productId])).get(productId);
        if (!card || card.merchantId !== merchantId) return fail('product_not_found');
      }
      await repo.insertRule(db, merchantId, productId, rateBps, clock.now());
      return ok(await commissionRules(merchantId));
    },

    /** Ledger vs commissions vs payouts; an empty list means every balance is explained to the minor unit. */
    reconcile(creatorId?: string): Promise<repo.Discrepancy[]> {
      return repo.discrepancies(db, creatorId);
    },
  };
}

export type EarningsServiceImpl = ReturnType<typeof createEarningsService>;
