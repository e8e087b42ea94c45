// The stories tray's skeleton: which creators, in which order, with which live stories. The live stories of
// everyone are one cached list per process (FEED_CACHE_TTL_MS.tray); a viewer's order is computed from it in memory.
import type { Executor, LiveStoryRow } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import type { FeedCaches, LiveCreator, LiveTray } from './cache';
import { followedCreators } from './skeleton';

/** At most this many creators in the stories tray. */
export const TRAY_CREATORS = 20;

export interface TrayEntry {
  /** The cached list entry this was taken from. */
  live: LiveCreator;
  followed: boolean;
  /** Live stories, oldest first (the order they are watched). */
  stories: LiveStoryRow[];
}

/**
 * Live stories grouped by creator, keeping the statement's order (most followed creators first). When the rows are
 * those `before` was built from (same digest), `before` itself: its entries' JSON text stays valid.
 */
async function readLiveTray(db: Executor, now: Date, before: LiveTray | undefined): Promise<LiveTray> {
  const read = await repo.liveStories(db, now, before?.digest ?? null);
  if (read.value === null && before) return before;
  const creators: LiveCreator[] = [];
  const byCreator = new Map<string, LiveCreator>();
  for (const story of read.value ?? []) {
    const last = creators[creators.length - 1];
    const expiryMs = story.expires_at.getTime();
    if (last?.creatorId === story.creator_id) {
      last.stories.push(story);
      if (expiryMs < last.firstExpiryMs) last.firstExpiryMs = expiryMs;
    } else {
      const entry: LiveCreator = { creatorId: story.creator_id, rank: creators.length, stories: [story], firstExpiryMs: expiryMs };
      creators.push(entry);
      byCreator.set(entry.creatorId, entry);
    }
  }
  return { creators, byCreator, digest: read.digest };
}

/** The creator's stories still live at `nowMs`: the cached array itself while none has expired (its text is kept). */
function liveAt(entry: LiveCreator, nowMs: number): LiveStoryRow[] {
  const { stories } = entry;
  if (nowMs < entry.firstExpiryMs) return stories;
  return stories.filter((x) => x.expires_at.getTime() > nowMs);
}

/** Adds the creator to the tray when one of their stories is still live at `nowMs`. */
function addLive(out: TrayEntry[], entry: LiveCreator, followed: boolean, nowMs: number): void {
  const stories = liveAt(entry, nowMs);
  if (stories.length > 0) out.push({ live: entry, followed, stories });
}

/**
 * Up to TRAY_CREATORS creators with a story live at `now`: followed creators first, then by follower count (then
 * id). At most 2 statements when the caches are cold (live stories, the viewer's follows), none when warm. The work
 * in memory is bounded by the viewer's follows and the tray's size, not by how many creators have stories.
 */
export async function storyTray(db: Executor, caches: FeedCaches, viewer: string | null, now: Date): Promise<TrayEntry[]> {
  const [live, { creators: followed }] = await Promise.all([caches.tray.get((before) => readLiveTray(db, now, before)), followedCreators(db, caches, viewer)]);
  const nowMs = now.getTime();
  const out: TrayEntry[] = [];
  if (followed.size > 0) {
    const mine: LiveCreator[] = [];
    for (const id of followed) {
      const entry = live.byCreator.get(id);
      if (entry) mine.push(entry);
    }
    mine.sort((a, b) => a.rank - b.rank);
    for (const entry of mine) {
      if (out.length === TRAY_CREATORS) return out;
      addLive(out, entry, true, nowMs);
    }
  }
  for (const entry of live.creators) {
    if (out.length === TRAY_CREATORS) break;
    if (!followed.has(entry.creatorId)) addLive(out, entry, false, nowMs);
  }
  return out;
}
