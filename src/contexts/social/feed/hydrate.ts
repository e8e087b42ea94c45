// Step 2 of the feed pipeline: fetch everything the skeleton names, one batched read per kind of thing, through
// the per-process caches (posts with their tags, product cards).
import type { CatalogService, ProductCard } from '../../catalog';
import type { Executor } from '../social.repository';
import { socialRepository as repo } from '../social.repository';
import type { FeedCaches, HydratedPost } from './cache';

export interface Hydrated {
  /** Post id → the post with its creator and active tags (the cache's entry itself, when cached). */
  posts: Map<string, HydratedPost>;
  /** Product id → card, for every tagged product. */
  cards: Map<string, ProductCard>;
}

export interface HydrateDeps {
  db: Executor;
  catalog: CatalogService;
  caches: FeedCaches;
}

/** Posts with their creators and active tags: 2 statements (run together) for all the posts given. */
export async function readPosts(db: Executor, postIds: readonly string[]): Promise<Map<string, HydratedPost>> {
  const [postRows, tagRows] = await Promise.all([repo.hydratePosts(db, postIds), repo.hydrateTags(db, postIds)]);
  const out = new Map<string, HydratedPost>(postRows.map((post) => [post.id, { post, tags: [] }]));
  for (const tag of tagRows) out.get(tag.post_id)?.tags.push(tag);
  return out;
}

/**
 * Posts with their creators and active tags (at most 2 statements, for the posts not cached), then the tagged
 * products' cards (catalog: a fixed number too, for the cards not cached). Never one query per post or product,
 * whatever the page size.
 */
export async function hydrate(deps: HydrateDeps, postIds: readonly string[]): Promise<Hydrated> {
  if (postIds.length === 0) return { posts: new Map(), cards: new Map() };
  const posts = await deps.caches.posts.getMany(postIds, (missing) => readPosts(deps.db, missing));
  const productIds = new Set<string>();
  for (const { tags } of posts.values()) for (const t of tags) productIds.add(t.product_id);
  const cards = productIds.size > 0 ? await deps.caches.cards.getMany([...productIds], (missing) => deps.catalog.getProductCards(missing)) : new Map<string, ProductCard>();
  return { posts, cards };
}
