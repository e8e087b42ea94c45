// The feed read pipeline (skeleton → hydrate → rules → present), as in atproto's appview: ids first, then one
// batched fetch per kind of thing, then filtering, then the view. A page costs a fixed number of round trips
// whatever its size: at most 9 with every cache cold (8, plus the SQL skeleton when the cached windows cannot
// answer), none for the social context once they are warm.
import type { CatalogService } from '../../catalog';
import type { ReferralTokens } from '../referral-token';
import type { Executor } from '../social.repository';
import type { PostView, StoryTrayEntry } from '../social.schemas';
import type { FeedCaches } from './cache';
import { encodeFeedCursor, encodePostsCursor, type FeedCursor, type PostsCursor } from './cursor';
import { hydrate, type Hydrated } from './hydrate';
import { presentPost, presentStoryTray, type FeedJson } from './present';
import { applyRules, visiblePosts } from './rules';
import { feedSkeleton, followedCreators } from './skeleton';
import { creatorLiveStories, liveTray, storyTray, trayFor, TRAY_STORIES_PER_CREATOR } from './tray';

export interface PipelineDeps {
  db: Executor;
  catalog: CatalogService;
  referrals: ReferralTokens;
  caches: FeedCaches;
  /** The feed page's JSON fragments (per process, like the caches). */
  json: FeedJson;
  /** Another hydration step (the benchmark's N+1 contrast); the batched, cached one by default. */
  hydrate?: (postIds: readonly string[]) => Promise<Hydrated>;
}

const hydrateWith = (deps: PipelineDeps, postIds: readonly string[]) => (deps.hydrate ? deps.hydrate(postIds) : hydrate(deps, postIds));

/** Hydrates, filters and presents posts named by a skeleton, in the skeleton's order. */
export async function presentPosts(deps: PipelineDeps, postIds: readonly string[], now: Date): Promise<PostView[]> {
  const hydrated = await hydrateWith(deps, postIds);
  return applyRules(postIds, hydrated, now).map((p) => presentPost(p, deps.referrals, deps.caches.tokens));
}

/**
 * One feed page, as the UTF-8 JSON of a FeedPage (assembled from fragments kept per cache entry: see FeedJson). The
 * first page (`first`) also carries the stories tray as a summary (creators, story ids, a cover): the stories
 * themselves, with their tags and product cards, come from GET /v1/stories when the tray is opened, so the page
 * stays small and every tag it shows has its card.
 */
export async function buildFeedPage(deps: PipelineDeps, viewer: string | null, cursor: FeedCursor, first: boolean, limit: number, now: Date): Promise<Buffer> {
  const [skeleton, live, followed] = await Promise.all([
    feedSkeleton(deps.db, deps.caches, viewer, cursor, limit),
    first ? liveTray(deps.db, deps.caches, now) : undefined,
    first ? followedCreators(deps.db, deps.caches, viewer) : undefined,
  ]);
  const hydrated = await hydrateWith(deps, skeleton.postIds);
  // the tray's entries (20 per first page) are made after the last await, so they die young (see trayFor)
  const tray = live && followed ? trayFor(live, followed.creators, now) : [];
  return deps.json.page(visiblePosts(skeleton.postIds, hydrated, now), hydrated.cardOf, tray, skeleton.next ? encodeFeedCursor(skeleton.next) : null);
}

/** The opened stories tray: each tray creator's first live stories to watch, with their tags, product cards and tokens. */
export async function buildStoryTray(deps: PipelineDeps, viewer: string | null, now: Date): Promise<StoryTrayEntry[]> {
  const tray = await storyTray(deps.db, deps.caches, viewer, now);
  const counts = new Map(tray.map((e) => [e.live.creatorId, e.stories.length]));
  const ids = tray.flatMap((e) => e.stories.slice(0, TRAY_STORIES_PER_CREATOR).map((s) => s.id));
  return presentStoryTray(await presentPosts(deps, ids, now), counts);
}

/**
 * One creator's live stories in watch order, `limit` per page, after `after` (the last story of the previous page):
 * the shared live list read in memory, then the page's stories hydrated and presented like the tray's.
 */
export async function buildCreatorStories(
  deps: PipelineDeps,
  creatorId: string,
  after: PostsCursor | null,
  limit: number,
  now: Date,
): Promise<{ stories: StoryTrayEntry[]; nextCursor: string | null }> {
  const live = await creatorLiveStories(deps.db, deps.caches, creatorId, now);
  // watch order is (published_at, id) ascending: the page starts at the first story past the cursor's
  let start = 0;
  if (after) {
    const afterMs = after.publishedAt.getTime();
    start = live.findIndex((s) => s.published_at.getTime() > afterMs || (s.published_at.getTime() === afterMs && s.id > after.id));
  }
  const page = start < 0 ? [] : live.slice(start, start + limit);
  const last = page[page.length - 1];
  const more = start >= 0 && start + limit < live.length;
  const stories = presentStoryTray(await presentPosts(deps, page.map((s) => s.id), now), new Map([[creatorId, live.length]]));
  return { stories, nextCursor: more && last ? encodePostsCursor({ publishedAt: last.published_at, id: last.id }) : null };
}
