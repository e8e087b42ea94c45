// Per-process read caches of the feed. Any number of processes serve the feed (design.md §4), so nothing here is
// the truth and nothing assumes it is the only copy: every entry expires after a short TTL, and a change made by
// this process drops the entries it makes stale at once (other processes see it when their entry expires).
// Expiry follows the injected clock, so tests decide when an entry is old.
import type { Clock } from '../../../platform/clock';
import type { ProductCard } from '../../catalog';
import type { HydratedPostRow, LiveStoryRow, RankedPostRow, TagRow } from '../social.repository';

/** How long each kind of entry may be served after it was read (milliseconds). */
export const FEED_CACHE_TTL_MS = {
  /** The live-stories tray, the same for every viewer: a new story shows within this. */
  tray: 2000,
  /** A post with its creator and active tags: immutable but for deletion, tag changes and profile edits. */
  post: 5000,
  /** A product card: price, image, availability; kept short so "sold out" shows within a second. */
  card: 1000,
  /** The creators a viewer follows (dropped locally on follow/unfollow). */
  following: 2000,
  /** A creator's newest posts (dropped locally when the creator posts or deletes). */
  recent: 4000,
  /** The most popular posts of everyone (dropped locally on any post or score change). */
  popular: 2000,
} as const;

/**
 * Posts kept per creator: enough for a first page of the default size from one creator. When a page needs more
 * (a large limit, a deep page) the skeleton proves it and asks SQL instead. Larger lists cost more to refresh than
 * they save: with 1,000 followed creators in use, 64 per creator meant parsing ~30k rows a second.
 */
export const RECENT_PER_CREATOR = 24;
/** Popular posts kept: deep pages of the popular phase, past this window, are read from the database. */
export const POPULAR_WINDOW = 1000;

/**
 * A map whose entries expire `ttlMs` after they were loaded; the oldest are dropped past `maxEntries`.
 * Refresh-ahead: an entry read in the second half of its life is still served, and reloaded in the background
 * (one batched read for all such keys), so entries that are in use do not expire under load and a request pays a
 * read only for keys nobody asked for recently. A reload that overlaps a local invalidation is thrown away.
 */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; loaded: number }>();
  readonly #stale = new Set<K>();
  #refreshing = false;
  #generation = 0;

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.loaded + this.ttlMs <= this.clock.now().getTime()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, loaded: this.clock.now().getTime() });
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.#generation++;
    this.#entries.delete(key);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#stale.clear();
  }

  readonly #previous = (key: K): V | undefined => this.#entries.get(key)?.value;

  #store(values: Map<K, V>, generation: number): boolean {
    if (generation !== this.#generation) return false;
    for (const [key, value] of values) this.set(key, value);
    return true;
  }

  /**
   * Values for many keys; the missing or expired ones are read with ONE call of `load` (keys it omits stay absent).
   * `load` may look at the value it replaces (`previous`: the entry still held, even expired) to read only what
   * changed; it must answer what a full read would, and may answer the previous object itself when nothing did.
   */
  async getMany(keys: Iterable<K>, load: (missing: K[], previous: (key: K) => V | undefined) => Promise<Map<K, V>>): Promise<Map<K, V>> {
    const now = this.clock.now().getTime();
    const out = new Map<K, V>();
    const missing: K[] = [];
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (!e || e.loaded + this.ttlMs <= now) missing.push(key);
      else {
        out.set(key, e.value);
        if (e.loaded + this.ttlMs / 2 <= now) this.#stale.add(key);
      }
    }
    const refresh = this.#stale.size > 0 && !this.#refreshing;
    if (missing.length > 0) {
      // keys waiting for a background re-read go along with this read: one statement instead of two, and they are
      // re-read sooner, never later
      let keys = missing;
      if (refresh) {
        const waiting = new Set(missing);
        for (const key of this.#stale) waiting.add(key);
        this.#stale.clear();
        keys = [...waiting];
      }
      const generation = this.#generation;
      const values = await load(keys, this.#previous);
      this.#store(values, generation);
      for (const key of missing) {
        const value = values.get(key);
        if (value !== undefined) out.set(key, value);
      }
    } else if (refresh) {
      const stale = [...this.#stale];
      const generation = this.#generation;
      this.#stale.clear();
      this.#refreshing = true;
      load(stale, this.#previous)
        .then((values) => this.#store(values, generation))
        .catch(() => {
          /* the entries expire and are read on the request path; that read reports the error */
        })
        .finally(() => {
          this.#refreshing = false;
        });
    }
    return out;
  }
}

/**
 * One value shared by every request (the stories tray, the popular window). Concurrent requests that find it
 * expired share one read; in the second half of its life it is served while one background read replaces it.
 */
export class SharedValue<V> {
  #value: { value: V; loaded: number } | undefined;
  #loading: Promise<V> | undefined;
  #generation = 0;

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
  ) {}

  #load(load: (previous: V | undefined) => Promise<V>): Promise<V> {
    if (!this.#loading) {
      const generation = this.#generation;
      const loading = load(this.#value?.value)
        .then((value) => {
          if (generation === this.#generation) this.#value = { value, loaded: this.clock.now().getTime() };
          return value;
        })
        .finally(() => {
          if (this.#loading === loading) this.#loading = undefined;
        });
      this.#loading = loading;
    }
    return this.#loading;
  }

  /**
   * The value, read with `load` when missing or expired. `load` may look at the value it replaces (`previous`, even
   * expired; undefined after clear()) to skip re-reading an unchanged one: it must answer what a full read would.
   */
  async get(load: (previous: V | undefined) => Promise<V>): Promise<V> {
    const now = this.clock.now().getTime();
    const v = this.#value;
    if (v && v.loaded + this.ttlMs > now) {
      if (v.loaded + this.ttlMs / 2 <= now) this.#load(load).catch(() => undefined);
      return v.value;
    }
    return this.#load(load);
  }

  clear(): void {
    this.#generation++;
    this.#value = undefined;
    this.#loading = undefined;
  }
}

/** A creator with live stories (oldest first), in the tray's order for a viewer who follows nobody. */
export interface LiveCreator {
  creatorId: string;
  /** Position in that order (0 first). */
  rank: number;
  stories: LiveStoryRow[];
  /** The earliest expiry of `stories` (epoch ms): before it, every story is live and nothing needs checking. */
  firstExpiryMs: number;
}

/** Every creator with live stories, in the tray's order, and by id (a viewer's followed ones are found directly). */
export interface LiveTray {
  creators: LiveCreator[];
  byCreator: Map<string, LiveCreator>;
  /** Digest of the rows it was built from: a reload that finds the same keeps this object (and its JSON text). */
  digest: string;
}

/** A ranked list of posts with the digest of the rows it was read from (a reload finding it unchanged keeps it). */
export interface RankedPosts {
  posts: RankedPostRow[];
  digest: string;
}

export interface HydratedPost {
  post: HydratedPostRow;
  /** Active tags, oldest first. */
  tags: TagRow[];
}

/** Every cache the feed reads through, created once per service (so once per process). */
export function createFeedCaches(clock: Clock) {
  return {
    tray: new SharedValue<LiveTray>(clock, FEED_CACHE_TTL_MS.tray),
    posts: new TtlCache<string, HydratedPost>(clock, FEED_CACHE_TTL_MS.post, 50_000),
    cards: new TtlCache<string, ProductCard>(clock, FEED_CACHE_TTL_MS.card, 50_000),
    following: new TtlCache<string, ReadonlySet<string>>(clock, FEED_CACHE_TTL_MS.following, 20_000),
    /** Creator id → their newest posts (at most RECENT_PER_CREATOR, newest first; fewer means all of them). */
    recent: new TtlCache<string, RankedPosts>(clock, FEED_CACHE_TTL_MS.recent, 20_000),
    /** The top POPULAR_WINDOW posts by (score, id) descending. */
    popular: new SharedValue<RankedPosts>(clock, FEED_CACHE_TTL_MS.popular),
    /**
     * Referral token per tag id. A token is a pure function of the tag's immutable fields and the signing key, and
     * the key ring is fixed for the life of the process (rotation restarts it), so an entry never goes stale.
     */
    tokens: new Map<string, string>(),
    clear() {
      this.tray.clear();
      this.posts.clear();
      this.cards.clear();
      this.following.clear();
      this.recent.clear();
      this.popular.clear();
      this.tokens.clear();
    },
  };
}

export type FeedCaches = ReturnType<typeof createFeedCaches>;

/** Upper bound of the token cache: ~200 bytes per entry, so ~40 MB at most. */
export const MAX_CACHED_TOKENS = 200_000;
