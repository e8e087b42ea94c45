// Step 4 of the feed pipeline: the view, with a referral token per tag. Two renderings of the same view: objects
// (a single post, the opened stories tray) and JSON text assembled from per-entry fragments (the feed page, the hot
// path: see FeedJson). Both are built from the same field mappings below, so they cannot drift apart.
import type { ProductCard } from '../../catalog';
import type { ReferralTokens } from '../referral-token';
import type { HydratedPostRow, TagRow } from '../social.repository';
import type { CreatorSummary, PostView, StoryTrayEntry, StoryTraySummary, TagView } from '../social.schemas';
import { MAX_CACHED_TOKENS, type HydratedPost, type LiveCreator } from './cache';
import type { Hydrated } from './hydrate';
import { TRAY_STORIES_PER_CREATOR, type TrayEntry } from './tray';
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

/** Groups presented stories by creator, keeping the tray order; `counts` has each creator's number of live stories. */
export function presentStoryTray(stories: PostView[], counts: ReadonlyMap<string, number>): StoryTrayEntry[] {
  const byCreator = new Map<string, StoryTrayEntry>();
  for (const story of stories) {
    const entry = byCreator.get(story.creator.id);
    if (entry) entry.stories.push(story);
    else byCreator.set(story.creator.id, { creator: story.creator, storyCount: Math.max(1, counts.get(story.creator.id) ?? 1), stories: [story] });
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
    storyIds: stories.slice(0, TRAY_STORIES_PER_CREATOR).map((s) => s.id),
    storyCount: stories.length,
    cover: { mediaType: first.media_type, mediaUrl: first.media_url },
    latestAt: last.published_at.toISOString(),
  };
}

/** A post's JSON cut where the cards go: they change every second, the rest only when the post's entry is replaced. */
interface PostFragments {
  /** `{"id":…,"tags":[` */
  head: Buffer;
  /** Each tag's `{"id":…,"referralToken":…,"product":`, to be followed by its card and `}`. */
  tags: Array<{ active: boolean; open: Buffer }>;
  /**
   * The whole post as last assembled, and the card of each tag's product then (undefined: none). A card is a new
   * object whenever it changes (hydrate keeps a re-read equal one), and whether a tag shows depends only on the tag
   * and its card (shownCard), so the same card objects mean the same bytes: a post seen by many shoppers within a
   * card's life is one copy, not one per tag.
   */
  last?: { cards: Array<ProductCard | undefined>; json: Buffer };
}

// JSON.stringify of a view with a sentinel in place of its last field (filled later), cut at the sentinel: the text
// is exactly what serializing the whole view gives, from the same mapping.
const HOLE = '\u0000hole\u0000';
const HOLE_JSON = JSON.stringify(HOLE);
function openUntilHole(view: unknown): string {
  const json = JSON.stringify(view);
  return json.slice(0, json.lastIndexOf(HOLE_JSON));
}

const bytes = (text: string) => Buffer.from(text, 'utf8');
const PAGE_OPEN = bytes('{"posts":[');
const PAGE_STORIES = bytes('],"stories":[');
const PAGE_CURSOR = bytes('],"nextCursor":');
const NULL_END = bytes('null}');
const COMMA = bytes(',');
const CLOSE = bytes('}');
const TAGS_END = bytes(']}');

/**
 * Memory for pages, reused once a page has been sent. A page is written into a block of the smallest size class
 * that holds it (16 KiB to 256 KiB; a larger page gets memory of its own, never reused). The block goes back to its
 * free list when the caller hands the page back (`recycle`: the route does it when the response has been handed to
 * the OS, i.e. the socket no longer reads it), so a busy feed writes into the same warm memory instead of allocating
 * ~20 KB per page and paying the page faults and the GC pressure of fresh external memory. A page never handed back
 * (an aborted response, a caller that keeps it) is simply collected; a block is lent to one page at a time, and a
 * page handed back twice or not from here is ignored. At most MAX_FREE_BYTES stay in the free lists.
 */
const BLOCK_CLASSES = [16, 32, 64, 128, 256].map((kib) => kib * 1024);
const MAX_FREE_BYTES = 16 * 1024 * 1024;

class PageMemory {
  readonly #free: ArrayBuffer[][] = BLOCK_CLASSES.map(() => []);
  /** Each lent block and the page it is lent to (a page handed back after its block went to another is ignored). */
  readonly #lent = new WeakMap<ArrayBuffer, Buffer>();
  #freeBytes = 0;

  take(length: number): Buffer {
    const c = BLOCK_CLASSES.findIndex((size) => size >= length);
    if (c < 0) return Buffer.allocUnsafeSlow(length);
    let block = this.#free[c]!.pop();
    if (block) this.#freeBytes -= block.byteLength;
    else block = new ArrayBuffer(BLOCK_CLASSES[c]!);
    const page = Buffer.from(block, 0, length);
    this.#lent.set(block, page);
    return page;
  }

  recycle(page: Buffer): void {
    const block = page.buffer;
    if (!(block instanceof ArrayBuffer) || this.#lent.get(block) !== page) return;
    this.#lent.delete(block);
    if (this.#freeBytes + block.byteLength > MAX_FREE_BYTES) return;
    this.#free[BLOCK_CLASSES.indexOf(block.byteLength)]!.push(block);
    this.#freeBytes += block.byteLength;
  }
}

/**
 * The feed page as UTF-8 JSON, assembled from fragments kept per cache entry: a post's bytes (with its tags and
 * tokens) live as long as its posts-cache entry, a card's as long as its cards-cache entry, a tray creator's as long
 * as the tray. Keyed by the entry objects (WeakMap), so a replaced or dropped entry takes its bytes with it, and the
 * bytes are tied to this process's signing key like the token cache. A page is then one copy of a few dozen
 * fragments into one buffer: no per-request serializing, no string rope to flatten and encode on the way out.
 */
export class FeedJson {
  readonly #posts = new WeakMap<HydratedPost, PostFragments>();
  readonly #cards = new WeakMap<ProductCard, Buffer>();
  /** A tray creator's entry as a followed creator ([0]) and as not followed ([1]). */
  readonly #tray = new WeakMap<LiveCreator, [Buffer, Buffer]>();
  readonly #memory = new PageMemory();

  constructor(
    private readonly referrals: ReferralTokens,
    private readonly tokens: Map<string, string>,
  ) {}

  #fragments(entry: HydratedPost): PostFragments {
    let f = this.#posts.get(entry);
    if (!f) {
      f = {
        head: bytes(openUntilHole(postView(entry.post, HOLE as unknown as TagView[])) + '['),
        tags: entry.tags.map((tag) => ({
          active: tag.active,
          open: bytes(openUntilHole(tagView(tag, tokenFor(tag, this.referrals, this.tokens), HOLE as unknown as TagView['product']))),
        })),
      };
      this.#posts.set(entry, f);
    }
    return f;
  }

  #card(card: ProductCard): Buffer {
    let json = this.#cards.get(card);
    if (json === undefined) {
      json = bytes(JSON.stringify(cardView(card)));
      this.#cards.set(card, json);
    }
    return json;
  }

  /** A visible post's JSON, with the tags the rules let it show (shownCard) and their cards. */
  #post(entry: HydratedPost, cardOf: Hydrated['cardOf']): Buffer {
    const f = this.#fragments(entry);
    const { tags } = f;
    const last = f.last;
    if (last !== undefined) {
      let i = 0;
      while (i < tags.length && cardOf(entry, i) === last.cards[i]) i++;
      if (i === tags.length) return last.json;
    }
    const cards = tags.map((_, i) => cardOf(entry, i));
    const parts: Buffer[] = [f.head];
    let first = true;
    for (let i = 0; i < tags.length; i++) {
      const card = shownCard(tags[i]!.active, cards[i]);
      if (card === undefined) continue;
      if (!first) parts.push(COMMA);
      parts.push(tags[i]!.open, this.#card(card), CLOSE);
      first = false;
    }
    parts.push(TAGS_END);
    const json = Buffer.concat(parts);
    f.last = { cards, json };
    return json;
  }

  /** A tray entry's JSON; its bytes are kept while the entry shows all the creator's stories (none expired since read). */
  #trayEntry(entry: TrayEntry): Buffer {
    const shared = entry.stories === entry.live.stories;
    let json = shared ? this.#tray.get(entry.live) : undefined;
    if (json === undefined) {
      // `followed` differs per viewer: both spellings are kept, each one buffer
      const { followed: _, ...rest } = traySummary(entry);
      const tail = JSON.stringify(rest).slice(1);
      json = [bytes('{"followed":true,' + tail), bytes('{"followed":false,' + tail)];
      if (shared) this.#tray.set(entry.live, json);
    }
    return entry.followed ? json[0] : json[1];
  }

  /** The FeedPage's UTF-8 JSON: the visible posts (with their shown tags and cards), the tray, the next cursor. */
  page(posts: readonly HydratedPost[], cardOf: Hydrated['cardOf'], tray: readonly TrayEntry[], nextCursor: string | null): Buffer {
    const out: Buffer[] = [PAGE_OPEN];
    for (let i = 0; i < posts.length; i++) {
      if (i > 0) out.push(COMMA);
      out.push(this.#post(posts[i]!, cardOf));
    }
    out.push(PAGE_STORIES);
    for (let i = 0; i < tray.length; i++) {
      if (i > 0) out.push(COMMA);
      out.push(this.#trayEntry(tray[i]!));
    }
    out.push(PAGE_CURSOR, nextCursor === null ? NULL_END : bytes(JSON.stringify(nextCursor) + '}'));
    let length = 0;
    for (const part of out) length += part.length;
    const page = this.#memory.take(length);
    let at = 0;
    for (const part of out) {
      page.set(part, at);
      at += part.length;
    }
    return page;
  }

  /**
   * Hands a page given by `page()` back once nothing reads it any more (its response has been handed to the OS):
   * its memory then holds a later page. Call it at most once per page, and never for a page still in use.
   */
  recycle(page: Buffer): void {
    this.#memory.recycle(page);
  }
}
