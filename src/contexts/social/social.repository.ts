// All SQL of the social context. Simple statements use Kysely; the feed's keyset queries are plain SQL templates.
import { sql, type Generated, type Kysely, type RawBuilder, type Transaction } from 'kysely';

export interface CreatorsTable {
  id: string;
  account_id: string;
  handle: string;
  display_name: string;
  bio: string;
  avatar_url: string | null;
  follower_count: Generated<number>;
  created_at: Date;
  updated_at: Date;
}

export interface FollowsTable {
  account_id: string;
  creator_id: string;
  created_at: Date;
}

export interface PostsTable {
  id: string;
  creator_id: string;
  kind: 'post' | 'story';
  media_type: 'photo' | 'video';
  media_url: string;
  caption: string;
  published_at: Date;
  expires_at: Date | null;
  deleted_at: Date | null;
  score: Generated<number>;
}

export interface TagsTable {
  id: string;
  post_id: string;
  creator_id: string;
  product_id: string;
  x: number;
  y: number;
  active: Generated<boolean>;
  created_at: Date;
  deactivated_at: Date | null;
}

export interface SocialTables {
  'social.creators': CreatorsTable;
  'social.follows': FollowsTable;
  'social.posts': PostsTable;
  'social.tags': TagsTable;
}

export type SocialDb = Kysely<SocialTables>;
export type Executor = SocialDb | Transaction<SocialTables>;

export interface CreatorRow {
  id: string;
  account_id: string;
  handle: string;
  display_name: string;
  bio: string;
  avatar_url: string | null;
  follower_count: number;
  created_at: Date;
  following: boolean;
}

/** A post with its creator, as the feed hydrates it. */
export interface HydratedPostRow {
  id: string;
  kind: 'post' | 'story';
  creator_id: string;
  media_type: 'photo' | 'video';
  media_url: string;
  caption: string;
  published_at: Date;
  expires_at: Date | null;
  deleted_at: Date | null;
  handle: string;
  display_name: string;
  avatar_url: string | null;
}

export interface TagRow {
  id: string;
  post_id: string;
  creator_id: string;
  product_id: string;
  x: number;
  y: number;
  active: boolean;
  created_at: Date;
}

export interface SkeletonRow {
  phase: 'f' | 'p';
  id: string;
  /** published_at in epoch milliseconds (see PUBLISHED_MS). */
  published_ms: number;
  score: number;
}

/** A post's place in the following and popular orders (what the skeleton caches keep). */
export interface RankedPostRow {
  id: string;
  creator_id: string;
  /** published_at in epoch milliseconds (see PUBLISHED_MS). */
  published_ms: number;
  score: number;
}

/** A live story with its creator, as the stories tray caches it. */
export interface LiveStoryRow {
  id: string;
  creator_id: string;
  media_type: 'photo' | 'video';
  media_url: string;
  published_at: Date;
  expires_at: Date;
  handle: string;
  display_name: string;
  avatar_url: string | null;
  follower_count: number;
}

/** Where a keyset page starts: after this key, in its phase's order. */
export type FeedPosition =
  | { phase: 'f'; after: { publishedMs: number; id: string } | null }
  | { phase: 'p'; after: { score: number; id: string } | null };

export interface ImportPostRow {
  id: string;
  creatorId: string;
  kind: 'post' | 'story';
  mediaType: 'photo' | 'video';
  mediaUrl: string;
  caption: string;
  publishedAt: Date;
  expiresAt: Date | null;
  score: number;
}

export interface ImportTagRow {
  id: string;
  postId: string;
  creatorId: string;
  productId: string;
  x: number;
  y: number;
  createdAt: Date;
}

/**
 * published_at as epoch milliseconds (a float8: the driver reads it with parseFloat, not as a Date). The skeleton's
 * caches keep thousands of these rows and reload them every few seconds, so the cheaper read and compare matter.
 * floor() truncates microseconds the way a JS Date does.
 */
const PUBLISHED_MS = sql`floor(extract(epoch FROM p.published_at) * 1000)::float8 AS published_ms`;

/**
 * md5 of a list's text (an array of ROWs: PostgreSQL quotes each field, so the text is unambiguous). The feed's
 * caches re-read their lists every few seconds and nearly always find them unchanged: the list is compared by this
 * digest in the statement, and only a changed list's rows are sent and parsed. A digest that differs for an equal
 * list (another session's settings) only costs a full read; treating a changed list as equal needs an md5 collision.
 */
const digestOf = (list: RawBuilder<unknown>) => sql<string>`md5(coalesce(${list}::text, ''))`;

/** A value read with the digest of what it was read from (see digestOf); `value` is null when the digest was known. */
export interface Digested<V> {
  digest: string;
  value: V;
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

const CREATOR_COLUMNS = sql`c.id, c.account_id, c.handle, c.display_name, c.bio, c.avatar_url, c.follower_count, c.created_at`;

export const socialRepository = {
  // ---- creators and follows ----

  /** Creates or replaces the account's profile; a handle owned by another account raises 23505 (creators_handle_key). */
  async upsertCreator(db: Executor, row: Omit<CreatorsTable, 'follower_count'>): Promise<CreatorRow> {
    const r = await sql<CreatorRow>`
      INSERT INTO social.creators AS c (id, account_id, handle, display_name, bio, avatar_url, created_at, updated_at)
      VALUES (${row.id}, ${row.account_id}, ${row.handle}, ${row.display_name}, ${row.bio}, ${row.avatar_url}, ${row.created_at}, ${row.updated_at})
      ON CONFLICT (account_id) DO UPDATE
        SET handle = EXCLUDED.handle, display_name = EXCLUDED.display_name, bio = EXCLUDED.bio,
            avatar_url = EXCLUDED.avatar_url, updated_at = EXCLUDED.updated_at
      RETURNING ${CREATOR_COLUMNS}, false AS following
    `.execute(db);
    return r.rows[0]!;
  },

  /** One creator by id, handle or owning account, with whether `viewer` follows them. */
  async findCreator(db: Executor, by: { id: string } | { handle: string } | { accountId: string }, viewer: string | null): Promise<CreatorRow | undefined> {
    const where = 'id' in by ? sql`c.id = ${by.id}` : 'handle' in by ? sql`c.handle = ${by.handle}` : sql`c.account_id = ${by.accountId}`;
    const r = await sql<CreatorRow>`
      SELECT ${CREATOR_COLUMNS},
             EXISTS (SELECT 1 FROM social.follows f WHERE f.creator_id = c.id AND f.account_id = ${viewer}::text) AS following
      FROM social.creators c WHERE ${where}
    `.execute(db);
    return r.rows[0];
  },

  /** True when the row was new (an existing follow is left as it is). */
  async insertFollow(db: Executor, row: FollowsTable): Promise<boolean> {
    const r = await db.insertInto('social.follows').values(row).onConflict((oc) => oc.doNothing()).returning('creator_id').execute();
    return r.length > 0;
  },

  /** Bulk follows for seeding: a multi-row insert, then the affected creators' counts recomputed from the rows. */
  async importFollows(db: Executor, rows: FollowsTable[]): Promise<number> {
    if (rows.length === 0) return 0;
    const inserted = await db.insertInto('social.follows').values(rows).onConflict((oc) => oc.doNothing()).returning('creator_id').execute();
    const creatorIds = [...new Set(rows.map((r) => r.creator_id))];
    await sql`
      UPDATE social.creators c
      SET follower_count = (SELECT count(*) FROM social.follows f WHERE f.creator_id = c.id)
      WHERE c.id = ANY (${creatorIds})
    `.execute(db);
    return inserted.length;
  },

  async deleteFollow(db: Executor, accountId: string, creatorId: string): Promise<boolean> {
    const r = await db.deleteFrom('social.follows').where('account_id', '=', accountId).where('creator_id', '=', creatorId).returning('creator_id').execute();
    return r.length > 0;
  },

  /** Adds `delta` atomically (no read-modify-write) and returns the new count. */
  async bumpFollowerCount(db: Executor, creatorId: string, delta: number): Promise<number> {
    const r = await db
      .updateTable('social.creators')
      .set({ follower_count: sql`follower_count + ${delta}` })
      .where('id', '=', creatorId)
      .returning('follower_count')
      .executeTakeFirstOrThrow();
    return r.follower_count;
  },

  async followerCount(db: Executor, creatorId: string): Promise<number> {
    const r = await db.selectFrom('social.creators').select('follower_count').where('id', '=', creatorId).executeTakeFirstOrThrow();
    return r.follower_count;
  },

  /** Creators the account follows, most recently followed first, keyset on (followed at, creator id). */
  async listFollowing(db: Executor, accountId: string, after: { followedAt: Date; creatorId: string } | null, limit: number) {
    const r = await sql<CreatorRow & { followed_at: Date }>`
      SELECT ${CREATOR_COLUMNS}, true AS following, f.created_at AS followed_at
      FROM social.follows f JOIN social.creators c ON c.id = f.creator_id
      WHERE f.account_id = ${accountId}
        ${after ? sql`AND (f.created_at, f.creator_id) < (${after.followedAt}, ${after.creatorId})` : sql``}
      ORDER BY f.created_at DESC, f.creator_id DESC
      LIMIT ${limit}
    `.execute(db);
    return r.rows;
  },

  // ---- posts and tags ----

  async insertPost(db: Executor, row: Omit<PostsTable, 'score' | 'deleted_at'>): Promise<void> {
    await db.insertInto('social.posts').values({ ...row, deleted_at: null }).execute();
  },

  async insertTags(db: Executor, rows: Array<Omit<TagsTable, 'active' | 'deactivated_at'>>): Promise<void> {
    if (rows.length === 0) return;
    await db.insertInto('social.tags').values(rows.map((r) => ({ ...r, deactivated_at: null }))).execute();
  },

  /** Bulk load for the seed: one statement per table whatever the row count (arrays unnested server-side). */
  async importPosts(db: Executor, posts: ImportPostRow[], tags: ImportTagRow[]): Promise<void> {
    if (posts.length > 0) {
      await sql`
        INSERT INTO social.posts (id, creator_id, kind, media_type, media_url, caption, published_at, expires_at, score)
        SELECT * FROM unnest(
          ${posts.map((p) => p.id)}::text[], ${posts.map((p) => p.creatorId)}::text[], ${posts.map((p) => p.kind)}::text[],
          ${posts.map((p) => p.mediaType)}::text[], ${posts.map((p) => p.mediaUrl)}::text[], ${posts.map((p) => p.caption)}::text[],
          ${posts.map((p) => p.publishedAt.toISOString())}::timestamptz[], ${posts.map((p) => p.expiresAt?.toISOString() ?? null)}::timestamptz[],
          ${posts.map((p) => p.score)}::float8[]
        )
      `.execute(db);
    }
    if (tags.length > 0) {
      await sql`
        INSERT INTO social.tags (id, post_id, creator_id, product_id, x, y, created_at)
        SELECT * FROM unnest(
          ${tags.map((t) => t.id)}::text[], ${tags.map((t) => t.postId)}::text[], ${tags.map((t) => t.creatorId)}::text[],
          ${tags.map((t) => t.productId)}::text[], ${tags.map((t) => t.x)}::numeric[], ${tags.map((t) => t.y)}::numeric[],
          ${tags.map((t) => t.createdAt.toISOString())}::timestamptz[]
        )
      `.execute(db);
    }
  },

  async findPost(db: Executor, postId: string) {
    return db
      .selectFrom('social.posts')
      .select(['id', 'creator_id', 'kind', 'deleted_at', 'expires_at'])
      .where('id', '=', postId)
      .executeTakeFirst();
  },

  /**
   * The account's live posts and stories (not deleted, stories not expired) whose media URL is `url`; one branch per
   * kind, so each walks its partial index (posts_by_creator_recent, stories_live) over the creator's rows only.
   */
  async livePostIdsWithMedia(db: Executor, accountId: string, url: string, now: Date): Promise<string[]> {
    const creator = sql`(SELECT id FROM social.creators WHERE account_id = ${accountId})`;
    const r = await sql<{ id: string }>`
      SELECT id FROM social.posts
      WHERE creator_id = ${creator} AND kind = 'post' AND deleted_at IS NULL AND media_url = ${url}
      UNION ALL
      SELECT id FROM social.posts
      WHERE creator_id = ${creator} AND kind = 'story' AND deleted_at IS NULL AND expires_at > ${now} AND media_url = ${url}
      ORDER BY id
    `.execute(db);
    return r.rows.map((row) => row.id);
  },

  /** Soft delete: the row stays for attribution history; feeds filter it out. */
  async softDeletePost(db: Executor, postId: string, now: Date): Promise<boolean> {
    const r = await db.updateTable('social.posts').set({ deleted_at: now }).where('id', '=', postId).where('deleted_at', 'is', null).returning('id').execute();
    return r.length > 0;
  },

  /** Changes the caption of a post that is not deleted; false when there is none. */
  async setCaption(db: Executor, postId: string, caption: string): Promise<boolean> {
    const r = await db.updateTable('social.posts').set({ caption }).where('id', '=', postId).where('deleted_at', 'is', null).returning('id').execute();
    return r.length > 0;
  },

  async setPostScore(db: Executor, postId: string, score: number): Promise<boolean> {
    const r = await db.updateTable('social.posts').set({ score }).where('id', '=', postId).returning('id').execute();
    return r.length > 0;
  },

  async findTag(db: Executor, tagId: string) {
    return db.selectFrom('social.tags').select(['id', 'post_id', 'creator_id', 'product_id', 'active']).where('id', '=', tagId).executeTakeFirst();
  },

  async findCreatorAccounts(db: Executor, creatorIds: readonly string[]) {
    if (creatorIds.length === 0) return [];
    return db.selectFrom('social.creators').select(['id', 'account_id']).where('id', 'in', creatorIds).execute();
  },

  async findTagStates(db: Executor, tagIds: readonly string[]) {
    if (tagIds.length === 0) return [];
    return db.selectFrom('social.tags').select(['id', 'active', 'deactivated_at']).where('id', 'in', tagIds).execute();
  },

  /**
   * Locks the post's row until the transaction ends and counts its active tags: concurrent tagging of one post
   * queues here, so a cap checked against this count holds.
   */
  async lockActiveTagCount(db: Executor, postId: string): Promise<number> {
    await db.selectFrom('social.posts').select('id').where('id', '=', postId).forUpdate().execute();
    const r = await db
      .selectFrom('social.tags')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('post_id', '=', postId)
      .where('active', '=', true)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  },

  /** Whether the post already carries an active tag of the product (call it after lockActiveTagCount, under the post's lock). */
  async hasActiveTagOf(db: Executor, postId: string, productId: string): Promise<boolean> {
    const r = await db
      .selectFrom('social.tags')
      .select('id')
      .where('post_id', '=', postId)
      .where('product_id', '=', productId)
      .where('active', '=', true)
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  },

  /** True when this call deactivated it (deactivating twice changes nothing). */
  async deactivateTag(db: Executor, tagId: string, now: Date): Promise<boolean> {
    const r = await db
      .updateTable('social.tags')
      .set({ active: false, deactivated_at: now })
      .where('id', '=', tagId)
      .where('active', '=', true)
      .returning('id')
      .execute();
    return r.length > 0;
  },

  // ---- feed: skeletons (ids and keys only) ----

  /**
   * One statement for a feed page: the next `take` posts of followed creators (newest first; a LATERAL per followed
   * creator keeps the work bounded by follows × take, whatever each creator's post count), and the next `take`
   * popular posts of everyone else. Only posts published at or before `bound` (the first page's time) are read, so
   * posts that arrive while a shopper pages never shift later pages: they show on a fresh first page.
   */
  async feedSkeleton(db: Executor, viewer: string | null, position: FeedPosition, bound: Date, take: number): Promise<SkeletonRow[]> {
    const following =
      viewer && position.phase === 'f'
        ? sql`
          (SELECT 'f' AS phase, p.id, ${PUBLISHED_MS}, p.score
           FROM social.follows f
           CROSS JOIN LATERAL (
             SELECT p.id, p.published_at, p.score FROM social.posts p
             WHERE p.creator_id = f.creator_id AND p.kind = 'post' AND p.deleted_at IS NULL AND p.published_at <= ${bound}
               ${position.after ? sql`AND (p.published_at, p.id) < (${new Date(position.after.publishedMs)}, ${position.after.id})` : sql``}
             ORDER BY p.published_at DESC, p.id DESC
             LIMIT ${take}
           ) p
           WHERE f.account_id = ${viewer}
           ORDER BY p.published_at DESC, p.id DESC
           LIMIT ${take})
          UNION ALL`
        : sql``;
    const popularAfter = position.phase === 'p' && position.after ? sql`AND (p.score, p.id) < (${position.after.score}, ${position.after.id})` : sql``;
    const r = await sql<SkeletonRow>`
      ${following}
      (SELECT 'p' AS phase, p.id, ${PUBLISHED_MS}, p.score
       FROM social.posts p
       WHERE p.kind = 'post' AND p.deleted_at IS NULL AND p.published_at <= ${bound}
         ${popularAfter}
         ${viewer ? sql`AND NOT EXISTS (SELECT 1 FROM social.follows f WHERE f.account_id = ${viewer} AND f.creator_id = p.creator_id)` : sql``}
       ORDER BY p.score DESC, p.id DESC
       LIMIT ${take})
    `.execute(db);
    return r.rows;
  },

  /** A creator's posts, newest first, keyset on (published_at, id). */
  async creatorPostsSkeleton(db: Executor, creatorId: string, after: { publishedAt: Date; id: string } | null, take: number) {
    const r = await sql<{ id: string; published_at: Date }>`
      SELECT p.id, p.published_at FROM social.posts p
      WHERE p.creator_id = ${creatorId} AND p.kind = 'post' AND p.deleted_at IS NULL
        ${after ? sql`AND (p.published_at, p.id) < (${after.publishedAt}, ${after.id})` : sql``}
      ORDER BY p.published_at DESC, p.id DESC
      LIMIT ${take}
    `.execute(db);
    return r.rows;
  },

  /**
   * Live stories for the tray: up to `maxCreators` creators with a story not yet expired, followed creators first,
   * then by follower count; each creator's stories oldest first (the order they are watched).
   */
  async storiesSkeleton(db: Executor, viewer: string | null, now: Date, maxCreators: number) {
    const r = await sql<{ id: string; creator_id: string }>`
      WITH live AS (
        SELECT DISTINCT s.creator_id FROM social.posts s
        WHERE s.kind = 'story' AND s.deleted_at IS NULL AND s.expires_at > ${now}
      ), tray AS (
        SELECT c.id, c.follower_count, (f.account_id IS NOT NULL) AS followed
        FROM live JOIN social.creators c ON c.id = live.creator_id
        LEFT JOIN social.follows f ON f.creator_id = c.id AND f.account_id = ${viewer}::text
        ORDER BY followed DESC, c.follower_count DESC, c.id
        LIMIT ${maxCreators}
      )
      SELECT s.id, s.creator_id FROM tray JOIN social.posts s ON s.creator_id = tray.id
      WHERE s.kind = 'story' AND s.deleted_at IS NULL AND s.expires_at > ${now}
      ORDER BY tray.followed DESC, tray.follower_count DESC, tray.id, s.published_at, s.id
    `.execute(db);
    return r.rows;
  },

  /**
   * Every live story with its creator, most-followed creators first, each creator's stories oldest first: the tray
   * for everyone (a viewer's followed creators are moved to the front in memory). Reads the stories_live index.
   * With the list's digest: `value: null` when it equals `known` (the list is unchanged, no rows are sent).
   */
  async liveStories(db: Executor, now: Date, known: string | null): Promise<Digested<LiveStoryRow[] | null>> {
    const r = await sql<{ digest: string } & Nullable<LiveStoryRow>>`
      WITH live AS (
        SELECT s.id, s.creator_id, s.media_type, s.media_url, s.published_at, s.expires_at,
               c.handle, c.display_name, c.avatar_url, c.follower_count
        FROM social.posts s JOIN social.creators c ON c.id = s.creator_id
        WHERE s.kind = 'story' AND s.deleted_at IS NULL AND s.expires_at > ${now}
      ), d AS (
        SELECT ${digestOf(sql`array_agg(live ORDER BY follower_count DESC, creator_id, published_at, id)`)} AS digest FROM live
      )
      SELECT d.digest, live.id, live.creator_id, live.media_type, live.media_url, live.published_at, live.expires_at,
             live.handle, live.display_name, live.avatar_url, live.follower_count
      FROM d LEFT JOIN live ON d.digest IS DISTINCT FROM ${known}::text
      ORDER BY live.follower_count DESC, live.creator_id, live.published_at, live.id
    `.execute(db);
    const digest = r.rows[0]!.digest;
    if (digest === known) return { digest, value: null };
    const stories: LiveStoryRow[] = [];
    for (const row of r.rows) {
      if (row.id === null) continue;
      stories.push({
        id: row.id,
        creator_id: row.creator_id!,
        media_type: row.media_type!,
        media_url: row.media_url!,
        published_at: row.published_at!,
        expires_at: row.expires_at!,
        handle: row.handle!,
        display_name: row.display_name!,
        avatar_url: row.avatar_url,
        follower_count: row.follower_count!,
      });
    }
    return { digest, value: stories };
  },

  /** Ids of the creators each account follows, in one statement; every account asked has an entry. */
  async followedCreatorIds(db: Executor, accountIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(accountIds.map((id) => [id, []]));
    if (accountIds.length === 0) return out;
    const r = await db.selectFrom('social.follows').select(['account_id', 'creator_id']).where('account_id', 'in', accountIds).execute();
    for (const x of r) out.get(x.account_id)?.push(x.creator_id);
    return out;
  },

  /**
   * The newest `take` visible posts of each creator (newest first), one LATERAL index scan per creator, with a digest
   * of each list. A creator whose digest equals the one given (`known`, from the list read before) answers
   * `posts: null`: its list is unchanged, so only changed lists cross the wire and are parsed (see Digested).
   */
  async recentPostsByCreators(db: Executor, creators: ReadonlyArray<{ creatorId: string; known: string | null }>, take: number): Promise<Map<string, Digested<RankedPostRow[] | null>>> {
    const r = await sql<{ creator_id: string; digest: string } & Nullable<Omit<RankedPostRow, 'creator_id'>>>`
      WITH lists AS (
        SELECT c.creator_id, c.known, p.id, p.published_at, ${PUBLISHED_MS}, p.score
        FROM unnest(${creators.map((c) => c.creatorId)}::text[], ${creators.map((c) => c.known)}::text[]) AS c (creator_id, known)
        LEFT JOIN LATERAL (
          SELECT p.id, p.published_at, p.score FROM social.posts p
          WHERE p.creator_id = c.creator_id AND p.kind = 'post' AND p.deleted_at IS NULL
          ORDER BY p.published_at DESC, p.id DESC
          LIMIT ${take}
        ) p ON true
      ), digests AS (
        SELECT creator_id, known, ${digestOf(sql`array_agg(ROW(id, published_ms, score) ORDER BY published_at DESC, id DESC)`)} AS digest
        FROM lists GROUP BY creator_id, known
      )
      SELECT d.creator_id, d.digest, l.id, l.published_ms, l.score
      FROM digests d LEFT JOIN lists l ON l.creator_id = d.creator_id AND d.digest IS DISTINCT FROM d.known
      ORDER BY d.creator_id, l.published_at DESC, l.id DESC
    `.execute(db);
    const known = new Map(creators.map((c) => [c.creatorId, c.known]));
    const out = new Map<string, Digested<RankedPostRow[] | null>>();
    for (const row of r.rows) {
      let list = out.get(row.creator_id);
      if (!list) {
        // an unchanged list comes as one row with no post; a changed one with its rows (one with no post when empty)
        list = { digest: row.digest, value: row.digest === known.get(row.creator_id) ? null : [] };
        out.set(row.creator_id, list);
      }
      if (row.id !== null) list.value?.push({ id: row.id, creator_id: row.creator_id, published_ms: row.published_ms!, score: row.score! });
    }
    return out;
  },

  /**
   * The `take` most popular visible posts (score, then id, descending): a backward scan of posts_popular, with the
   * list's digest; `posts: null` when it equals `known` (the list is unchanged, no rows are sent).
   */
  async popularPosts(db: Executor, take: number, known: string | null): Promise<Digested<RankedPostRow[] | null>> {
    const r = await sql<{ digest: string } & Nullable<RankedPostRow>>`
      WITH top AS (
        SELECT p.id, p.creator_id, ${PUBLISHED_MS}, p.score FROM social.posts p
        WHERE p.kind = 'post' AND p.deleted_at IS NULL
        ORDER BY p.score DESC, p.id DESC
        LIMIT ${take}
      ), d AS (
        SELECT ${digestOf(sql`array_agg(ROW(id, creator_id, published_ms, score) ORDER BY score DESC, id DESC)`)} AS digest FROM top
      )
      SELECT d.digest, t.id, t.creator_id, t.published_ms, t.score
      FROM d LEFT JOIN top t ON d.digest IS DISTINCT FROM ${known}::text
      ORDER BY t.score DESC, t.id DESC
    `.execute(db);
    const digest = r.rows[0]!.digest;
    if (digest === known) return { digest, value: null };
    const posts: RankedPostRow[] = [];
    for (const row of r.rows) if (row.id !== null) posts.push({ id: row.id, creator_id: row.creator_id!, published_ms: row.published_ms!, score: row.score! });
    return { digest, value: posts };
  },

  /** Refreshes the planner statistics of the social tables (a bulk-loaded table has none until autovacuum runs). */
  async analyze(db: Executor): Promise<void> {
    for (const table of ['creators', 'follows', 'posts', 'tags']) await sql`ANALYZE ${sql.table(`social.${table}`)}`.execute(db);
  },

  // ---- feed: hydration (one statement per kind of thing) ----

  async hydratePosts(db: Executor, postIds: readonly string[]): Promise<HydratedPostRow[]> {
    const r = await sql<HydratedPostRow>`
      SELECT p.id, p.kind, p.creator_id, p.media_type, p.media_url, p.caption, p.published_at, p.expires_at, p.deleted_at,
             c.handle, c.display_name, c.avatar_url
      FROM social.posts p JOIN social.creators c ON c.id = p.creator_id
      WHERE p.id = ANY (${postIds as string[]}::text[])
    `.execute(db);
    return r.rows;
  },

  async hydrateTags(db: Executor, postIds: readonly string[]): Promise<TagRow[]> {
    const r = await sql<TagRow>`
      SELECT t.id, t.post_id, t.creator_id, t.product_id, t.x, t.y, t.active, t.created_at
      FROM social.tags t
      WHERE t.post_id = ANY (${postIds as string[]}::text[]) AND t.active
      ORDER BY t.created_at, t.id
    `.execute(db);
    return r.rows;
  },
};
