import { formatDate, formatMoney, type OrderPage as OrderPageT, type OrderView } from '../api';
import { Link, useLocation } from '../router';
import { useSession } from '../session';
import { Empty, ErrorNote, PageTitle, Spinner, useApi } from '../ui';

const STATUS_TEXT: Record<OrderView['status'], string> = {
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
  const { data: o, error, loading } = useApi<OrderView>(account ? `/v1/orders/${id}` : null);
  const placed = query.get('placed') === '1';
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
          <h2>History</h2>
          <ol className="history">
            {o.history.map((h) => (
              <li key={h.seq}>
                {h.toStatus ? (STATUS_TEXT[h.toStatus as OrderView['status']] ?? h.toStatus) : h.type.replace(/_/g, ' ')} · {formatDate(h.at)}
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

/** An order's lines and totals (the shopper's and the merchant's order pages). */
export function OrderLines({ order: o }: { order: OrderView }) {
  return (
    <>
      <ul className="lines">
        {o.lines.map((l) => (
          <li key={l.id}>
            {l.productName} <span className="muted">{l.variantTitle}</span> × {l.quantity}
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
