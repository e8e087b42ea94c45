import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * The media context's tables. `objects` is what was uploaded, by whom (one row per owner and content); `blobs` holds
 * the bytes of the database store (media.store.ts), once per content whoever uploaded it, with the count of objects
 * naming them; `usage` is each account's bytes (what its quota counts). A store elsewhere (an object store) would
 * leave `blobs` empty, which is why objects do not reference it.
 */
export const mediaMigrations: ContextMigrations = {
  schema: 'media',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE media.blobs (
        sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        bytes bytea NOT NULL,
        created_at timestamptz NOT NULL
      );
      -- images and video are compressed already: keep them out of line uncompressed, so reading a range fetches
      -- only the chunks it covers
      ALTER TABLE media.blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;

      CREATE TABLE media.objects (
        id text PRIMARY KEY,
        owner_account_id text NOT NULL,
        sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif', 'video/mp4', 'video/webm')),
        size integer NOT NULL CHECK (size > 0),
        created_at timestamptz NOT NULL,
        UNIQUE (owner_account_id, sha256)
      );
    `),
    // deletes: a blob counts the objects naming it (written in their transactions) and goes with the last one; an
    // account's bytes are one row, so its quota is one conditional statement; orphaned blobs (an upload that failed
    // between storing its bytes and its object, possible before this) are removed
    '0002_refs_usage': sqlMigration(`
      ALTER TABLE media.blobs ADD COLUMN refs integer NOT NULL DEFAULT 0 CHECK (refs >= 0);
      UPDATE media.blobs b SET refs = (SELECT count(*) FROM media.objects o WHERE o.sha256 = b.sha256);
      DELETE FROM media.blobs WHERE refs = 0;

      CREATE TABLE media.usage (
        owner_account_id text PRIMARY KEY,
        bytes bigint NOT NULL CHECK (bytes >= 0)
      );
      INSERT INTO media.usage (owner_account_id, bytes) SELECT owner_account_id, sum(size) FROM media.objects GROUP BY owner_account_id;

      -- an account's uploads, newest first (ids are time-ordered)
      CREATE INDEX objects_by_owner ON media.objects (owner_account_id, id DESC);
    `),
  },
};
