import { useRef, useState, type FormEvent } from 'react';
import { api, formatDate, formatMoney, messageFor, type CreatorView, type PostView, type StoriesPage } from '../api';
import { BusyButton } from '../actions';
import { Link } from '../router';
import { Empty, ErrorNote, PageTitle, Spinner, useApi, useBusyCall } from '../ui';

/** Posts per request (the API's most). */
const PAGE = 50;
type PostsPage = { posts: PostView[]; nextCursor: string | null };

/**
 * The creator's own posts and live stories, as shoppers see them (GET /v1/creators/{id}/posts, GET
 * /v1/stories?creatorId=…): edit a caption (PATCH /v1/posts/{id}), remove a tag (DELETE /v1/tags/{id}) or delete a
 * post (DELETE /v1/posts/{id}, asked first); "Load more posts" pages on with the API's cursor. The list changes in
 * place from each answer, so what it shows is what the feed shows.
 */
export function YourPosts({ me }: { me: CreatorView }) {
  const posts = useApi<PostsPage>(`/v1/creators/${me.id}/posts?limit=${PAGE}`);
  const stories = useApi<StoriesPage>(`/v1/stories?creatorId=${me.id}&limit=50`);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const noteRef = useRef<HTMLDivElement>(null);
  const liveStories = stories.data?.stories[0]?.stories ?? [];
  // more than a page of posts: the next ones come after the last (the API's cursor), added under those shown
  const more = useBusyCall();
  const loadMore = async () => {
    const shown = posts.data;
    if (!shown?.nextCursor) return;
    const page = await more.run(() => api<PostsPage>(`/v1/creators/${me.id}/posts?limit=${PAGE}&cursor=${encodeURIComponent(shown.nextCursor!)}`));
    if (!page) return;
    const ids = new Set(shown.posts.map((p) => p.id));
    const added = page.posts.filter((p) => !ids.has(p.id));
    posts.setData({ posts: [...shown.posts, ...added], nextCursor: page.nextCursor });
    // the button may be gone (the last page): focus goes to the first post added, where reading goes on
    if (added[0]) requestAnimationFrame(() => document.getElementById(`own-${added[0]!.id}`)?.focus());
  };

  const changed = (postId: string, next: PostView | null) => {
    const apply = (list: PostView[]) => (next ? list.map((p) => (p.id === postId ? next : p)) : list.filter((p) => p.id !== postId));
    if (posts.data) posts.setData({ ...posts.data, posts: apply(posts.data.posts) });
    if (stories.data) stories.setData({ ...stories.data, stories: stories.data.stories.map((e) => ({ ...e, stories: apply(e.stories) })) });
  };
  const tell = (ok: boolean, text: string) => {
    // announced once, here (role=status); not also in the app's announcer, which would say it twice
    setNote({ ok, text });
    // the button that was pressed may be gone (a deleted post): focus goes to what happened
    requestAnimationFrame(() => noteRef.current?.focus());
  };

  return (
    <section>
      <PageTitle>Your posts</PageTitle>
      <p>
        What shoppers see in their feed and stories tray. <Link to="/creator/new">New post</Link>
      </p>
      <div ref={noteRef} tabIndex={-1}>
        {note && (note.ok ? <p role="status" className="success">{note.text}</p> : <ErrorNote>{note.text}</ErrorNote>)}
      </div>
      <h2>Live stories</h2>
      {stories.loading && !stories.data && <Spinner label="Loading your stories…" />}
      {stories.error && <ErrorNote>{stories.error.message}</ErrorNote>}
      {stories.data && liveStories.length === 0 && <Empty>No live stories. A story shows for 24 hours.</Empty>}
      <ul className="own-posts" aria-label="Your live stories">
        {liveStories.map((p) => (
          <OwnPost key={p.id} post={p} onChanged={changed} tell={tell} />
        ))}
      </ul>
      <h2>Posts</h2>
      {posts.loading && !posts.data && <Spinner label="Loading your posts…" />}
      {posts.error && <ErrorNote>{posts.error.message}</ErrorNote>}
      {posts.data && posts.data.posts.length === 0 && <Empty>No posts yet.</Empty>}
      <ul className="own-posts" aria-label="Your posts">
        {posts.data?.posts.map((p) => (
          <OwnPost key={p.id} post={p} onChanged={changed} tell={tell} />
        ))}
      </ul>
      {more.error && <ErrorNote>{more.error}</ErrorNote>}
      {posts.data?.nextCursor && (
        <BusyButton type="button" className="more" busy={more.busy} busyText="Loading more posts…" onClick={() => void loadMore()}>
          Load more posts
        </BusyButton>
      )}
    </section>
  );
}

function OwnPost({ post, onChanged, tell }: { post: PostView; onChanged(postId: string, next: PostView | null): void; tell(ok: boolean, text: string): void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [editing, setEditing] = useState(false);
  const name = post.caption || `${post.kind === 'story' ? 'Story' : 'Post'} of ${formatDate(post.publishedAt)}`;
  const removeTag = async (tag: PostView['tags'][number]) => {
    setBusy(tag.id);
    try {
      await api(`/v1/tags/${tag.id}`, { method: 'DELETE' });
      onChanged(post.id, { ...post, tags: post.tags.filter((t) => t.id !== tag.id) });
      tell(true, `Removed the ${tag.product.name} tag from “${name}”. Shoppers no longer see it.`);
    } catch (err) {
      tell(false, messageFor(err));
    } finally {
      setBusy(null);
    }
  };
  const remove = async () => {
    setBusy('post');
    try {
      await api(`/v1/posts/${post.id}`, { method: 'DELETE' });
      onChanged(post.id, null);
      tell(true, `Deleted “${name}”. It has left every feed.`);
    } catch (err) {
      setBusy(null);
      tell(false, messageFor(err));
    }
  };
  const saveCaption = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const caption = String(new FormData(e.currentTarget).get('caption') ?? '');
    setBusy('caption');
    try {
      const saved = await api<PostView>(`/v1/posts/${post.id}`, { method: 'PATCH', body: { caption } });
      onChanged(post.id, saved);
      setEditing(false);
      tell(true, 'Caption saved. Shoppers see the new one.');
    } catch (err) {
      tell(false, messageFor(err));
    } finally {
      setBusy(null);
    }
  };
  const titleId = `own-${post.id}`;
  return (
    <li>
      <article className="own-post" aria-labelledby={titleId}>
        {post.mediaType === 'video' ? (
          <video src={post.mediaUrl} muted playsInline preload="metadata" className="thumb" aria-hidden="true" />
        ) : (
          <img src={post.mediaUrl} alt="" className="thumb" />
        )}
        <div className="own-post-body">
          <h3 id={titleId} tabIndex={-1}>
            {name}
          </h3>
          <p className="hint">
            {post.mediaType === 'video' ? 'Video' : 'Photo'} · published {formatDate(post.publishedAt)}
            {post.expiresAt && ` · until ${formatDate(post.expiresAt)}`}
          </p>
          {post.tags.length === 0 ? (
            <p className="hint">No products tagged.</p>
          ) : (
            <ul className="plain" aria-label={`Products tagged on “${name}”`}>
              {post.tags.map((t) => (
                <li key={t.id}>
                  {t.product.name} · {formatMoney(t.product.priceMinor, t.product.currency)}{' '}
                  <BusyButton type="button" className="link" busy={busy === t.id} busyText="Removing…" disabled={busy !== null} onClick={() => void removeTag(t)}>
                    Remove tag<span className="visually-hidden"> {t.product.name}</span>
                  </BusyButton>
                </li>
              ))}
            </ul>
          )}
          {editing ? (
            <form className="action-form" onSubmit={(e) => void saveCaption(e)}>
              <label>
                Caption
                <textarea name="caption" maxLength={2200} rows={3} defaultValue={post.caption} autoFocus />
              </label>
              <div className="row">
                <BusyButton type="submit" className="primary" busy={busy === 'caption'} busyText="Saving…">
                  Save caption
                </BusyButton>
                <button type="button" disabled={busy !== null} onClick={() => setEditing(false)}>
                  Cancel
                </button>
              </div>
            </form>
          ) : (
            <button type="button" className="secondary" disabled={busy !== null} onClick={() => setEditing(true)}>
              Edit caption<span className="visually-hidden"> of “{name}”</span>
            </button>
          )}{' '}
          {confirming ? (
            <div className="row" role="group" aria-label={`Delete “${name}”?`}>
              <span>Delete this {post.kind}? Shoppers will no longer see it.</span>
              <BusyButton type="button" className="danger" busy={busy === 'post'} busyText="Deleting…" disabled={busy !== null} onClick={() => void remove()} autoFocus>
                Delete
              </BusyButton>
              <button type="button" disabled={busy !== null} onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </div>
          ) : (
            <button type="button" className="secondary" disabled={busy !== null} onClick={() => setConfirming(true)}>
              Delete {post.kind}
              <span className="visually-hidden"> “{name}”</span>
            </button>
          )}
        </div>
      </article>
    </li>
  );
}
