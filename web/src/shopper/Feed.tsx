import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { api, AVAILABILITY_TEXT, formatMoney, messageFor, type Availability, type FeedPage, type FollowingPageT, type OwnCreatorProfileT, type PostView, type StoriesPage, type TagView } from '../api';
import { track } from '../events';
import { useLive } from '../live';
import { hasRole, useSession } from '../session';
import { Dialog } from './Dialog';
import { FEED_PAGE_SIZE, saveSnapshot, snapshotFor, takeFirstFeedPage } from './feed-data';
import { currentEntry, savedScroll, startAtTop } from '../router';
import { ProductSheet, type SheetTarget } from './ProductSheet';
import { ErrorNote, Spinner } from '../ui';

type Creator = PostView['creator'];

/** The shopper's home: stories tray, then posts with tag pins; a tap on a pin opens the product sheet at once. */
export function Feed() {
  const { account, announce } = useSession();
  // back to a feed left for a product or an order: the same pages (feed-data.ts), which the router scrolls back to
  const [entry] = useState(currentEntry);
  const [restored] = useState(() => snapshotFor(entry));
  const [posts, setPosts] = useState<PostView[]>(restored?.posts ?? []);
  const [stories, setStories] = useState<FeedPage['stories']>(restored?.stories ?? []);
  const [cursor, setCursor] = useState<string | null>(restored?.cursor ?? null);
  const [loadedAt, setLoadedAt] = useState(restored?.loadedAt ?? 0);
  const [loading, setLoading] = useState(!restored);
  const [error, setError] = useState<string | null>(null);
  const [sheet, setSheet] = useState<SheetTarget | null>(null);
  const [storyCreator, setStoryCreator] = useState<Creator | null>(null);
  const [following, setFollowing] = useState<Set<string>>(new Set());
  // pins follow the live stream (sold out shows without a reload): products of the first posts loaded, and the
  // SKUs of products whose sheet was opened (those work even on a server that cannot watch products)
  const [skusByProduct, setSkusByProduct] = useState<Map<string, string[]>>(new Map());
  const productIds = useMemo(() => posts.flatMap((p) => p.tags.map((t) => t.product.id)), [posts]);
  const live = useLive(useMemo(() => [...skusByProduct.values()].flat(), [skusByProduct]), productIds);

  // the kept pages are in this first render: their place is taken before the first paint (the router would do it a
  // frame later); without them (a new visit, or a feed too old to show again) the first page starts at the top
  useLayoutEffect(() => {
    if (restored) window.scrollTo(0, savedScroll());
    else if (savedScroll() > 0) startAtTop();
  }, [restored]);
  useEffect(() => {
    if (posts.length > 0) saveSnapshot(entry, { posts, stories, cursor, loadedAt });
  }, [entry, posts, stories, cursor, loadedAt]);

  useEffect(() => {
    if (restored) return;
    takeFirstFeedPage().then(
      (page) => {
        setPosts(page.posts);
        setStories(page.stories);
        setCursor(page.nextCursor);
        setLoadedAt(Date.now());
        setLoading(false);
      },
      (e) => {
        setError(messageFor(e));
        setLoading(false);
      },
    );
  }, [restored]);

  // the first-screen figure (docs/web.md): the frame after the first posts are committed to the DOM
  const marked = useRef(false);
  useEffect(() => {
    if (marked.current || posts.length === 0) return;
    marked.current = true;
    requestAnimationFrame(() => performance.mark('feed-rendered'));
  }, [posts]);

  // a creator does not follow themself (the API refuses, cannot_follow_self): their own posts have no Follow button;
  // undefined while their creator id is being read, so the button does not flash on them meanwhile
  const isCreator = hasRole(account, 'creator');
  const [ownCreatorId, setOwnCreatorId] = useState<string | null | undefined>(() => (isCreator ? undefined : null));
  useEffect(() => {
    if (!isCreator) return setOwnCreatorId(null);
    setOwnCreatorId(undefined);
    api<OwnCreatorProfileT>('/v1/creator/profile').then(
      (p) => setOwnCreatorId(p.creator?.id ?? null),
      () => setOwnCreatorId(null),
    );
  }, [isCreator, account?.id]);
  const canFollow = (creator: Creator) => ownCreatorId !== undefined && creator.id !== ownCreatorId;

  useEffect(() => {
    if (!account) return setFollowing(new Set());
    api<FollowingPageT>('/v1/me/following?limit=50').then(
      (p) => setFollowing(new Set(p.creators.map((c) => c.id))),
      () => {},
    );
  }, [account]);

  const loadMore = useCallback(async () => {
    if (!cursor || loading) return;
    setLoading(true);
    try {
      const page = await api<FeedPage>(`/v1/feed?limit=${FEED_PAGE_SIZE}&cursor=${encodeURIComponent(cursor)}`);
      // a follow or unfollow made mid-scroll can bring a post already shown back in a later page (the followed
      // phase's posts may reappear among the popular ones): it is shown once
      setPosts((p) => {
        const shown = new Set(p.map((x) => x.id));
        return [...p, ...page.posts.filter((x) => !shown.has(x.id))];
      });
      setCursor(page.nextCursor);
    } catch (e) {
      setError(messageFor(e));
    } finally {
      setLoading(false);
    }
  }, [cursor, loading]);

  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && void loadMore(), { rootMargin: '600px' });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore]);

  const toggleFollow = async (creator: Creator) => {
    if (!account) return announce('Sign in to follow creators.');
    const on = following.has(creator.id);
    try {
      await api(`/v1/creators/${creator.id}/follow`, { method: on ? 'DELETE' : 'PUT' });
      setFollowing((s) => {
        const n = new Set(s);
        if (on) n.delete(creator.id);
        else n.add(creator.id);
        return n;
      });
      announce(on ? `You unfollowed ${creator.displayName}.` : `You follow ${creator.displayName}.`);
    } catch (e) {
      announce(messageFor(e));
    }
  };

  const availabilityOf = (product: TagView['product']): Availability => {
    const streamed = live.products.get(product.id);
    if (streamed) return streamed;
    const skus = skusByProduct.get(product.id);
    if (!skus) return product.availability;
    const levels = skus.map((s) => live.skus.get(s)?.availability);
    if (levels.some((l) => l === undefined)) return product.availability;
    if (levels.every((l) => l === 'sold_out')) return 'sold_out';
    return levels.some((l) => l === 'in_stock') ? 'in_stock' : 'low';
  };

  const open = (tag: TagView, post: PostView, opener: HTMLElement) => {
    track('tag_tap', { referralToken: tag.referralToken, productId: tag.product.id, postId: post.id });
    setSheet({ tag, postId: post.id, opener });
  };

  return (
    <div className="feed">
      <h1 className="visually-hidden">Your feed</h1>
      {stories.length > 0 && (
        <section aria-label="Stories" className="stories">
          <ul>
            {stories.map((s) => (
              <li key={s.creator.id}>
                <button type="button" className="story-ring" onClick={() => setStoryCreator(s.creator)}>
                  <Avatar creator={s.creator} size={56} />
                  <span>{s.creator.handle}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {error && <ErrorNote>{error}</ErrorNote>}
      {posts.map((post, i) => (
        <Post
          key={post.id}
          post={post}
          eager={i < 2}
          following={following.has(post.creator.id)}
          onFollow={canFollow(post.creator) ? () => void toggleFollow(post.creator) : undefined}
          onOpen={open}
          availabilityOf={availabilityOf}
        />
      ))}
      {loading && <Spinner label="Loading posts…" />}
      {!loading && posts.length === 0 && !error && <p className="empty">No posts yet. Follow creators to fill your feed.</p>}
      {cursor && !loading && (
        <button type="button" className="more" onClick={() => void loadMore()}>
          Load more posts
        </button>
      )}
      <div ref={sentinel} aria-hidden="true" />
      {storyCreator && <StoryViewer creator={storyCreator} onClose={() => setStoryCreator(null)} onOpen={open} availabilityOf={availabilityOf} />}
      {/* after the story viewer: a sheet opened from a story's pin is drawn on top of it (same z-index, later wins) */}
      {sheet && (
        <ProductSheet
          target={sheet}
          onClose={() => setSheet(null)}
          onVariants={(productId, skuIds) => setSkusByProduct((m) => (m.get(productId)?.join() === skuIds.join() ? m : new Map(m).set(productId, skuIds)))}
        />
      )}
    </div>
  );
}

function Avatar({ creator, size }: { creator: Creator; size: number }) {
  return creator.avatarUrl ? (
    <img className="avatar" src={creator.avatarUrl} alt="" width={size} height={size} />
  ) : (
    <span className="avatar" style={{ width: size, height: size }} aria-hidden="true" />
  );
}

interface PostProps {
  post: PostView;
  eager: boolean;
  following?: boolean;
  onFollow?: () => void;
  onOpen(tag: TagView, post: PostView, opener: HTMLElement): void;
  availabilityOf(p: TagView['product']): Availability;
}

function Post({ post, eager, following, onFollow, onOpen, availabilityOf }: PostProps) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    // one impression per post per page view, when half of it has been on screen
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          for (const tag of post.tags) track('impression', { postId: post.id, productId: tag.product.id, referralToken: tag.referralToken });
          io.disconnect();
        }
      },
      { threshold: 0.5 },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [post]);
  const titleId = `post-${post.id}`;
  return (
    <article className="post" ref={ref} aria-labelledby={titleId}>
      <header className="post-head">
        <Avatar creator={post.creator} size={36} />
        <h2 id={titleId} className="post-author">
          {post.creator.displayName} <span className="handle">@{post.creator.handle}</span>
        </h2>
        {onFollow && (
          <button type="button" className="follow" aria-pressed={!!following} onClick={onFollow}>
            {following ? 'Following' : 'Follow'}
          </button>
        )}
      </header>
      <div className="media">
        {post.mediaType === 'video' ? (
          // muted and inline so it may start without a gesture (as feeds do); the controls let it be heard
          <video src={post.mediaUrl} aria-label={post.caption} muted loop playsInline controls preload={eager ? 'auto' : 'metadata'} width={800} height={1000} />
        ) : (
          <img src={post.mediaUrl} alt={post.caption} loading={eager ? 'eager' : 'lazy'} width={800} height={1000} />
        )}
        {post.tags.map((tag) => {
          const availability = availabilityOf(tag.product);
          return (
            <button
              key={tag.id}
              type="button"
              className={`pin${availability === 'sold_out' ? ' sold-out' : ''}`}
              style={{ left: `${tag.x * 100}%`, top: `${tag.y * 100}%` }}
              aria-label={`${tag.product.name}, ${formatMoney(tag.product.priceMinor, tag.product.currency)}${availability === 'sold_out' ? ', sold out' : ''}`}
              onClick={(e) => onOpen(tag, post, e.currentTarget)}
            >
              <span aria-hidden="true">{availability === 'sold_out' ? '×' : '+'}</span>
            </button>
          );
        })}
      </div>
      <p className="caption">{post.caption}</p>
      {post.tags.length > 0 && (
        <ul className="tag-list" aria-label="Products in this post">
          {post.tags.map((tag) => {
            const availability = availabilityOf(tag.product);
            return (
              <li key={tag.id}>
                <button type="button" className="tag-chip" onClick={(e) => onOpen(tag, post, e.currentTarget)}>
                  {tag.product.name} · {formatMoney(tag.product.priceMinor, tag.product.currency)}
                  {availability === 'sold_out' && <span className="badge"> {AVAILABILITY_TEXT.sold_out}</span>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </article>
  );
}

function StoryViewer({ creator, onClose, onOpen, availabilityOf }: { creator: Creator; onClose(): void } & Pick<PostProps, 'onOpen' | 'availabilityOf'>) {
  // this creator's live stories, a page at a time (watch order), from GET /v1/stories?creatorId=…
  const [stories, setStories] = useState<PostView[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    (cursor: string | null) => {
      setLoading(true);
      const query = new URLSearchParams({ creatorId: creator.id, limit: '10', ...(cursor ? { cursor } : {}) });
      api<StoriesPage>(`/v1/stories?${query}`).then(
        (p) => {
          const mine = p.stories[0]?.stories ?? [];
          setStories((before) => (cursor && before ? [...before, ...mine] : mine));
          setNext(p.nextCursor);
          setLoading(false);
        },
        (e) => {
          setError(messageFor(e));
          setLoading(false);
        },
      );
    },
    [creator.id],
  );
  useEffect(() => load(null), [load]);
  return (
    <Dialog title={`${creator.displayName}'s stories`} onClose={onClose}>
      {error && <ErrorNote>{error}</ErrorNote>}
      {!stories && !error && <Spinner />}
      {stories?.map((s) => <Post key={s.id} post={s} eager onOpen={onOpen} availabilityOf={availabilityOf} />)}
      {next && (
        <button type="button" className="more" disabled={loading} onClick={() => load(next)}>
          {loading ? 'Loading…' : 'More stories'}
        </button>
      )}
    </Dialog>
  );
}
