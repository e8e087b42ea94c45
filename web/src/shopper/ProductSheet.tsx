import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { api, ApiError, AVAILABILITY_TEXT, formatMoney, MAX_LINE_QUANTITY, messageFor, type CartView, type CheckoutView, type ProductDetailView, type TagView } from '../api';
import { track } from '../events';
import { useLive } from '../live';
import { navigate } from '../router';
import { hasRole, unitsIn, useSession } from '../session';
import { ErrorNote } from '../ui';
import { Dialog } from './Dialog';
import { paidSentence, PayForm, type PayDetails } from './PayForm';

/** The API's per-line limit (quantity_limit_exceeded above it). */

export interface SheetTarget {
  tag: TagView;
  postId: string;
  opener: HTMLElement;
}

/**
 * The product sheet. It renders at once from the card the feed already holds (name, price, availability, image),
 * then fills in images, variants and reviews from the detail request (which also records the tap via ?ref=).
 */
export function ProductSheet({ target, onClose, onVariants }: { target: SheetTarget; onClose(): void; onVariants(productId: string, skuIds: string[]): void }) {
  const { tag } = target;
  const card = tag.product;
  const { account, announce, cartChanged } = useSession();
  const [detail, setDetail] = useState<ProductDetailView | null>(null);
  const [detailError, setDetailError] = useState<string | null>(null);
  const [skuId, setSkuId] = useState<string | null>(null);
  const [mode, setMode] = useState<'view' | 'pay'>('view');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [quantity, setQuantity] = useState(1);

  useEffect(() => {
    const ctl = new AbortController();
    api<ProductDetailView>(`/v1/products/${card.id}?ref=${encodeURIComponent(tag.referralToken)}`, { signal: ctl.signal }).then(
      (d) => {
        setDetail(d);
        const firstAvailable = d.variants.find((v) => v.availability !== 'sold_out') ?? d.variants[0];
        setSkuId(firstAvailable?.id ?? null);
        onVariants(d.id, d.variants.map((v) => v.id));
        track('product_view', { productId: d.id, referralToken: tag.referralToken, postId: target.postId });
      },
      (e) => {
        if ((e as Error).name !== 'AbortError') setDetailError(messageFor(e));
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [card.id, tag.referralToken]);

  const skuIds = useMemo(() => detail?.variants.map((v) => v.id) ?? [], [detail]);
  const live = useLive(skuIds).skus;
  const variant = detail?.variants.find((v) => v.id === skuId);
  const levelOf = (id: string, fallback: TagView['product']['availability']) => live.get(id)?.availability ?? fallback;
  const availability = variant ? levelOf(variant.id, variant.availability) : card.availability;
  const soldOut = availability === 'sold_out';
  const price = variant ? formatMoney(variant.priceMinor, variant.currency) : formatMoney(card.priceMinor, card.currency);
  // what "Pay …" says: the unit price times the quantity chosen
  const totalLabel = variant ? formatMoney(variant.priceMinor * quantity, variant.currency) : price;
  const images = detail?.media.filter((m) => m.kind === 'image') ?? [];

  const addToCart = async () => {
    if (!variant || busy) return;
    setBusy(true);
    setError(null);
    try {
      const cart = await api<CartView>('/v1/cart/lines', { method: 'POST', body: { skuId: variant.id, quantity, referralToken: tag.referralToken } });
      track('add_to_cart', { productId: card.id, skuId: variant.id, referralToken: tag.referralToken, postId: target.postId });
      cartChanged(cart);
      const units = unitsIn(cart);
      announce(`Added ${quantity > 1 ? `${quantity} × ` : ''}${card.name} to your cart (${units} item${units === 1 ? '' : 's'}).`);
    } catch (e) {
      setError(messageFor(e));
    } finally {
      setBusy(false);
    }
  };

  // While our own payment runs, the live level can already read "sold out" because of our own reservation of the
  // last unit: the form must stay (and its answer decide), never be swapped for "Sold out… nothing was charged".
  // On success it stays set until onPaid navigates away.
  const [paying, setPaying] = useState(false);
  const buyNow = async (details: PayDetails, key: string) => {
    setPaying(true);
    try {
      return await api<CheckoutView>('/v1/checkout/buy-now', {
        method: 'POST',
        idempotencyKey: key,
        body: { skuId: variant!.id, quantity, referralToken: tag.referralToken, ...details },
      });
    } catch (e) {
      setPaying(false);
      throw e;
    }
  };

  const paid = (r: CheckoutView) => {
    announce(paidSentence(r));
    onClose();
    navigate(`/orders/${r.orders[0]!.id}?placed=1`);
  };

  return (
    <Dialog title={card.name} onClose={onClose} className="product-sheet">
      <div className="product-top">
        <img className="product-image" src={images[0]?.url ?? card.imageUrl ?? ''} alt={images[0]?.alt ?? card.name} width={160} height={200} />
        <div>
          <p className="price" data-testid="sheet-price">
            {price}
          </p>
          <p className={`availability ${availability}`} aria-live="polite" data-testid="sheet-availability">
            {AVAILABILITY_TEXT[availability]}
          </p>
          {detail && <p className="merchant">Sold by {detail.merchant.name}</p>}
          {detail && detail.rating.count > 0 && (
            <p className="rating">
              {detail.rating.average} / 5 <span className="muted">({detail.rating.count} reviews)</span>
            </p>
          )}
        </div>
      </div>
      {!detail && !detailError && (
        <p className="loading" role="status" data-testid="sheet-loading">
          <span className="spinner" aria-hidden="true" /> Loading details…
        </p>
      )}
      {detailError && <ErrorNote>{detailError} The price above is from the feed.</ErrorNote>}
      {images.length > 1 && (
        <div className="gallery">
          {images.slice(1).map((m) => (
            <img key={m.id} src={m.url} alt={m.alt} width={96} height={120} loading="lazy" />
          ))}
        </div>
      )}
      {detail && (
        <>
          <p className="description">{detail.description}</p>
          {detail.variants.length > 1 && (
            <fieldset className="variants">
              <legend>Choose a variant</legend>
              {detail.variants.map((v) => {
                const a = levelOf(v.id, v.availability);
                return (
                  <label key={v.id} className="variant">
                    <input type="radio" name="variant" value={v.id} checked={v.id === skuId} onChange={() => setSkuId(v.id)} />
                    {v.title} · {formatMoney(v.priceMinor, v.currency)}
                    {a !== 'in_stock' && <span className="muted"> ({AVAILABILITY_TEXT[a]})</span>}
                  </label>
                );
              })}
            </fieldset>
          )}
          <label className="qty">
            Quantity{' '}
            <select value={quantity} disabled={paying} onChange={(e) => setQuantity(Number(e.target.value))}>
              {Array.from({ length: MAX_LINE_QUANTITY }, (_, i) => (
                <option key={i + 1} value={i + 1}>
                  {i + 1}
                </option>
              ))}
            </select>
          </label>
          {error && <ErrorNote>{error}</ErrorNote>}
          {mode === 'view' ? (
            <div className="actions">
              <button type="button" onClick={() => void addToCart()} disabled={soldOut || !variant} aria-busy={busy}>
                {busy ? 'Adding…' : 'Add to cart'}
              </button>
              <button type="button" className="primary" onClick={() => setMode('pay')} disabled={soldOut || !variant}>
                Buy now
              </button>
            </div>
          ) : soldOut && !paying ? (
            <ErrorNote>Sold out: the last one just went. Nothing was charged.</ErrorNote>
          ) : (
            <PayForm focusFirst attempt={`${variant?.id}×${quantity}`} totalLabel={totalLabel} pay={buyNow} onPaid={paid} subjects={[{ postId: target.postId, productId: card.id, referralToken: tag.referralToken }]} />
          )}
          <Reviews detail={detail} canWrite={hasRole(account, 'shopper')} />
        </>
      )}
    </Dialog>
  );
}

function Reviews({ detail, canWrite }: { detail: ProductDetailView; canWrite: boolean }) {
  const [items, setItems] = useState(detail.reviews.items);
  const [writing, setWriting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const title = String(f.get('title') ?? '').trim();
    try {
      const body = { rating: Number(f.get('rating')), body: String(f.get('body') ?? '').trim(), ...(title ? { title } : {}) };
      type Review = ProductDetailView['reviews']['items'][number];
      // one review per shopper: a second one replaces the first
      const review = await api<Review>(`/v1/products/${detail.id}/reviews`, { method: 'POST', body }).catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 'review_exists') return api<Review>(`/v1/products/${detail.id}/reviews/mine`, { method: 'PUT', body });
        throw err;
      });
      setItems((xs) => [review, ...xs.filter((x) => x.id !== review.id)]);
      setWriting(false);
      setSaved(true);
      setError(null);
    } catch (err) {
      setError(messageFor(err));
    }
  };
  return (
    <section className="reviews" aria-label="Reviews">
      <h3>Reviews</h3>
      {saved && <p role="status">Thanks, your review is saved.</p>}
      {canWrite && !writing && (
        <button type="button" onClick={() => setWriting(true)}>
          Write a review
        </button>
      )}
      {writing && (
        <form onSubmit={(e) => void submit(e)} className="review-form">
          <label>
            Rating
            <select name="rating" defaultValue="5">
              {[5, 4, 3, 2, 1].map((n) => (
                <option key={n} value={n}>
                  {n} star{n > 1 ? 's' : ''}
                </option>
              ))}
            </select>
          </label>
          <label>
            Title (optional)
            <input name="title" maxLength={200} />
          </label>
          <label>
            Your review
            <textarea name="body" required maxLength={5000} rows={3} />
          </label>
          {error && <ErrorNote>{error}</ErrorNote>}
          <button type="submit" className="primary">
            Save review
          </button>
        </form>
      )}
      {items.length === 0 ? (
        <p className="muted">No reviews yet.</p>
      ) : (
        <ul>
          {items.map((r) => (
            <li key={r.id}>
              <strong>{'★'.repeat(r.rating)}</strong> {r.title && <strong>{r.title}</strong>} {r.verifiedBuyer && <span className="badge">Verified buyer</span>}
              <p>{r.body}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
