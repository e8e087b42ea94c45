// Public surface of the attribution context. CONTRACT: other contexts rely on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { OrderPayload, OrderRefundedPayload, OrdersService } from '../orders';
import type { ReferralClaims } from '../social/referral-token';
import type { CommissionableCredit, CreditDelta } from './attribution.events';
import './attribution.errors';
import type { SocialService } from '../social';
import { attributionMigrations } from './attribution.migrations';
import { createAttributionRepository, type LineCursor } from './attribution.repository';
import { attributionRoutes } from './attribution.routes';
import { createAttributionService } from './attribution.service';

/** How long a refund waits for its order's paid event before crediting from the refund's own payload. */
export const PAID_GRACE_MS = 15 * 60_000;

export type TouchKind = 'tap' | 'view' | 'impression';

export interface TouchInput {
  kind: TouchKind;
  accountId: string | null;
  deviceId: string;
  claims: ReferralClaims;
  occurredAt?: Date;
  /** Flagged as bot traffic at ingest: kept for the record, never credited. */
  bot?: boolean;
}

export type { AttributionModel, CommissionableCredit, CreditDelta } from './attribution.events';
export const ATTRIBUTION_MODELS = ['last_click', 'first_click', 'linear', 'time_decay', 'position'] as const;

export type InvalidTokenReason = 'malformed' | 'bad_signature' | 'unknown_key' | 'unsupported_version' | 'product_mismatch';

export interface AttributionService {
  /** Records a shopper's touch on a tag (idempotent per shopper, tag, kind and second). */
  recordTouch(input: TouchInput): Promise<void>;
  /** Records many touches in a fixed number of statements (analytics ingest); same idempotency as recordTouch. */
  recordTouches(inputs: readonly TouchInput[]): Promise<void>;
  /** Counts a forged, tampered or unverifiable token (`count` of them, one statement); never fails the shopper's request. */
  recordInvalidToken(reason: InvalidTokenReason, where: string, count?: number): Promise<void>;
  /** Joins a device's anonymous touches to the account that signed in on it. */
  linkDevice(deviceId: string, accountId: string): Promise<void>;
  /** Touches of a shopper (by account, including linked devices, or by device), oldest first. */
  listTouches(shopper: { accountId?: string; deviceId?: string }): Promise<Array<{ id: string; kind: TouchKind; tagId: string; postId: string; creatorId: string; productId: string; occurredAt: Date; accountId: string | null; deviceId: string; bot: boolean }>>;
  /** Invalid token counts by reason (for admins). */
  invalidTokenCounts(): Promise<Record<string, number>>;
  /** Credits every line of a paid order under every model (the `orders.order.paid` handler); returns lines newly credited. */
  creditPaidOrder(order: OrderPayload): Promise<number>;
  /** Whether the order's lines were credited (the paid event, or a refund that came first, was handled). */
  isCredited(orderId: string): Promise<boolean>;
  /** Reverses the refunded lines' credits pro rata (the `orders.order.refunded` handler); returns lines newly reversed. */
  reverseRefund(refund: OrderRefundedPayload): Promise<number>;
  /** Queues a recompute of the analytics credits of lines ordered in [from, to) under the given windows (defaults: config). */
  startRecompute(input: RecomputeInput, requestedBy?: string | null): Promise<RecomputeJob>;
  /** A recompute job as it stands, or null. */
  recomputeJob(id: string): Promise<RecomputeJob | null>;
  /** The most recent recompute jobs, newest first. */
  recomputeJobs(limit: number): Promise<RecomputeJob[]>;
  /** Takes the oldest claimable recompute job under a fresh lease (null when none): queued, or its lease lapsed. */
  claimRecomputeJob(): Promise<RecomputeLease | null>;
  /** Runs the leased job's next page (default 200 lines), committing it with the job's cursor. */
  runRecomputePage(lease: RecomputeLease, pageSize?: number): Promise<'more' | 'done' | 'lost' | 'failed'>;
  /** The runner (a worker's sweep): claims and runs jobs until none is claimable; returns how many it finished. */
  runRecomputeJobs(opts?: { pageSize?: number; shouldStop?: () => boolean }): Promise<number>;
  /**
   * The live credits of an order's lines, per model and tag: empty while the order is not paid (or has no referred
   * line), null when the orders context knows no such order.
   */
  creditsForOrder(orderId: string): Promise<LineCredits[] | null>;
  /** Fraud-guard report for admins. */
  flags(days?: number): Promise<AttributionFlags>;
}

export interface RecomputeInput {
  from: Date;
  to: Date;
  clickWindowDays?: number | undefined;
  viewWindowHours?: number | undefined;
}

export type RecomputeJobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** A recompute job (GET /v1/admin/attribution/recompute/{jobId}). */
export interface RecomputeJob {
  id: string;
  status: RecomputeJobStatus;
  from: string;
  to: string;
  windows: { clickWindowDays: number; viewWindowHours: number };
  /** Lines recomputed so far (committed pages). */
  linesDone: number;
  /** Lines in the range when the job started; null until then. */
  linesTotal: number | null;
  /** Lines whose analytics credits changed (a new revision). */
  recomputed: number;
  /** Times a runner claimed it (a take-over after a lapsed lease counts again). */
  attempts: number;
  requestedBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why the job failed, or why its last attempt did while it is retried. */
  error: string | null;
}

/** A runner's hold on a job: its token fences the job's writes; `after` is the cursor of the last committed page. */
export interface RecomputeLease {
  readonly id: string;
  readonly token: string;
  readonly from: Date;
  readonly to: Date;
  readonly windows: { clickWindowDays: number; viewWindowHours: number };
  after: LineCursor | null;
}

export interface LineCredits {
  lineId: string;
  productId: string;
  orderedAt: string;
  quantity: number;
  netAmountMinor: number;
  refundedQuantity: number;
  refundedNetMinor: number;
  /** The analytics revision that is live (1 until a recompute changes the split). */
  revision: number;
  /** Fraud-guard exclusions seen when the line was credited, by reason. */
  flags: Record<string, number>;
  commissionable: (CommissionableCredit & { reversedMinor: number }) | null;
  /** Original amounts (amountMinor, units) and what refunds took back (reversedMinor, reversedUnits). */
  credits: Array<CreditDelta & { reversedMinor: number; reversedUnits: number }>;
}

export interface AttributionFlags {
  counts: Array<{ day: string; reason: string; count: number }>;
  floodedDevices: Array<{ deviceId: string; minute: string; touches: number }>;
  flaggedLines: Array<{ orderId: string; lineId: string; orderedAt: string; reasons: Record<string, number> }>;
}

export interface AttributionDeps extends ContextDeps {
  /** Social lookups, bound late by the composition root (social is built after attribution, which it records touches into). */
  social: Pick<SocialService, 'accountsOfCreators' | 'tagStates'>;
  /** Whether an order exists, bound late as well (orders is built after attribution): attribution knows an order only once it is paid. */
  orders: Pick<OrdersService, 'orderExists'>;
}

export function createAttributionContext(deps: AttributionDeps): ContextModule<AttributionService> {
  const service = createAttributionService(deps, createAttributionRepository(deps.db));
  let runner: Promise<void> | null = null;
  let stopping = false;
  return {
    name: 'attribution',
    migrations: attributionMigrations,
    service,
    routes: (app) => attributionRoutes(app, service, deps),
    // recompute jobs run in the background, one runner per process: a long job must not hold up the other sweeps
    async sweep() {
      if (runner || stopping) return;
      runner = service
        .runRecomputeJobs({ shouldStop: () => stopping })
        .then(
          () => undefined,
          (err: unknown) => deps.log.error({ err }, 'recompute job runner failed'),
        )
        .finally(() => (runner = null));
    },
    // a graceful stop finishes the page in flight and hands the job back, so another worker takes it at once
    async close() {
      stopping = true;
      await runner;
    },
    subscribe() {
      // the event is declared by identity (identity.events.ts); linking is idempotent, so redelivery is safe
      deps.outbox.subscribe('attribution.device-links', ['identity.device.linked'], async (event) => {
        await service.linkDevice(event.payload.deviceId, event.payload.accountId);
      });
      // the money going back always arrives as orders.order.refunded (a cancel of a captured order publishes one with
      // kind 'cancel'; a void happens only before capture, when nothing was credited), so cancelled is not handled
      deps.outbox.subscribe('attribution.credits', ['orders.order.paid', 'orders.order.refunded'], async (event) => {
        if (event.name === 'orders.order.paid') return void (await service.creditPaidOrder(event.payload as OrderPayload));
        const refund = event.payload as OrderRefundedPayload;
        // a refund overtaking its paid event (whose handler failed and backs off) would have to credit without knowing
        // when the order was placed: give the paid event a grace period first (the outbox retries a throw later)
        const young = deps.clock.now().getTime() - event.occurredAt.getTime() < PAID_GRACE_MS;
        if (young && !(await service.isCredited(refund.orderId))) throw new Error(`attribution: order ${refund.orderId} is not credited yet; retrying its refund later`);
        await service.reverseRefund(refund);
      });
    },
  };
}
