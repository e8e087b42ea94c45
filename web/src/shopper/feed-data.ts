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
 * The feed as it was left (pages loaded, scroll position), for the history entry it was shown in: back to that entry
 * shows the same posts at the same place instead of the first page at the top. One entry is kept (the latest feed).
 */
export interface FeedSnapshot {
  key: string;
  posts: FeedPage['posts'];
  stories: FeedPage['stories'];
  cursor: string | null;
  scrollY: number;
}
let snapshot: FeedSnapshot | null = null;

/** The history entry's feed key (set by the Feed on its entry), or null for an entry that never showed it. */
export function feedKeyOfEntry(): string | null {
  const k = (history.state as { feedKey?: unknown } | null)?.feedKey;
  return typeof k === 'string' ? k : null;
}

/** The snapshot of this history entry's feed, if it is the one kept. */
export function snapshotForEntry(): FeedSnapshot | null {
  const key = feedKeyOfEntry();
  return key && snapshot?.key === key ? snapshot : null;
}

export function saveSnapshot(s: FeedSnapshot): void {
  snapshot = s;
}

export const newFeedKey = (): string => Math.random().toString(36).slice(2);
