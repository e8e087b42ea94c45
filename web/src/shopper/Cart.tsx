import { useEffect, useRef, useState } from 'react';
import { api, AVAILABILITY_TEXT, formatMoney, MAX_LINE_QUANTITY, messageFor, type CartView, type CheckoutView } from '../api';
import { navigate } from '../router';
import { useSession } from '../session';
import { Empty, ErrorNote, PageTitle, Spinner, useApi } from '../ui';
import { paidSentence, PayForm, type PayDetails } from './PayForm';

/** The cart, priced by the server now, and its checkout. */
export function CartPage() {
  const { account, loading: sessionLoading, announce, cartChanged, refreshCart } = useSession();
  const { data: cart, error, loading, setData, reload } = useApi<CartView>('/v1/cart');
  // signing out (or in) while here shows the cart of who is now there, as the top bar's count does
  const shownFor = useRef<string | null | undefined>(undefined);
  useEffect(() => {
    if (sessionLoading) return;
    const id = account?.id ?? null;
    if (shownFor.current !== undefined && shownFor.current !== id) reload();
    shownFor.current = id;
  }, [sessionLoading, account?.id, reload]);
  // the top bar's count follows the cart this page shows (loaded or changed here)
  useEffect(() => {
    if (cart) cartChanged(cart);
  }, [cart, cartChanged]);
  const [lineError, setLineError] = useState<string | null>(null);
  const change = async (lineId: string, quantity: number) => {
    try {
      const next =
        quantity === 0
          ? await api<CartView>(`/v1/cart/lines/${lineId}`, { method: 'DELETE' })
          : await api<CartView>(`/v1/cart/lines/${lineId}`, { method: 'PATCH', body: { quantity } });
      setData(next);
      setLineError(null);
    } catch (e) {
      setLineError(messageFor(e));
    }
  };
  const total = cart?.totals[0];
  const pay = (details: PayDetails, key: string) =>
    api<CheckoutView>('/v1/checkout', { method: 'POST', idempotencyKey: key, body: { ...details, ...(total ? { expectedTotalMinor: total.totalMinor } : {}) } });
  const paid = (r: CheckoutView) => {
    announce(paidSentence(r));
    refreshCart();
    navigate(`/orders/${r.orders[0]!.id}?placed=1`);
  };
  return (
    <section className="narrow">
      <PageTitle>Your cart</PageTitle>
      {loading && !cart && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {cart && cart.lines.length === 0 && <Empty>Your cart is empty. Tap a product in the feed to add it.</Empty>}
      {cart && cart.lines.length > 0 && (
        <>
          <ul className="lines">
            {cart.lines.map((l) => (
              <li key={l.id}>
                <div>
                  <strong>{l.productName}</strong> <span className="muted">{l.variantTitle}</span>
                  <div>
                    {formatMoney(l.unitPriceMinor, l.currency)} × {l.quantity}
                    {!l.purchasable && (
                      // enough stock yet not for sale: the merchant stopped selling the product or this variant
                      <span className="badge"> {l.available >= l.quantity ? 'No longer sold' : AVAILABILITY_TEXT[l.availability]}</span>
                    )}
                  </div>
                </div>
                <label className="qty">
                  <span className="visually-hidden">Quantity of {l.productName}</span>
                  <select value={l.quantity} onChange={(e) => void change(l.id, Number(e.target.value))}>
                    {Array.from({ length: MAX_LINE_QUANTITY + 1 }, (_, i) => (
                      <option key={i} value={i}>
                        {i === 0 ? 'Remove' : i}
                      </option>
                    ))}
                  </select>
                </label>
                {/* the same as quantity "Remove", where a person looks for it */}
                <button type="button" className="link" onClick={() => void change(l.id, 0)}>
                  Remove<span className="visually-hidden"> {l.productName}</span>
                </button>
              </li>
            ))}
          </ul>
          {lineError && <ErrorNote>{lineError}</ErrorNote>}
          {cart.totals.map((t) => (
            <p key={t.currency} className="total">
              Total {formatMoney(t.totalMinor, t.currency)} <span className="muted">(incl. {formatMoney(t.taxMinor, t.currency)} tax)</span>
            </p>
          ))}
          <PayForm
            totalLabel={total ? formatMoney(total.totalMinor, total.currency) : ''}
            pay={pay}
            onPaid={paid}
            subjects={cart.lines.flatMap((l) => (l.referral ? [{ postId: l.referral.postId, productId: l.productId }] : []))}
          />
        </>
      )}
    </section>
  );
}
