import { useState, type FormEvent } from 'react';
import { api, AVAILABILITY_TEXT, formatDate, formatMoney, messageFor, newIdempotencyKey, type NewProduct, type OrderPage, type OrderView, type ProductCardPageT, type ProductDetailView, type StockViewT, type AttributionModel } from '../api';
import { ModelSwitch, TopTable, useRange } from '../reports';
import { Link, useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { OrderLines } from '../shopper/Orders';
import { BusyButton } from '../actions';
import { IMAGE_ACCEPT, MediaUpload } from '../creator/MediaUpload';
import { Empty, ErrorNote, PageTitle, Spinner, useApi } from '../ui';

/** The merchant's back office: products and stock, orders and fulfilment, and which creators sell for them. */
export default function MerchantArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  if (loading) return <Spinner />;
  if (!hasRole(account, 'merchant')) return <ErrorNote>Sign in with a merchant account to see this page.</ErrorNote>;
  const tab = (to: string, label: string) => (
    <Link to={to} aria-current={path === to ? 'page' : undefined}>
      {label}
    </Link>
  );
  const order = /^\/merchant\/orders\/([^/]+)$/.exec(path);
  const product = /^\/merchant\/products\/([^/]+)$/.exec(path);
  return (
    <section>
      <nav className="tabs" aria-label="Merchant">
        {tab('/merchant', 'Orders')}
        {tab('/merchant/products', 'Products')}
        {tab('/merchant/sales', 'Creators & posts')}
      </nav>
      {order ? <MerchantOrder id={order[1]!} /> : product ? <ProductStock id={product[1]!} /> : path === '/merchant/products' ? <Products /> : path === '/merchant/sales' ? <Sales /> : <Orders />}
    </section>
  );
}

const STATUSES = ['', 'placed', 'paid', 'fulfilling', 'shipped', 'delivered', 'cancelled'] as const;

function Orders() {
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('');
  const { data, error, loading } = useApi<OrderPage>(`/v1/merchant/orders?limit=50${status ? `&status=${status}` : ''}`);
  return (
    <>
      <PageTitle>Orders</PageTitle>
      <label className="inline">
        Status{' '}
        <select value={status} onChange={(e) => setStatus(e.target.value as typeof status)}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s || 'All'}
            </option>
          ))}
        </select>
      </label>
      {loading && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && data.items.length === 0 && <Empty>No orders.</Empty>}
      {data && data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Placed</th>
              <th scope="col">Items</th>
              <th scope="col">Total</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((o) => (
              <tr key={o.id}>
                <td>
                  <Link to={`/merchant/orders/${o.id}`}>{o.id}</Link>
                </td>
                <td>{formatDate(o.placedAt)}</td>
                <td>{o.itemCount}</td>
                <td>{formatMoney(o.totalMinor, o.currency)}</td>
                <td>{o.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function MerchantOrder({ id }: { id: string }) {
  const { data: o, error, loading, setData } = useApi<OrderView>(`/v1/merchant/orders/${id}`);
  // which action is running ('ship', 'deliver', 'cancel', 'refund'): its button says so, the others wait
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const run = async (action: string, what: string, call: () => Promise<OrderView | unknown>) => {
    setBusy(action);
    setNote(null);
    try {
      await call();
      setData(await api<OrderView>(`/v1/merchant/orders/${id}`));
      setNote({ ok: true, text: what });
    } catch (e) {
      setNote({ ok: false, text: messageFor(e) });
    } finally {
      setBusy(null);
    }
  };
  const ship = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = { carrier: String(f.get('carrier')).trim(), trackingNumber: String(f.get('trackingNumber')).trim() };
    void run('ship', 'Marked as shipped.', () => api(`/v1/merchant/orders/${id}/ship`, { method: 'POST', body }));
  };
  const cancel = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get('reason')).trim();
    void run('cancel', 'Order cancelled; the payment is refunded or voided.', () => api(`/v1/merchant/orders/${id}/cancel`, { method: 'POST', idempotencyKey: newIdempotencyKey(), body: { reason } }));
  };
  const refund = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const lines = (o?.lines ?? []).map((l) => ({ lineId: l.id, quantity: Number(f.get(`q-${l.id}`) || 0) })).filter((l) => l.quantity > 0);
    if (lines.length === 0) return setNote({ ok: false, text: 'Choose at least one unit to refund.' });
    void run('refund', 'Refund issued.', () => api(`/v1/merchant/orders/${id}/refunds`, { method: 'POST', idempotencyKey: newIdempotencyKey(), body: { lines, reason: String(f.get('reason')).trim() } }));
  };
  return (
    <>
      <PageTitle>Order</PageTitle>
      {loading && !o && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {o && (
        <div className="order">
          <p>
            <code>{o.id}</code> · placed {formatDate(o.placedAt)} · <strong data-testid="merchant-order-status">{o.status}</strong>
          </p>
          {o.trackingNumber && (
            <p>
              Shipped with {o.carrier}, tracking {o.trackingNumber}
            </p>
          )}
          {o.shipping && (
            <p>
              Ship to: {o.shipping.name}, {o.shipping.line1}, {o.shipping.postalCode} {o.shipping.city}, {o.shipping.country}
            </p>
          )}
          <OrderLines order={o} />
          {note && (note.ok ? <p role="status" className="success">{note.text}</p> : <ErrorNote>{note.text}</ErrorNote>)}
          <div className="grid actions-grid">
            {(o.status === 'paid' || o.status === 'fulfilling') && (
              <form onSubmit={ship} className="action-form">
                <h2>Ship</h2>
                <label>
                  Carrier
                  <input name="carrier" required maxLength={100} />
                </label>
                <label>
                  Tracking number
                  <input name="trackingNumber" required maxLength={200} />
                </label>
                <BusyButton type="submit" className="primary" busy={busy === 'ship'} busyText="Marking as shipped…" disabled={busy !== null}>
                  Mark as shipped
                </BusyButton>
              </form>
            )}
            {o.status === 'shipped' && (
              <div className="action-form">
                <h2>Delivery</h2>
                <p className="hint">Normally the carrier tells us; mark it yourself when you know it arrived.</p>
                <BusyButton type="button" busy={busy === 'deliver'} busyText="Marking as delivered…" disabled={busy !== null} onClick={() => void run('deliver', 'Marked as delivered.', () => api(`/v1/merchant/orders/${id}/deliver`, { method: 'POST' }))}>
                  Mark as delivered
                </BusyButton>
              </div>
            )}
            {['placed', 'paid', 'fulfilling'].includes(o.status) && (
              <form onSubmit={cancel} className="action-form">
                <h2>Cancel</h2>
                <label>
                  Reason
                  <input name="reason" required maxLength={500} />
                </label>
                <BusyButton type="submit" className="danger" busy={busy === 'cancel'} busyText="Cancelling and refunding…" disabled={busy !== null}>
                  Cancel order
                </BusyButton>
              </form>
            )}
            {['paid', 'fulfilling', 'shipped', 'delivered'].includes(o.status) && (
              <form onSubmit={refund} className="action-form">
                <h2>Refund</h2>
                {o.lines.map((l) => (
                  <label key={l.id}>
                    Units of {l.productName} to refund
                    <input name={`q-${l.id}`} type="number" min={0} max={l.quantity} defaultValue={0} />
                  </label>
                ))}
                <label>
                  Reason
                  <input name="reason" required maxLength={500} />
                </label>
                <BusyButton type="submit" busy={busy === 'refund'} busyText="Refunding…" disabled={busy !== null}>
                  Refund
                </BusyButton>
              </form>
            )}
          </div>
        </div>
      )}
    </>
  );
}

function Products() {
  const { data, error, loading, reload } = useApi<ProductCardPageT>('/v1/merchant/products?limit=50');
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [image, setImage] = useState('');
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(e.currentTarget);
    const body: NewProduct = {
      name: String(f.get('name')).trim(),
      description: String(f.get('description') ?? ''),
      status: 'active',
      currency: String(f.get('currency')).toUpperCase(),
      media: image ? [{ kind: 'image', url: image, alt: String(f.get('name')) }] : [],
      variants: [{ title: String(f.get('variant') || 'Standard'), priceMinor: Math.round(Number(f.get('price')) * 100), stock: Number(f.get('stock') || 0) }],
    };
    setBusy(true);
    try {
      await api('/v1/merchant/products', { method: 'POST', body });
      setNote(`Created ${body.name}.`);
      form.reset();
      setImage('');
      reload();
    } catch (err) {
      setNote(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <PageTitle>Products</PageTitle>
      {loading && !data && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && data.items.length === 0 && <Empty>No products yet.</Empty>}
      <ul className="products">
        {data?.items.map((p) => (
          <li key={p.id}>
            <Link to={`/merchant/products/${p.id}`}>{p.name}</Link> · {formatMoney(p.priceMinor, p.currency)} · {p.status} · {AVAILABILITY_TEXT[p.availability]}
          </li>
        ))}
      </ul>
      <form onSubmit={(e) => void create(e)} className="action-form">
        <h2>New product</h2>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Description
          <textarea name="description" rows={2} />
        </label>
        <label>
          Image URL
          <input name="image" type="text" placeholder="https://… or /media/…" value={image} onChange={(e) => setImage(e.target.value.trim())} />
        </label>
        <MediaUpload label="Or upload an image" accept={IMAGE_ACCEPT} onUploaded={(media) => setImage(media.url)} />
        <div className="row">
          <label>
            Variant
            <input name="variant" defaultValue="Standard" />
          </label>
          <label>
            Price
            <input name="price" type="number" min="0.01" step="0.01" required />
          </label>
          <label>
            Currency
            <input name="currency" defaultValue="USD" pattern="[A-Za-z]{3}" maxLength={3} size={4} />
          </label>
          <label>
            Stock
            <input name="stock" type="number" min={0} defaultValue={10} />
          </label>
        </div>
        {note && <p role="status">{note}</p>}
        <BusyButton type="submit" className="primary" busy={busy} busyText="Creating product…">
          Create product
        </BusyButton>
      </form>
    </>
  );
}

function ProductStock({ id }: { id: string }) {
  const { data, error, loading } = useApi<ProductDetailView>(`/v1/products/${id}`);
  return (
    <>
      <PageTitle>{data?.name ?? 'Product'}</PageTitle>
      {loading && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data?.variants.map((v) => <VariantStock key={v.id} skuId={v.id} title={`${v.title} · ${formatMoney(v.priceMinor, v.currency)}`} />)}
    </>
  );
}

function VariantStock({ skuId, title }: { skuId: string; title: string }) {
  const { data, error, setData } = useApi<StockViewT>(`/v1/merchant/variants/${skuId}/stock`);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const adjust = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    try {
      await api(`/v1/merchant/variants/${skuId}/stock-adjustments`, { method: 'POST', body: { delta: Number(f.get('delta')), reason: String(f.get('reason')).trim() } });
      setData(await api<StockViewT>(`/v1/merchant/variants/${skuId}/stock`));
      setNote('Stock updated.');
    } catch (err) {
      setNote(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="report">
      <h2>{title}</h2>
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && (
        <p>
          On hand {data.level.onHand} · reserved {data.level.reserved} · available {data.level.available} ({AVAILABILITY_TEXT[data.level.availability]})
        </p>
      )}
      <form onSubmit={(e) => void adjust(e)} className="row">
        <label>
          Add or remove units
          <input name="delta" type="number" required />
        </label>
        <label>
          Reason
          <input name="reason" required defaultValue="restock" />
        </label>
        <BusyButton type="submit" busy={busy} busyText="Adjusting…">
          Adjust
        </BusyButton>
      </form>
      {note && <p role="status">{note}</p>}
      {data && data.adjustments.length > 0 && (
        <ul className="muted">
          {data.adjustments.slice(0, 5).map((a) => (
            <li key={a.id}>
              {formatDate(a.createdAt)}: {a.delta > 0 ? '+' : ''}
              {a.delta} → {a.onHandAfter} ({a.reason})
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Sales() {
  const { from, to } = useRange(30);
  const [model, setModel] = useState<AttributionModel>('last_click');
  return (
    <>
      <PageTitle>Creators and posts selling your products</PageTitle>
      <ModelSwitch value={model} onChange={setModel} />
      <div className="grid">
        <TopTable title="Top creators" url={`/v1/reports/top?dimension=creator&model=${model}&from=${from}&to=${to}`} csvName="top-creators" />
        <TopTable title="Top posts" url={`/v1/reports/top?dimension=post&model=${model}&from=${from}&to=${to}`} csvName="top-posts" testId="merchant-top-posts" />
      </div>
    </>
  );
}
