import { sql, type Kysely, type Transaction } from 'kysely';
import type { AnyDb } from '../../platform/db';
import type { TouchKind } from './index';

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

export interface AttributionTables {
  'attribution.touches': TouchesTable;
  'attribution.device_links': DeviceLinksTable;
  'attribution.invalid_token_counts': InvalidTokenCountsTable;
}

export type TouchRow = TouchesTable;
type Db = Kysely<AttributionTables>;

/** All SQL of the attribution context. */
export function createAttributionRepository(anyDb: AnyDb) {
  const db = anyDb as unknown as Db;

  return {
    /** Inserts a touch; an identical retry (device, tag, kind, second) is a no-op. Returns whether a row was added. */
    async insertTouch(row: TouchRow): Promise<boolean> {
      const r = await db
        .insertInto('attribution.touches')
        .values(row)
        .onConflict((oc) => oc.constraint('touches_once').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
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

    /** Adds one to the (day, reason, place) counter. */
    async incrementInvalidToken(day: string, reason: string, seenAt: string): Promise<void> {
      await sql`
        INSERT INTO attribution.invalid_token_counts (day, reason, seen_at, count)
        VALUES (${day}::date, ${reason}, ${seenAt}, 1)
        ON CONFLICT (day, reason, seen_at) DO UPDATE SET count = attribution.invalid_token_counts.count + 1
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
