// Step 1 of the feed pipeline: which posts, in which order (ids and keys only). Answered from the per-process
// caches when their windows cover the page (no round trip once warm), else by one statement.
import type { Executor, RankedPostRow, SkeletonRow } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import { POPULAR_WINDOW, RECENT_PER_CREATOR, type CacheLoad, type FeedCaches, type Followed, type RankedPosts } from './cache';
import type { FeedCursor } from './cursor';

export interface FeedSkeleton {
  postIds: string[];
  /** Where the next page starts, or null at the end. */
  next: FeedCursor | null;
}

const NOBODY: Followed = { creators: new Set(), ids: [], recent: {} };

/** The creators `viewer` follows, through the per-viewer cache (one statement when cold). */
export async function followedCreators(db: Executor, caches: FeedCaches, viewer: string | null): Promise<Followed> {
  if (!viewer) return NOBODY;
  // one statement for every viewer asked (a background refresh reloads all the stale ones at once); an unchanged
  // set keeps its entry (and the list slots it holds)
  const found = await caches.following.getMany([viewer], async (viewers, previous) => {
    const out = new Map<string, Followed>();
    for (const [id, creators] of await repo.followedCreatorIds(db, viewers)) {
      const before = previous(id);
      const same = before !== undefined && before.ids.length === creators.length && before.ids.every((c, i) => c === creators[i]);
      out.set(id, same ? before : { creators: new Set(creators), ids: creators, recent: {} });
    }
    return out;
  });
  return found.get(viewer) ?? NOBODY;
}

const heldRecent = (followed: Followed) => followed.recent;
const followedIds = (followed: Followed) => followed.ids;

/**
 * Reads creators' newest-posts lists for the recent cache: a list read before is sent back only when it changed
 * (its digest differs); the others keep their object.
 */
const recentLoader =
  (db: Executor): CacheLoad<string, RankedPosts> =>
  async (missing, previous) => {
    const asked = missing.map((creatorId) => ({ creatorId, previous: previous(creatorId) }));
    const read = await repo.recentPostsByCreators(db, asked.map((a) => ({ creatorId: a.creatorId, known: a.previous?.digest ?? null })), RECENT_PER_CREATOR);
    const byCreator = new Map<string, RankedPosts>();
    for (const { creatorId, previous: before } of asked) {
      const r = read.get(creatorId);
      if (!r) continue;
      const posts = r.value ?? before?.posts;
      if (posts) byCreator.set(creatorId, posts === before?.posts ? before : { posts, digest: r.digest });
    }
    return byCreator;
  };

/** (published_at, id) descending: the following phase's order. */
const newestFirst = (a: { published_ms: number; id: string }, b: { published_ms: number; id: string }) =>
  b.published_ms - a.published_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
/** (score, id) descending: the popular phase's order. */
const byScore = (a: { score: number; id: string }, b: { score: number; id: string }) => b.score - a.score || (a.id < b.id ? 1 : -1);

/**
 * The rows the SQL skeleton would answer (the next `take` followed posts, the next `take` popular posts of everyone
 * else), computed from the caches; null when a cached window cannot prove it holds every candidate (a creator with
 * more than RECENT_PER_CREATOR posts paged deep, or popular pages past POPULAR_WINDOW): the caller then asks SQL.
 */
async function rowsFromCaches(db: Executor, caches: FeedCaches, viewer: string | null, cursor: FeedCursor, take: number): Promise<PhaseRows | null> {
  const { position, bound } = cursor;
  const boundMs = bound.getTime();
  const followed = await followedCreators(db, caches, viewer);
  const top: RankedPostRow[] = [];

  if (viewer && position.phase === 'f' && followed.creators.size > 0) {
    // the lists through the slots the viewer's entry holds (no look-up per creator), or as read just now
    const found = await caches.recent.hold([followed], heldRecent, followedIds, recentLoader(db));
    const slots = followed.recent.slots;
    const after = position.after;
    const afterKey = after ? { published_ms: after.publishedMs, id: after.id } : null;
    // the newest "last entry" of the lists that were cut at RECENT_PER_CREATOR: posts beyond it are unknown here
    let horizon: RankedPostRow | null = null;
    // each list is newest first: skip its posts above the bound or not past the cursor, then merge the lists' heads
    const heads: RankedPostRow[][] = [];
    const at: number[] = [];
    for (let c = 0; c < followed.ids.length; c++) {
      const list = found === null ? slots![c]!.value.posts : found.get(followed.ids[c]!)?.posts;
      if (list === undefined) continue;
      let i = 0;
      while (i < list.length && (list[i]!.published_ms > boundMs || (afterKey !== null && newestFirst(list[i]!, afterKey) <= 0))) i++;
      if (i < list.length) {
        heads.push(list);
        at.push(i);
      }
      const last = list[list.length - 1];
      if (list.length >= RECENT_PER_CREATOR && last && (horizon === null || newestFirst(last, horizon) < 0)) horizon = last;
    }
    while (top.length < take) {
      // the newest of the lists' current heads (published_ms decides but for ties)
      let best: RankedPostRow | undefined;
      let bestK = -1;
      for (let k = 0; k < heads.length; k++) {
        const head = heads[k]![at[k]!];
        if (head !== undefined && (best === undefined || head.published_ms > best.published_ms || (head.published_ms === best.published_ms && newestFirst(head, best) < 0))) {
          best = head;
          bestK = k;
        }
      }
      if (best === undefined) break;
      top.push(best);
      at[bestK]!++;
    }
    if (horizon) {
      const lastShown = top[take - 1];
      if (!lastShown || newestFirst(horizon, lastShown) < 0) return null;
    }
  }

  const { posts: popular } = await caches.popular.get(async (before) => {
    const read = await repo.popularPosts(db, POPULAR_WINDOW, before?.digest ?? null);
    return read.value === null && before ? before : { posts: read.value ?? [], digest: read.digest };
  });
  const after = position.phase === 'p' ? position.after : null;
  const others: RankedPostRow[] = [];
  for (const p of popular) {
    if (others.length === take) break;
    if (p.published_ms > boundMs || followed.creators.has(p.creator_id)) continue;
    if (after && !(p.score < after.score || (p.score === after.score && p.id < after.id))) continue;
    others.push(p);
  }
  if (others.length < take && popular.length >= POPULAR_WINDOW) return null;
  // the same order the SQL answer gets (ties within a millisecond, collation): a few rows each, so cheap
  return { following: top.sort(newestFirst), popular: others.sort(byScore) };
}

/** The two parts of a page's candidates, each in its phase's order. */
interface PhaseRows {
  following: ReadonlyArray<Pick<SkeletonRow, 'id' | 'published_ms' | 'score'>>;
  popular: ReadonlyArray<Pick<SkeletonRow, 'id' | 'published_ms' | 'score'>>;
}

/** The SQL skeleton's rows as PhaseRows: UNION ALL keeps no order across its branches, so each phase is re-sorted. */
function phaseRows(rows: SkeletonRow[]): PhaseRows {
  return {
    following: rows.filter((r) => r.phase === 'f').sort(newestFirst),
    popular: rows.filter((r) => r.phase === 'p').sort(byScore),
  };
}

/**
 * Followed creators' posts (newest first) until they run out, then popular posts of everyone else (score, then id,
 * descending) in the same page. Both parts are read as limit + 1 of each, so the page knows whether more follow
 * without an extra round trip. Without `caches` (or when they cannot answer) it is one statement.
 */
export async function feedSkeleton(db: Executor, caches: FeedCaches | null, viewer: string | null, cursor: FeedCursor, limit: number): Promise<FeedSkeleton> {
  const { following, popular } =
    (caches ? await rowsFromCaches(db, caches, viewer, cursor, limit + 1) : null) ?? phaseRows(await repo.feedSkeleton(db, viewer, cursor.position, cursor.bound, limit + 1));
  const { bound } = cursor;

  if (following.length > limit) {
    const page = following.slice(0, limit);
    const last = page[page.length - 1]!;
    return { postIds: page.map((r) => r.id), next: { position: { phase: 'f', after: { publishedMs: last.published_ms, id: last.id } }, bound } };
  }
  const room = limit - following.length;
  const fromPopular = popular.slice(0, room);
  const postIds = [...following, ...fromPopular].map((r) => r.id);
  if (popular.length <= room) return { postIds, next: null };
  const last = fromPopular[fromPopular.length - 1];
  return { postIds, next: { position: { phase: 'p', after: last ? { score: last.score, id: last.id } : null }, bound } };
}
