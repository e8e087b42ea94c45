import { sql, type Kysely } from 'kysely';
import type { AnyDb } from '../../platform/db';
import type { MediaType } from './media.formats';

export interface MediaTables {
  'media.objects': { id: string; owner_account_id: string; sha256: string; content_type: MediaType; size: number; created_at: Date };
  'media.blobs': { sha256: string; bytes: Buffer; refs: number; created_at: Date };
  /** bigint: node-postgres answers it as a string. */
  'media.usage': { owner_account_id: string; bytes: number | string };
}

/** The database, or a transaction on it (every method takes either). */
export type Db = Kysely<MediaTables>;
export type ObjectRow = MediaTables['media.objects'];

/** All SQL of the media objects and accounts' usage (the bytes are the store's: media.store.ts). */
export class MediaRepository {
  readonly db: Db;

  constructor(db: AnyDb) {
    this.db = db as unknown as Db;
  }

  findById(id: string): Promise<ObjectRow | undefined> {
    return this.db.selectFrom('media.objects').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByContent(db: Db, ownerAccountId: string, sha256: string): Promise<ObjectRow | undefined> {
    return db.selectFrom('media.objects').selectAll().where('owner_account_id', '=', ownerAccountId).where('sha256', '=', sha256).executeTakeFirst();
  }

  /** One page of an account's objects, newest first (ids are time-ordered, so the id is the keyset). */
  listOwned(ownerAccountId: string, beforeId: string | undefined, limit: number): Promise<ObjectRow[]> {
    let q = this.db.selectFrom('media.objects').selectAll().where('owner_account_id', '=', ownerAccountId).orderBy('id', 'desc').limit(limit);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return q.execute();
  }

  /** Bytes of the distinct files an account has uploaded (what its quota counts). */
  async bytesOwned(db: Db, ownerAccountId: string): Promise<number> {
    const r = await db.selectFrom('media.usage').select('bytes').where('owner_account_id', '=', ownerAccountId).executeTakeFirst();
    return Number(r?.bytes ?? 0);
  }

  /** Inserts the object unless its owner already has this content; undefined when they had (a concurrent twin won). */
  insertUnlessOwned(db: Db, row: ObjectRow): Promise<ObjectRow | undefined> {
    return db
      .insertInto('media.objects')
      .values(row)
      .onConflict((oc) => oc.columns(['owner_account_id', 'sha256']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  /** Deletes the object; undefined when there was none (already deleted). */
  deleteObject(db: Db, id: string): Promise<ObjectRow | undefined> {
    return db.deleteFrom('media.objects').where('id', '=', id).returningAll().executeTakeFirst();
  }

  /**
   * Adds `bytes` to the account's usage unless that takes it past `quotaBytes`: one conditional statement, so
   * concurrent uploads of an account queue on its row and the sum never passes the quota. False when refused.
   */
  async addUsage(db: Db, ownerAccountId: string, bytes: number, quotaBytes: number): Promise<boolean> {
    if (bytes > quotaBytes) return false;
    const r = await sql<{ bytes: string }>`
      INSERT INTO media.usage AS u (owner_account_id, bytes) VALUES (${ownerAccountId}, ${bytes})
      ON CONFLICT (owner_account_id) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes
        WHERE u.bytes + EXCLUDED.bytes <= ${quotaBytes}
      RETURNING u.bytes
    `.execute(db);
    return r.rows.length > 0;
  }

  async subtractUsage(db: Db, ownerAccountId: string, bytes: number): Promise<void> {
    await db
      .updateTable('media.usage')
      .set((eb) => ({ bytes: eb('bytes', '-', bytes) }))
      .where('owner_account_id', '=', ownerAccountId)
      .execute();
  }
}
