// Step 3 of the feed pipeline: what may be shown, decided on hydrated data with no further reads.
import type { ProductCard } from '../../catalog';
import type { HydratedPostRow, TagRow } from '../social.repository';
import type { HydratedPost } from './cache';
import type { Hydrated } from './hydrate';

export interface VisiblePost {
  post: HydratedPostRow;
  tags: Array<{ tag: TagRow; card: ProductCard }>;
}

/** Whether a post can be seen at `now`: not deleted, and for a story not expired. */
export function isVisible(post: Pick<HydratedPostRow, 'deleted_at' | 'expires_at'>, now: Date): boolean {
  return post.deleted_at === null && (post.expires_at === null || post.expires_at.getTime() > now.getTime());
}

/**
 * The card a tag shows (`card`: its product's, if any), or undefined when the tag must be left out: deactivated, or
 * its product gone or no longer active (a tag must never lead to a product that cannot be bought).
 */
export function shownCard(active: boolean, card: ProductCard | undefined): ProductCard | undefined {
  return active && card !== undefined && card.status === 'active' ? card : undefined;
}

/** Keeps the skeleton's order; drops posts missing, deleted or expired since the skeleton was read. */
export function visiblePosts(postIds: readonly string[], hydrated: Hydrated, now: Date): HydratedPost[] {
  const out: HydratedPost[] = [];
  for (const id of postIds) {
    const entry = hydrated.posts.get(id);
    if (entry && isVisible(entry.post, now)) out.push(entry);
  }
  return out;
}

/** visiblePosts, each with the tags it may show (shownCard) and their cards. */
export function applyRules(postIds: readonly string[], hydrated: Hydrated, now: Date): VisiblePost[] {
  return visiblePosts(postIds, hydrated, now).map((entry) => {
    const shown: VisiblePost['tags'] = [];
    for (let i = 0; i < entry.tags.length; i++) {
      const tag = entry.tags[i]!;
      const card = shownCard(tag.active, hydrated.cardOf(entry, i));
      if (card) shown.push({ tag, card });
    }
    return { post: entry.post, tags: shown };
  });
}
