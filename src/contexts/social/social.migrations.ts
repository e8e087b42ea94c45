import { sqlMigration, type ContextMigrations } from '../../platform/migrations';

/**
 * Tags, posts and follows reference creators and posts inside this schema (same context, so foreign keys are
 * fine); product and account ids point at other contexts and are plain prefixed strings.
 */
export const socialMigrations: ContextMigrations = {
  schema: 'social',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE social.creators (
        id text PRIMARY KEY,
        account_id text NOT NULL UNIQUE,
        handle text NOT NULL CONSTRAINT creators_handle_key UNIQUE CHECK (handle ~ '^[a-z0-9_]{3,30}$'),
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
        bio text NOT NULL DEFAULT '',
        avatar_url text,
        follower_count integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      -- the stories tray ranks creators by followers
      CREATE INDEX creators_popular ON social.creators (follower_count DESC, id);

      CREATE TABLE social.follows (
        account_id text NOT NULL,
        creator_id text NOT NULL REFERENCES social.creators (id),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (account_id, creator_id)
      );
      CREATE INDEX follows_by_account_recent ON social.follows (account_id, created_at DESC, creator_id DESC);

      CREATE TABLE social.posts (
        id text PRIMARY KEY,
        creator_id text NOT NULL REFERENCES social.creators (id),
        kind text NOT NULL CHECK (kind IN ('post', 'story')),
        media_type text NOT NULL CHECK (media_type IN ('photo', 'video')),
        media_url text NOT NULL,
        caption text NOT NULL DEFAULT '',
        published_at timestamptz NOT NULL,
        expires_at timestamptz,
        deleted_at timestamptz,
        score double precision NOT NULL DEFAULT 0,
        -- stories expire, posts do not
        CONSTRAINT posts_expiry CHECK ((kind = 'story') = (expires_at IS NOT NULL)),
        CONSTRAINT posts_story_after_publish CHECK (expires_at IS NULL OR expires_at > published_at)
      );
      -- the following feed and a creator's page: keyset (published_at DESC, id DESC) per creator
      CREATE INDEX posts_by_creator_recent ON social.posts (creator_id, published_at DESC, id DESC)
        WHERE kind = 'post' AND deleted_at IS NULL;
      -- the popular fallback: keyset (score DESC, id DESC), scanned backwards
      CREATE INDEX posts_popular ON social.posts (score, id) WHERE kind = 'post' AND deleted_at IS NULL;
      -- the stories tray: live stories only
      CREATE INDEX stories_live ON social.posts (expires_at, creator_id) WHERE kind = 'story' AND deleted_at IS NULL;

      CREATE TABLE social.tags (
        id text PRIMARY KEY,
        post_id text NOT NULL REFERENCES social.posts (id),
        creator_id text NOT NULL REFERENCES social.creators (id),
        product_id text NOT NULL,
        x numeric NOT NULL CHECK (x >= 0 AND x <= 1),
        y numeric NOT NULL CHECK (y >= 0 AND y <= 1),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL,
        deactivated_at timestamptz,
        CONSTRAINT tags_deactivation CHECK (active = (deactivated_at IS NULL))
      );
      CREATE INDEX tags_by_post ON social.tags (post_id) WHERE active;
    `),
  },
};
