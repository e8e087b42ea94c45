import type { Kysely } from 'kysely';
import type { AnyDb } from '../../platform/db';
import type { MediaType } from './media.formats';

export interface MediaTables {
  'media.objects': { id: string; owner_account_id: string; sha256: string; content_type: MediaType; size: number; created_at: Date };
  'media.blobs': { sha256: string; bytes: Buffer; created_at: Date };
}

export type Db = Kysely<MediaTables>;
export type ObjectRow = MediaTables['media.objects'];

/** All SQL of the media objects (the bytes are the store's: media.store.ts). */
export class MediaRepository {
  readonly db: Db;

  constructor(db: AnyDb) {
    this.db = db as unknown as Db;
  }

  findById(id: string): Promise<ObjectRow | undefined> {
    return this.db.selectFrom('media.objects').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByContent(ownerAccountId: string, sha256: string): Promise<ObjectRow | undefined> {
    return this.db.selectFrom('media.objects').selectAll().where('owner_account_id', '=', ownerAccountId).where('sha256', '=', sha256).executeTakeFirst();
  }

  /** Bytes of the distinct files an account has uploaded (what its quota counts). */
  async bytesOwned(ownerAccountId: string): Promise<number> {
    const r = await this.db
      .selectFrom('media.objects')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('bytes'))
      .where('owner_account_id', '=', ownerAccountId)
      .executeTakeFirstOrThrow();
    return Number(r.bytes);
  }

  /** Inserts the object unless its owner already has this content; undefined when they had (a concurrent twin won). */
  insertUnlessOwned(row: ObjectRow): Promise<ObjectRow | undefined> {
    return this.db
      .insertInto('media.objects')
      .values(row)
      .onConflict((oc) => oc.columns(['owner_account_id', 'sha256']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }
}
