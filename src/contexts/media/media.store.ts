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
 * changes. Only the database store exists today; an object store (S3 and the like) would implement the same two
 * calls with the hash as its key.
 */
export interface MediaStore {
  /** Stores the bytes under their hash; storing content that is already there changes nothing. */
  put(sha256: string, bytes: Buffer): Promise<void>;
  /** The stored bytes, or only the range of them; null when nothing is stored under the hash. */
  read(sha256: string, range?: ByteRange): Promise<Buffer | null>;
}

/**
 * The bytes in PostgreSQL (`media.blobs`, one bytea per content), so every process sharing the database serves every
 * upload, on PGlite too. A range is read with substring(), which fetches only the TOAST chunks it covers (the column
 * is stored uncompressed, see the migration).
 */
export class DatabaseMediaStore implements MediaStore {
  private readonly db: Db;

  constructor(
    db: AnyDb,
    private readonly clock: Clock,
  ) {
    this.db = db as unknown as Db;
  }

  async put(sha256: string, bytes: Buffer): Promise<void> {
    await this.db
      .insertInto('media.blobs')
      .values({ sha256, bytes, created_at: this.clock.now() })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
  }

  async read(sha256: string, range?: ByteRange): Promise<Buffer | null> {
    const bytes = range ? sql<Buffer>`substring(bytes FROM ${range.start + 1}::int FOR ${range.end - range.start + 1}::int)` : sql<Buffer>`bytes`;
    const row = await this.db.selectFrom('media.blobs').select(bytes.as('bytes')).where('sha256', '=', sha256).executeTakeFirst();
    return row?.bytes ?? null;
  }
}
