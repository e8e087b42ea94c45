import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent, type MouseEvent } from 'react';
import { api, formatMoney, messageFor, type CreatePostInput, type PostView, type ProductCardPageT } from '../api';
import { BusyButton } from '../actions';
import { Link } from '../router';
import { ErrorNote, PageTitle } from '../ui';
import { MEDIA_ACCEPT, MediaUpload } from './MediaUpload';

type Card = ProductCardPageT['items'][number];

interface DraftTag {
  x: number;
  y: number;
  product: Card | null;
}

/** A URL typed by hand names a video by its extension; an uploaded file says what it is. */
const VIDEO_URL = /\.(mp4|webm)([?#]|$)/i;
/** How far an arrow key moves a pin (Shift: ten times as far), as a fraction of the media's width or height. */
const STEP = 0.01;

const round = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;

/** Refusals of a publish the app-wide map does not word (api.ts is shared; these are the post form's own). */
function publishMessage(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'unknown_product') return 'A tagged product is no longer on sale. Remove its tag or pick another product, then publish again.';
  if (code === 'too_many_tags') return 'A post carries at most 20 tags. Remove some, then publish again.';
  if (code === 'duplicate_tag') return 'A product is tagged twice on this post. Remove one of its tags, then publish again.';
  return messageFor(err);
}

/**
 * Publishing: upload the media or give its URL, then tap the media where each product is (or "Add a tag" and move
 * it with the arrow keys) and pick the product. A tag without a product stops the publish and says which one.
 */
export function NewPost() {
  const [kind, setKind] = useState<'post' | 'story'>('post');
  const [mediaUrl, setMediaUrl] = useState('');
  const [mediaType, setMediaType] = useState<CreatePostInput['mediaType']>('photo');
  const [caption, setCaption] = useState('');
  const [tags, setTags] = useState<DraftTag[]>([]);
  const [active, setActive] = useState<number | null>(null);
  const [q, setQ] = useState('');
  const [results, setResults] = useState<{ q: string; items: Card[] } | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<{ text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [uploadKey, setUploadKey] = useState(0);
  // where focus goes after the next render: the product search (a tag was placed) or a pin (its product was picked)
  const focusNext = useRef<'search' | number | 'add' | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const addRef = useRef<HTMLButtonElement>(null);
  const pinRefs = useRef<(HTMLButtonElement | null)[]>([]);
  useEffect(() => {
    const target = focusNext.current;
    focusNext.current = null;
    if (target === 'search') searchRef.current?.focus();
    else if (target === 'add') addRef.current?.focus();
    else if (typeof target === 'number') pinRefs.current[target]?.focus();
  });

  const addTag = (x: number, y: number) => {
    setTags((t) => [...t, { x: round(x), y: round(y), product: null }]);
    setActive(tags.length);
    setResults(null);
    setQ('');
    setDone(null);
    focusNext.current = 'search';
  };
  const place = (e: MouseEvent<HTMLElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    addTag((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
  };
  const movePin = (i: number, e: KeyboardEvent<HTMLButtonElement>) => {
    const step = e.shiftKey ? STEP * 10 : STEP;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    if (!d) return;
    e.preventDefault();
    setTags((t) => t.map((tag, j) => (j === i ? { ...tag, x: round(tag.x + d[0]!), y: round(tag.y + d[1]!) } : tag)));
  };
  const removeTag = (i: number) => {
    setTags((t) => t.filter((_, j) => j !== i));
    setActive(null);
    setResults(null);
    focusNext.current = 'add';
  };
  const pick = (p: Card) => {
    if (active === null) return;
    setTags((t) => t.map((x, i) => (i === active ? { ...x, product: p } : x)));
    focusNext.current = active;
    setActive(null);
    setResults(null);
    setError(null);
  };
  // a button, not a nested form: Enter in the search field searches instead of publishing the post
  const search = async () => {
    setSearching(true);
    try {
      const page = await api<ProductCardPageT>(`/v1/products?q=${encodeURIComponent(q.trim())}&limit=10`);
      setResults({ q: q.trim(), items: page.items });
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setSearching(false);
    }
  };
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const missing = tags.findIndex((t) => !t.product);
    if (missing >= 0) {
      setError(`Tag ${missing + 1} has no product yet: pick one for it or remove it, then publish.`);
      setActive(missing);
      focusNext.current = 'search';
      return;
    }
    const body: CreatePostInput = { kind, mediaType, mediaUrl, caption, tags: tags.map((t) => ({ productId: t.product!.id, x: t.x, y: t.y })) };
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const post = await api<PostView>('/v1/posts', { method: 'POST', body });
      setDone({ text: `Published ${kind} ${post.id} with ${post.tags.length} tag${post.tags.length === 1 ? '' : 's'}.` });
      // a fresh form: publishing again must be a choice, not the same post twice by accident
      setTags([]);
      setActive(null);
      setResults(null);
      setQ('');
      setMediaUrl('');
      setMediaType('photo');
      setCaption('');
      setUploadKey((n) => n + 1);
    } catch (err) {
      setError(publishMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const activeTag = active !== null ? tags[active] : undefined;
  return (
    <>
      <PageTitle>New post</PageTitle>
      <form onSubmit={(e) => void submit(e)} className="new-post">
        <fieldset className="inline">
          <legend>Kind</legend>
          <label>
            <input type="radio" name="kind" checked={kind === 'post'} onChange={() => setKind('post')} /> Post
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === 'story'} onChange={() => setKind('story')} /> Story (24 h)
          </label>
        </fieldset>
        <label>
          Media URL
          <input
            value={mediaUrl}
            onChange={(e) => {
              setMediaUrl(e.target.value.trim());
              setMediaType(VIDEO_URL.test(e.target.value) ? 'video' : 'photo');
              setDone(null);
            }}
            required
            pattern="(https?://|/)\S+"
            placeholder="https://… or /media/…"
          />
        </label>
        <MediaUpload
          key={uploadKey}
          label="Or upload a photo or video"
          accept={MEDIA_ACCEPT}
          onUploaded={(media) => {
            setMediaUrl(media.url);
            setMediaType(media.contentType.startsWith('video/') ? 'video' : 'photo');
            setDone(null);
          }}
        />
        {mediaUrl && (
          <div className="media tagger">
            <p className="hint" id="tagger-hint">
              Click or tap the {mediaType === 'video' ? 'video' : 'image'} where a product is to tag it, or use “Add a tag”. A selected tag moves with the arrow keys.
            </p>
            {mediaType === 'video' ? (
              <video src={mediaUrl} aria-label="Your video: click to place a product tag" onClick={place} muted loop autoPlay playsInline style={{ width: '100%', borderRadius: 8, cursor: 'crosshair' }} />
            ) : (
              <img src={mediaUrl} alt="Your media: click to place a product tag" onClick={place} />
            )}
            {tags.map((t, i) => (
              <button
                key={i}
                ref={(el) => void (pinRefs.current[i] = el)}
                type="button"
                className="pin"
                style={{ left: `${t.x * 100}%`, top: `${t.y * 100}%` }}
                aria-label={`Tag ${i + 1}: ${t.product?.name ?? 'choose a product'}`}
                aria-describedby="tagger-hint"
                aria-pressed={active === i}
                onClick={() => {
                  setActive(i);
                  setResults(null);
                }}
                onKeyDown={(e) => movePin(i, e)}
              >
                {i + 1}
              </button>
            ))}
            <button type="button" ref={addRef} className="secondary" onClick={() => addTag(0.5, 0.5)}>
              Add a tag
            </button>
          </div>
        )}
        {tags.length > 0 && (
          <ol className="draft-tags" aria-label="Tags on this post">
            {tags.map((t, i) => (
              <li key={i}>
                Tag {i + 1}: {t.product ? `${t.product.name} · ${formatMoney(t.product.priceMinor, t.product.currency)}` : 'no product yet'}{' '}
                <button type="button" className="link" onClick={() => removeTag(i)} aria-label={`Remove tag ${i + 1}`}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
        )}
        {activeTag && (
          <div className="picker" role="group" aria-label={`Product for tag ${active! + 1}`}>
            <p>
              Tag {active! + 1} at ({activeTag.x}, {activeTag.y}): {activeTag.product?.name ?? 'no product yet'}
            </p>
            <div className="row">
              <label>
                Find a product
                <input
                  ref={searchRef}
                  type="search"
                  value={q}
                  onChange={(e) => setQ(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key !== 'Enter') return;
                    e.preventDefault();
                    void search();
                  }}
                />
              </label>
              <BusyButton type="button" busy={searching} busyText="Searching…" onClick={() => void search()}>
                Search
              </BusyButton>
            </div>
            <p role="status" className="hint">
              {results && (results.items.length === 0 ? `No products on sale match “${results.q}”. Try another word.` : `${results.items.length} product${results.items.length === 1 ? '' : 's'} found.`)}
            </p>
            {results && results.items.length > 0 && (
              <ul aria-label="Products found">
                {results.items.map((p) => {
                  // a product is tagged once per post (the API answers 409 duplicate_tag)
                  const taken = tags.some((t, i) => i !== active && t.product?.id === p.id);
                  return (
                    <li key={p.id}>
                      <button type="button" disabled={taken} onClick={() => pick(p)}>
                        {p.name} · {formatMoney(p.priceMinor, p.currency)}
                        {taken && ' · already tagged'}
                      </button>
                    </li>
                  );
                })}
              </ul>
            )}
          </div>
        )}
        <label>
          Caption
          <textarea name="caption" maxLength={2200} rows={3} value={caption} onChange={(e) => setCaption(e.target.value)} />
        </label>
        {error && <ErrorNote>{error}</ErrorNote>}
        <p role="status" className={done ? 'success' : undefined}>
          {done && (
            <>
              {done.text} <Link to="/creator/posts">See your posts</Link>
            </>
          )}
        </p>
        <BusyButton type="submit" className="primary" busy={busy} busyText="Publishing…" disabled={!mediaUrl}>
          Publish
        </BusyButton>
      </form>
    </>
  );
}
