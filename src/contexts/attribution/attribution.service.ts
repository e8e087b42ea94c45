import { randomUUID } from 'node:crypto';
import type { ContextDeps } from '../../platform/context';
import { newId } from '../../platform/ids';
import type { OrderPayload, OrderRefundedPayload } from '../orders';
import type { CommissionableCredit, CreditDelta } from './attribution.events';
import {
  attributeLine,
  fraudCounts,
  MODEL_VERSION,
  MODELS,
  reversalShares,
  UNIT_SCALE,
  type LineAttribution,
  type ModelCredit,
  type ModelTouch,
  type Windows,
} from './attribution.models';
import type { CommissionableRow, CreditRow, Flood, LineClaim, LineRow, NewLineRow, RecomputeJobRow, TouchRow, Trx } from './attribution.repository';
import type { AttributionRepository } from './attribution.repository';
import { INVALID_TOKEN_REASONS } from './attribution.schemas';
import type { AttributionDeps, AttributionService, LineCredits, RecomputeJob, RecomputeLease, TouchInput } from './index';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Lines per recompute transaction (and per committed step of a job's cursor). */
const RECOMPUTE_PAGE = 200;
/** Claims a recompute job gets before it is failed (a page that keeps throwing, a runner that keeps dying). */
const RECOMPUTE_MAX_ATTEMPTS = 5;

/** Thrown inside a page's transaction when the job's lease is no longer the runner's: the page is rolled back. */
class LeaseLost extends Error {}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function jobView(r: RecomputeJobRow): RecomputeJob {
  return {
    id: r.id,
    status: r.status,
    from: iso(r.range_from)!,
    to: iso(r.range_to)!,
    windows: { clickWindowDays: r.click_window_days, viewWindowHours: r.view_window_hours },
    linesDone: r.lines_done,
    linesTotal: r.lines_total,
    recomputed: r.recomputed,
    attempts: r.attempts,
    requestedBy: r.requested_by,
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    error: r.error,
  };
}

/** Touches are kept to the second: that is the grain at which an identical retry is recognised. */
function toSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

const touchView = (r: TouchRow) => ({
  id: r.id,
  kind: r.kind,
  tagId: r.tag_id,
  postId: r.post_id,
  creatorId: r.creator_id,
  productId: r.product_id,
  deviceId: r.device_id,
  occurredAt: new Date(r.occurred_at),
  bot: r.bot,
});

type LineInput = Omit<NewLineRow, 'credited_at' | 'flags' | 'revision' | 'refunded_quantity' | 'refunded_net_minor'>;

/** An order line's referral claim, with the time it was stamped when the order knows it. */
function claimOf(a: OrderPayload['lines'][number]['attribution']): LineClaim | null {
  if (!a) return null;
  const claim: LineClaim = { tagId: a.tagId, postId: a.postId, creatorId: a.creatorId, productId: a.productId };
  return a.referredAt ? { ...claim, referredAt: a.referredAt } : claim;
}

function lineInputs(order: OrderPayload, orderedAt: Date): LineInput[] {
  return order.lines.map((l) => ({
    line_id: l.lineId,
    order_id: order.orderId,
    merchant_id: order.merchantId,
    product_id: l.productId,
    account_id: order.accountId,
    device_id: order.deviceId,
    currency: order.currency,
    ordered_at: orderedAt,
    quantity: l.quantity,
    net_amount_minor: l.netAmountMinor,
    claim: claimOf(l.attribution),
  }));
}

const lineFacts = (l: Pick<LineRow, 'order_id' | 'line_id' | 'merchant_id' | 'product_id' | 'account_id' | 'currency' | 'ordered_at'>) => ({
  orderId: l.order_id,
  lineId: l.line_id,
  merchantId: l.merchant_id,
  productId: l.product_id,
  accountId: l.account_id,
  currency: l.currency,
  orderedAt: new Date(l.ordered_at).toISOString(),
});

const commissionableOf = (c: Pick<CommissionableRow, 'creator_id' | 'post_id' | 'tag_id'>, amountMinor: number): CommissionableCredit => ({
  creatorId: c.creator_id,
  postId: c.post_id,
  tagId: c.tag_id,
  amountMinor,
});

function deltaOf(c: CreditRow, amountMinor: number, unitsE4: number): CreditDelta {
  return {
    model: c.model,
    modelVersion: c.model_version,
    clickWindowDays: c.click_window_days,
    viewWindowHours: c.view_window_hours,
    tagId: c.tag_id,
    postId: c.post_id,
    creatorId: c.creator_id,
    amountMinor,
    units: unitsE4 / UNIT_SCALE,
    weight: c.weight,
  };
}

/** New credit rows for a line: one per (model, tag). */
function creditRows(lineId: string, revision: number, credits: readonly ModelCredit[], w: Windows): CreditRow[] {
  return credits.map((c) => ({
    line_id: lineId,
    revision,
    model: c.model,
    tag_id: c.tagId,
    post_id: c.postId,
    creator_id: c.creatorId,
    model_version: MODEL_VERSION,
    click_window_days: w.clickWindowDays,
    view_window_hours: w.viewWindowHours,
    weight: c.weight,
    amount_minor: c.amountMinor,
    units_e4: c.unitsScaled,
    reversed_minor: 0,
    reversed_units_e4: 0,
  }));
}

/**
 * What `refund` takes back from each credit of one model: the line's refunded net amount and quantity, split over
 * what remains of the credits. A line refunded in full takes back everything that remains.
 */
function reverseModel(credits: readonly CreditRow[], netMinor: number, quantity: number, full: boolean): Array<{ minor: number; unitsE4: number }> {
  const remaining = credits.map((c) => c.amount_minor - c.reversed_minor);
  const remainingUnits = credits.map((c) => c.units_e4 - c.reversed_units_e4);
  const minor = reversalShares(remaining, full ? Infinity : netMinor);
  const units = reversalShares(remainingUnits, full ? Infinity : quantity * UNIT_SCALE);
  return credits.map((_, i) => ({ minor: minor[i]!, unitsE4: units[i]! }));
}

function byModel<T extends { model: string }>(rows: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of rows) groups.set(r.model, [...(groups.get(r.model) ?? []), r]);
  return [...groups.values()];
}

export function createAttributionService(deps: AttributionDeps & ContextDeps, repo: AttributionRepository): AttributionService {
  const { clock, config, outbox, log } = deps;
  const invalidTotal = deps.metrics.counter('feedshop_referral_invalid_total', 'Referral tokens refused (forged, tampered, unverifiable), by reason', ['reason']);
  const excludedTotal = deps.metrics.counter('feedshop_attribution_excluded_total', 'Touches left out of credits by a fraud guard, by reason', ['reason']);
  const defaultWindows: Windows = { clickWindowDays: config.attributionClickWindowDays, viewWindowHours: config.attributionViewWindowHours };

  /**
   * Gathers the facts and runs every model for `lines` (one shopper's, usually one order's): the shopper's touches
   * on the lines' products, the line's own referral claim as a tap when it was stamped (T when not known), flooded
   * minutes, tag states and creators' accounts, each in one query for all lines.
   */
  async function attributeLines(lines: readonly LineInput[], w: Windows): Promise<{ results: Map<string, LineAttribution>; flooded: Flood[] }> {
    const results = new Map<string, LineAttribution>();
    if (lines.length === 0) return { results, flooded: [] };
    const longest = Math.max(w.clickWindowDays * DAY, w.viewWindowHours * HOUR);
    const times = lines.map((l) => new Date(l.ordered_at).getTime());
    const from = new Date(Math.min(...times) - longest);
    const to = new Date(Math.max(...times));
    const touchesByShopper = new Map<string, ModelTouch[]>();
    const allTouches: ModelTouch[] = [];
    for (const l of lines) {
      const key = `${l.account_id ?? ''}|${l.device_id}`;
      if (touchesByShopper.has(key)) continue;
      const productIds = lines.filter((x) => `${x.account_id ?? ''}|${x.device_id}` === key).map((x) => x.product_id);
      const rows = await repo.touchesOfShopper({ accountId: l.account_id ?? null, deviceId: l.device_id }, productIds, from, to);
      const touches = rows.map((r): ModelTouch => ({ ...touchView(r), flooded: false }));
      touchesByShopper.set(key, touches);
      allTouches.push(...touches);
    }
    const flooded = allTouches.length ? await repo.floods(allTouches.map((t) => t.deviceId), from, to, config.attributionFloodPerMinute) : [];
    for (const t of allTouches) {
      const at = t.occurredAt.getTime();
      t.flooded = flooded.some((f) => f.device_id === t.deviceId && f.start.getTime() <= at && at <= f.end.getTime());
    }

    const claimTouch = (l: LineInput): ModelTouch[] => {
      const c = l.claim as LineClaim | null;
      if (!c || c.productId !== l.product_id) return [];
      // the token stamped on the cart line is the tap the shopper bought through, at the time it was stamped (never
      // after T; T when not recorded), so the click window counts from it; '~' ranks it after recorded taps of the same second
      const T = new Date(l.ordered_at).getTime();
      const at = c.referredAt ? Math.min(new Date(c.referredAt).getTime(), T) : T;
      return [{ id: `~cart:${l.line_id}`, kind: 'tap', tagId: c.tagId, postId: c.postId, creatorId: c.creatorId, productId: c.productId, deviceId: l.device_id, occurredAt: new Date(at), bot: false, flooded: false }];
    };
    const candidates = [...allTouches, ...lines.flatMap(claimTouch)];
    const [creatorAccounts, tagStates] = await Promise.all([
      deps.social.accountsOfCreators([...new Set(candidates.map((t) => t.creatorId))]),
      deps.social.tagStates([...new Set(candidates.map((t) => t.tagId))]),
    ]);
    for (const l of lines) {
      const touches = [...touchesByShopper.get(`${l.account_id ?? ''}|${l.device_id}`)!, ...claimTouch(l)];
      results.set(
        l.line_id,
        attributeLine(touches, {
          productId: l.product_id,
          orderedAt: new Date(l.ordered_at),
          netAmountMinor: l.net_amount_minor,
          quantity: l.quantity,
          buyerAccountId: l.account_id ?? null,
          creatorAccounts,
          tagStates,
          windows: w,
        }),
      );
    }
    return { results, flooded };
  }

  /** Credits the lines of `order` not credited yet, each once; returns how many this call credited. */
  async function creditOrder(order: OrderPayload, orderedAt: Date): Promise<number> {
    const known = new Set((await repo.linesOfOrder(order.orderId)).map((l) => l.line_id));
    const lines = lineInputs(order, orderedAt).filter((l) => !known.has(l.line_id));
    if (lines.length === 0) return 0;
    const { results, flooded } = await attributeLines(lines, defaultWindows);
    const now = clock.now();
    const day = orderedAt.toISOString().slice(0, 10);
    const credited = await repo.db.transaction().execute(async (trx) => {
      let n = 0;
      for (const line of lines) {
        const r = results.get(line.line_id)!;
        const flags = fraudCounts(r.excluded);
        // the insert decides who credits the line: a concurrent or repeated delivery inserts nothing and publishes nothing
        if (!(await repo.insertLine(trx, { ...line, flags, credited_at: now }))) continue;
        n++;
        const rows = creditRows(line.line_id, 1, r.credits, defaultWindows);
        await repo.insertCredits(trx, rows);
        const last = r.credits.find((c) => c.model === 'last_click');
        const commissionable = last ? { line_id: line.line_id, tag_id: last.tagId, post_id: last.postId, creator_id: last.creatorId, amount_minor: last.amountMinor } : null;
        if (commissionable) await repo.insertCommissionable(trx, commissionable);
        await repo.countFlags(trx, day, flags);
        await outbox.publish(trx, 'attribution.line.credited', {
          ...lineFacts(line as LineRow),
          quantity: line.quantity,
          netAmountMinor: line.net_amount_minor,
          credits: rows.map((c) => deltaOf(c, c.amount_minor, c.units_e4)),
          commissionable: commissionable ? commissionableOf(commissionable, commissionable.amount_minor) : null,
        });
        for (const [reason, k] of Object.entries(flags)) excludedTotal.inc({ reason }, k);
      }
      return n;
    });
    if (flooded.length > 0) await repo.recordFloods(flooded, now);
    return credited;
  }

  /** Reverses each refunded line's credits pro rata, once per (refund, line). */
  async function reverseRefund(refund: OrderRefundedPayload): Promise<number> {
    // the refund may be delivered before the paid event was handled: credit from the payload first
    await creditOrder(refund, new Date(refund.placedAt));
    const at = new Date(refund.at);
    return repo.db.transaction().execute(async (trx) => {
      let n = 0;
      for (const refunded of refund.refundedLines) {
        const line = await repo.lockLine(trx, refunded.lineId);
        if (!line) continue;
        const quantity = Math.min(refunded.quantity, line.quantity - line.refunded_quantity);
        const netMinor = Math.min(refunded.netAmountMinor, line.net_amount_minor - line.refunded_net_minor);
        if (!(await repo.insertReversal(trx, { refund_id: refund.refundId, line_id: line.line_id, quantity, net_amount_minor: netMinor, at }))) continue;
        n++;
        const full = line.refunded_quantity + quantity >= line.quantity;
        const credits: CreditDelta[] = [];
        for (const group of byModel(await repo.creditsOf(trx, [line.line_id]))) {
          const shares = reverseModel(group, netMinor, quantity, full);
          for (const [i, c] of group.entries()) {
            const { minor, unitsE4 } = shares[i]!;
            if (minor === 0 && unitsE4 === 0) continue;
            await repo.addCreditReversal(trx, c, minor, unitsE4);
            credits.push(deltaOf(c, -minor, -unitsE4));
          }
        }
        const [original] = await repo.commissionableOf(trx, [line.line_id]);
        let commissionable: CommissionableCredit | null = null;
        if (original) {
          const remaining = original.amount_minor - original.reversed_minor;
          const minor = full ? remaining : Math.min(netMinor, remaining);
          await repo.addCommissionableReversal(trx, line.line_id, minor);
          commissionable = commissionableOf(original, -minor);
        }
        await repo.addLineRefund(trx, line.line_id, quantity, netMinor);
        await outbox.publish(trx, 'attribution.line.reversed', {
          ...lineFacts(line),
          refundId: refund.refundId,
          at: refund.at,
          // signed like every amount of the contract: a reversal takes units and money away
          quantity: -quantity,
          netAmountMinor: -netMinor,
          credits,
          commissionable,
          originalCommissionable: original ? commissionableOf(original, original.amount_minor) : null,
        });
      }
      return n;
    });
  }

  /** Recomputes one page of lines; `commit` runs last in the page's transaction. Returns how many got a new revision. */
  async function recomputePage(lines: readonly LineRow[], w: Windows, commit: (trx: Trx, changed: number) => Promise<void>): Promise<number> {
    const { results } = await attributeLines(lines, w);
    return repo.db.transaction().execute(async (trx) => {
      let changed = 0;
      for (const l of lines) {
        const line = (await repo.lockLine(trx, l.line_id))!;
        const old = await repo.creditsOf(trx, [line.line_id]);
        const fresh = creditRows(line.line_id, line.revision + 1, results.get(line.line_id)!.credits, w);
        // what the line already gave back stays given back under the new split
        const full = line.refunded_quantity >= line.quantity;
        for (const group of byModel(fresh)) {
          const shares = reverseModel(group, line.refunded_net_minor, line.refunded_quantity, full);
          group.forEach((c, i) => ((c.reversed_minor = shares[i]!.minor), (c.reversed_units_e4 = shares[i]!.unitsE4)));
        }
        // same split under the same windows and model version: nothing to publish (re-running a recompute is a no-op)
        const sig = (rows: readonly CreditRow[]) =>
          JSON.stringify(rows.map((c) => [c.model, c.tag_id, c.amount_minor, c.units_e4, c.click_window_days, c.view_window_hours, c.model_version]).sort());
        if (sig(old) === sig(fresh)) continue;
        changed++;
        await repo.insertCredits(trx, fresh);
        await repo.setRevision(trx, line.line_id, line.revision + 1);
        await outbox.publish(trx, 'attribution.line.recomputed', {
          ...lineFacts(line),
          credits: [
            ...old.map((c) => deltaOf(c, -(c.amount_minor - c.reversed_minor), -(c.units_e4 - c.reversed_units_e4))),
            ...fresh.map((c) => deltaOf(c, c.amount_minor - c.reversed_minor, c.units_e4 - c.reversed_units_e4)),
          ],
        });
      }
      await commit(trx, changed);
      return changed;
    });
  }

  const leaseMs = config.attributionRecomputeLeaseSeconds * 1000;
  const leaseFrom = (now: Date) => new Date(now.getTime() + leaseMs);

  async function claimRecomputeJob(): Promise<RecomputeLease | null> {
    const token = randomUUID();
    const now = clock.now();
    const row = await repo.claimRecomputeJob(token, now, leaseFrom(now), RECOMPUTE_MAX_ATTEMPTS);
    if (!row) return null;
    return {
      id: row.id,
      token,
      from: new Date(row.range_from),
      to: new Date(row.range_to),
      windows: { clickWindowDays: row.click_window_days, viewWindowHours: row.view_window_hours },
      after: row.cursor_line_id ? { orderedAt: new Date(row.cursor_ordered_at!), lineId: row.cursor_line_id } : null,
    };
  }

  async function runRecomputePage(lease: RecomputeLease, pageSize = RECOMPUTE_PAGE): Promise<'more' | 'done' | 'lost' | 'failed'> {
    try {
      const page = await repo.linesOrderedBetween(lease.from, lease.to, lease.after, pageSize);
      const last = page[page.length - 1];
      const after = last ? { orderedAt: new Date(last.ordered_at), lineId: last.line_id } : lease.after;
      // a short page is the last one; a full one may be too, and the next (empty) page then finishes the job
      const done = page.length < pageSize;
      const advance = async (ex: Trx | typeof repo.db, recomputed: number) => {
        const now = clock.now();
        const moved = await repo.advanceRecomputeJob(ex, lease, { after, lines: page.length, recomputed, done, now, leaseUntil: leaseFrom(now) });
        if (!moved) throw new LeaseLost();
      };
      if (page.length === 0) await advance(repo.db, 0);
      else await recomputePage(page, lease.windows, advance);
      lease.after = after;
      return done ? 'done' : 'more';
    } catch (err) {
      if (err instanceof LeaseLost) return 'lost';
      log.error({ err, jobId: lease.id }, 'recompute page failed; the job is tried again when its lease lapses');
      await repo.noteRecomputeError(lease, err instanceof Error ? err.message : String(err)).catch(() => undefined);
      return 'failed';
    }
  }

  async function recordTouches(inputs: readonly TouchInput[]): Promise<void> {
    if (inputs.length === 0) return;
    const now = clock.now();
    const rows = inputs.map((input) => ({
      id: newId('touch', now.getTime()),
      kind: input.kind,
      account_id: input.accountId,
      device_id: input.deviceId,
      tag_id: input.claims.tagId,
      post_id: input.claims.postId,
      creator_id: input.claims.creatorId,
      product_id: input.claims.productId,
      tag_created_at: input.claims.tagCreatedAt,
      occurred_at: toSecond(input.occurredAt ?? now),
      key_id: input.claims.kid,
      recorded_at: now,
      bot: input.bot === true,
    }));
    await repo.insertTouches(rows);
    // flag floods as they happen, for the admin report; crediting re-checks the touches themselves
    const times = rows.map((r) => r.occurred_at.getTime());
    const flooded = await repo.floods(rows.map((r) => r.device_id), new Date(Math.min(...times)), new Date(Math.max(...times)), config.attributionFloodPerMinute);
    await repo.recordFloods(flooded, now);
  }

  return {
    /** Stores the touch as a fact; retrying the same touch (device, tag, kind, second) stores it once. */
    async recordTouch(input: TouchInput): Promise<void> {
      await recordTouches([input]);
    },

    /** One INSERT … ON CONFLICT DO NOTHING per 2,000 touches plus one flood check: same idempotency as recordTouch. */
    recordTouches,

    /** Counts the refusal (per UTC day, reason and place, and in Prometheus); a counting failure is logged, never thrown. */
    async recordInvalidToken(reason, where, count = 1): Promise<void> {
      invalidTotal.inc({ reason }, count);
      try {
        await repo.incrementInvalidToken(clock.now().toISOString().slice(0, 10), reason, where, count);
      } catch (err) {
        log.warn({ err, reason, where, count }, 'could not count an invalid referral token');
      }
    },

    /** After it returns, every anonymous touch of the device belongs to the account; calling it again changes nothing. */
    async linkDevice(deviceId: string, accountId: string): Promise<void> {
      await repo.linkDevice(deviceId, accountId, clock.now());
    },

    /** The shopper's touches oldest first, including anonymous ones from devices linked to the account. */
    async listTouches(shopper) {
      const rows = await repo.listTouches(shopper);
      return rows.map((r) => ({ ...touchView(r), accountId: r.account_id }));
    },

    /** Totals since counting began, one entry per known reason (zero when never seen). */
    async invalidTokenCounts(): Promise<Record<string, number>> {
      const out: Record<string, number> = Object.fromEntries(INVALID_TOKEN_REASONS.map((r) => [r, 0]));
      for (const row of await repo.sumInvalidTokensByReason()) out[row.reason] = Number(row.total);
      return out;
    },

    /** Each line of the paid order is credited exactly once, with its `attribution.line.credited` in the same transaction. */
    async creditPaidOrder(order: OrderPayload): Promise<number> {
      return creditOrder(order, new Date(order.placedAt));
    },

    /** True once the order's lines are credited (all of an order's lines are credited in one transaction). */
    async isCredited(orderId: string): Promise<boolean> {
      return (await repo.linesOfOrder(orderId)).length > 0;
    },

    /** Each (refund, line) is reversed exactly once; cumulative reversals never exceed a credit, a full refund ends at 0. */
    reverseRefund,

    /** Records a queued job (windows resolved now, from this process's config); a worker's sweep runs it. */
    async startRecompute(input, requestedBy = null) {
      const now = clock.now();
      const row = await repo.insertRecomputeJob({
        id: newId('recomputeJob', now.getTime()),
        status: 'queued',
        range_from: input.from,
        range_to: input.to,
        click_window_days: input.clickWindowDays ?? defaultWindows.clickWindowDays,
        view_window_hours: input.viewWindowHours ?? defaultWindows.viewWindowHours,
        requested_by: requestedBy,
        created_at: now,
      });
      return jobView(row);
    },

    async recomputeJob(id) {
      const row = await repo.recomputeJob(id);
      return row ? jobView(row) : null;
    },

    async recomputeJobs(limit) {
      return (await repo.recentRecomputeJobs(limit)).map(jobView);
    },

    /** At most one runner holds a job at a time: the lease is taken with SKIP LOCKED and a conditional update. */
    claimRecomputeJob,

    /**
     * One page under the lease, committed with the job's cursor and counters in one transaction: new analytics
     * revisions for lines whose credits differ under the job's windows (the commissionable credit never changes).
     * 'lost' when the lease passed to another runner (nothing committed), 'failed' when the page threw (noted on
     * the job, whose lease then lapses before it is tried again).
     */
    runRecomputePage,

    /** Claims and runs jobs until none is left to claim (or `shouldStop`), first failing those out of attempts. */
    async runRecomputeJobs(opts = {}) {
      const stop = opts.shouldStop ?? (() => false);
      await repo.giveUpRecomputeJobs(clock.now(), RECOMPUTE_MAX_ATTEMPTS);
      let finished = 0;
      for (let lease = await claimRecomputeJob(); lease; lease = stop() ? null : await claimRecomputeJob()) {
        let step: Awaited<ReturnType<typeof runRecomputePage>> = 'more';
        while (step === 'more' && !stop()) step = await runRecomputePage(lease, opts.pageSize);
        if (step === 'more') await repo.releaseRecomputeJob(lease, clock.now());
        if (step === 'done') finished++;
      }
      return finished;
    },

    /** The live credits of every attributed line of the order (empty when it was never credited, null when no such order). */
    async creditsForOrder(orderId: string): Promise<LineCredits[] | null> {
      const lines = await repo.linesOfOrder(orderId);
      // only then ask orders: a credited order exists, and the look-up stays one query for it
      if (lines.length === 0) return (await deps.orders.orderExists(orderId)) ? [] : null;
      const ids = lines.map((l) => l.line_id);
      const [credits, commissionable] = await Promise.all([repo.creditsOf(repo.db, ids), repo.commissionableOf(repo.db, ids)]);
      return lines.map((l) => {
        const c = commissionable.find((x) => x.line_id === l.line_id);
        return {
          lineId: l.line_id,
          productId: l.product_id,
          orderedAt: new Date(l.ordered_at).toISOString(),
          quantity: l.quantity,
          netAmountMinor: l.net_amount_minor,
          refundedQuantity: l.refunded_quantity,
          refundedNetMinor: l.refunded_net_minor,
          revision: l.revision,
          flags: l.flags,
          commissionable: c ? { ...commissionableOf(c, c.amount_minor), reversedMinor: c.reversed_minor } : null,
          credits: credits
            .filter((x) => x.line_id === l.line_id)
            .sort((a, b) => MODELS.indexOf(a.model) - MODELS.indexOf(b.model) || (a.tag_id < b.tag_id ? -1 : 1))
            .map((x) => ({ ...deltaOf(x, x.amount_minor, x.units_e4), reversedMinor: x.reversed_minor, reversedUnits: x.reversed_units_e4 / UNIT_SCALE })),
        };
      });
    },

    /** Fraud-guard and invalid-token counts per day and reason of the last `days` UTC days (today included), with recent flooded devices and flagged lines. */
    async flags(days = 30) {
      // `days` UTC days, today included: days=1 is today alone (it was today and yesterday)
      const since = new Date(clock.now().getTime() - (days - 1) * DAY).toISOString().slice(0, 10);
      const [counts, devices, lines] = await Promise.all([repo.flagCountsSince(since), repo.recentFloodedMinutes(50), repo.recentFlaggedLines(50)]);
      return {
        counts,
        floodedDevices: devices.map((d) => ({ deviceId: d.device_id, minute: new Date(d.minute).toISOString(), touches: d.touches })),
        flaggedLines: lines.map((l) => ({ orderId: l.order_id, lineId: l.line_id, orderedAt: new Date(l.ordered_at).toISOString(), reasons: l.flags })),
      };
    },
  };
}

