import { useState, type FormEvent } from 'react';
import { api, AVAILABILITY_TEXT, formatDate, formatMoney, messageFor, newIdempotencyKey, type NewProduct, type OrderPage, type OrderView, type ProductCardPageT, type ProductDetailView, type StockViewT, type AttributionModel, type MerchantViewT, type ProductPatch, type VariantView } from '../api';
import { ModelSwitch, TopTable, useRange } from '../reports';
import { Link, navigate, useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { OrderLines, STATUS_TEXT } from '../shopper/Orders';
import { BusyButton, FormPage } from '../actions';
import { IMAGE_ACCEPT, MediaUpload } from '../creator/MediaUpload';
import { Empty, ErrorNote, NotFound, PageTitle, Spinner, useApi } from '../ui';

/** The merchant's back office: products and stock, orders and fulfilment, and which creators sell for them. */
export default function MerchantArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  const shop = useApi<MerchantViewT>(hasRole(account, 'merchant') ? '/v1/merchants/me' : null);
  if (loading) return <Spinner />;
  if (!hasRole(account, 'merchant')) return <ErrorNote>Sign in with a merchant account to see this page.</ErrorNote>;
  if (shop.error?.status === 404) return <ShopForm current={null} onSaved={shop.setData} />;
  if (shop.error) return <ErrorNote>{shop.error.message}</ErrorNote>;
  if (!shop.data) return <Spinner />;
  const tab = (to: string, label: string) => (
    // an order's page is under Orders, a product's under Products
    <Link to={to} aria-current={path === to || path.startsWith(to === '/merchant' ? '/merchant/orders/' : `${to}/`) ? 'page' : undefined}>
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
        {tab('/merchant/shop', 'Shop')}
      </nav>
      {order ? (
        <MerchantOrder id={order[1]!} />
      ) : product ? (
        <ProductEditor id={product[1]!} />
      ) : path === '/merchant/products' ? (
        <Products />
      ) : path === '/merchant/sales' ? (
        <Sales />
      ) : path === '/merchant/shop' ? (
        <ShopForm current={shop.data} onSaved={shop.setData} />
      ) : path === '/merchant' ? (
        <Orders />
      ) : (
        <NotFound />
      )}
    </section>
  );
}

/** The shop (name and description shoppers see on every product): set up once before anything else. */
function ShopForm({ current, onSaved }: { current: MerchantViewT | null; onSaved(m: MerchantViewT): void }) {
  const { announce } = useSession();
  const save = async (f: FormData) => {
    const saved = await api<MerchantViewT>('/v1/merchants/me', { method: 'PUT', body: { name: String(f.get('name')).trim(), description: String(f.get('description') ?? '').trim() } });
    announce(current ? 'Shop saved.' : `${saved.name} is set up. Add your first product under Products.`);
    onSaved(saved);
  };
  return (
    <FormPage
      title={current ? 'Your shop' : 'Set up your shop'}
      intro={!current && "Shoppers see your shop's name on every product you sell. You can change it later."}
      submit={current ? 'Save shop' : 'Create shop'}
      save={save}
    >
      <label>
        Shop name
        <input name="name" required maxLength={200} defaultValue={current?.name ?? ''} />
      </label>
      <label>
        Description (optional)
        <textarea name="description" rows={2} maxLength={10_000} defaultValue={current?.description ?? ''} />
      </label>
    </FormPage>
  );
}

const STATUSES = ['', 'placed', 'paid', 'fulfilling', 'shipped', 'delivered', 'cancelled'] as const;

type StatusFilter = (typeof STATUSES)[number];

function Orders() {
  // the filter lives in the address (?status=paid): a reload, a shared link and back from an order keep it
  const { query } = useLocation();
  const asked = query.get('status') ?? '';
  const status: StatusFilter = (STATUSES as readonly string[]).includes(asked) ? (asked as StatusFilter) : '';
  const setStatus = (s: StatusFilter) => navigate(s ? `/merchant?status=${s}` : '/merchant', { replace: true });
  const { data, error, loading } = useApi<OrderPage>(`/v1/merchant/orders?limit=50${status ? `&status=${status}` : ''}`);
  return (
    <>
      <PageTitle>Orders</PageTitle>
      <label className="inline">
        Status{' '}
        <select value={status} onChange={(e) => setStatus(e.target.value as StatusFilter)}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s ? STATUS_TEXT[s] : 'All'}
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
                <td>{STATUS_TEXT[o.status]}</td>
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
  // which action is running ('fulfil', 'ship', 'deliver', 'cancel', 'refund', 'return'): its button says so, the others wait
  const action = useAction();
  const { busy, note, setNote } = action;
  const run = (name: string, what: string, call: () => Promise<unknown>) =>
    action.run(name, what, async () => {
      await call();
      setData(await api<OrderView>(`/v1/merchant/orders/${id}`));
    });
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
  // refund (money back only) and return (the units came back: restocked and refunded) take units per line
  const byLines = (action: 'refund' | 'return', path: string, what: string) => (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const lines = (o?.lines ?? []).map((l) => ({ lineId: l.id, quantity: Number(f.get(`q-${l.id}`) || 0) })).filter((l) => l.quantity > 0);
    if (lines.length === 0) return setNote({ ok: false, text: `Choose at least one unit to ${action}.` });
    void run(action, what, () => api(`/v1/merchant/orders/${id}/${path}`, { method: 'POST', idempotencyKey: newIdempotencyKey(), body: { lines, reason: String(f.get('reason')).trim() } }));
  };
  const refund = byLines('refund', 'refunds', 'Refund issued.');
  const recordReturn = byLines('return', 'returns', 'Return recorded: the units are back in stock and refunded.');
  const left = (l: OrderView['lines'][number]) => l.quantity - l.refundedQuantity;
  const unitInputs = (verb: string) =>
    o?.lines.map((l) => (
      <div key={l.id}>
        <label>
          Units of {l.productName} to {verb}
          <input name={`q-${l.id}`} type="number" min={0} max={left(l)} defaultValue={0} disabled={left(l) === 0} aria-describedby={`left-${verb}-${l.id}`} />
        </label>
        <p id={`left-${verb}-${l.id}`} className="hint">
          {l.variantTitle}: {left(l)} of {l.quantity} not refunded yet
        </p>
      </div>
    ));
  const anyLeft = (o?.lines ?? []).some((l) => left(l) > 0);
  return (
    <>
      <PageTitle>Order</PageTitle>
      {loading && !o && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {o && (
        <div className="order">
          <p>
            <code>{o.id}</code> · placed {formatDate(o.placedAt)} · <strong data-testid="merchant-order-status">{STATUS_TEXT[o.status]}</strong>
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
          <ActionNote note={note} />
          <div className="grid actions-grid">
            {o.status === 'paid' && (
              <div className="action-form">
                <h2>Preparation</h2>
                <p className="hint">Tell the shopper you are packing it: the order shows as being prepared. It can no longer be cancelled by the shopper.</p>
                <BusyButton type="button" busy={busy === 'fulfil'} busyText="Starting…" disabled={busy !== null} onClick={() => void run('fulfil', `Status: ${STATUS_TEXT.fulfilling}.`, () => api(`/v1/merchant/orders/${id}/fulfil`, { method: 'POST' }))}>
                  Start preparing
                </BusyButton>
              </div>
            )}
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
            {o.status === 'delivered' && anyLeft && (
              <form onSubmit={recordReturn} className="action-form">
                <h2>Return</h2>
                <p className="hint">The shopper sent units back: they go back into stock and are refunded.</p>
                {unitInputs('return')}
                <label>
                  Reason
                  <input name="reason" required maxLength={500} />
                </label>
                <BusyButton type="submit" busy={busy === 'return'} busyText="Recording return…" disabled={busy !== null}>
                  Record return
                </BusyButton>
              </form>
            )}
            {['paid', 'fulfilling', 'shipped', 'delivered'].includes(o.status) && anyLeft && (
              <form onSubmit={refund} className="action-form">
                <h2>Refund</h2>
                {o.status === 'delivered' && <p className="hint">Money back only, nothing returned to stock.</p>}
                {unitInputs('refund')}
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
  const { busy, note, run } = useAction();
  const [image, setImage] = useState('');
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(e.currentTarget);
    const body: NewProduct = {
      name: String(f.get('name')).trim(),
      description: String(f.get('description') ?? ''),
      status: f.get('status') === 'draft' ? 'draft' : 'active',
      currency: String(f.get('currency')).toUpperCase(),
      media: image ? [{ kind: 'image', url: image, alt: String(f.get('name')) }] : [],
      variants: [{ title: String(f.get('variant') || 'Standard'), priceMinor: Math.round(Number(f.get('price')) * 100), stock: Number(f.get('stock') || 0) }],
    };
    await run('create', `Created ${body.name}.`, async () => {
      await api('/v1/merchant/products', { method: 'POST', body });
      form.reset();
      setImage('');
      reload();
    });
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
            <Link to={`/merchant/products/${p.id}`}>{p.name}</Link> · {formatMoney(p.priceMinor, p.currency)} · {PRODUCT_STATUS[p.status][0]} · {AVAILABILITY_TEXT[p.availability]}
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
        <label>
          Status
          <select name="status" defaultValue="active">
            <option value="active">Active (for sale now)</option>
            <option value="draft">Draft (shoppers do not see it yet)</option>
          </select>
        </label>
        <ActionNote note={note} />
        <BusyButton type="submit" className="primary" busy={busy === 'create'} busyText="Creating product…">
          Create product
        </BusyButton>
      </form>
    </>
  );
}

/** A product's status in words, and what it means for shoppers. */
const PRODUCT_STATUS: Record<ProductDetailView['status'], [string, string]> = {
  draft: ['Draft', 'shoppers do not see it'],
  active: ['Active', 'for sale'],
  archived: ['Archived', 'no longer sold'],
};

/** Money typed by a person ("12.5") in minor units, or NaN. */
const toMinor = (v: FormDataEntryValue | null) => Math.round(Number(v) * 100);

/** One product: its name, description and status, each variant's title, price and stock, and new variants. */
function ProductEditor({ id }: { id: string }) {
  const { data, error, loading, setData, reload } = useApi<ProductDetailView>(`/v1/products/${id}`);
  const { busy, note, run } = useAction();
  const save = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body: ProductPatch = { name: String(f.get('name')).trim(), description: String(f.get('description') ?? ''), status: String(f.get('status')) as ProductPatch['status'] };
    void run('product', 'Product saved.', async () => setData(await api<ProductDetailView>(`/v1/merchant/products/${id}`, { method: 'PATCH', body })));
  };
  const addVariant = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const body = { title: String(f.get('title')).trim(), priceMinor: toMinor(f.get('price')), stock: Number(f.get('stock') || 0) };
    void run('variant', `Added ${body.title}.`, async () => {
      await api(`/v1/merchant/products/${id}/variants`, { method: 'POST', body });
      form.reset();
      reload();
    });
  };
  return (
    <>
      <PageTitle>{data?.name ?? 'Product'}</PageTitle>
      {loading && !data && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && (
        <>
          <form onSubmit={save} className="action-form" key={data.updatedAt}>
            <h2>Details</h2>
            <label>
              Name
              <input name="name" required maxLength={200} defaultValue={data.name} />
            </label>
            <label>
              Description
              <textarea name="description" rows={2} maxLength={10_000} defaultValue={data.description} />
            </label>
            <label>
              Status
              <select name="status" defaultValue={data.status}>
                {(Object.keys(PRODUCT_STATUS) as ProductDetailView['status'][]).map((st) => (
                  <option key={st} value={st}>
                    {PRODUCT_STATUS[st][0]} ({PRODUCT_STATUS[st][1]})
                  </option>
                ))}
              </select>
            </label>
            <BusyButton type="submit" className="primary" busy={busy === 'product'} busyText="Saving…" disabled={busy !== null}>
              Save product
            </BusyButton>
          </form>
          <ActionNote note={note} />
          {data.variants.map((v) => (
            <VariantEditor key={v.id} variant={v} onSaved={reload} />
          ))}
          <form onSubmit={addVariant} className="action-form">
            <h2>Add a variant</h2>
            <div className="row">
              <label>
                Title
                <input name="title" required maxLength={200} placeholder="e.g. Size L" />
              </label>
              <label>
                Price ({data.currency})
                <input name="price" type="number" min="0.01" step="0.01" required />
              </label>
              <label>
                Stock
                <input name="stock" type="number" min={0} defaultValue={0} />
              </label>
            </div>
            <BusyButton type="submit" busy={busy === 'variant'} busyText="Adding variant…" disabled={busy !== null}>
              Add variant
            </BusyButton>
          </form>
        </>
      )}
    </>
  );
}

/** A variant: title and price (edited in place) and its stock with adjustments. */
function VariantEditor({ variant: v, onSaved }: { variant: VariantView; onSaved(): void }) {
  const { data, error, setData } = useApi<StockViewT>(`/v1/merchant/variants/${v.id}/stock`);
  const { busy, note, run } = useAction();
  const edit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = { title: String(f.get('title')).trim(), priceMinor: toMinor(f.get('price')) };
    void run('edit', 'Variant saved.', async () => {
      await api(`/v1/merchant/variants/${v.id}`, { method: 'PATCH', body });
      onSaved();
    });
  };
  const adjust = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void run('adjust', 'Stock updated.', async () => {
      await api(`/v1/merchant/variants/${v.id}/stock-adjustments`, { method: 'POST', body: { delta: Number(f.get('delta')), reason: String(f.get('reason')).trim() } });
      setData(await api<StockViewT>(`/v1/merchant/variants/${v.id}/stock`));
    });
  };
  return (
    <section className="report" aria-label={`Variant ${v.title}`}>
      <h2>
        {v.title} · {formatMoney(v.priceMinor, v.currency)}
      </h2>
      <form onSubmit={edit} className="row" key={`${v.title}-${v.priceMinor}`}>
        <label>
          Variant title
          <input name="title" required maxLength={200} defaultValue={v.title} />
        </label>
        <label>
          Price ({v.currency})
          <input name="price" type="number" min="0.01" step="0.01" required defaultValue={(v.priceMinor / 100).toFixed(2)} />
        </label>
        <BusyButton type="submit" busy={busy === 'edit'} busyText="Saving…" disabled={busy !== null}>
          Save variant
        </BusyButton>
      </form>
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && (
        <p>
          On hand {data.level.onHand} · reserved {data.level.reserved} · available {data.level.available} ({AVAILABILITY_TEXT[data.level.availability]})
        </p>
      )}
      <form onSubmit={adjust} className="row">
        <label>
          Add or remove units
          <input name="delta" type="number" required />
        </label>
        <label>
          Reason
          <input name="reason" required defaultValue="restock" />
        </label>
        <BusyButton type="submit" busy={busy === 'adjust'} busyText="Adjusting…" disabled={busy !== null}>
          Adjust
        </BusyButton>
      </form>
      <ActionNote note={note} />
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

type Note = { ok: boolean; text: string } | null;

/** Runs one action at a time: which one is busy (its button says so, the others wait) and what came of it. */
function useAction() {
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<Note>(null);
  const run = async (action: string, what: string, call: () => Promise<unknown>) => {
    setBusy(action);
    setNote(null);
    try {
      await call();
      setNote({ ok: true, text: what });
    } catch (e) {
      setNote({ ok: false, text: messageFor(e) });
    } finally {
      setBusy(null);
    }
  };
  return { busy, note, setNote, run };
}

function ActionNote({ note }: { note: Note }) {
  if (!note) return null;
  return note.ok ? (
    <p role="status" className="success">
      {note.text}
    </p>
  ) : (
    <ErrorNote>{note.text}</ErrorNote>
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
