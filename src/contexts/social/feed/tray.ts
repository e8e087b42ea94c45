// The stories tray's skeleton: which creators, in which order, with which live stories. The live stories of
// everyone are one cached list per process (FEED_CACHE_TTL_MS.tray); a viewer's order is computed from it in memory.
import type { Executor, LiveStoryRow } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import type { FeedCaches, LiveCreator, LiveTray } from './cache';
import { followedCreators } from './skeleton';

/** At most this many creators in the stories tray. */
export const TRAY_CREATORS = 20;

/**
 * At most this many stories per creator in the tray (the feed's story ids, the opened tray's stories): a page's size
 * must not grow with how much a creator posts. The rest come page by page from GET /v1/stories?creatorId=….
 */
export const TRAY_STORIES_PER_CREATOR = 10;

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

/** Every creator with live stories, in the tray's order: one list shared by all viewers (one statement when cold). */
export function liveTray(db: Executor, caches: FeedCaches, now: Date): Promise<LiveTray> {
  return caches.tray.get((before) => readLiveTray(db, now, before));
}

/**
 * Up to TRAY_CREATORS creators with a story live at `now`: followed creators (`followed`) first, then by follower
 * count (then id). In memory, no await: a feed page calls it after its last await, so the entries it makes die
 * young (objects held across an await that reads the database can outlive a scavenge, and V8 then allocates all
 * later objects of that site in the old generation). Bounded by the viewer's follows and the tray's size, not by
 * how many creators have stories.
 */
export function trayFor(live: LiveTray, followed: ReadonlySet<string>, now: Date): TrayEntry[] {
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

/**
 * One creator's stories live at `now`, in watch order (oldest first), from the shared list: none when the creator
 * has no live story.
 */
export async function creatorLiveStories(db: Executor, caches: FeedCaches, creatorId: string, now: Date): Promise<LiveStoryRow[]> {
  const entry = (await liveTray(db, caches, now)).byCreator.get(creatorId);
  return entry ? liveAt(entry, now.getTime()) : [];
}

/** The tray for `viewer`: at most 2 statements when the caches are cold (live stories, the viewer's follows), none when warm. */
export async function storyTray(db: Executor, caches: FeedCaches, viewer: string | null, now: Date): Promise<TrayEntry[]> {
  const [live, { creators: followed }] = await Promise.all([liveTray(db, caches, now), followedCreators(db, caches, viewer)]);
  return trayFor(live, followed, now);
}
