import { api, type FeedPage } from '../api';

export const FEED_PAGE_SIZE = 10;
let first: Promise<FeedPage> | undefined;

/** Starts loading the first feed page once; the Feed takes this promise on its first mount. */
export function prefetchFeed(): Promise<FeedPage> {
  first ??= api<FeedPage>(`/v1/feed?limit=${FEED_PAGE_SIZE}`);
  return first;
}

/** The prefetched first page (once), then fresh requests. */
export function takeFirstFeedPage(): Promise<FeedPage> {
  const p = prefetchFeed();
  first = undefined;
  return p;
}

/**
 * The feed as it was left (pages loaded, stories, cursor), by the history entry it was shown in (router.tsx's key):
 * back or forward to that entry shows the same posts (and the router the same place) instead of the first page at
 * the top. The last few feeds are kept, in memory: a reload starts afresh.
 */
export interface FeedSnapshot {
  posts: FeedPage['posts'];
  stories: FeedPage['stories'];
  cursor: string | null;
}
const KEPT = 5;
const snapshots = new Map<string, FeedSnapshot>();

export function snapshotFor(entry: string): FeedSnapshot | null {
  return snapshots.get(entry) ?? null;
}

export function saveSnapshot(entry: string, s: FeedSnapshot): void {
  snapshots.delete(entry);
  snapshots.set(entry, s);
  // the oldest first (insertion order): a long session does not keep every feed it ever showed
  for (const k of snapshots.keys()) if (snapshots.size > KEPT) snapshots.delete(k);
}
