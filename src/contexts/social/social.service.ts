import type { Kysely } from 'kysely';
import { HOUR } from '../../platform/clock';
import { isId, newId } from '../../platform/ids';
import type { SocialDeps } from './index';
import { fail, type Result } from './social.errors';
import './social.events';
import { decodeFeedCursor, decodeFollowingCursor, decodePostsCursor, encodeFollowingCursor, encodePostsCursor, type PostsCursor } from './feed/cursor';
import { createFeedCaches } from './feed/cache';
import { buildCreatorStories, buildFeedPage, buildStoryTray, presentPosts, type PipelineDeps } from './feed/pipeline';
import { FeedJson, presentPost } from './feed/present';
import { isVisible } from './feed/rules';
import { socialRepository as repo, type CreatorRow, type ImportPostRow, type ImportTagRow, type SocialTables } from './social.repository';
import { MAX_TAGS_PER_POST, type CreatePostInput, type CreatorProfileInput, type CreatorView, type FollowState, type PostsPage, type PostView, type StoryTrayEntry, type TagInput, type TagView } from './social.schemas';

/** A row for the seed's bulk import; ids and times are the caller's so a world can be generated reproducibly. */
export interface ImportPost {
  id?: string;
  creatorId: string;
  kind?: 'post' | 'story';
  mediaType: 'photo' | 'video';
  mediaUrl: string;
  caption?: string;
  publishedAt: Date;
  score?: number;
  tags?: Array<{ id?: string; productId: string; x: number; y: number }>;
}

export type SocialService = ReturnType<typeof createSocialService>;

const PG_UNIQUE_VIOLATION = '23505';

function toCreatorView(row: CreatorRow): CreatorView {
  return {
    id: row.id,
    handle: row.handle,
    displayName: row.display_name,
    bio: row.bio,
    avatarUrl: row.avatar_url,
    followerCount: row.follower_count,
    createdAt: row.created_at.toISOString(),
    following: row.following,
  };
}

export function createSocialService(deps: SocialDeps) {
  const db = deps.db as unknown as Kysely<SocialTables>;
  const { clock, catalog, referrals, outbox, config } = deps;
  // per-process read caches of the feed (feed/cache.ts): a change made here drops what it makes stale at once;
  // other processes see it when their entries expire (1-5 s)
  const caches = createFeedCaches(clock);
  const pipeline: PipelineDeps = { db, catalog, referrals, caches, json: new FeedJson(referrals, caches.tokens) };
  /** After a post of `creatorId` is published, deleted or re-scored: its lists and the popular window. */
  const postsChanged = (creatorId: string, kind: 'post' | 'story') => {
    caches.recent.delete(creatorId);
    caches.popular.clear();
    if (kind === 'story') caches.tray.clear();
  };

  /** Tagged products must exist and be on sale; returns the ids that are not. */
  async function checkProducts(productIds: readonly string[]) {
    const unique = [...new Set(productIds)];
    const cards = unique.length > 0 ? await catalog.getProductCards(unique) : new Map();
    const unknown = unique.filter((id) => cards.get(id)?.status !== 'active');
    return { cards, unknown };
  }

  /** Where a page of one creator's posts or stories starts: after the cursor's post, for a creator that exists. */
  async function creatorPageStart(creatorId: string, cursor: string | undefined): Promise<Result<{ after: PostsCursor | null }, 'not_found' | 'invalid_cursor'>> {
    let after = null;
    if (cursor) {
      after = decodePostsCursor(cursor);
      if (!after) return fail('invalid_cursor', 'The cursor is not one this server issued');
    }
    const creator = await repo.findCreator(db, { id: creatorId }, null);
    if (!creator) return fail('not_found', `Creator ${creatorId} was not found`);
    return { ok: true, after };
  }

  const service = {
    /** Creates or replaces the account's creator profile; a handle held by another account is refused (handle_taken). */
    async upsertCreator(accountId: string, input: CreatorProfileInput): Promise<Result<{ creator: CreatorView }, 'handle_taken'>> {
      const now = clock.now();
      try {
        const row = await repo.upsertCreator(db, {
          id: newId('creator'),
          account_id: accountId,
          handle: input.handle,
          display_name: input.displayName,
          bio: input.bio ?? '',
          avatar_url: input.avatarUrl ?? null,
          created_at: now,
          updated_at: now,
        });
        // posts and the tray show the creator's name and avatar
        caches.posts.clear();
        caches.tray.clear();
        return { ok: true, creator: toCreatorView(row) };
      } catch (e) {
        // the unique index decides, so two accounts racing for one handle cannot both get it
        if ((e as { code?: string }).code === PG_UNIQUE_VIOLATION) return fail('handle_taken', `The handle ${input.handle} is taken`);
        throw e;
      }
    },

    /** The creator profile of an account, or null when it has none yet. */
    async getCreatorByAccount(accountId: string): Promise<CreatorView | null> {
      const row = await repo.findCreator(db, { accountId }, accountId);
      return row ? toCreatorView(row) : null;
    },

    /** The account behind each creator, in one query (attribution refuses self-referral with it); unknown ids are absent. */
    async accountsOfCreators(creatorIds: readonly string[]): Promise<Map<string, string>> {
      const rows = await repo.findCreatorAccounts(db, [...new Set(creatorIds)]);
      return new Map(rows.map((r) => [r.id, r.account_id]));
    },

    /** The ids of the account's live posts and stories (not deleted, stories not expired) whose media URL is `url`. */
    async livePostIdsUsingMedia(accountId: string, url: string): Promise<string[]> {
      return repo.livePostIdsWithMedia(db, accountId, url, clock.now());
    },

    /** Whether each tag is active, and since when it is not, in one query; unknown ids are absent. */
    async tagStates(tagIds: readonly string[]): Promise<Map<string, { active: boolean; deactivatedAt: Date | null }>> {
      const rows = await repo.findTagStates(db, [...new Set(tagIds)]);
      return new Map(rows.map((r) => [r.id, { active: r.active, deactivatedAt: r.deactivated_at ? new Date(r.deactivated_at) : null }]));
    },

    /**
     * A creator by id (`cre_…`) or handle, with whether `viewer` follows them. Only an id's exact shape is an id: a
     * handle may start with `cre_` too (handles are lower case, ids are not).
     */
    async getCreator(idOrHandle: string, viewer: string | null = null): Promise<CreatorView | null> {
      const by = isId('creator', idOrHandle) ? { id: idOrHandle } : { handle: idOrHandle.toLowerCase() };
      const row = await repo.findCreator(db, by, viewer);
      return row ? toCreatorView(row) : null;
    },

    /** Idempotent: following twice counts once; follower_count changes in the same transaction as the follow row. */
    async follow(accountId: string, creatorId: string): Promise<Result<{ state: FollowState }, 'not_found' | 'cannot_follow_self'>> {
      const creator = await repo.findCreator(db, { id: creatorId }, null);
      if (!creator) return fail('not_found', `Creator ${creatorId} was not found`);
      if (creator.account_id === accountId) return fail('cannot_follow_self', 'You cannot follow yourself');
      const followerCount = await db.transaction().execute(async (trx) => {
        const added = await repo.insertFollow(trx, { account_id: accountId, creator_id: creatorId, created_at: clock.now() });
        if (!added) return repo.followerCount(trx, creatorId);
        await outbox.publish(trx, 'social.creator.followed', { accountId, creatorId });
        return repo.bumpFollowerCount(trx, creatorId, 1);
      });
      caches.following.delete(accountId);
      return { ok: true, state: { creatorId, following: true, followerCount } };
    },

    /** Bulk follows for seeding large worlds (existing pairs are kept; follower counts stay exact). No events. */
    async importFollows(pairs: ReadonlyArray<{ accountId: string; creatorId: string }>): Promise<number> {
      const now = clock.now();
      let added = 0;
      for (let i = 0; i < pairs.length; i += 5000) {
        const chunk = pairs.slice(i, i + 5000).map((p) => ({ account_id: p.accountId, creator_id: p.creatorId, created_at: now }));
        added += await db.transaction().execute((trx) => repo.importFollows(trx, chunk));
      }
      caches.clear();
      return added;
    },

    /** Idempotent: unfollowing someone not followed changes nothing. */
    async unfollow(accountId: string, creatorId: string): Promise<Result<{ state: FollowState }, 'not_found'>> {
      const creator = await repo.findCreator(db, { id: creatorId }, null);
      if (!creator) return fail('not_found', `Creator ${creatorId} was not found`);
      const followerCount = await db.transaction().execute(async (trx) => {
        const removed = await repo.deleteFollow(trx, accountId, creatorId);
        if (!removed) return repo.followerCount(trx, creatorId);
        await outbox.publish(trx, 'social.creator.unfollowed', { accountId, creatorId });
        return repo.bumpFollowerCount(trx, creatorId, -1);
      });
      caches.following.delete(accountId);
      return { ok: true, state: { creatorId, following: false, followerCount } };
    },

    /** Creators the account follows, most recently followed first, keyset-paginated. */
    async listFollowing(accountId: string, cursor: string | undefined, limit: number): Promise<Result<{ creators: CreatorView[]; nextCursor: string | null }, 'invalid_cursor'>> {
      let after: { followedAt: Date; creatorId: string } | null = null;
      if (cursor) {
        after = decodeFollowingCursor(cursor);
        if (!after) return fail('invalid_cursor', 'The cursor is not one this server issued');
      }
      const rows = await repo.listFollowing(db, accountId, after, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const nextCursor = rows.length > limit && last ? encodeFollowingCursor({ followedAt: last.followed_at, creatorId: last.id }) : null;
      return { ok: true, creators: page.map(toCreatorView), nextCursor };
    },

    /**
     * Publishes a post or story (stories expire after STORY_TTL_HOURS) with its tags; every tagged product must exist
     * and be active (unknown_product), each at most once (duplicate_tag). The post, its tags and their events commit
     * together.
     */
    async createPost(creatorId: string, input: CreatePostInput): Promise<Result<{ post: PostView }, 'not_found' | 'unknown_product' | 'duplicate_tag'>> {
      const creator = await repo.findCreator(db, { id: creatorId }, null);
      if (!creator) return fail('not_found', `Creator ${creatorId} was not found`);
      const tagInputs = input.tags ?? [];
      const twice = [...new Set(tagInputs.map((t) => t.productId).filter((id, i, all) => all.indexOf(id) !== i))];
      if (twice.length > 0) return fail('duplicate_tag', 'A product can be tagged only once on a post', { productIds: twice });
      const { cards, unknown } = await checkProducts(tagInputs.map((t) => t.productId));
      if (unknown.length > 0) return fail('unknown_product', 'Tagged products must exist and be on sale', { productIds: unknown });

      const now = clock.now();
      const kind = input.kind ?? 'post';
      const post = {
        id: newId('post'),
        creator_id: creatorId,
        kind,
        media_type: input.mediaType,
        media_url: input.mediaUrl,
        caption: input.caption ?? '',
        published_at: now,
        expires_at: kind === 'story' ? new Date(now.getTime() + config.storyTtlHours * HOUR) : null,
      };
      const tags = tagInputs.map((t) => ({ id: newId('tag'), post_id: post.id, creator_id: creatorId, product_id: t.productId, x: t.x, y: t.y, created_at: now }));
      await db.transaction().execute(async (trx) => {
        await repo.insertPost(trx, post);
        await repo.insertTags(trx, tags);
        for (const tag of tags) {
          await outbox.publish(trx, 'social.tag.created', { tagId: tag.id, postId: post.id, creatorId, productId: tag.product_id, createdAt: now.toISOString() });
        }
        await outbox.publish(trx, 'social.post.published', { postId: post.id, creatorId, kind, publishedAt: now.toISOString(), tagIds: tags.map((t) => t.id) });
      });
      postsChanged(creatorId, kind);
      const view = presentPost(
        {
          post: { ...post, deleted_at: null, handle: creator.handle, display_name: creator.display_name, avatar_url: creator.avatar_url },
          tags: tags.map((t) => ({ tag: { ...t, active: true }, card: cards.get(t.product_id)! })),
        },
        referrals,
        caches.tokens,
      );
      return { ok: true, post: view };
    },

    /**
     * Bulk load for the seed: two statements per call whatever the row count. It trusts its input (creators and
     * products must exist) and publishes no events: it builds a world, it does not report activity in one.
     */
    async importPosts(rows: readonly ImportPost[]): Promise<{ postIds: string[]; tagIds: string[] }> {
      const posts: ImportPostRow[] = [];
      const tags: ImportTagRow[] = [];
      for (const r of rows) {
        const id = r.id ?? newId('post', r.publishedAt.getTime());
        const kind = r.kind ?? 'post';
        posts.push({
          id,
          creatorId: r.creatorId,
          kind,
          mediaType: r.mediaType,
          mediaUrl: r.mediaUrl,
          caption: r.caption ?? '',
          publishedAt: r.publishedAt,
          expiresAt: kind === 'story' ? new Date(r.publishedAt.getTime() + config.storyTtlHours * HOUR) : null,
          score: r.score ?? 0,
        });
        for (const t of r.tags ?? []) {
          tags.push({ id: t.id ?? newId('tag', r.publishedAt.getTime()), postId: id, creatorId: r.creatorId, productId: t.productId, x: t.x, y: t.y, createdAt: r.publishedAt });
        }
      }
      await db.transaction().execute((trx) => repo.importPosts(trx, posts, tags));
      caches.clear();
      return { postIds: posts.map((p) => p.id), tagIds: tags.map((t) => t.id) };
    },

    /** Sets a post's popularity score (ranking jobs and the seed); the popular feed orders by it. */
    async setPostScore(postId: string, score: number): Promise<boolean> {
      const changed = await repo.setPostScore(db, postId, score);
      caches.popular.clear();
      return changed;
    },

    /** A visible post as the feed shows it; null when it does not exist, was deleted, or is an expired story. */
    async getPost(postId: string): Promise<PostView | null> {
      const [post] = await presentPosts(pipeline, [postId], clock.now());
      return post ?? null;
    },

    /** Soft-deletes the creator's own post (forbidden for anyone else's); deleting twice answers not_found. */
    async deletePost(creatorId: string, postId: string): Promise<Result<object, 'not_found' | 'forbidden'>> {
      const post = await repo.findPost(db, postId);
      if (!post || post.deleted_at !== null) return fail('not_found', `Post ${postId} was not found`);
      if (post.creator_id !== creatorId) return fail('forbidden', 'Only its creator may delete this post');
      await db.transaction().execute(async (trx) => {
        if (await repo.softDeletePost(trx, postId, clock.now())) await outbox.publish(trx, 'social.post.deleted', { postId, creatorId });
      });
      caches.posts.delete(postId);
      postsChanged(creatorId, post.kind);
      return { ok: true };
    },

    /**
     * Changes the caption of the creator's own visible post or story (forbidden for anyone else's; a deleted post or
     * an expired story is not_found). Feeds of this process show it at once, other processes within FEED_CACHE_TTL_MS.post.
     */
    async editCaption(creatorId: string, postId: string, caption: string): Promise<Result<{ post: PostView }, 'not_found' | 'forbidden'>> {
      const post = await repo.findPost(db, postId);
      if (!post || !isVisible(post, clock.now())) return fail('not_found', `Post ${postId} was not found`);
      if (post.creator_id !== creatorId) return fail('forbidden', 'Only its creator may edit this post');
      if (!(await repo.setCaption(db, postId, caption))) return fail('not_found', `Post ${postId} was not found`);
      caches.posts.delete(postId);
      const [view] = await presentPosts(pipeline, [postId], clock.now());
      return view ? { ok: true, post: view } : fail('not_found', `Post ${postId} was not found`);
    },

    /**
     * Tags a product on the creator's own visible post; the product must exist and be active, not be tagged on the
     * post already (duplicate_tag; a removed tag does not count), and the post may carry at most MAX_TAGS_PER_POST
     * active tags (too_many_tags), as at creation. Both checks hold under the post's row lock.
     */
    async addTag(creatorId: string, postId: string, input: TagInput): Promise<Result<{ tag: TagView }, 'not_found' | 'forbidden' | 'unknown_product' | 'too_many_tags' | 'duplicate_tag'>> {
      const post = await repo.findPost(db, postId);
      if (!post || !isVisible(post, clock.now())) return fail('not_found', `Post ${postId} was not found`);
      if (post.creator_id !== creatorId) return fail('forbidden', 'Only its creator may tag this post');
      const { cards, unknown } = await checkProducts([input.productId]);
      if (unknown.length > 0) return fail('unknown_product', 'Tagged products must exist and be on sale', { productIds: unknown });
      const now = clock.now();
      const tag = { id: newId('tag'), post_id: postId, creator_id: creatorId, product_id: input.productId, x: input.x, y: input.y, created_at: now };
      const refused = await db.transaction().execute(async (trx) => {
        const count = await repo.lockActiveTagCount(trx, postId);
        if (await repo.hasActiveTagOf(trx, postId, input.productId)) return 'duplicate_tag' as const;
        if (count >= MAX_TAGS_PER_POST) return 'too_many_tags' as const;
        await repo.insertTags(trx, [tag]);
        await outbox.publish(trx, 'social.tag.created', { tagId: tag.id, postId, creatorId, productId: tag.product_id, createdAt: now.toISOString() });
        return null;
      });
      if (refused === 'too_many_tags') return fail('too_many_tags', `A post carries at most ${MAX_TAGS_PER_POST} tags: remove one first`, { max: MAX_TAGS_PER_POST });
      if (refused === 'duplicate_tag') return fail('duplicate_tag', 'This product is already tagged on this post', { productIds: [input.productId] });
      caches.posts.delete(postId);
      const card = cards.get(input.productId)!;
      return {
        ok: true,
        tag: {
          id: tag.id,
          x: tag.x,
          y: tag.y,
          referralToken: referrals.sign({ tagId: tag.id, postId, creatorId, productId: tag.product_id, tagCreatedAt: now }),
          product: { id: card.id, name: card.name, priceMinor: card.priceMinor, currency: card.currency, imageUrl: card.imageUrl, availability: card.availability },
        },
      };
    },

    /** Deactivates the creator's own tag: it leaves every feed at once; touches recorded before stay. Idempotent. */
    async deactivateTag(creatorId: string, tagId: string): Promise<Result<object, 'not_found' | 'forbidden'>> {
      const tag = await repo.findTag(db, tagId);
      if (!tag) return fail('not_found', `Tag ${tagId} was not found`);
      if (tag.creator_id !== creatorId) return fail('forbidden', 'Only its creator may remove this tag');
      await db.transaction().execute(async (trx) => {
        if (await repo.deactivateTag(trx, tagId, clock.now())) {
          await outbox.publish(trx, 'social.tag.deactivated', { tagId, postId: tag.post_id, creatorId, productId: tag.product_id });
        }
      });
      caches.posts.delete(tag.post_id);
      return { ok: true };
    },

    /**
     * A feed page for `viewer` (null: anonymous): followed creators' posts newest first, then popular posts, with
     * the stories tray on the first page. A fixed number of round trips whatever `limit`; pages never repeat or skip
     * posts while new ones are published (they show on a fresh first page). The page is the UTF-8 JSON of a FeedPage,
     * ready to send (the hot path copies fragments kept per cache entry instead of serializing).
     */
    async getFeed(viewer: string | null, cursor: string | undefined, limit: number): Promise<Result<{ page: Buffer }, 'invalid_cursor'>> {
      const now = clock.now();
      const position = cursor ? decodeFeedCursor(cursor) : { position: { phase: viewer ? 'f' : 'p', after: null } as const, bound: now };
      if (!position) return fail('invalid_cursor', 'The cursor is not one this server issued');
      const page = await buildFeedPage(pipeline, viewer, position, cursor === undefined, limit, now);
      return { ok: true, page };
    },

    /**
     * Gives a page from getFeed back once its bytes have been sent (the route calls it when the response has been
     * handed to the OS): its memory holds a later page. Never call it for a page still being read.
     */
    recycleFeedPage(page: Buffer): void {
      pipeline.json.recycle(page);
    },

    /**
     * The opened stories tray for `viewer`: up to 20 creators with live stories (followed first, then by followers),
     * each story with its tags, product cards and tokens. A fixed number of round trips (none when caches are warm).
     */
    async getStoryTray(viewer: string | null): Promise<StoryTrayEntry[]> {
      return buildStoryTray(pipeline, viewer, clock.now());
    },

    /** One creator's live stories in watch order, page by page (opening their ring in the tray). */
    async getCreatorStories(
      creatorId: string,
      cursor: string | undefined,
      limit: number,
    ): Promise<Result<{ page: { stories: StoryTrayEntry[]; nextCursor: string | null } }, 'not_found' | 'invalid_cursor'>> {
      const start = await creatorPageStart(creatorId, cursor);
      if (!start.ok) return start;
      return { ok: true, page: await buildCreatorStories(pipeline, creatorId, start.after, limit, clock.now()) };
    },

    /** Refreshes the planner statistics of the social tables: call it after a bulk import (the seed does). */
    async analyze(): Promise<void> {
      await repo.analyze(db);
    },

    /** Empties this process's feed caches (tests measuring cold pages; nothing else needs it). */
    dropCaches(): void {
      caches.clear();
    },

    /** A creator's posts, newest first, keyset-paginated. */
    async listCreatorPosts(creatorId: string, cursor: string | undefined, limit: number): Promise<Result<{ page: PostsPage }, 'not_found' | 'invalid_cursor'>> {
      const start = await creatorPageStart(creatorId, cursor);
      if (!start.ok) return start;
      const rows = await repo.creatorPostsSkeleton(db, creatorId, start.after, limit + 1);
      const ids = rows.slice(0, limit);
      const last = ids[ids.length - 1];
      const posts = await presentPosts(pipeline, ids.map((r) => r.id), clock.now());
      return { ok: true, page: { posts, nextCursor: rows.length > limit && last ? encodePostsCursor({ publishedAt: last.published_at, id: last.id }) : null } };
    },
  };
  return service;
}
