import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, formatDate, formatMoney, messageFor, newIdempotencyKey, type OrderPage as OrderPageT, type OrderView } from '../api';
import { Link, useLocation } from '../router';
import { useSession } from '../session';
import { Empty, ErrorNote, PageTitle, Spinner, useApi } from '../ui';

export const STATUS_TEXT: Record<OrderView['status'], string> = {
  placed: 'Placed',
  paid: 'Paid',
  fulfilling: 'Being prepared',
  shipped: 'Shipped',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

function SignInFirst({ what }: { what: string }) {
  return (
    <p>
      <Link to={`/login?next=${encodeURIComponent(location.pathname)}`}>Sign in</Link> to see {what}.
    </p>
  );
}

export function OrdersPage() {
  const { account, loading: sessionLoading } = useSession();
  const { data, error, loading } = useApi<OrderPageT>(account ? '/v1/orders?limit=50' : null);
  return (
    <section className="narrow">
      <PageTitle>Your orders</PageTitle>
      {!account && !sessionLoading && <SignInFirst what="your orders" />}
      {loading && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && data.items.length === 0 && <Empty>No orders yet.</Empty>}
      {data && data.items.length > 0 && (
        <ul className="orders">
          {data.items.map((o) => (
            <li key={o.id}>
              <Link to={`/orders/${o.id}`}>
                Order {o.id.slice(-8)} · {formatMoney(o.totalMinor, o.currency)} · <span className={`status ${o.status}`}>{STATUS_TEXT[o.status]}</span>
              </Link>
              <div className="muted">{formatDate(o.placedAt)}</div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function OrderPage({ id }: { id: string }) {
  const { query } = useLocation();
  const { account, loading: sessionLoading } = useSession();
  const { data: o, error, loading, setData } = useApi<OrderView>(account ? `/v1/orders/${id}` : null);
  // the thank-you shows once, on arrival from the payment: a reload or a later visit shows the plain order
  const [arrived] = useState(() => query.get('placed') === '1');
  useEffect(() => {
    if (arrived) history.replaceState(history.state, '', location.pathname);
  }, [arrived]);
  const placed = arrived && o?.status !== 'cancelled';
  return (
    <section className="narrow">
      <PageTitle>{placed ? 'Thank you, your order is placed' : 'Order'}</PageTitle>
      {placed && (
        <p className="success" role="status">
          Payment accepted. We will let you know when it ships.
        </p>
      )}
      {!account && !sessionLoading && <SignInFirst what="this order" />}
      {loading && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {o && (
        <div className="order" data-testid="order">
          <p>
            Order <code>{o.id}</code> placed {formatDate(o.placedAt)}
          </p>
          <p>
            Status: <strong className={`status ${o.status}`} data-testid="order-status">{STATUS_TEXT[o.status]}</strong>
          </p>
          {o.trackingNumber && (
            <p data-testid="tracking">
              Tracking: {o.carrier} <strong>{o.trackingNumber}</strong>
            </p>
          )}
          <OrderLines order={o} />
          <CancelOrder order={o} onCancelled={setData} />
          <h2>History</h2>
          <ol className="history">
            {o.history.map((h) => (
              <li key={h.seq}>
                {h.toStatus ? (STATUS_TEXT[h.toStatus as OrderView['status']] ?? h.toStatus) : sentenceCase(h.type.replace(/_/g, ' '))} · {formatDate(h.at)}
              </li>
            ))}
          </ol>
          <p>
            <Link to="/orders">All orders</Link>
          </p>
        </div>
      )}
    </section>
  );
}

const sentenceCase = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Statuses in which the shopper may still cancel (the server's rule: before fulfilment starts). */
const CANCELLABLE: readonly OrderView['status'][] = ['placed', 'paid'];
const CANCEL_REASONS = ['Changed my mind', 'Ordered by mistake', 'Found it cheaper elsewhere', 'It takes too long'];

/** Cancel before fulfilment starts: asks once, then refunds (or voids) under an Idempotency-Key kept for a retry. */
function CancelOrder({ order, onCancelled }: { order: OrderView; onCancelled(o: OrderView): void }) {
  const { announce } = useSession();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const key = useRef<string | null>(null);
  if (!CANCELLABLE.includes(order.status)) return null;
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (busy) return;
    const reason = String(new FormData(e.currentTarget).get('reason'));
    key.current ??= newIdempotencyKey();
    setBusy(true);
    setError(null);
    try {
      const cancelled = await api<OrderView>(`/v1/orders/${order.id}/cancel`, { method: 'POST', idempotencyKey: key.current, body: { reason } });
      key.current = null;
      onCancelled(cancelled);
      announce(`Order cancelled. ${cancelled.refundedMinor > 0 ? `${formatMoney(cancelled.refundedMinor, cancelled.currency)} goes back to your card.` : 'Nothing was charged.'}`);
    } catch (err) {
      // a lost answer may still have cancelled it: the same key makes the retry answer that result, not cancel twice
      if (!(err instanceof ApiError && (err.code === 'network' || err.code === 'payment_unavailable'))) key.current = null;
      setError(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
  if (!asking)
    return (
      <p>
        <button type="button" onClick={() => setAsking(true)}>
          Cancel order
        </button>
      </p>
    );
  return (
    <form className="action-form" onSubmit={(e) => void submit(e)} aria-busy={busy}>
      <h2>Cancel this order?</h2>
      <p className="hint">You get the full amount back; nothing is shipped.</p>
      <label>
        Why are you cancelling?
        <select name="reason" defaultValue={CANCEL_REASONS[0]} disabled={busy}>
          {CANCEL_REASONS.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </label>
      {error && <ErrorNote>{error}</ErrorNote>}
      <div className="actions">
        <button type="submit" className="danger" disabled={busy} aria-busy={busy}>
          {busy ? 'Cancelling…' : 'Yes, cancel and refund'}
        </button>
        <button type="button" disabled={busy} onClick={() => setAsking(false)}>
          Keep my order
        </button>
      </div>
    </form>
  );
}

/** An order's lines and totals (the shopper's and the merchant's order pages). */
export function OrderLines({ order: o }: { order: OrderView }) {
  return (
    <>
      <ul className="lines">
        {o.lines.map((l) => (
          <li key={l.id}>
            {l.productName} <span className="muted">{l.variantTitle}</span> × {l.quantity}
            {l.refundedQuantity > 0 && <span className="muted"> · {l.returnedQuantity > 0 ? `${l.returnedQuantity} returned, ` : ''}{l.refundedQuantity} refunded</span>}
          </li>
        ))}
      </ul>
      <p className="total">
        Total {formatMoney(o.totalMinor, o.currency)}
        {o.refundedMinor > 0 && ` · refunded ${formatMoney(o.refundedMinor, o.currency)}`}
      </p>
    </>
  );
}
