// Step 1 of the feed pipeline: which posts, in which order (ids and keys only). Answered from the per-process
// caches when their windows cover the page (no round trip once warm), else by one statement.
import type { Executor, RankedPostRow, SkeletonRow } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import { POPULAR_WINDOW, RECENT_PER_CREATOR, type FeedCaches } from './cache';
import type { FeedCursor } from './cursor';

export interface FeedSkeleton {
  postIds: string[];
  /** Where the next page starts, or null at the end. */
  next: FeedCursor | null;
}

const NOBODY: ReadonlySet<string> = new Set();

/** The creators `viewer` follows, through the per-viewer cache (one statement when cold). */
export async function followedCreators(db: Executor, caches: FeedCaches, viewer: string | null): Promise<ReadonlySet<string>> {
  if (!viewer) return NOBODY;
  const found = await caches.following.getMany([viewer], async ([id]) => new Map([[id!, new Set(await repo.followedCreatorIds(db, id!))]]));
  return found.get(viewer) ?? NOBODY;
}

/** (published_at, id) descending: the following phase's order. */
const newestFirst = (a: { published_ms: number; id: string }, b: { published_ms: number; id: string }) =>
  b.published_ms - a.published_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * The rows the SQL skeleton would answer (the next `take` followed posts, the next `take` popular posts of everyone
 * else), computed from the caches; null when a cached window cannot prove it holds every candidate (a creator with
 * more than RECENT_PER_CREATOR posts paged deep, or popular pages past POPULAR_WINDOW): the caller then asks SQL.
 */
async function rowsFromCaches(db: Executor, caches: FeedCaches, viewer: string | null, cursor: FeedCursor, take: number): Promise<SkeletonRow[] | null> {
  const { position, bound } = cursor;
  const boundMs = bound.getTime();
  const followed = await followedCreators(db, caches, viewer);
  const rows: SkeletonRow[] = [];

  if (viewer && position.phase === 'f' && followed.size > 0) {
    const lists = await caches.recent.getMany([...followed], async (missing) => {
      const byCreator = new Map<string, RankedPostRow[]>(missing.map((id) => [id, []]));
      for (const r of await repo.recentPostsByCreators(db, missing, RECENT_PER_CREATOR)) byCreator.get(r.creator_id)?.push(r);
      return byCreator;
    });
    const after = position.after;
    const afterKey = after ? { published_ms: after.publishedMs, id: after.id } : null;
    // the newest "last entry" of the lists that were cut at RECENT_PER_CREATOR: posts beyond it are unknown here
    let horizon: RankedPostRow | null = null;
    // each list is newest first: skip its posts above the bound or not past the cursor, then merge the lists' heads
    const heads: RankedPostRow[][] = [];
    const at: number[] = [];
    for (const list of lists.values()) {
      let i = 0;
      while (i < list.length && (list[i]!.published_ms > boundMs || (afterKey !== null && newestFirst(list[i]!, afterKey) <= 0))) i++;
      if (i < list.length) {
        heads.push(list);
        at.push(i);
      }
      const last = list[list.length - 1];
      if (list.length >= RECENT_PER_CREATOR && last && (horizon === null || newestFirst(last, horizon) < 0)) horizon = last;
    }
    const top: RankedPostRow[] = [];
    while (top.length < take) {
      let best = -1;
      for (let k = 0; k < heads.length; k++) {
        if (at[k]! < heads[k]!.length && (best < 0 || newestFirst(heads[k]![at[k]!]!, heads[best]![at[best]!]!) < 0)) best = k;
      }
      if (best < 0) break;
      top.push(heads[best]![at[best]!++]!);
    }
    if (horizon) {
      const lastShown = top[take - 1];
      if (!lastShown || newestFirst(horizon, lastShown) < 0) return null;
    }
    for (const p of top) rows.push({ phase: 'f', id: p.id, published_ms: p.published_ms, score: p.score });
  }

  const popular = await caches.popular.get(() => repo.popularPosts(db, POPULAR_WINDOW));
  const after = position.phase === 'p' ? position.after : null;
  let found = 0;
  for (const p of popular) {
    if (found === take) break;
    if (p.published_ms > boundMs || followed.has(p.creator_id)) continue;
    if (after && !(p.score < after.score || (p.score === after.score && p.id < after.id))) continue;
    rows.push({ phase: 'p', id: p.id, published_ms: p.published_ms, score: p.score });
    found++;
  }
  if (found < take && popular.length >= POPULAR_WINDOW) return null;
  return rows;
}

/**
 * Followed creators' posts (newest first) until they run out, then popular posts of everyone else (score, then id,
 * descending) in the same page. Both parts are read as limit + 1 of each, so the page knows whether more follow
 * without an extra round trip. Without `caches` (or when they cannot answer) it is one statement.
 */
export async function feedSkeleton(db: Executor, caches: FeedCaches | null, viewer: string | null, cursor: FeedCursor, limit: number): Promise<FeedSkeleton> {
  const rows = (caches ? await rowsFromCaches(db, caches, viewer, cursor, limit + 1) : null) ?? (await repo.feedSkeleton(db, viewer, cursor.position, cursor.bound, limit + 1));
  // UNION ALL keeps no order across its branches: put each phase back in its own order
  const following = rows.filter((r) => r.phase === 'f').sort(newestFirst);
  const popular = rows.filter((r) => r.phase === 'p').sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
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
