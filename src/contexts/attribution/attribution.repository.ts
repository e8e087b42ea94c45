import { sql, type ColumnType, type Generated, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { AttributionModel } from './attribution.events';
import type { AnyDb } from '../../platform/db';
import type { RecomputeJobStatus, TouchKind } from './index';

interface TouchesTable {
  id: string;
  kind: TouchKind;
  account_id: string | null;
  device_id: string;
  tag_id: string;
  post_id: string;
  creator_id: string;
  product_id: string;
  tag_created_at: Date;
  occurred_at: Date;
  key_id: string;
  recorded_at: Date;
  bot: Generated<boolean>;
}

interface LinesTable {
  line_id: string;
  order_id: string;
  merchant_id: string;
  product_id: string;
  account_id: string | null;
  device_id: string;
  currency: string;
  ordered_at: Date;
  quantity: number;
  net_amount_minor: number;
  claim: ColumnType<LineClaim | null, string | null, string | null>;
  refunded_quantity: Generated<number>;
  refunded_net_minor: Generated<number>;
  flags: ColumnType<Record<string, number>, string | undefined, string>;
  revision: Generated<number>;
  credited_at: Date;
}

interface CreditsTable {
  line_id: string;
  revision: number;
  model: AttributionModel;
  tag_id: string;
  post_id: string;
  creator_id: string;
  model_version: number;
  click_window_days: number;
  view_window_hours: number;
  weight: number;
  amount_minor: number;
  units_e4: number;
  reversed_minor: Generated<number>;
  reversed_units_e4: Generated<number>;
}

interface CommissionableTable {
  line_id: string;
  tag_id: string;
  post_id: string;
  creator_id: string;
  amount_minor: number;
  reversed_minor: Generated<number>;
}

interface ReversalsTable {
  refund_id: string;
  line_id: string;
  quantity: number;
  net_amount_minor: number;
  at: Date;
}

interface FlagCountsTable {
  day: string;
  reason: string;
  count: number;
}

interface FloodedMinutesTable {
  device_id: string;
  minute: Date;
  touches: number;
  flagged_at: Date;
}

interface DeviceLinksTable {
  device_id: string;
  account_id: string;
  linked_at: Date;
}

interface InvalidTokenCountsTable {
  day: string;
  reason: string;
  seen_at: string;
  count: number;
}

interface RecomputeJobsTable {
  id: string;
  status: RecomputeJobStatus;
  range_from: Date;
  range_to: Date;
  click_window_days: number;
  view_window_hours: number;
  requested_by: string | null;
  lines_total: number | null;
  lines_done: Generated<number>;
  recomputed: Generated<number>;
  cursor_ordered_at: Date | null;
  cursor_line_id: string | null;
  attempts: Generated<number>;
  lease_token: string | null;
  lease_until: Date | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface AttributionTables {
  'attribution.touches': TouchesTable;
  'attribution.device_links': DeviceLinksTable;
  'attribution.invalid_token_counts': InvalidTokenCountsTable;
  'attribution.lines': LinesTable;
  'attribution.credits': CreditsTable;
  'attribution.commissionable': CommissionableTable;
  'attribution.reversals': ReversalsTable;
  'attribution.flag_counts': FlagCountsTable;
  'attribution.flooded_minutes': FloodedMinutesTable;
  'attribution.recompute_jobs': RecomputeJobsTable;
}

/** The referral claims stamped on an order line (orders' OrderLineAttributionPayload). */
export interface LineClaim {
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  /** ISO 8601: when the token was stamped on the line; absent or null (lines credited before it was known): at T. */
  referredAt?: string | null;
}

export type TouchRow = Selectable<TouchesTable>;
export type NewTouchRow = Insertable<TouchesTable>;
export type LineRow = Selectable<LinesTable>;
export type NewLineRow = Omit<Insertable<LinesTable>, 'claim' | 'flags'> & { claim: LineClaim | null; flags?: Record<string, number> };
export type CreditRow = Selectable<CreditsTable>;
export type CommissionableRow = Selectable<CommissionableTable>;
export type RecomputeJobRow = Selectable<RecomputeJobsTable>;
/** A runner's hold on a job: its token fences every write the runner makes to the job. */
export interface JobLease {
  id: string;
  token: string;
}
/** Where a recompute's pages stand: after this (ordered_at, line_id). */
export interface LineCursor {
  orderedAt: Date;
  lineId: string;
}
type Db = Kysely<AttributionTables>;
export type Trx = Transaction<AttributionTables>;
const MINUTE = 60_000;
/** The flood guard's window: a device recording more than the limit of touches in any 60 seconds is a flood. */
const FLOOD_WINDOW_MS = MINUTE;

/** A span of one device's touches in which every 60 seconds held more than the flood limit (inclusive, to the second). */
export interface Flood {
  device_id: string;
  start: Date;
  end: Date;
  /** The most touches any 60 seconds of the span held. */
  touches: number;
}

/** All SQL of the attribution context. */
export function createAttributionRepository(anyDb: AnyDb) {
  const db = anyDb as unknown as Db;

  return {
    db,

    /**
     * Inserts touches in one statement per 2,000 (PostgreSQL's parameter limit); an identical retry (device, tag, kind,
     * second) is a no-op. Returns how many rows were added.
     */
    async insertTouches(rows: readonly NewTouchRow[]): Promise<number> {
      let added = 0;
      for (let i = 0; i < rows.length; i += 2000) {
        const r = await db
          .insertInto('attribution.touches')
          .values(rows.slice(i, i + 2000))
          .onConflict((oc) => oc.constraint('touches_once').doNothing())
          .executeTakeFirst();
        added += Number(r.numInsertedOrUpdatedRows ?? 0);
      }
      return added;
    },

    /**
     * Floods of `devices` around [from, to]: every span in which each 60 seconds held more than `limit` of one device's
     * touches (touches are stored to the second, so 60 seconds is a touch's second and the 59 before it). Computed
     * from the touches with a sliding window, so a flood that straddles a minute boundary is one too. Overlapping
     * windows are merged; `touches` is the most any 60 seconds of the span held.
     */
    async floods(devices: readonly string[], from: Date, to: Date, limit: number): Promise<Flood[]> {
      if (devices.length === 0) return [];
      const r = await sql<{ device_id: string; window_end: Date; touches: number }>`
        SELECT device_id, occurred_at AS window_end, touches FROM (
          SELECT device_id, occurred_at,
            count(*) OVER (PARTITION BY device_id ORDER BY occurred_at RANGE BETWEEN interval '59 seconds' PRECEDING AND CURRENT ROW)::int AS touches
          FROM attribution.touches
          WHERE device_id = ANY (${[...new Set(devices)]}) AND occurred_at >= ${new Date(from.getTime() - FLOOD_WINDOW_MS)} AND occurred_at <= ${new Date(to.getTime() + FLOOD_WINDOW_MS)}
        ) w
        WHERE touches > ${limit}
        ORDER BY device_id, occurred_at
      `.execute(db);
      const floods: Flood[] = [];
      for (const row of r.rows) {
        const end = new Date(row.window_end).getTime();
        const start = end - FLOOD_WINDOW_MS + 1000;
        const last = floods[floods.length - 1];
        if (last && last.device_id === row.device_id && start <= last.end.getTime()) {
          last.end = new Date(end);
          last.touches = Math.max(last.touches, row.touches);
        } else floods.push({ device_id: row.device_id, start: new Date(start), end: new Date(end), touches: row.touches });
      }
      return floods;
    },

    /**
     * Remembers floods for the admin report, each under the minute it started in (the crediting rule reads the
     * touches themselves).
     */
    async recordFloods(floods: readonly Flood[], at: Date): Promise<void> {
      if (floods.length === 0) return;
      // one row per (device, minute): a flood that started in a minute already flagged raises that row's count
      const rows = new Map<string, { device_id: string; minute: Date; touches: number; flagged_at: Date }>();
      for (const f of floods) {
        const minute = new Date(Math.floor(f.start.getTime() / MINUTE) * MINUTE);
        const key = `${f.device_id}|${minute.getTime()}`;
        const row = rows.get(key);
        if (row) row.touches = Math.max(row.touches, f.touches);
        else rows.set(key, { device_id: f.device_id, minute, touches: f.touches, flagged_at: at });
      }
      await db
        .insertInto('attribution.flooded_minutes')
        .values([...rows.values()])
        .onConflict((oc) => oc.columns(['device_id', 'minute']).doUpdateSet({ touches: sql`greatest(attribution.flooded_minutes.touches, excluded.touches)` }))
        .execute();
    },

    /**
     * The touches of a shopper (account, its linked devices, and the order's device) on `productIds` in [from, to],
     * oldest first.
     */
    async touchesOfShopper(shopper: { accountId: string | null; deviceId: string }, productIds: readonly string[], from: Date, to: Date): Promise<TouchRow[]> {
      const products = [...new Set(productIds)];
      const r = await sql<TouchRow>`
        SELECT * FROM (
          SELECT t.* FROM attribution.touches t WHERE t.account_id = ${shopper.accountId}
          UNION
          SELECT t.* FROM attribution.touches t
          JOIN attribution.device_links l ON l.device_id = t.device_id
          WHERE l.account_id = ${shopper.accountId} AND t.account_id IS NULL
          UNION
          SELECT t.* FROM attribution.touches t WHERE t.device_id = ${shopper.deviceId}
        ) s
        WHERE s.product_id = ANY (${products}) AND s.occurred_at >= ${from} AND s.occurred_at <= ${to}
        ORDER BY s.occurred_at, s.id
      `.execute(db);
      return r.rows;
    },

    /** Inserts the line unless it is already attributed; true when this call inserted it (and so owns crediting it). */
    async insertLine(trx: Trx, row: NewLineRow): Promise<boolean> {
      const r = await trx
        .insertInto('attribution.lines')
        .values({ ...row, claim: row.claim ? JSON.stringify(row.claim) : null, flags: JSON.stringify(row.flags ?? {}) })
        .onConflict((oc) => oc.column('line_id').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    async insertCredits(trx: Trx, rows: ReadonlyArray<Insertable<CreditsTable>>): Promise<void> {
      if (rows.length > 0) await trx.insertInto('attribution.credits').values([...rows]).execute();
    },

    async insertCommissionable(trx: Trx, row: Insertable<CommissionableTable>): Promise<void> {
      await trx.insertInto('attribution.commissionable').values(row).execute();
    },

    /** Adds fraud-guard exclusions to the per-day counters. */
    async countFlags(trx: Trx, day: string, counts: Record<string, number>): Promise<void> {
      const rows = Object.entries(counts).filter(([, n]) => n > 0);
      if (rows.length === 0) return;
      await trx
        .insertInto('attribution.flag_counts')
        .values(rows.map(([reason, count]) => ({ day, reason, count })))
        .onConflict((oc) => oc.columns(['day', 'reason']).doUpdateSet({ count: sql`attribution.flag_counts.count + excluded.count` }))
        .execute();
    },

    /** The line, row-locked for the rest of the transaction (reversals and recomputes of one line serialize). */
    async lockLine(trx: Trx, lineId: string): Promise<LineRow | undefined> {
      return trx.selectFrom('attribution.lines').selectAll().where('line_id', '=', lineId).forUpdate().executeTakeFirst();
    },

    async creditsOf(ex: Trx | Db, lineIds: readonly string[], live = true): Promise<CreditRow[]> {
      if (lineIds.length === 0) return [];
      let q = ex.selectFrom('attribution.credits as c').selectAll('c').where('c.line_id', 'in', [...lineIds]);
      if (live) q = q.innerJoin('attribution.lines as l', (j) => j.onRef('l.line_id', '=', 'c.line_id').onRef('l.revision', '=', 'c.revision'));
      return q.orderBy('c.line_id').orderBy('c.model').orderBy('c.tag_id').execute();
    },

    async commissionableOf(ex: Trx | Db, lineIds: readonly string[]): Promise<CommissionableRow[]> {
      if (lineIds.length === 0) return [];
      return ex.selectFrom('attribution.commissionable').selectAll().where('line_id', 'in', [...lineIds]).execute();
    },

    /** Records that `refundId` reversed part of the line; false when it already did (a redelivered event). */
    async insertReversal(trx: Trx, row: Insertable<ReversalsTable>): Promise<boolean> {
      const r = await trx.insertInto('attribution.reversals').values(row).onConflict((oc) => oc.columns(['refund_id', 'line_id']).doNothing()).executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    async addCreditReversal(trx: Trx, key: Pick<CreditRow, 'line_id' | 'revision' | 'model' | 'tag_id'>, minor: number, unitsE4: number): Promise<void> {
      await trx
        .updateTable('attribution.credits')
        .set({ reversed_minor: sql`reversed_minor + ${minor}`, reversed_units_e4: sql`reversed_units_e4 + ${unitsE4}` })
        .where('line_id', '=', key.line_id)
        .where('revision', '=', key.revision)
        .where('model', '=', key.model)
        .where('tag_id', '=', key.tag_id)
        .execute();
    },

    async addCommissionableReversal(trx: Trx, lineId: string, minor: number): Promise<void> {
      await trx.updateTable('attribution.commissionable').set({ reversed_minor: sql`reversed_minor + ${minor}` }).where('line_id', '=', lineId).execute();
    },

    async addLineRefund(trx: Trx, lineId: string, quantity: number, netMinor: number): Promise<void> {
      await trx
        .updateTable('attribution.lines')
        .set({ refunded_quantity: sql`refunded_quantity + ${quantity}`, refunded_net_minor: sql`refunded_net_minor + ${netMinor}` })
        .where('line_id', '=', lineId)
        .execute();
    },

    async setRevision(trx: Trx, lineId: string, revision: number): Promise<void> {
      await trx.updateTable('attribution.lines').set({ revision }).where('line_id', '=', lineId).execute();
    },

    async linesOfOrder(orderId: string): Promise<LineRow[]> {
      return db.selectFrom('attribution.lines').selectAll().where('order_id', '=', orderId).orderBy('line_id').execute();
    },

    /** Lines ordered in [from, to), after `afterLineId` in (ordered_at, line_id) order: the recompute's pages. */
    async linesOrderedBetween(from: Date, to: Date, after: LineCursor | null, limit: number): Promise<LineRow[]> {
      let q = db.selectFrom('attribution.lines').selectAll().where('ordered_at', '>=', from).where('ordered_at', '<', to);
      if (after) q = q.where(sql<boolean>`(ordered_at, line_id) > (${after.orderedAt}, ${after.lineId})`);
      return q.orderBy('ordered_at').orderBy('line_id').limit(limit).execute();
    },

    async insertRecomputeJob(row: Insertable<RecomputeJobsTable>): Promise<RecomputeJobRow> {
      return db.insertInto('attribution.recompute_jobs').values(row).returningAll().executeTakeFirstOrThrow();
    },

    async recomputeJob(id: string): Promise<RecomputeJobRow | undefined> {
      return db.selectFrom('attribution.recompute_jobs').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** Newest first (ids sort by creation time). */
    async recentRecomputeJobs(limit: number): Promise<RecomputeJobRow[]> {
      return db.selectFrom('attribution.recompute_jobs').selectAll().orderBy('id', 'desc').limit(limit).execute();
    },

    /**
     * Claims the oldest job that is queued, or running under a lease that lapsed (its runner died or stalled), and
     * has attempts left: SKIP LOCKED keeps two claimers off one row, and the new lease keeps later ones off it. The
     * first claim counts the range's lines and records the start.
     */
    async claimRecomputeJob(token: string, now: Date, leaseUntil: Date, maxAttempts: number): Promise<RecomputeJobRow | undefined> {
      const r = await sql<RecomputeJobRow>`
        UPDATE attribution.recompute_jobs j SET
          status = 'running', lease_token = ${token}, lease_until = ${leaseUntil}, attempts = j.attempts + 1,
          started_at = coalesce(j.started_at, ${now}),
          lines_total = coalesce(j.lines_total, (
            SELECT count(*)::int FROM attribution.lines l WHERE l.ordered_at >= j.range_from AND l.ordered_at < j.range_to
          ))
        WHERE j.id = (
          SELECT id FROM attribution.recompute_jobs
          WHERE (status = 'queued' OR (status = 'running' AND lease_until <= ${now})) AND attempts < ${maxAttempts}
          ORDER BY id
          LIMIT 1
          FOR UPDATE SKIP LOCKED
        )
        RETURNING j.*
      `.execute(db);
      return r.rows[0];
    },

    /**
     * Records a committed page (cursor, counters, a renewed lease) in the page's own transaction, and finishes the
     * job with its last page; false, changing nothing, when the lease is no longer the caller's.
     */
    async advanceRecomputeJob(
      ex: Trx | Db,
      lease: JobLease,
      page: { after: LineCursor | null; lines: number; recomputed: number; done: boolean; now: Date; leaseUntil: Date },
    ): Promise<boolean> {
      const r = await ex
        .updateTable('attribution.recompute_jobs')
        .set((eb) => ({
          cursor_ordered_at: page.after?.orderedAt ?? null,
          cursor_line_id: page.after?.lineId ?? null,
          lines_done: eb('lines_done', '+', page.lines),
          recomputed: eb('recomputed', '+', page.recomputed),
          ...(page.done
            ? { status: 'succeeded' as const, finished_at: page.now, lease_token: null, lease_until: null, error: null }
            : { lease_until: page.leaseUntil }),
        }))
        .where('id', '=', lease.id)
        .where('lease_token', '=', lease.token)
        .where('status', '=', 'running')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    /** Notes why a page failed; the lease stays, so the job is tried again once it lapses. */
    async noteRecomputeError(lease: JobLease, error: string): Promise<void> {
      await db.updateTable('attribution.recompute_jobs').set({ error }).where('id', '=', lease.id).where('lease_token', '=', lease.token).execute();
    },

    /** Hands the job back at once (a graceful stop), without counting the attempt. */
    async releaseRecomputeJob(lease: JobLease, now: Date): Promise<void> {
      await db
        .updateTable('attribution.recompute_jobs')
        .set((eb) => ({ lease_until: now, attempts: eb('attempts', '-', 1) }))
        .where('id', '=', lease.id)
        .where('lease_token', '=', lease.token)
        .where('status', '=', 'running')
        .execute();
    },

    /** Fails the jobs whose lease lapsed on their last attempt; returns how many. */
    async giveUpRecomputeJobs(now: Date, maxAttempts: number): Promise<number> {
      const r = await sql`
        UPDATE attribution.recompute_jobs SET
          status = 'failed', finished_at = ${now}, lease_token = NULL, lease_until = NULL,
          error = 'gave up after ' || attempts || ' attempts' || coalesce(': ' || error, ': each runner stopped before the end')
        WHERE status = 'running' AND lease_until <= ${now} AND attempts >= ${maxAttempts}
      `.execute(db);
      return Number(r.numAffectedRows ?? 0);
    },

    async flagCountsSince(day: string): Promise<Array<{ day: string; reason: string; count: number }>> {
      const r = await sql<{ day: string; reason: string; count: number }>`
        SELECT to_char(day, 'YYYY-MM-DD') AS day, reason, count::int AS count FROM attribution.flag_counts WHERE day >= ${day}::date
        UNION ALL
        SELECT to_char(day, 'YYYY-MM-DD'), 'invalid_token:' || reason, sum(count)::int FROM attribution.invalid_token_counts WHERE day >= ${day}::date GROUP BY day, reason
        ORDER BY 1 DESC, 2
      `.execute(db);
      return r.rows;
    },

    async recentFloodedMinutes(limit: number): Promise<Array<{ device_id: string; minute: Date; touches: number }>> {
      return db.selectFrom('attribution.flooded_minutes').select(['device_id', 'minute', 'touches']).orderBy('minute', 'desc').orderBy('device_id').limit(limit).execute();
    },

    async recentFlaggedLines(limit: number): Promise<Array<Pick<LineRow, 'order_id' | 'line_id' | 'ordered_at' | 'flags'>>> {
      return db
        .selectFrom('attribution.lines')
        .select(['order_id', 'line_id', 'ordered_at', 'flags'])
        .where(sql<boolean>`flags <> '{}'::jsonb`)
        .orderBy('ordered_at', 'desc')
        .orderBy('line_id')
        .limit(limit)
        .execute();
    },

    /** Records the link and hands the device's anonymous touches to the account, atomically. */
    async linkDevice(deviceId: string, accountId: string, at: Date): Promise<void> {
      await db.transaction().execute(async (trx: Transaction<AttributionTables>) => {
        await trx
          .insertInto('attribution.device_links')
          .values({ device_id: deviceId, account_id: accountId, linked_at: at })
          .onConflict((oc) => oc.columns(['device_id', 'account_id']).doNothing())
          .execute();
        await trx
          .updateTable('attribution.touches')
          .set({ account_id: accountId })
          .where('device_id', '=', deviceId)
          .where('account_id', 'is', null)
          .execute();
      });
    },

    /**
     * A shopper's touches, oldest first: the account's own, the anonymous ones from devices linked to it (made
     * after the link, e.g. signed out on the same phone), and the device's when a device is given.
     */
    async listTouches(shopper: { accountId?: string | undefined; deviceId?: string | undefined }): Promise<TouchRow[]> {
      const { accountId, deviceId } = shopper;
      if (!accountId && !deviceId) return [];
      const byAccount = accountId
        ? sql`
            SELECT t.* FROM attribution.touches t WHERE t.account_id = ${accountId}
            UNION
            SELECT t.* FROM attribution.touches t
            JOIN attribution.device_links l ON l.device_id = t.device_id
            WHERE l.account_id = ${accountId} AND t.account_id IS NULL`
        : null;
      const byDevice = deviceId ? sql`SELECT t.* FROM attribution.touches t WHERE t.device_id = ${deviceId}` : null;
      const parts = [byAccount, byDevice].filter((p) => p !== null);
      const r = await sql<TouchRow>`
        SELECT * FROM (${sql.join(parts, sql` UNION `)}) s
        ORDER BY s.occurred_at, s.id
      `.execute(db);
      return r.rows;
    },

    /** Adds `count` to the (day, reason, place) counter in one statement. */
    async incrementInvalidToken(day: string, reason: string, seenAt: string, count = 1): Promise<void> {
      await sql`
        INSERT INTO attribution.invalid_token_counts (day, reason, seen_at, count)
        VALUES (${day}::date, ${reason}, ${seenAt}, ${count})
        ON CONFLICT (day, reason, seen_at) DO UPDATE SET count = attribution.invalid_token_counts.count + EXCLUDED.count
      `.execute(db);
    },

    async sumInvalidTokensByReason(): Promise<Array<{ reason: string; total: number }>> {
      const r = await sql<{ reason: string; total: number }>`
        SELECT reason, sum(count)::bigint AS total FROM attribution.invalid_token_counts GROUP BY reason ORDER BY reason
      `.execute(db);
      return r.rows;
    },
  };
}

export type AttributionRepository = ReturnType<typeof createAttributionRepository>;
