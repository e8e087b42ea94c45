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
 * An entry of a TtlCache. It stays the same object for its key as long as the cache holds the key (a reload updates
 * it in place), so a holder may keep a reference and read it with no look-up (a post keeps its tags' card entries);
 * `dropped` means the cache let it go (deleted, evicted, cleared): the holder looks the key up again.
 */
export class CacheSlot<K, V> {
  dropped = false;
  constructor(
    readonly key: K,
    public value: V,
    /** When `value` was loaded (clock ms). */
    public loaded: number,
  ) {}
}

/** The slots an owner keeps for the keys it needs from one TtlCache (see TtlCache.hold); none until first needed. */
export interface HeldSlots<K, V> {
  slots?: Array<CacheSlot<K, V> | undefined>;
}

/** What a TtlCache reads its keys with (see getMany). */
export type CacheLoad<K, V> = (missing: K[], previous: (key: K) => V | undefined) => Promise<Map<K, V>>;

/**
 * A map whose entries expire `ttlMs` after they were loaded; the oldest are dropped past `maxEntries`.
 * Refresh-ahead: an entry read in the second half of its life is still served, and reloaded in the background
 * (one batched read for all such keys), so entries that are in use do not expire under load and a request pays a
 * read only for keys nobody asked for recently. Background reloads start at most once per ttlMs / 8: keys that turn
 * stale meanwhile wait for the next one (they are still fresh for at least 3/8 of their life), so a busy cache
 * reloads in a few large statements a second, not in a small one each time the previous reload ends. A reload that
 * overlaps a local invalidation is thrown away.
 */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, CacheSlot<K, V>>();
  readonly #stale = new Set<K>();
  #refreshing = false;
  /** When the last background reload started (clock ms). */
  #lastRefresh = -Infinity;
  #generation = 0;

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  set(key: K, value: V): void {
    const loaded = this.clock.now().getTime();
    let slot = this.#entries.get(key);
    if (slot === undefined) slot = new CacheSlot(key, value, loaded);
    else {
      slot.value = value;
      slot.loaded = loaded;
      this.#entries.delete(key); // re-inserted last: the oldest loaded go first past maxEntries
    }
    this.#entries.set(key, slot);
    if (this.#entries.size > this.maxEntries) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      oldest.dropped = true;
      this.#entries.delete(oldestKey);
    }
  }

  delete(key: K): void {
    this.#generation++;
    const slot = this.#entries.get(key);
    if (slot) slot.dropped = true;
    this.#entries.delete(key);
  }

  clear(): void {
    this.#generation++;
    for (const slot of this.#entries.values()) slot.dropped = true;
    this.#entries.clear();
    this.#stale.clear();
  }

  readonly #previous = (key: K): V | undefined => this.#entries.get(key)?.value;

  #store(values: Map<K, V>, generation: number): boolean {
    if (generation !== this.#generation) return false;
    for (const [key, value] of values) this.set(key, value);
    return true;
  }

  /** Notes a fresh entry read at `now`: in the second half of its life it waits for a background reload. */
  #served(slot: CacheSlot<K, V>, now: number): void {
    if (slot.loaded + this.ttlMs / 2 <= now) this.#stale.add(slot.key);
  }

  #refreshDue(now: number): boolean {
    return this.#stale.size > 0 && !this.#refreshing && now - this.#lastRefresh >= this.ttlMs / 8;
  }

  /** Reloads the entries waiting for it, in the background. */
  #refresh(now: number, load: CacheLoad<K, V>): void {
    const stale = [...this.#stale];
    const generation = this.#generation;
    this.#stale.clear();
    this.#refreshing = true;
    this.#lastRefresh = now;
    load(stale, this.#previous)
      .then((values) => this.#store(values, generation))
      .catch(() => {
        /* the entries expire and are read on the request path; that read reports the error */
      })
      .finally(() => {
        this.#refreshing = false;
      });
  }

  /**
   * The values of the keys several owners need (a post's tags' products, a viewer's followed creators), read through
   * the slots each owner keeps (`heldOf(owner).slots`, one per key of `keysOf(owner)`, in order). When every owner
   * holds its slots and all are fresh, nothing is looked up: the answer is null and the owners read their slots'
   * values (entries in the second half of their life are reloaded in the background, as getMany does). Otherwise the
   * keys go through getMany, whose answer is returned (use it for this request), and every owner's slots are attached
   * again (a slot is missing for a key `load` did not answer).
   */
  async hold<O>(owners: readonly O[], heldOf: (owner: O) => HeldSlots<K, V>, keysOf: (owner: O) => readonly K[], load: CacheLoad<K, V>): Promise<Map<K, V> | null> {
    const now = this.clock.now().getTime();
    if (this.#allFresh(owners, heldOf, now)) {
      for (let o = 0; o < owners.length; o++) for (const slot of heldOf(owners[o]!).slots!) this.#served(slot!, now);
      if (this.#refreshDue(now)) this.#refresh(now, load);
      return null;
    }
    const keys = new Set<K>();
    for (const owner of owners) for (const key of keysOf(owner)) keys.add(key);
    const found = await this.getMany(keys, load);
    for (const owner of owners) heldOf(owner).slots = keysOf(owner).map((key) => this.#entries.get(key));
    return found;
  }

  #allFresh<O>(owners: readonly O[], heldOf: (owner: O) => HeldSlots<K, V>, now: number): boolean {
    for (let o = 0; o < owners.length; o++) {
      const slots = heldOf(owners[o]!).slots;
      if (slots === undefined) return false;
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i];
        if (slot === undefined || slot.dropped || slot.loaded + this.ttlMs <= now) return false;
      }
    }
    return true;
  }

  /**
   * Values for many keys; the missing or expired ones are read with ONE call of `load` (keys it omits stay absent).
   * `load` may look at the value it replaces (`previous`: the entry still held, even expired) to read only what
   * changed; it must answer what a full read would, and may answer the previous object itself when nothing did.
   */
  async getMany(keys: Iterable<K>, load: CacheLoad<K, V>): Promise<Map<K, V>> {
    const now = this.clock.now().getTime();
    const out = new Map<K, V>();
    const missing: K[] = [];
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (e === undefined || e.loaded + this.ttlMs <= now) missing.push(key);
      else {
        out.set(key, e.value);
        this.#served(e, now);
      }
    }
    const refresh = this.#refreshDue(now);
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
    } else if (refresh) this.#refresh(now, load);
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

/** The creators a viewer follows, with the slots of their newest-posts lists (TtlCache.hold on `recent`). */
export interface Followed {
  creators: ReadonlySet<string>;
  /** `creators` in order: the keys `recent` holds slots for. */
  ids: readonly string[];
  recent: HeldSlots<string, RankedPosts>;
}

export interface HydratedPost {
  post: HydratedPostRow;
  /** Active tags, oldest first. */
  tags: TagRow[];
  /**
   * The cards cache's entry of each tag's product (same order as `tags`), kept by hydrate so later pages read the
   * cards with no look-up (TtlCache.hold). On the posts cache's entry, which lives as long as the post is unchanged.
   */
  cards: HeldSlots<string, ProductCard>;
}

/** Every cache the feed reads through, created once per service (so once per process). */
export function createFeedCaches(clock: Clock) {
  return {
    tray: new SharedValue<LiveTray>(clock, FEED_CACHE_TTL_MS.tray),
    posts: new TtlCache<string, HydratedPost>(clock, FEED_CACHE_TTL_MS.post, 50_000),
    cards: new TtlCache<string, ProductCard>(clock, FEED_CACHE_TTL_MS.card, 50_000),
    following: new TtlCache<string, Followed>(clock, FEED_CACHE_TTL_MS.following, 20_000),
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
