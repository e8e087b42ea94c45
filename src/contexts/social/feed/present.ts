// Step 4 of the feed pipeline: the view, with a referral token per tag. Two renderings of the same view: objects
// (a single post, the opened stories tray) and JSON text assembled from per-entry fragments (the feed page, the hot
// path: see FeedJson). Both are built from the same field mappings below, so they cannot drift apart.
import type { ProductCard } from '../../catalog';
import type { ReferralTokens } from '../referral-token';
import type { HydratedPostRow, TagRow } from '../social.repository';
import type { CreatorSummary, PostView, StoryTrayEntry, StoryTraySummary, TagView } from '../social.schemas';
import { MAX_CACHED_TOKENS, type HydratedPost, type LiveCreator } from './cache';
import type { TrayEntry } from './tray';
import { shownCard, type VisiblePost } from './rules';

/**
 * Tokens are signed when the feed is presented instead of being stored with the tag, so keys can rotate with no
 * migration (see referral-token.ts). A tag's token is a pure function of the tag and the process's signing key, so
 * `tokens` (when given) keeps it: a busy feed signs each tag once per process, not once per view.
 */
export function tokenFor(tag: TagRow, referrals: ReferralTokens, tokens?: Map<string, string>): string {
  let token = tokens?.get(tag.id);
  if (token === undefined) {
    token = referrals.sign({ tagId: tag.id, postId: tag.post_id, creatorId: tag.creator_id, productId: tag.product_id, tagCreatedAt: tag.created_at });
    if (tokens) {
      if (tokens.size >= MAX_CACHED_TOKENS) tokens.clear();
      tokens.set(tag.id, token);
    }
  }
  return token;
}

const cardView = (card: ProductCard): TagView['product'] => ({
  id: card.id,
  name: card.name,
  priceMinor: card.priceMinor,
  currency: card.currency,
  imageUrl: card.imageUrl,
  availability: card.availability,
});

const tagView = (tag: TagRow, token: string, product: TagView['product']): TagView => ({ id: tag.id, x: tag.x, y: tag.y, referralToken: token, product });

const postView = (post: HydratedPostRow, tags: TagView[]): PostView => ({
  id: post.id,
  kind: post.kind,
  creator: { id: post.creator_id, handle: post.handle, displayName: post.display_name, avatarUrl: post.avatar_url },
  mediaType: post.media_type,
  mediaUrl: post.media_url,
  caption: post.caption,
  publishedAt: post.published_at.toISOString(),
  expiresAt: post.expires_at ? post.expires_at.toISOString() : null,
  tags,
});

export function presentPost({ post, tags }: VisiblePost, referrals: ReferralTokens, tokens?: Map<string, string>): PostView {
  return postView(
    post,
    tags.map(({ tag, card }) => tagView(tag, tokenFor(tag, referrals, tokens), cardView(card))),
  );
}

/** Groups presented stories by creator, keeping the tray order. */
export function presentStoryTray(stories: PostView[]): StoryTrayEntry[] {
  const byCreator = new Map<string, { creator: CreatorSummary; stories: PostView[] }>();
  for (const story of stories) {
    const entry = byCreator.get(story.creator.id);
    if (entry) entry.stories.push(story);
    else byCreator.set(story.creator.id, { creator: story.creator, stories: [story] });
  }
  return [...byCreator.values()];
}

/** One entry of the feed's tray: who has live stories and what to show on the ring, without the stories' tags. */
function traySummary({ followed, stories }: TrayEntry): StoryTraySummary {
  const first = stories[0]!;
  const last = stories[stories.length - 1]!;
  return {
    creator: { id: first.creator_id, handle: first.handle, displayName: first.display_name, avatarUrl: first.avatar_url },
    followed,
    storyIds: stories.map((s) => s.id),
    cover: { mediaType: first.media_type, mediaUrl: first.media_url },
    latestAt: last.published_at.toISOString(),
  };
}

/** A post's JSON cut where the cards go: they change every second, the rest only when the post's entry is replaced. */
interface PostFragments {
  /** `{"id":…,"tags":[` */
  head: string;
  /** Each tag's `{"id":…,"referralToken":…,"product":`, to be followed by its card and `}`. */
  tags: Array<{ tag: TagRow; open: string }>;
}

// JSON.stringify of a view with a sentinel in place of its last field (filled later), cut at the sentinel: the text
// is exactly what serializing the whole view gives, from the same mapping.
const HOLE = '\u0000hole\u0000';
const HOLE_JSON = JSON.stringify(HOLE);
function openUntilHole(view: unknown): string {
  const json = JSON.stringify(view);
  return json.slice(0, json.lastIndexOf(HOLE_JSON));
}

/**
 * The feed page as JSON text, assembled from fragments kept per cache entry: a post's text (with its tags and
 * tokens) lives as long as its posts-cache entry, a card's as long as its cards-cache entry, a tray creator's as long
 * as the tray. Keyed by the entry objects (WeakMap), so a replaced or dropped entry takes its text with it, and the
 * text is tied to this process's signing key like the token cache. Serializing the page is then a few dozen string
 * concatenations instead of walking ~40 objects per request.
 */
export class FeedJson {
  readonly #posts = new WeakMap<HydratedPost, PostFragments>();
  readonly #cards = new WeakMap<ProductCard, string>();
  readonly #tray = new WeakMap<LiveCreator, string>();

  constructor(
    private readonly referrals: ReferralTokens,
    private readonly tokens: Map<string, string>,
  ) {}

  #fragments(entry: HydratedPost): PostFragments {
    let f = this.#posts.get(entry);
    if (!f) {
      f = {
        head: openUntilHole(postView(entry.post, HOLE as unknown as TagView[])) + '[',
        tags: entry.tags.map((tag) => ({
          tag,
          open: openUntilHole(tagView(tag, tokenFor(tag, this.referrals, this.tokens), HOLE as unknown as TagView['product'])) })),
      };
      this.#posts.set(entry, f);
    }
    return f;
  }

  #card(card: ProductCard): string {
    let json = this.#cards.get(card);
    if (json === undefined) {
      json = JSON.stringify(cardView(card));
      this.#cards.set(card, json);
    }
    return json;
  }

  /** A visible post as JSON, with the tags the rules let it show (shownCard). */
  post(entry: HydratedPost, cards: ReadonlyMap<string, ProductCard>): string {
    const { head, tags } = this.#fragments(entry);
    let out = head;
    let sep = '';
    for (const { tag, open } of tags) {
      const card = shownCard(tag, cards);
      if (card === undefined) continue;
      out += sep + open + this.#card(card) + '}';
      sep = ',';
    }
    return out + ']}';
  }

  /** A tray entry as JSON; its text is kept while the entry shows all the creator's stories (none expired since read). */
  trayEntry(entry: TrayEntry): string {
    // `followed` differs per viewer: it goes in front of the shared text
    const open = entry.followed ? '{"followed":true,' : '{"followed":false,';
    const shared = entry.stories === entry.live.stories;
    let json = shared ? this.#tray.get(entry.live) : undefined;
    if (json === undefined) {
      const { followed: _, ...rest } = traySummary(entry);
      json = JSON.stringify(rest).slice(1);
      if (shared) this.#tray.set(entry.live, json);
    }
    return open + json;
  }
}

/** The FeedPage JSON text from its parts (each already JSON). */
export function feedPageJson(posts: readonly string[], stories: readonly string[], nextCursor: string | null): string {
  return `{"posts":[${posts.join(',')}],"stories":[${stories.join(',')}],"nextCursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`;
}
