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
