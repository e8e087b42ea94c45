import { sql, type Transaction } from 'kysely';
import type { AnyDb } from '../../platform/db';
import { newId } from '../../platform/ids';

// All SQL of the earnings context. Every function takes the executor it runs on, so the service decides transactions.

export type Executor = AnyDb | Transaction<any>;
export type Bucket = 'pending' | 'available' | 'in_transit' | 'paid';
export type EntryKind = 'commission' | 'reversal' | 'release' | 'payout' | 'payout_paid' | 'payout_failed' | 'payout_reversed';
/** reversed: the provider took the whole transfer back (a partly reversed payout stays sent, with reversed_minor). */
export type PayoutStatus = 'processing' | 'sent' | 'failed' | 'reversed';
export type PayoutTrigger = 'scheduled' | 'on_demand';

export interface CommissionRow {
  id: string;
  line_id: string;
  order_id: string;
  merchant_id: string;
  product_id: string;
  creator_id: string;
  currency: string;
  basis_minor: number;
  rate_bps: number;
  amount_minor: number;
  reversed_basis_minor: number;
  reversed_minor: number;
  released_at: Date | null;
}

export interface LedgerRow {
  id: string;
  creator_id: string;
  currency: string;
  kind: EntryKind;
  bucket: Bucket;
  amount_minor: number;
  source_key: string;
  commission_id: string | null;
  order_id: string | null;
  payout_id: string | null;
  created_at: Date;
}

export interface PayoutRow {
  id: string;
  creator_id: string;
  currency: string;
  amount_minor: number;
  status: PayoutStatus;
  trigger: PayoutTrigger;
  provider: 'simulated' | 'stripe';
  destination: string;
  provider_ref: string | null;
  failure_code: string | null;
  /** What the provider reversed of the transfer so far (cumulative). */
  reversed_minor: number;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  settled_at: Date | null;
}

export interface NewEntry {
  creatorId: string;
  currency: string;
  kind: EntryKind;
  bucket: Bucket;
  amountMinor: number;
  sourceKey: string;
  commissionId?: string | null;
  orderId?: string | null;
  payoutId?: string | null;
}

/**
 * Appends entries; an entry whose (source, bucket) exists is skipped, which is what makes every handler idempotent.
 * The ledger's trigger adds what was inserted to `earnings.balances` in the same statement.
 */
export async function appendEntries(db: Executor, entries: NewEntry[], at: Date): Promise<number> {
  const rows = entries.filter((e) => e.amountMinor !== 0);
  if (rows.length === 0) return 0;
  const values = rows.map(
    (e) =>
      sql`(${newId('ledgerEntry')}, ${e.creatorId}, ${e.currency}, ${e.kind}, ${e.bucket}, ${e.amountMinor}, ${e.sourceKey}, ${e.commissionId ?? null}, ${e.orderId ?? null}, ${e.payoutId ?? null}, ${at})`,
  );
  const r = await sql`
    INSERT INTO earnings.ledger_entries (id, creator_id, currency, kind, bucket, amount_minor, source_key, commission_id, order_id, payout_id, created_at)
    VALUES ${sql.join(values)}
    ON CONFLICT (source_key, bucket) DO NOTHING
  `.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** The rate in force at `at` for a product: its own rule, else the merchant's, else null (the platform default). */
export async function rateAt(db: Executor, merchantId: string, productId: string, at: Date): Promise<number | null> {
  const r = await sql<{ product_rate: number | null; product_rule: boolean; merchant_rate: number | null }>`
    SELECT p.rate_bps AS product_rate, p.id IS NOT NULL AS product_rule, m.rate_bps AS merchant_rate
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
      SELECT id, rate_bps FROM earnings.commission_rules
      WHERE merchant_id = ${merchantId} AND product_id = ${productId} AND effective_at <= ${at}
      ORDER BY effective_at DESC, id DESC LIMIT 1
    ) p ON true
    LEFT JOIN LATERAL (
      SELECT rate_bps FROM earnings.commission_rules
      WHERE merchant_id = ${merchantId} AND product_id IS NULL AND effective_at <= ${at}
      ORDER BY effective_at DESC, id DESC LIMIT 1
    ) m ON true
  `.execute(db);
  const row = r.rows[0]!;
  return row.product_rate ?? row.merchant_rate;
}

/** The rules in force now for a merchant: its default (null when none) and each product rule not removed. */
export async function currentRules(db: Executor, merchantId: string, at: Date): Promise<{ merchant: { rateBps: number; effectiveAt: Date } | null; products: Array<{ productId: string; rateBps: number; effectiveAt: Date }> }> {
  const r = await sql<{ product_id: string | null; rate_bps: number | null; effective_at: Date }>`
    SELECT DISTINCT ON (product_id) product_id, rate_bps, effective_at
    FROM earnings.commission_rules
    WHERE merchant_id = ${merchantId} AND effective_at <= ${at}
    ORDER BY product_id, effective_at DESC, id DESC
  `.execute(db);
  const merchant = r.rows.find((x) => x.product_id === null && x.rate_bps !== null);
  return {
    merchant: merchant ? { rateBps: merchant.rate_bps!, effectiveAt: merchant.effective_at } : null,
    products: r.rows
      .filter((x) => x.product_id !== null && x.rate_bps !== null)
      .map((x) => ({ productId: x.product_id!, rateBps: x.rate_bps!, effectiveAt: x.effective_at })),
  };
}

export async function insertRule(db: Executor, merchantId: string, productId: string | null, rateBps: number | null, at: Date): Promise<void> {
  await sql`
    INSERT INTO earnings.commission_rules (id, merchant_id, product_id, rate_bps, effective_at)
    VALUES (${newId('commissionRule')}, ${merchantId}, ${productId}, ${rateBps}, ${at})
  `.execute(db);
}

export async function insertCommission(
  db: Executor,
  c: Omit<CommissionRow, 'id' | 'reversed_basis_minor' | 'reversed_minor' | 'released_at'> & { post_id: string; tag_id: string; ordered_at: Date },
  at: Date,
): Promise<string | null> {
  const r = await sql<{ id: string }>`
    INSERT INTO earnings.commissions (id, line_id, order_id, merchant_id, product_id, creator_id, post_id, tag_id, currency, ordered_at, basis_minor, rate_bps, amount_minor, created_at)
    VALUES (${newId('commission')}, ${c.line_id}, ${c.order_id}, ${c.merchant_id}, ${c.product_id}, ${c.creator_id}, ${c.post_id}, ${c.tag_id}, ${c.currency}, ${c.ordered_at}, ${c.basis_minor}, ${c.rate_bps}, ${c.amount_minor}, ${at})
    ON CONFLICT (line_id) DO NOTHING
    RETURNING id
  `.execute(db);
  return r.rows[0]?.id ?? null;
}

/** The commission of a line, row-locked: reversals and the release of one commission never interleave. */
export async function lockCommission(db: Executor, lineId: string): Promise<CommissionRow | null> {
  const r = await sql<CommissionRow>`SELECT * FROM earnings.commissions WHERE line_id = ${lineId} FOR UPDATE`.execute(db);
  return r.rows[0] ?? null;
}

export async function insertReversal(db: Executor, v: { refundId: string; lineId: string; commissionId: string; basisMinor: number; commissionMinor: number }, at: Date): Promise<boolean> {
  const r = await sql`
    INSERT INTO earnings.reversals (refund_id, line_id, commission_id, basis_minor, commission_minor, created_at)
    VALUES (${v.refundId}, ${v.lineId}, ${v.commissionId}, ${v.basisMinor}, ${v.commissionMinor}, ${at})
    ON CONFLICT (refund_id, line_id) DO NOTHING
  `.execute(db);
  return Number(r.numAffectedRows ?? 0) === 1;
}

export async function addReversed(db: Executor, commissionId: string, basisMinor: number, commissionMinor: number): Promise<void> {
  await sql`
    UPDATE earnings.commissions SET reversed_basis_minor = reversed_basis_minor + ${basisMinor}, reversed_minor = reversed_minor + ${commissionMinor}
    WHERE id = ${commissionId}
  `.execute(db);
}

export async function recordDelivery(db: Executor, orderId: string, deliveredAt: Date): Promise<void> {
  await sql`INSERT INTO earnings.deliveries (order_id, delivered_at) VALUES (${orderId}, ${deliveredAt}) ON CONFLICT (order_id) DO NOTHING`.execute(db);
}

/** Marks released every commission whose order was delivered at or before `deliveredBy`; returns them with their unreversed rest. */
export async function markReleased(db: Executor, deliveredBy: Date, at: Date, creatorId?: string): Promise<Array<{ id: string; creator_id: string; currency: string; order_id: string; rest: number }>> {
  const r = await sql<{ id: string; creator_id: string; currency: string; order_id: string; rest: number }>`
    UPDATE earnings.commissions c SET released_at = ${at}
    FROM earnings.deliveries d
    WHERE d.order_id = c.order_id AND c.released_at IS NULL AND d.delivered_at <= ${deliveredBy}
      ${creatorId === undefined ? sql`` : sql`AND c.creator_id = ${creatorId}`}
    RETURNING c.id, c.creator_id, c.currency, c.order_id, c.amount_minor - c.reversed_minor AS rest
  `.execute(db);
  return r.rows;
}

/** The creator's balance of every bucket that ever had an entry, per currency (the ledger's sums, kept by its trigger). */
export async function bucketSums(db: Executor, creatorId: string): Promise<Array<{ currency: string; bucket: Bucket; sum: number }>> {
  const r = await sql<{ currency: string; bucket: Bucket; sum: number }>`
    SELECT currency, bucket, amount_minor AS sum FROM earnings.balances WHERE creator_id = ${creatorId} ORDER BY currency
  `.execute(db);
  return r.rows;
}

/** The available balance of one creator and currency, 0 when it never had an entry (one primary-key read). */
const availableOf = (creatorId: string, currency: string) =>
  sql<number>`coalesce((SELECT amount_minor FROM earnings.balances WHERE creator_id = ${creatorId} AND currency = ${currency} AND bucket = 'available'), 0)::bigint`;

/**
 * Serializes payouts of one creator until the caller's transaction ends (the payout account's row lock). Taken in a
 * statement of its own, before `startPayout`: under READ COMMITTED a statement's snapshot is taken when it starts,
 * so the balance `startPayout` reads then includes every payout committed before the lock was granted. Without it, a
 * payout that committed and settled (freeing the in-flight slot) while a concurrent one's statement was running let
 * that one pay the same balance again from its older snapshot.
 */
export async function lockPayouts(db: Executor, creatorId: string): Promise<void> {
  await sql`SELECT 1 FROM earnings.payout_accounts WHERE creator_id = ${creatorId} FOR UPDATE`.execute(db);
}

/**
 * Starts a payout of the whole available balance in one statement (after lockPayouts, in the same transaction): it exists only when the balance reaches the minimum,
 * no other payout of this creator and currency is in flight (unique index) and, for scheduled ones, none started since
 * `notSince`. The balance is read by the same statement that claims the in-flight slot.
 */
export async function startPayout(
  db: Executor,
  p: { id: string; creatorId: string; currency: string; minimumMinor: number; trigger: PayoutTrigger; provider: 'simulated' | 'stripe'; destination: string; notSince: Date | null },
  at: Date,
): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`
    INSERT INTO earnings.payouts (id, creator_id, currency, amount_minor, status, trigger, provider, destination, created_at, updated_at)
    SELECT ${p.id}, ${p.creatorId}, ${p.currency}, s.available, 'processing', ${p.trigger}, ${p.provider}, ${p.destination}, ${at}, ${at}
    FROM (SELECT ${availableOf(p.creatorId, p.currency)} AS available) s
    WHERE s.available >= ${p.minimumMinor}
      ${p.notSince === null ? sql`` : sql`AND NOT EXISTS (SELECT 1 FROM earnings.payouts o WHERE o.creator_id = ${p.creatorId} AND o.currency = ${p.currency} AND o.created_at > ${p.notSince})`}
    ON CONFLICT (creator_id, currency) WHERE status = 'processing' DO NOTHING
    RETURNING *
  `.execute(db);
  return r.rows[0] ?? null;
}

export async function availableSum(db: Executor, creatorId: string, currency: string): Promise<number> {
  const r = await sql<{ s: number }>`SELECT ${availableOf(creatorId, currency)} AS s`.execute(db);
  return r.rows[0]!.s;
}

export async function findPayout(db: Executor, id: string): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`SELECT * FROM earnings.payouts WHERE id = ${id}`.execute(db);
  return r.rows[0] ?? null;
}

export async function inFlightPayout(db: Executor, creatorId: string, currency: string): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`SELECT * FROM earnings.payouts WHERE creator_id = ${creatorId} AND currency = ${currency} AND status = 'processing'`.execute(db);
  return r.rows[0] ?? null;
}

/** Settles an in-flight payout, once: only the caller that moves it out of 'processing' gets the row back. */
export async function settlePayout(db: Executor, id: string, outcome: { status: 'sent'; ref: string } | { status: 'failed'; code: string }, at: Date): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`
    UPDATE earnings.payouts
    SET status = ${outcome.status}, provider_ref = ${outcome.status === 'sent' ? outcome.ref : null},
        failure_code = ${outcome.status === 'failed' ? outcome.code : null}, settled_at = ${at}, updated_at = ${at}, attempts = attempts + 1
    WHERE id = ${id} AND status = 'processing'
    RETURNING *
  `.execute(db);
  return r.rows[0] ?? null;
}

export async function notePayoutAttempt(db: Executor, id: string, at: Date): Promise<void> {
  await sql`UPDATE earnings.payouts SET attempts = attempts + 1, updated_at = ${at} WHERE id = ${id} AND status = 'processing'`.execute(db);
}

/** In-flight payouts untouched since `before` (their process crashed or the provider did not answer). */
export async function stalePayouts(db: Executor, before: Date, limit = 50): Promise<PayoutRow[]> {
  const r = await sql<PayoutRow>`
    SELECT * FROM earnings.payouts WHERE status = 'processing' AND updated_at <= ${before} ORDER BY created_at LIMIT ${limit}
  `.execute(db);
  return r.rows;
}

/**
 * Creators and currencies due a scheduled payout: enough available, a payout account, no payout since `notSince`.
 * Reads the balances (index `balances_payable`), so a sweep costs what is payable, not the size of the ledger.
 */
export async function duePayouts(db: Executor, minimumMinor: number, notSince: Date, limit = 100): Promise<Array<{ creator_id: string; currency: string }>> {
  const r = await sql<{ creator_id: string; currency: string }>`
    SELECT b.creator_id, b.currency FROM earnings.balances b
    WHERE b.bucket = 'available' AND b.amount_minor >= ${minimumMinor}
      AND EXISTS (SELECT 1 FROM earnings.payout_accounts a WHERE a.creator_id = b.creator_id AND a.restricted_reason IS NULL)
      AND NOT EXISTS (SELECT 1 FROM earnings.payouts o WHERE o.creator_id = b.creator_id AND o.currency = b.currency AND (o.created_at > ${notSince} OR o.status = 'processing'))
    ORDER BY b.creator_id, b.currency
    LIMIT ${limit}
  `.execute(db);
  return r.rows;
}

/** When the creator's last payout in each currency was made (the schedule decides per currency). */
export async function lastPayoutAtByCurrency(db: Executor, creatorId: string): Promise<Map<string, Date>> {
  const r = await sql<{ currency: string; at: Date }>`
    SELECT currency, max(created_at) AS at FROM earnings.payouts WHERE creator_id = ${creatorId} GROUP BY currency`.execute(db);
  return new Map(r.rows.map((row) => [row.currency, new Date(row.at)]));
}

/** Payouts newest first by `created_at`, ties by id (for the reason given at ledgerPage); the cursor is the last id shown. */
export async function listPayouts(db: Executor, f: { creatorId?: string | undefined; status?: PayoutStatus | undefined; beforeId?: string | undefined; limit: number }): Promise<PayoutRow[]> {
  const r = await sql<PayoutRow>`
    SELECT * FROM earnings.payouts
    WHERE true
      ${f.creatorId === undefined ? sql`` : sql`AND creator_id = ${f.creatorId}`}
      ${f.status === undefined ? sql`` : sql`AND status = ${f.status}`}
      ${f.beforeId === undefined ? sql`` : sql`AND (created_at, id) < (SELECT created_at, id FROM earnings.payouts WHERE id = ${f.beforeId})`}
    ORDER BY created_at DESC, id DESC LIMIT ${f.limit + 1}
  `.execute(db);
  return r.rows;
}

/**
 * A page of the creator's entries, newest first by `created_at` (the time shown), ties by id. Not by id alone: an id
 * is minted when the row is inserted, after its time was read (a release waits for a commission's row lock with its
 * time already taken), and other processes mint in the same millisecond in random order. The cursor stays the last id
 * shown; its row gives the (created_at, id) to continue below.
 */
export async function ledgerPage(db: Executor, creatorId: string, beforeId: string | undefined, limit: number): Promise<LedgerRow[]> {
  const r = await sql<LedgerRow>`
    SELECT * FROM earnings.ledger_entries
    WHERE creator_id = ${creatorId}
      ${beforeId === undefined ? sql`` : sql`AND (created_at, id) < (SELECT created_at, id FROM earnings.ledger_entries WHERE id = ${beforeId})`}
    ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}
  `.execute(db);
  return r.rows;
}

export async function statementMonths(db: Executor, creatorId: string): Promise<Array<{ month: string; entries: number }>> {
  const r = await sql<{ month: string; entries: number }>`
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*)::int AS entries
    FROM earnings.ledger_entries WHERE creator_id = ${creatorId}
    GROUP BY 1 ORDER BY 1 DESC
  `.execute(db);
  return r.rows;
}

/** Bucket sums of entries created before `before`, per currency. */
export async function sumsBefore(db: Executor, creatorId: string, before: Date): Promise<Array<{ currency: string; bucket: Bucket; sum: number }>> {
  const r = await sql<{ currency: string; bucket: Bucket; sum: number }>`
    SELECT currency, bucket, sum(amount_minor)::bigint AS sum FROM earnings.ledger_entries
    WHERE creator_id = ${creatorId} AND created_at < ${before}
    GROUP BY currency, bucket
  `.execute(db);
  return r.rows;
}

export async function entriesBetween(db: Executor, creatorId: string, from: Date, to: Date): Promise<LedgerRow[]> {
  const r = await sql<LedgerRow>`
    SELECT * FROM earnings.ledger_entries
    WHERE creator_id = ${creatorId} AND created_at >= ${from} AND created_at < ${to}
    ORDER BY created_at, id
  `.execute(db);
  return r.rows;
}

export interface PayoutAccountRow {
  id: string;
  provider: 'simulated' | 'stripe';
  account_ref: string;
  /** null while the account can receive transfers; otherwise the provider's reason. */
  restricted_reason: string | null;
  updated_at: Date;
}

export async function getPayoutAccount(db: Executor, creatorId: string): Promise<PayoutAccountRow | null> {
  const r = await sql<PayoutAccountRow>`
    SELECT id, provider, account_ref, restricted_reason, updated_at FROM earnings.payout_accounts WHERE creator_id = ${creatorId}
  `.execute(db);
  return r.rows[0] ?? null;
}

/** Registers an account the provider just confirmed: usable, and newer than any account event sent before now. */
export async function upsertPayoutAccount(db: Executor, creatorId: string, provider: 'simulated' | 'stripe', accountRef: string, at: Date): Promise<void> {
  await sql`
    INSERT INTO earnings.payout_accounts (creator_id, id, provider, account_ref, updated_at, restricted_reason, state_at)
    VALUES (${creatorId}, ${newId('payoutAccount')}, ${provider}, ${accountRef}, ${at}, NULL, ${at})
    ON CONFLICT (creator_id) DO UPDATE
      SET provider = EXCLUDED.provider, account_ref = EXCLUDED.account_ref, updated_at = EXCLUDED.updated_at, restricted_reason = NULL, state_at = EXCLUDED.state_at
  `.execute(db);
}

/**
 * Applies the provider's account state to every creator registered with that account, unless a newer state was
 * applied already (events arrive out of order); returns how many were changed.
 */
export async function applyAccountState(db: Executor, provider: 'simulated' | 'stripe', accountRef: string, restrictedReason: string | null, stateAt: Date, at: Date): Promise<number> {
  const r = await sql`
    UPDATE earnings.payout_accounts SET restricted_reason = ${restrictedReason}, state_at = ${stateAt}, updated_at = ${at}
    WHERE provider = ${provider} AND account_ref = ${accountRef} AND state_at <= ${stateAt}
  `.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** The payout a provider transfer belongs to: by the transfer's id, else by the payout id in its metadata. */
export async function findPayoutOfTransfer(db: Executor, provider: 'simulated' | 'stripe', ref: string, payoutId: string | null): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`
    SELECT * FROM earnings.payouts WHERE provider = ${provider} AND (provider_ref = ${ref} OR id = ${payoutId ?? ''})
    ORDER BY (provider_ref = ${ref}) DESC LIMIT 1
  `.execute(db);
  return r.rows[0] ?? null;
}

/** The payout, row-locked: two reversal events of one transfer book one after the other. */
export async function lockPayout(db: Executor, id: string): Promise<PayoutRow | null> {
  const r = await sql<PayoutRow>`SELECT * FROM earnings.payouts WHERE id = ${id} FOR UPDATE`.execute(db);
  return r.rows[0] ?? null;
}

/** Records the provider's cumulative reversed total; wholly reversed makes the payout `reversed`. */
export async function setPayoutReversed(db: Executor, id: string, reversedMinor: number, at: Date): Promise<PayoutRow> {
  const r = await sql<PayoutRow>`
    UPDATE earnings.payouts
    SET reversed_minor = ${reversedMinor}, status = CASE WHEN ${reversedMinor} = amount_minor THEN 'reversed' ELSE status END, updated_at = ${at}
    WHERE id = ${id}
    RETURNING *
  `.execute(db);
  return r.rows[0]!;
}

/** Stores a provider event once; false when it was received before (a redelivery). */
export async function insertWebhookEvent(
  db: Executor,
  e: { provider: 'simulated' | 'stripe'; eventId: string; type: string; payoutId: string | null; rawBody: string },
  at: Date,
): Promise<boolean> {
  const r = await sql`
    INSERT INTO earnings.webhook_events (id, provider, provider_event_id, event_type, payout_id, raw_body, received_at)
    VALUES (${newId('webhook')}, ${e.provider}, ${e.eventId}, ${e.type}, ${e.payoutId}, ${e.rawBody}, ${at})
    ON CONFLICT (provider, provider_event_id) DO NOTHING
  `.execute(db);
  return Number(r.numAffectedRows ?? 0) === 1;
}

export interface Discrepancy {
  check: string;
  creatorId: string;
  currency: string | null;
  subject: string | null;
  expectedMinor: number;
  actualMinor: number;
}

/**
 * The reconciliation checks, each one query returning only the rows that disagree (see docs/earnings.md):
 * commissions vs their ledger entries and reversals, moves that must net to zero, payouts vs the ledger, and per
 * creator and currency the paid and in-transit totals vs the payouts and the grand total vs the commissions, and
 * every stored balance vs its bucket's sum of entries.
 */
export async function discrepancies(db: Executor, creatorId: string | undefined): Promise<Discrepancy[]> {
  const onCreator = (col: string) => (creatorId === undefined ? sql`` : sql`AND ${sql.ref(col)} = ${creatorId}`);
  const q = sql<Discrepancy>`
    WITH com AS (
      SELECT c.*,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.commission_id = c.id AND l.kind IN ('commission', 'reversal')), 0)::bigint AS booked,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.commission_id = c.id AND l.bucket = 'pending'), 0)::bigint AS pending,
        coalesce((SELECT sum(commission_minor) FROM earnings.reversals r WHERE r.commission_id = c.id), 0)::bigint AS rev_sum,
        coalesce((SELECT sum(basis_minor) FROM earnings.reversals r WHERE r.commission_id = c.id), 0)::bigint AS rev_basis
      FROM earnings.commissions c WHERE true ${onCreator('c.creator_id')}
    ),
    pay AS (
      SELECT p.*,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.payout_id = p.id AND l.bucket = 'available'), 0)::bigint AS from_available,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.payout_id = p.id AND l.bucket = 'in_transit'), 0)::bigint AS in_transit,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.payout_id = p.id AND l.bucket = 'paid'), 0)::bigint AS paid,
        coalesce((SELECT sum(amount_minor) FROM earnings.ledger_entries l WHERE l.payout_id = p.id AND l.kind = 'payout_reversed' AND l.bucket = 'available'), 0)::bigint AS reversal_booked,
        -- what the transfer still pays the creator (sent or reversed: the amount less what the provider took back)
        CASE WHEN p.status IN ('sent', 'reversed') THEN p.amount_minor - p.reversed_minor ELSE 0 END AS kept
      FROM earnings.payouts p WHERE true ${onCreator('p.creator_id')}
    ),
    sums AS (
      SELECT creator_id, currency, bucket, sum(amount_minor)::bigint AS amount
      FROM earnings.ledger_entries WHERE true ${onCreator('creator_id')} GROUP BY creator_id, currency, bucket
    ),
    totals AS (
      SELECT creator_id, currency,
        sum(amount)::bigint AS total,
        sum(amount) FILTER (WHERE bucket = 'pending')::bigint AS pending,
        coalesce(sum(amount) FILTER (WHERE bucket = 'paid'), 0)::bigint AS paid,
        coalesce(sum(amount) FILTER (WHERE bucket = 'in_transit'), 0)::bigint AS in_transit
      FROM sums GROUP BY creator_id, currency
    ),
    owed AS (
      SELECT creator_id, currency, sum(amount_minor - reversed_minor)::bigint AS owed FROM com GROUP BY creator_id, currency
    ),
    payouts AS (
      SELECT creator_id, currency,
        coalesce(sum(kept), 0)::bigint AS sent,
        coalesce(sum(amount_minor) FILTER (WHERE status = 'processing'), 0)::bigint AS processing
      FROM pay GROUP BY creator_id, currency
    )
    SELECT 'commission_booked' AS "check", creator_id AS "creatorId", currency, id AS subject, amount_minor - reversed_minor AS "expectedMinor", booked AS "actualMinor" FROM com WHERE booked <> amount_minor - reversed_minor
    UNION ALL SELECT 'commission_reversals', creator_id, currency, id, reversed_minor, rev_sum FROM com WHERE rev_sum <> reversed_minor OR rev_basis <> reversed_basis_minor
    UNION ALL SELECT 'commission_pending', creator_id, currency, id, CASE WHEN released_at IS NULL THEN amount_minor - reversed_minor ELSE 0 END, pending FROM com
      WHERE pending <> CASE WHEN released_at IS NULL THEN amount_minor - reversed_minor ELSE 0 END
    UNION ALL SELECT 'move_nets_to_zero', min(creator_id), min(currency), source_key, 0, sum(amount_minor)::bigint FROM earnings.ledger_entries
      WHERE kind IN ('release', 'payout', 'payout_paid', 'payout_failed', 'payout_reversed') ${onCreator('creator_id')} GROUP BY source_key HAVING sum(amount_minor) <> 0
    UNION ALL SELECT 'payout_ledger', creator_id, currency, id, CASE WHEN status = 'failed' THEN 0 ELSE reversed_minor - amount_minor END, from_available FROM pay
      WHERE from_available <> CASE WHEN status = 'failed' THEN 0 ELSE reversed_minor - amount_minor END
         OR in_transit <> CASE WHEN status = 'processing' THEN amount_minor ELSE 0 END
         OR paid <> kept
    UNION ALL SELECT 'payout_reversals', creator_id, currency, id, reversed_minor, reversal_booked FROM pay WHERE reversal_booked <> reversed_minor
    UNION ALL SELECT 'paid_vs_payouts', t.creator_id, t.currency, NULL, coalesce(p.sent, 0), t.paid FROM totals t LEFT JOIN payouts p USING (creator_id, currency)
      WHERE t.paid <> coalesce(p.sent, 0) OR t.in_transit <> coalesce(p.processing, 0)
    UNION ALL SELECT 'ledger_vs_commissions', coalesce(t.creator_id, o.creator_id), coalesce(t.currency, o.currency), NULL, coalesce(o.owed, 0), coalesce(t.total, 0)
      FROM totals t FULL JOIN owed o USING (creator_id, currency) WHERE coalesce(t.total, 0) <> coalesce(o.owed, 0)
    UNION ALL SELECT 'pending_not_negative', creator_id, currency, NULL, 0, pending FROM totals WHERE pending < 0
    UNION ALL SELECT 'balances_vs_ledger', creator_id, currency, bucket, coalesce(s.amount, 0), coalesce(b.amount_minor, 0)
      FROM sums s FULL JOIN (SELECT * FROM earnings.balances WHERE true ${onCreator('creator_id')}) b USING (creator_id, currency, bucket)
      WHERE coalesce(s.amount, 0) <> coalesce(b.amount_minor, 0)
  `;
  const r = await q.execute(db);
  return r.rows.map((x) => ({ ...x, expectedMinor: Number(x.expectedMinor), actualMinor: Number(x.actualMinor) }));
}
