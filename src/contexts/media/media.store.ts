import { sql } from 'kysely';
import type { Clock } from '../../platform/clock';
import type { AnyDb } from '../../platform/db';
import type { Db } from './media.repository';

/** A slice of a file: bytes `start` to `end`, both included (HTTP's Range arithmetic). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Where uploaded bytes live, addressed by their SHA-256: the same content is stored once, and what is stored never
 * changes. Objects and bytes change together: `put` and `release` run in the transaction that records or deletes an
 * object, so the store keeps content exactly as long as some object names it. Only the database store exists today;
 * an object store (S3 and the like) would keep the same counts in a table and write (before) or delete (after the
 * commit) the file under its hash.
 */
export interface MediaStore {
  /** One more object names this content: stores the bytes unless they are stored, in `tx`. */
  put(tx: Db, sha256: string, bytes: Buffer): Promise<void>;
  /** One object fewer names this content, in `tx`; the bytes go with the last. True when they went. */
  release(tx: Db, sha256: string): Promise<boolean>;
  /** The stored bytes, or only the range of them; null when nothing is stored under the hash. */
  read(sha256: string, range?: ByteRange): Promise<Buffer | null>;
}

/**
 * The bytes in PostgreSQL (`media.blobs`, one bytea per content, with `refs`: how many objects name it), so every
 * process sharing the database serves every upload, on PGlite too. A range is read with substring(), which fetches
 * only the TOAST chunks it covers (the column is stored uncompressed, see the migration).
 *
 * Garbage collection is the count, under the blob row's lock: `release` decrements (locking the row until its
 * transaction ends) and deletes the row when it reaches 0. An upload of the same content meanwhile is an upsert that
 * waits for that lock: it increments when the row is still there, and inserts the bytes anew when the delete
 * committed (INSERT … ON CONFLICT retries an insert whose conflicting row was deleted). So no committed object ever
 * names missing bytes, and nothing is locked beyond the one row.
 */
export class DatabaseMediaStore implements MediaStore {
  private readonly db: Db;

  constructor(
    db: AnyDb,
    private readonly clock: Clock,
  ) {
    this.db = db as unknown as Db;
  }

  async put(tx: Db, sha256: string, bytes: Buffer): Promise<void> {
    await tx
      .insertInto('media.blobs')
      .values({ sha256, bytes, refs: 1, created_at: this.clock.now() })
      .onConflict((oc) => oc.column('sha256').doUpdateSet((eb) => ({ refs: eb('media.blobs.refs', '+', 1) })))
      .execute();
  }

  async release(tx: Db, sha256: string): Promise<boolean> {
    const left = await tx
      .updateTable('media.blobs')
      .set((eb) => ({ refs: eb('refs', '-', 1) }))
      .where('sha256', '=', sha256)
      .returning('refs')
      .executeTakeFirst();
    if (left?.refs !== 0) return false;
    await tx.deleteFrom('media.blobs').where('sha256', '=', sha256).where('refs', '=', 0).execute();
    return true;
  }

  async read(sha256: string, range?: ByteRange): Promise<Buffer | null> {
    const bytes = range ? sql<Buffer>`substring(bytes FROM ${range.start + 1}::int FOR ${range.end - range.start + 1}::int)` : sql<Buffer>`bytes`;
    const row = await this.db.selectFrom('media.blobs').select(bytes.as('bytes')).where('sha256', '=', sha256).executeTakeFirst();
    return row?.bytes ?? null;
  }
}
