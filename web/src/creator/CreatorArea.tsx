import { useMemo, useRef, useState, type FormEvent, type MouseEvent } from 'react';
import { api, formatDate, formatMoney, messageFor, newIdempotencyKey, type AttributionModel, type CreatePostInput, type CreatorView, type Earnings, type PayoutPageT, type PostView, type StatementListT, type ProductCardPageT } from '../api';
import { FunnelReport, ModelSwitch, POLL_MS, RevenueChart, TopTable, useRange } from '../reports';
import { Link, useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { Empty, ErrorNote, PageTitle, Spinner, useApi, useInterval } from '../ui';

/** The creator's area: dashboard (attributed sales, funnel, revenue, earnings, payouts, statements) and posting. */
export default function CreatorArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  if (loading) return <Spinner />;
  if (!hasRole(account, 'creator')) return <ErrorNote>Sign in with a creator account to see this page.</ErrorNote>;
  return (
    <section>
      <nav className="tabs" aria-label="Creator">
        <Link to="/creator" aria-current={path === '/creator' ? 'page' : undefined}>
          Dashboard
        </Link>
        <Link to="/creator/new" aria-current={path === '/creator/new' ? 'page' : undefined}>
          New post
        </Link>
      </nav>
      {path === '/creator/new' ? <NewPost /> : <Dashboard />}
    </section>
  );
}

function useMyPosts() {
  const me = useApi<CreatorView>('/v1/creators/me');
  const posts = useApi<{ posts: PostView[] }>(me.data ? `/v1/creators/${me.data.id}/posts?limit=50` : null);
  return { me, posts };
}

function Dashboard() {
  const [model, setModel] = useState<AttributionModel>('last_click');
  const { from, to } = useRange(30);
  const { me, posts } = useMyPosts();
  const captions = useMemo(() => new Map((posts.data?.posts ?? []).map((p) => [p.id, p.caption || p.id])), [posts.data]);
  const label = (id: string) => captions.get(id) ?? id;
  return (
    <>
      <PageTitle>Creator dashboard</PageTitle>
      {me.error?.status === 404 && (
        <p>
          Set up your creator profile first (<code>PUT /v1/creators/me</code>).
        </p>
      )}
      <ModelSwitch value={model} onChange={setModel} />
      <div className="grid">
        <TopTable title="Posts by attributed revenue" url={`/v1/reports/top?dimension=post&model=${model}&from=${from}&to=${to}`} label={label} testId="top-posts" />
        <RevenueChart url={`/v1/reports/timeseries?granularity=day&model=${model}&from=${from}&to=${to}`} />
        <FunnelReport url={`/v1/reports/funnel?by=post&from=${from}&to=${to}`} label={label} />
        <EarningsPanel />
      </div>
    </>
  );
}

function EarningsPanel() {
  const earnings = useApi<Earnings>('/v1/creator/earnings');
  const payouts = useApi<PayoutPageT>('/v1/creator/payouts');
  const statements = useApi<StatementListT>('/v1/creator/statements');
  useInterval(earnings.reload, POLL_MS);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const request = async (currency: string) => {
    setBusy(true);
    setNote(null);
    try {
      await api('/v1/creator/payouts', { method: 'POST', idempotencyKey: newIdempotencyKey(), body: { currency } });
      setNote('Payout requested. It will appear below once it is sent.');
      earnings.reload();
      payouts.reload();
    } catch (e) {
      setNote(messageFor(e));
    } finally {
      setBusy(false);
    }
  };
  if (earnings.error?.status === 404) return <section className="report"><h2>Earnings</h2><p className="empty">Earnings are not available on this server yet.</p></section>;
  return (
    <section className="report">
      <h2>Earnings</h2>
      {earnings.loading && !earnings.data && <Spinner />}
      {earnings.error && <ErrorNote>{earnings.error.message}</ErrorNote>}
      {earnings.data && earnings.data.balances.length === 0 && <Empty>No earnings yet.</Empty>}
      {earnings.data?.balances.map((b) => (
        <dl key={b.currency} className="balances">
          <dt>Pending</dt>
          <dd>{formatMoney(b.pendingMinor, b.currency)}</dd>
          <dt>Available</dt>
          <dd>{formatMoney(b.availableMinor, b.currency)}</dd>
          {b.inTransitMinor > 0 && (
            <>
              <dt>In transit</dt>
              <dd>{formatMoney(b.inTransitMinor, b.currency)}</dd>
            </>
          )}
          <dt>Paid</dt>
          <dd>{formatMoney(b.paidMinor, b.currency)}</dd>
          <dd>
            <button type="button" disabled={busy || b.availableMinor < (earnings.data?.minimumPayoutMinor ?? 0)} onClick={() => void request(b.currency)}>
              {busy ? 'Requesting…' : `Request payout (${b.currency})`}
            </button>
          </dd>
        </dl>
      ))}
      {earnings.data?.nextPayoutAt && <p className="muted">Next scheduled payout {formatDate(earnings.data.nextPayoutAt)}.</p>}
      {note && <p role="status">{note}</p>}
      <h3>Payouts</h3>
      {payouts.data && payouts.data.items.length === 0 && <Empty>No payouts yet.</Empty>}
      <ul>
        {payouts.data?.items.map((p) => (
          <li key={p.id}>
            {formatDate(p.createdAt)} · {formatMoney(p.amountMinor, p.currency)} · {p.status}
          </li>
        ))}
      </ul>
      <h3>Statements</h3>
      {statements.data && statements.data.items.length === 0 && <Empty>No statements yet.</Empty>}
      <ul>
        {statements.data?.items.map((s) => (
          <li key={s.month}>
            <a href={s.url} download={`statement-${s.month}.csv`}>
              {s.month} (CSV, {s.entries} entries)
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

interface DraftTag {
  x: number;
  y: number;
  product: ProductCardPageT['items'][number] | null;
}

/** Publishing: a media URL, then click on the media where each product is and pick it. */
function NewPost() {
  const [kind, setKind] = useState<'post' | 'story'>('post');
  const [mediaUrl, setMediaUrl] = useState('');
  const [tags, setTags] = useState<DraftTag[]>([]);
  const [active, setActive] = useState<number | null>(null);
  const [q, setQ] = useState('');
  const [results, setResults] = useState<ProductCardPageT['items']>([]);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const img = useRef<HTMLImageElement>(null);
  const place = (e: MouseEvent<HTMLImageElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (e.clientY - r.top) / r.height));
    setTags((t) => [...t, { x: Math.round(x * 1000) / 1000, y: Math.round(y * 1000) / 1000, product: null }]);
    setActive(tags.length);
  };
  const search = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const page = await api<ProductCardPageT>(`/v1/products?q=${encodeURIComponent(q)}&limit=10`);
      setResults(page.items);
    } catch (err) {
      setError(messageFor(err));
    }
  };
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const caption = String(new FormData(e.currentTarget).get('caption') ?? '');
    const body: CreatePostInput = {
      kind,
      mediaType: 'photo',
      mediaUrl,
      caption,
      tags: tags.filter((t) => t.product).map((t) => ({ productId: t.product!.id, x: t.x, y: t.y })),
    };
    setBusy(true);
    setError(null);
    try {
      const post = await api<PostView>('/v1/posts', { method: 'POST', body });
      setDone(`Published ${kind} ${post.id} with ${post.tags.length} tag${post.tags.length === 1 ? '' : 's'}.`);
      setTags([]);
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
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
          <input value={mediaUrl} onChange={(e) => setMediaUrl(e.target.value.trim())} required pattern="(https?://|/)\S+" placeholder="https://… or /media/…" />
        </label>
        {mediaUrl && (
          <div className="media tagger">
            <p className="hint">Click on the image where a product is to tag it.</p>
            <img ref={img} src={mediaUrl} alt="Your media: click to place a product tag" onClick={place} />
            {tags.map((t, i) => (
              <button
                key={i}
                type="button"
                className="pin"
                style={{ left: `${t.x * 100}%`, top: `${t.y * 100}%` }}
                aria-label={`Tag ${i + 1}: ${t.product?.name ?? 'choose a product'}`}
                onClick={() => setActive(i)}
              >
                {i + 1}
              </button>
            ))}
          </div>
        )}
        {active !== null && tags[active] && (
          <div className="picker">
            <p>
              Tag {active + 1} at ({tags[active]!.x}, {tags[active]!.y}): {tags[active]!.product?.name ?? 'no product yet'}{' '}
              <button type="button" className="link" onClick={() => { setTags((t) => t.filter((_, i) => i !== active)); setActive(null); }}>
                Remove tag
              </button>
            </p>
            <div className="row">
              <label>
                Find a product
                <input value={q} onChange={(e) => setQ(e.target.value)} />
              </label>
              <button type="button" onClick={(e) => void search(e)}>
                Search
              </button>
            </div>
            <ul>
              {results.map((p) => (
                <li key={p.id}>
                  <button type="button" onClick={() => { setTags((t) => t.map((x, i) => (i === active ? { ...x, product: p } : x))); setActive(null); }}>
                    {p.name} · {formatMoney(p.priceMinor, p.currency)}
                  </button>
                </li>
              ))}
            </ul>
          </div>
        )}
        <label>
          Caption
          <textarea name="caption" maxLength={2200} rows={3} />
        </label>
        {error && <ErrorNote>{error}</ErrorNote>}
        {done && <p role="status" className="success">{done}</p>}
        <button type="submit" className="primary" disabled={busy || !mediaUrl}>
          {busy ? 'Publishing…' : 'Publish'}
        </button>
      </form>
    </>
  );
}
