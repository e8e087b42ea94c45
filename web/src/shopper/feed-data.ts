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
 * back or forward to that entry, or a reload of it, shows the same posts (and the router the same place) instead of
 * the first page at the top. The last few feeds are kept, in memory and in the tab's sessionStorage (so a reload finds
 * them), each for FRESH_MS after its first page was read: an older one would show its prices and stock as current,
 * so it is dropped and the feed starts afresh.
 */
export interface FeedSnapshot {
  posts: FeedPage['posts'];
  stories: FeedPage['stories'];
  cursor: string | null;
  /** When the first of its pages was read (ms since the epoch). */
  loadedAt: number;
}
const KEPT = 5;
const FRESH_MS = 10 * 60_000;
const STORAGE_KEY = 'feedshop.feeds';
const snapshots = new Map<string, FeedSnapshot>(readStored());

function readStored(): [string, FeedSnapshot][] {
  try {
    const kept: unknown = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '[]');
    if (!Array.isArray(kept)) return [];
    return kept.filter((e): e is [string, FeedSnapshot] => Array.isArray(e) && typeof e[0] === 'string' && Array.isArray(e[1]?.posts) && typeof e[1]?.loadedAt === 'number');
  } catch {
    return [];
  }
}

export function snapshotFor(entry: string): FeedSnapshot | null {
  const s = snapshots.get(entry);
  return s && Date.now() - s.loadedAt < FRESH_MS ? s : null;
}

export function saveSnapshot(entry: string, s: FeedSnapshot): void {
  snapshots.delete(entry);
  snapshots.set(entry, s);
  // the oldest first (insertion order): a long session does not keep every feed it ever showed
  for (const k of snapshots.keys()) if (snapshots.size > KEPT) snapshots.delete(k);
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify([...snapshots]));
  } catch {
    // storage full or refused: the feeds are still kept in memory, for back and forward until a reload
  }
}
