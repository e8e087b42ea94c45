// Step 2 of the feed pipeline: fetch everything the skeleton names, one batched read per kind of thing, through
// the per-process caches (posts with their tags, product cards).
import type { CatalogService, ProductCard } from '../../catalog';
import type { Executor } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import type { CacheLoad, FeedCaches, HydratedPost } from './cache';

export interface Hydrated {
  /** Post id → the post with its creator and active tags (the cache's entry itself, when cached). */
  posts: Map<string, HydratedPost>;
  /** The card of the product a post's tag (by its index in `post.tags`) points at; undefined when there is none. */
  cardOf(post: HydratedPost, tagIndex: number): ProductCard | undefined;
}

/** Hydrated's cardOf over a map of cards by product id. */
export const cardsByProduct =
  (cards: ReadonlyMap<string, ProductCard>) =>
  (post: HydratedPost, tagIndex: number): ProductCard | undefined =>
    cards.get(post.tags[tagIndex]!.product_id);

/** Hydrated's cardOf when every post's card slots are fresh (see hydrate). */
const cardInSlot = (post: HydratedPost, tagIndex: number): ProductCard | undefined => post.cards.slots![tagIndex]!.value;

export interface HydrateDeps {
  db: Executor;
  catalog: CatalogService;
  caches: FeedCaches;
}

/** Posts with their creators and active tags: 2 statements (run together) for all the posts given. */
export async function readPosts(db: Executor, postIds: readonly string[]): Promise<Map<string, HydratedPost>> {
  const [postRows, tagRows] = await Promise.all([repo.hydratePosts(db, postIds), repo.hydrateTags(db, postIds)]);
  const out = new Map<string, HydratedPost>(postRows.map((post) => [post.id, { post, tags: [], cards: {} }]));
  for (const tag of tagRows) out.get(tag.post_id)?.tags.push(tag);
  return out;
}

/** Whether two rows read from the same place hold the same values (own fields, compared as values; Dates by time). */
function sameRow(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let fields = 0;
  for (const k in y) {
    const u = x[k];
    const v = y[k];
    if (u !== v && !(u instanceof Date && v instanceof Date && u.getTime() === v.getTime())) return false;
    fields++;
  }
  for (const _ in x) fields--;
  return fields === 0;
}

const samePost = (a: HydratedPost, b: HydratedPost) => sameRow(a.post, b.post) && a.tags.length === b.tags.length && a.tags.every((t, i) => sameRow(t, b.tags[i]!));

/**
 * The cache's reloads re-read entries that nearly always have not changed. An entry equal to the one it replaces is
 * kept as that very object: the JSON fragments keyed by it stay valid (no re-serializing, no re-signing), and the
 * fresh copy dies young instead of replacing a long-lived object every second (old-generation churn).
 */
function keepUnchanged<V>(read: Map<string, V>, previous: (key: string) => V | undefined, same: (a: V, b: V) => boolean): Map<string, V> {
  for (const [key, value] of read) {
    const before = previous(key);
    if (before !== undefined && before !== value && same(before, value)) read.set(key, before);
  }
  return read;
}

const noCard = (): undefined => undefined;

/** Reads cards for the cards cache: from the catalog, keeping the cached object of each card that did not change. */
const cardsLoader =
  (deps: HydrateDeps): CacheLoad<string, ProductCard> =>
  async (missing, previous) =>
    keepUnchanged(await deps.catalog.getProductCards(missing), previous, sameRow);

const heldCards = (post: HydratedPost) => post.cards;
const taggedProducts = (post: HydratedPost) => post.tags.map((t) => t.product_id);

/**
 * Posts with their creators and active tags (at most 2 statements, for the posts not cached), then the tagged
 * products' cards (catalog: a fixed number too, for the cards not cached). Never one query per post or product,
 * whatever the page size. A post keeps its tags' card entries (HydratedPost.cards): when they are all fresh, the
 * cards are read through them, with no look-up by product id (TtlCache.hold).
 */
export async function hydrate(deps: HydrateDeps, postIds: readonly string[]): Promise<Hydrated> {
  if (postIds.length === 0) return { posts: new Map(), cardOf: noCard };
  const posts = await deps.caches.posts.getMany(postIds, async (missing, previous) => keepUnchanged(await readPosts(deps.db, missing), previous, samePost));
  const found = await deps.caches.cards.hold([...posts.values()], heldCards, taggedProducts, cardsLoader(deps));
  return { posts, cardOf: found === null ? cardInSlot : cardsByProduct(found) };
}
