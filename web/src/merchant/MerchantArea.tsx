import { useMemo, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, AVAILABILITY_TEXT, formatDate, formatMoney, messageFor, newIdempotencyKey, type NewProduct, type OrderPage, type OrderView, type ProductCardPageT, type ProductDetailView, type StockViewT, type AttributionModel, type MerchantViewT, type OwnMerchantProfileT, type ProductPatch, type VariantView } from '../api';
import { ModelSwitch, RevenueChart, TopTable, useRange } from '../reports';
import { Link, navigate, useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { OrderLines, STATUS_TEXT } from '../shopper/Orders';
import { BusyButton, FormPage } from '../actions';
import { IMAGE_ACCEPT, MEDIA_ACCEPT, MediaUpload } from '../creator/MediaUpload';
import { Empty, ErrorNote, NotFound, PageTitle, Spinner, useApi } from '../ui';

/** The merchant's back office: products and stock, orders and fulfilment, and which creators sell for them. */
export default function MerchantArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  // `{ merchant: null }` before the shop is set up (GET /v1/merchants/me would answer a 404 the console logs)
  const profile = useApi<OwnMerchantProfileT>(hasRole(account, 'merchant') ? '/v1/merchant/profile' : null);
  const saved = (merchant: MerchantViewT) => profile.setData({ merchant });
  if (loading) return <Spinner />;
  if (!hasRole(account, 'merchant')) return <ErrorNote>Sign in with a merchant account to see this page.</ErrorNote>;
  if (profile.error) return <ErrorNote>{profile.error.message}</ErrorNote>;
  if (!profile.data) return <Spinner />;
  const shop = profile.data.merchant;
  if (!shop) return <ShopForm current={null} onSaved={saved} />;
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
        <ShopForm current={shop} onSaved={saved} />
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

/** Orders per page of the merchant's list ("Show older orders" reads the next). */
const ORDERS_PAGE = 25;

const STATUSES = ['', 'placed', 'paid', 'fulfilling', 'shipped', 'delivered', 'cancelled'] as const;

type StatusFilter = (typeof STATUSES)[number];

/** Periods the shop's totals cover (days back from now). */
const PERIODS = [7, 30, 90] as const;
type Period = (typeof PERIODS)[number];

function Orders() {
  // the filter and the totals' period live in the address (?status=paid&days=7): a reload, a shared link and back
  // from an order keep them
  const { query } = useLocation();
  const asked = query.get('status') ?? '';
  const status: StatusFilter = (STATUSES as readonly string[]).includes(asked) ? (asked as StatusFilter) : '';
  const askedDays = Number(query.get('days'));
  const days: Period = (PERIODS as readonly number[]).includes(askedDays) ? (askedDays as Period) : 30;
  const go = (s: StatusFilter, d: Period) => {
    const q = new URLSearchParams({ ...(s ? { status: s } : {}), ...(d !== 30 ? { days: String(d) } : {}) }).toString();
    navigate(q ? `/merchant?${q}` : '/merchant', { replace: true });
  };
  const setStatus = (s: StatusFilter) => go(s, days);
  const url = `/v1/merchant/orders?limit=${ORDERS_PAGE}${status ? `&status=${status}` : ''}`;
  const { data, error, loading } = useApi<OrderPage>(url);
  // older orders, page by page (the first page reloads with the filter and drops them)
  const [more, setMore] = useState<{ url: string; items: OrderPage['items']; nextCursor: string | null } | null>(null);
  const [moreBusy, setMoreBusy] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);
  const older = more?.url === url ? more : null;
  const items = [...(data?.items ?? []), ...(older?.items ?? [])];
  const nextCursor = older ? older.nextCursor : (data?.nextCursor ?? null);
  const showMore = async () => {
    if (!nextCursor) return;
    setMoreBusy(true);
    setMoreError(null);
    try {
      const page = await api<OrderPage>(`${url}&cursor=${encodeURIComponent(nextCursor)}`);
      setMore({ url, items: [...(older?.items ?? []), ...page.items], nextCursor: page.nextCursor });
    } catch (e) {
      setMoreError(messageFor(e));
    } finally {
      setMoreBusy(false);
    }
  };
  return (
    <>
      <PageTitle>Orders</PageTitle>
      <ShopTotals days={days} onDays={(d) => go(status, d)} />
      <FindOrder />
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
      {data && items.length === 0 && <Empty>{status ? `No orders are ${STATUS_TEXT[status].toLowerCase()}.` : 'No orders yet. Orders appear here when shoppers buy your products.'}</Empty>}
      {data && items.length > 0 && (
        <table className="merchant-orders">
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
            {items.map((o) => (
              <tr key={o.id}>
                <td className="ids">
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
      {data && nextCursor && (
        <BusyButton type="button" className="secondary more" busy={moreBusy} busyText="Loading older orders…" onClick={() => void showMore()}>
          Show older orders
        </BusyButton>
      )}
      {moreError && <ErrorNote>{moreError}</ErrorNote>}
    </>
  );
}

interface ShopSummaryT {
  from: string;
  to: string;
  currencies: { currency: string; orders: number; cancelled: number; units: number; revenueMinor: number; refundedMinor: number }[];
}

/**
 * The whole shop over a period (GET /v1/merchant/summary: every order, whether or not a post drove it; the reports
 * count only attributed sales). Revenue is what orders not cancelled kept (total less refunds); refunds count every
 * order's, cancellations included. The period ends at the next full minute, fixed while the period is shown.
 */
function ShopTotals({ days, onDays }: { days: Period; onDays(d: Period): void }) {
  const range = useMemo(() => {
    const to = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
    return `from=${encodeURIComponent(new Date(to - days * 86_400_000).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
  }, [days]);
  const { data, error } = useApi<ShopSummaryT>(`/v1/merchant/summary?${range}`);
  const money = data?.currencies ?? [];
  const count = (pick: (c: ShopSummaryT['currencies'][number]) => number) => money.reduce((sum, c) => sum + pick(c), 0);
  const list = (pick: (c: ShopSummaryT['currencies'][number]) => number) => (money.length ? money.map((c) => formatMoney(pick(c), c.currency)).join(', ') : 'None');
  const cancelled = count((c) => c.cancelled);
  return (
    <section className="report" aria-labelledby="shop-totals">
      <div className="report-head">
        <h2 id="shop-totals">Your shop, last {days} days</h2>
        <label className="inline">
          Period{' '}
          <select value={days} onChange={(e) => onDays(Number(e.target.value) as Period)}>
            {PERIODS.map((d) => (
              <option key={d} value={d}>
                Last {d} days
              </option>
            ))}
          </select>
        </label>
      </div>
      {!data && !error && <Spinner label="Adding up your orders…" />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && (
        <>
          <dl className="totals" data-testid="shop-totals">
            <div>
              <dt>Orders</dt>
              <dd>
                {count((c) => c.orders)}
                {cancelled > 0 && <span className="muted"> (and {cancelled} cancelled)</span>}
              </dd>
            </div>
            <div>
              <dt>Units</dt>
              <dd>{count((c) => c.units)}</dd>
            </div>
            <div>
              <dt>Revenue</dt>
              <dd>{list((c) => c.revenueMinor)}</dd>
            </div>
            <div>
              <dt>Refunded</dt>
              <dd>{list((c) => c.refundedMinor)}</dd>
            </div>
          </dl>
          <p className="hint">Orders placed in the period; revenue is what orders not cancelled kept after refunds. Each currency is added up on its own.</p>
        </>
      )}
    </section>
  );
}

const ORDER_ID = /^ord_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Opens one order by its id (GET /v1/merchant/orders/:id), or says in place that the shop has no such order. */
function FindOrder() {
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const find = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    // ids are ord_ and 26 capitals and digits (the API refuses another shape): a pasted id in lower case is the same id
    const typed = String(new FormData(e.currentTarget).get('orderId') ?? '').trim();
    const id = /^ord_/i.test(typed) ? `ord_${typed.slice(4).toUpperCase()}` : typed;
    if (!id) return setNote('Enter the order id (it starts with ord_).');
    if (!ORDER_ID.test(id)) return setNote(`${typed} is not an order id: an order id is ord_ followed by 26 letters and digits.`);
    setBusy(true);
    setNote(null);
    try {
      await api<OrderView>(`/v1/merchant/orders/${encodeURIComponent(id)}`);
      navigate(`/merchant/orders/${encodeURIComponent(id)}`);
    } catch (err) {
      setBusy(false);
      setNote(err instanceof ApiError && err.status === 404 ? `Your shop has no order ${id}. Check the id (it starts with ord_).` : messageFor(err));
    }
  };
  return (
    <form className="row" role="search" aria-label="Find an order" onSubmit={(e) => void find(e)}>
      <label>
        Order id
        <input name="orderId" autoComplete="off" spellCheck={false} placeholder="ord_…" aria-describedby={note ? 'find-order-note' : undefined} />
      </label>
      <BusyButton type="submit" className="secondary" busy={busy} busyText="Finding…">
        Find order
      </BusyButton>
      {note && (
        <p id="find-order-note" className="field-error" role="alert">
          {note}
        </p>
      )}
    </form>
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
  // cancel, refund and return move money: the same attempt (same body) retried after a lost answer reuses its
  // Idempotency-Key, so the server answers the first result instead of refunding twice
  const runKeyed = (name: string, what: string, path: string, body: unknown) =>
    action.runKeyed(name, what, JSON.stringify([path, body]), async (idempotencyKey) => {
      await api(`/v1/merchant/orders/${id}/${path}`, { method: 'POST', idempotencyKey, body });
      setData(await api<OrderView>(`/v1/merchant/orders/${id}`));
    });
  const ship = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = { carrier: String(f.get('carrier')).trim(), trackingNumber: String(f.get('trackingNumber')).trim() };
    if (!body.carrier || !body.trackingNumber) return setNote({ ok: false, text: 'Enter the carrier and the tracking number the shopper can follow the parcel with.' });
    void run('ship', 'Marked as shipped.', () => api(`/v1/merchant/orders/${id}/ship`, { method: 'POST', body }));
  };
  const cancel = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get('reason')).trim();
    void runKeyed('cancel', 'Order cancelled; the payment is refunded or voided.', 'cancel', { reason });
  };
  // refund (money back only) and return (the units came back: restocked and refunded) take units per line
  const byLines = (action: 'refund' | 'return', path: string, what: string) => (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const lines = (o?.lines ?? []).map((l) => ({ lineId: l.id, quantity: Number(f.get(`q-${l.id}`) || 0) })).filter((l) => l.quantity > 0);
    if (lines.length === 0) return setNote({ ok: false, text: `Choose at least one unit to ${action}.` });
    void runKeyed(action, what, path, { lines, reason: String(f.get('reason')).trim() });
  };
  const refund = byLines('refund', 'refunds', 'Refund issued.');
  const recordReturn = byLines('return', 'returns', 'Return recorded: the units are back in stock and refunded.');
  type Line = OrderView['lines'][number];
  // a refund gives back money not refunded yet; a return takes back units not returned yet, also ones refunded
  // before without a return (the server refunds only what was not refunded)
  const notRefunded = (l: Line) => l.quantity - l.refundedQuantity;
  const notReturned = (l: Line) => l.quantity - l.returnedQuantity;
  const unitInputs = (verb: 'refund' | 'return') => {
    const left = verb === 'refund' ? notRefunded : notReturned;
    return o?.lines.map((l) => (
      <div key={l.id}>
        <label>
          Units of {l.productName} to {verb}
          <input name={`q-${l.id}`} type="number" min={0} max={left(l)} defaultValue={0} disabled={left(l) === 0} aria-describedby={`left-${verb}-${l.id}`} />
        </label>
        <p id={`left-${verb}-${l.id}`} className="hint">
          {l.variantTitle}: {left(l)} of {l.quantity} {verb === 'refund' ? 'not refunded yet' : `not returned yet${l.refundedQuantity > l.returnedQuantity ? ` (${l.refundedQuantity - l.returnedQuantity} already refunded: not refunded again)` : ''}`}
        </p>
      </div>
    ));
  };
  const anyLeft = (o?.lines ?? []).some((l) => notRefunded(l) > 0);
  const anyToReturn = (o?.lines ?? []).some((l) => notReturned(l) > 0);
  // the forms start empty again after each change of the order (their maximums change with it)
  const formKey = o ? `${o.status}-${o.refundedMinor}-${o.lines.map((l) => `${l.refundedQuantity}/${l.returnedQuantity}`).join(',')}` : '';
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
            {o.status === 'delivered' && anyToReturn && (
              <form onSubmit={recordReturn} className="action-form" key={`return-${formKey}`}>
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
              <form onSubmit={refund} className="action-form" key={`refund-${formKey}`}>
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

/** Currencies a product can be priced in: each has 2 decimals (prices are typed and shown as units / 100). */
const CURRENCIES = ['USD', 'EUR', 'GBP', 'CAD', 'AUD', 'NZD', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'SGD'] as const;

const MEDIA_URL = /^(https?:\/\/[^\s"<>]+|\/(?!\/)[^\s"<>]*)$/;

/** "size: M, color: red" → { size: 'M', color: 'red' }, or a sentence saying what is wrong. */
function parseOptions(text: string): Record<string, string> | string {
  const options: Record<string, string> = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const at = part.indexOf(':');
    const name = at < 0 ? '' : part.slice(0, at).trim();
    const value = at < 0 ? '' : part.slice(at + 1).trim();
    if (!name || !value) return 'Write each option as name: value, separated by commas (e.g. size: M, color: red).';
    if (name.length > 50 || value.length > 100) return 'An option name is at most 50 characters and a value at most 100.';
    if (name in options) return `The option "${name}" is given twice.`;
    options[name] = value;
  }
  if (Object.keys(options).length > 20) return 'A variant has at most 20 options.';
  return options;
}

const optionsText = (options: Record<string, string>) =>
  Object.entries(options)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');

/** A price typed by a person ("12.5") in minor units, or a sentence saying what is wrong. */
function parsePrice(v: FormDataEntryValue | null): number | string {
  const text = String(v ?? '').trim();
  if (!/^\d+(\.\d{1,2})?$/.test(text)) return 'Enter a price such as 12.50 (at most 2 decimals).';
  const minor = Math.round(Number(text) * 100);
  if (minor < 1) return 'The price must be above 0.';
  if (minor > 100_000_000) return 'The price can be at most 1,000,000.00.';
  return minor;
}

/** The API's name of a field (the last part of a validation error's path) → the form's field. */
const API_FIELDS: Record<string, string> = { priceMinor: 'price', url: 'image', options: 'options', delta: 'delta', onHand: 'onHand', title: 'title', name: 'name', currency: 'currency', reason: 'reason', stock: 'stock', description: 'description' };

type FieldErrors = Record<string, string>;

/** A variant form's price and options, or what is wrong with them (by field). */
function priceAndOptions(
  f: FormData,
): { ok: true; found: FieldErrors; price: number; options: Record<string, string> } | { ok: false; found: FieldErrors } {
  const price = parsePrice(f.get('price'));
  const options = parseOptions(String(f.get('options') ?? ''));
  const found: FieldErrors = {};
  if (typeof price === 'string') found.price = price;
  if (typeof options === 'string') found.options = options;
  return typeof price === 'string' || typeof options === 'string' ? { ok: false, found } : { ok: true, found, price, options };
}

/**
 * Errors shown under their own field: the field is aria-invalid and described by its error, and the first invalid
 * field takes the focus. `fromApi` places a refused request's validation errors the same way.
 */
function useFieldErrors(prefix: string) {
  const [errors, setErrors] = useState<FieldErrors>({});
  const idOf = (name: string) => `${prefix}-${name}-error`;
  const props = (name: string) => ({ name, 'aria-invalid': errors[name] ? true : undefined, 'aria-describedby': errors[name] ? idOf(name) : undefined });
  const show = (form: HTMLFormElement, found: FieldErrors) => {
    setErrors(found);
    const first = Object.keys(found)[0];
    if (first) (form.elements.namedItem(first) as HTMLElement | null)?.focus?.();
    return Object.keys(found).length > 0;
  };
  const fromApi = (form: HTMLFormElement, e: unknown) => {
    if (!(e instanceof ApiError && e.code === 'validation_failed' && Array.isArray(e.details))) return;
    const found: FieldErrors = {};
    for (const d of e.details as { path?: string }[]) {
      const segments = (d.path ?? '').split('/').filter((x) => x && !/^\d+$/.test(x));
      const field = segments.map((x) => API_FIELDS[x]).filter(Boolean).pop();
      if (field && form.elements.namedItem(field)) found[field] ??= 'This is not valid.';
    }
    show(form, found);
  };
  const error = (name: string) =>
    errors[name] ? (
      <p id={idOf(name)} className="field-error">
        {errors[name]}
      </p>
    ) : null;
  return { props, show, fromApi, error, clear: () => setErrors({}) };
}

function Products() {
  const { data, error, loading, reload } = useApi<ProductCardPageT>('/v1/merchant/products?limit=50');
  const { busy, note, run } = useAction();
  // older products, page by page (a reload of the first page, after a product is created, drops them)
  const [more, setMore] = useState<{ first: ProductCardPageT; items: ProductCardPageT['items']; nextCursor: string | null } | null>(null);
  const older = data && more?.first === data ? more : null;
  const products = [...(data?.items ?? []), ...(older?.items ?? [])];
  const nextCursor = older ? older.nextCursor : (data?.nextCursor ?? null);
  const showMore = () =>
    run('more', '', async () => {
      if (!data || !nextCursor) return;
      const page = await api<ProductCardPageT>(`/v1/merchant/products?limit=50&cursor=${encodeURIComponent(nextCursor)}`);
      setMore({ first: data, items: [...(older?.items ?? []), ...page.items], nextCursor: page.nextCursor });
    });
  const [image, setImage] = useState('');
  const fields = useFieldErrors('new-product');
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(e.currentTarget);
    const price = parsePrice(f.get('price'));
    const options = parseOptions(String(f.get('options') ?? ''));
    const found: FieldErrors = {};
    if (image && !MEDIA_URL.test(image)) found.image = 'Enter an address starting with https:// or /media/, or upload an image.';
    if (typeof price === 'string') found.price = price;
    if (typeof options === 'string') found.options = options;
    if (fields.show(form, found) || typeof price === 'string' || typeof options === 'string') return;
    const body: NewProduct = {
      name: String(f.get('name')).trim(),
      description: String(f.get('description') ?? ''),
      status: f.get('status') === 'draft' ? 'draft' : 'active',
      currency: String(f.get('currency')),
      media: image ? [{ kind: /\.(mp4|webm)(\?|$)/i.test(image) ? 'video' : 'image', url: image, alt: String(f.get('name')) }] : [],
      variants: [{ title: String(f.get('variant') || 'Standard').trim() || 'Standard', priceMinor: price, options, stock: Number(f.get('stock') || 0) }],
    };
    await run(
      'create',
      `Created ${body.name}. Open it to add more variants, images or a video.`,
      async () => {
        await api('/v1/merchant/products', { method: 'POST', body });
        form.reset();
        setImage('');
        reload();
      },
      (err) => fields.fromApi(form, err),
    );
  };
  return (
    <>
      <PageTitle>Products</PageTitle>
      {loading && !data && <Spinner />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && products.length === 0 && <Empty>No products yet.</Empty>}
      <ul className="products">
        {products.map((p) => (
          <li key={p.id}>
            <Link to={`/merchant/products/${p.id}`}>{p.name}</Link> · {formatMoney(p.priceMinor, p.currency)} · {PRODUCT_STATUS[p.status][0]} · {AVAILABILITY_TEXT[p.availability]}
          </li>
        ))}
      </ul>
      {nextCursor && (
        <BusyButton type="button" className="secondary more" busy={busy === 'more'} busyText="Loading more products…" disabled={busy !== null} onClick={() => void showMore()}>
          Show more products
        </BusyButton>
      )}
      <form onSubmit={(e) => void create(e)} className="action-form">
        <h2>New product</h2>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Description
          <textarea name="description" rows={2} maxLength={10_000} />
        </label>
        <div className="field">
          <label>
            Image URL
            <input {...fields.props('image')} type="text" placeholder="https://… or /media/…" value={image} onChange={(e) => setImage(e.target.value.trim())} />
          </label>
          {fields.error('image')}
        </div>
        <MediaUpload label="Or upload an image" accept={IMAGE_ACCEPT} onUploaded={(media) => setImage(media.url)} />
        <div className="row">
          <label>
            Variant
            <input name="variant" defaultValue="Standard" maxLength={200} />
          </label>
          <div className="field">
            <label>
              Price
              <input {...fields.props('price')} type="number" min="0.01" step="0.01" required inputMode="decimal" />
            </label>
            {fields.error('price')}
          </div>
          <label>
            Currency
            <select name="currency" defaultValue="USD">
              {CURRENCIES.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          <label>
            Stock
            <input name="stock" type="number" min={0} defaultValue={10} />
          </label>
        </div>
        <div className="field">
          <label>
            Variant options (optional)
            <input {...fields.props('options')} placeholder="size: M, color: red" aria-describedby={fields.props('options')['aria-describedby'] ?? 'new-product-options-hint'} />
          </label>
          <p id="new-product-options-hint" className="hint">
            Name: value pairs shoppers choose by, separated by commas.
          </p>
          {fields.error('options')}
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

type MediaItem = { kind: 'image' | 'video'; url: string; alt: string };

/** One product: its name, description and status, its images and videos, each variant's title, price and stock, and new variants. */
function ProductEditor({ id }: { id: string }) {
  const { data, error, loading, setData, reload } = useApi<ProductDetailView>(`/v1/products/${id}`);
  const { busy, note, run } = useAction();
  const variantFields = useFieldErrors('new-variant');
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
    const read = priceAndOptions(f);
    if (variantFields.show(form, read.found) || !read.ok) return;
    const body = { title: String(f.get('title')).trim(), priceMinor: read.price, options: read.options, stock: Number(f.get('stock') || 0) };
    void run(
      'variant',
      `Added ${body.title}.`,
      async () => {
        await api(`/v1/merchant/products/${id}/variants`, { method: 'POST', body });
        form.reset();
        reload();
      },
      (err) => variantFields.fromApi(form, err),
    );
  };
  const saveMedia = (media: MediaItem[], what: string) =>
    run('media', what, async () => setData(await api<ProductDetailView>(`/v1/merchant/products/${id}`, { method: 'PATCH', body: { media } })));
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
          <ProductMedia
            key={`media-${data.updatedAt}`}
            media={data.media.map((m) => ({ kind: m.kind === 'video' ? 'video' : 'image', url: m.url, alt: m.alt }))}
            name={data.name}
            busy={busy === 'media'}
            disabled={busy !== null}
            onSave={saveMedia}
          />
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
              <div className="field">
                <label>
                  Price ({data.currency})
                  <input {...variantFields.props('price')} type="number" min="0.01" step="0.01" required inputMode="decimal" />
                </label>
                {variantFields.error('price')}
              </div>
              <label>
                Stock
                <input name="stock" type="number" min={0} defaultValue={0} />
              </label>
            </div>
            <div className="field">
              <label>
                Options (optional)
                <input {...variantFields.props('options')} placeholder="size: L, color: red" />
              </label>
              {variantFields.error('options')}
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

/** The product's images and videos, in the order shoppers see them: remove one, or add one by URL or upload. */
function ProductMedia({ media, name, busy, disabled, onSave }: { media: MediaItem[]; name: string; busy: boolean; disabled: boolean; onSave(media: MediaItem[], what: string): Promise<void> }) {
  const [url, setUrl] = useState('');
  const [kind, setKind] = useState<'image' | 'video'>('image');
  const fields = useFieldErrors('product-media');
  const add = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const found: FieldErrors = {};
    if (!url) found.mediaUrl = 'Enter an address or upload a file first.';
    else if (!MEDIA_URL.test(url)) found.mediaUrl = 'Enter an address starting with https:// or /media/, or upload a file.';
    else if (media.length >= 20) found.mediaUrl = 'A product has at most 20 images and videos: remove one first.';
    if (fields.show(form, found)) return;
    void onSave([...media, { kind, url, alt: name }], kind === 'video' ? 'Video added.' : 'Image added.');
  };
  return (
    <section className="report" aria-labelledby="product-media-title">
      <h2 id="product-media-title">Images and videos</h2>
      {media.length === 0 ? (
        <p className="muted">No images or videos yet: shoppers see a placeholder.</p>
      ) : (
        <ul className="product-media">
          {media.map((m, i) => (
            <li key={`${m.url}-${i}`}>
              {m.kind === 'video' ? <video src={m.url} muted controls preload="metadata" aria-label={`Video ${i + 1}`} /> : <img src={m.url} alt={m.alt || `Image ${i + 1}`} />}
              <button type="button" className="secondary small" disabled={disabled} onClick={() => void onSave(media.filter((_, j) => j !== i), `${m.kind === 'video' ? 'Video' : 'Image'} removed.`)}>
                Remove {m.kind} {i + 1}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={add}>
        <div className="field">
          <label>
            Image or video URL
            <input {...fields.props('mediaUrl')} type="text" placeholder="https://… or /media/…" value={url} onChange={(e) => setUrl(e.target.value.trim())} />
          </label>
          {fields.error('mediaUrl')}
        </div>
        <label className="inline">
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value === 'video' ? 'video' : 'image')}>
            <option value="image">Image</option>
            <option value="video">Video</option>
          </select>
        </label>
        <MediaUpload
          label="Or upload an image or video"
          accept={MEDIA_ACCEPT}
          onUploaded={(m) => {
            setUrl(m.url);
            setKind(m.contentType.startsWith('video/') ? 'video' : 'image');
          }}
        />
        <BusyButton type="submit" busy={busy} busyText="Saving media…" disabled={disabled}>
          Add to product
        </BusyButton>
      </form>
    </section>
  );
}

/** A variant: title, price and options (edited in place) and its stock: add or remove units, or set the count. */
function VariantEditor({ variant: v, onSaved }: { variant: VariantView; onSaved(): void }) {
  const stockUrl = `/v1/merchant/variants/${v.id}/stock?limit=${HISTORY_PAGE}`;
  const { data, error, setData } = useApi<StockViewT>(stockUrl);
  // older adjustments, page by page; they belong to the first page they followed (a new count reads it again and drops them)
  const [more, setMore] = useState<{ after: StockViewT; items: StockViewT['adjustments']; nextCursor: string | null } | null>(null);
  const [moreBusy, setMoreBusy] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);
  const older = data && more?.after === data ? more : null;
  const history = [...(data?.adjustments ?? []), ...(older?.items ?? [])];
  const historyCursor = older ? older.nextCursor : (data?.nextCursor ?? null);
  const showOlder = async () => {
    if (!data || !historyCursor) return;
    setMoreBusy(true);
    setMoreError(null);
    try {
      const page = await api<StockViewT>(`${stockUrl}&cursor=${encodeURIComponent(historyCursor)}`);
      setMore({ after: data, items: [...(older?.items ?? []), ...page.adjustments], nextCursor: page.nextCursor });
    } catch (e) {
      setMoreError(messageFor(e));
    } finally {
      setMoreBusy(false);
    }
  };
  const { busy, note, run } = useAction();
  const editFields = useFieldErrors(`variant-${v.id}`);
  const [mode, setMode] = useState<'add' | 'set'>('add');
  const stockFields = useFieldErrors(`stock-${v.id}`);
  const edit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const read = priceAndOptions(f);
    if (editFields.show(form, read.found) || !read.ok) return;
    const body = { title: String(f.get('title')).trim(), priceMinor: read.price, options: read.options };
    void run(
      'edit',
      'Variant saved.',
      async () => {
        await api(`/v1/merchant/variants/${v.id}`, { method: 'PATCH', body });
        onSaved();
      },
      (err) => editFields.fromApi(form, err),
    );
  };
  const changeStock = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const amount = Number(String(f.get('delta') ?? '').trim() || NaN);
    const reason = String(f.get('reason') ?? '').trim();
    const found: FieldErrors = {};
    if (!Number.isInteger(amount)) found.delta = mode === 'set' ? 'Enter the number of units you have.' : 'Enter a whole number of units: 5 adds five, -2 removes two.';
    else if (mode === 'add' && amount === 0) found.delta = 'Enter a number other than 0: 5 adds five units, -2 removes two.';
    else if (mode === 'set' && amount < 0) found.delta = 'The count cannot be below 0.';
    if (!reason) found.reason = 'Say why the stock changes (it is kept in the history).';
    if (stockFields.show(form, found)) return;
    void run(
      'adjust',
      'Stock updated.',
      async () => {
        if (mode === 'set') await api(`/v1/merchant/variants/${v.id}/stock`, { method: 'PUT', body: { onHand: amount, reason } });
        else await api(`/v1/merchant/variants/${v.id}/stock-adjustments`, { method: 'POST', body: { delta: amount, reason } });
        setData(await api<StockViewT>(stockUrl));
        form.reset();
        setMode('add');
      },
      (err) => {
        stockFields.fromApi(form, err);
        // the count may have moved meanwhile (a sale, another tab): show the current one with the refusal
        void api<StockViewT>(stockUrl).then(setData, () => undefined);
      },
    );
  };
  const retired = v.status === 'archived';
  // retiring one SKU stops its sale (shoppers no longer see it; carts holding it cannot pay) without archiving the product
  const setStatus = () =>
    void run('status', retired ? 'Variant is for sale again.' : 'Variant no longer sold.', async () => {
      await api(`/v1/merchant/variants/${v.id}`, { method: 'PATCH', body: { status: retired ? 'active' : 'archived' } });
      onSaved();
    });
  const options = optionsText(v.options);
  return (
    <section className="report" aria-label={`Variant ${v.title}`}>
      <h2>
        {v.title} · {formatMoney(v.priceMinor, v.currency)}
      </h2>
      {options && <p className="muted">Options: {options}</p>}
      <p>
        {retired ? 'Not sold: hidden from shoppers, and carts holding it cannot pay.' : 'For sale.'}{' '}
        <BusyButton type="button" className="secondary" busy={busy === 'status'} busyText={retired ? 'Putting on sale…' : 'Stopping sale…'} disabled={busy !== null} onClick={setStatus}>
          {retired ? 'Sell this variant again' : 'Stop selling this variant'}
          <span className="visually-hidden"> ({v.title})</span>
        </BusyButton>
      </p>
      <form onSubmit={edit} className="row" key={`${v.title}-${v.priceMinor}-${options}`}>
        <label>
          Variant title
          <input name="title" required maxLength={200} defaultValue={v.title} />
        </label>
        <div className="field">
          <label>
            Price ({v.currency})
            <input {...editFields.props('price')} type="number" min="0.01" step="0.01" required inputMode="decimal" defaultValue={(v.priceMinor / 100).toFixed(2)} />
          </label>
          {editFields.error('price')}
        </div>
        <div className="field">
          <label>
            Options
            <input {...editFields.props('options')} placeholder="size: M, color: red" defaultValue={options} />
          </label>
          {editFields.error('options')}
        </div>
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
      <form onSubmit={changeStock} className="row" noValidate>
        <label>
          Change
          <select name="mode" value={mode} onChange={(e) => setMode(e.target.value === 'set' ? 'set' : 'add')}>
            <option value="add">Add to or take from stock</option>
            <option value="set">Set the count on hand</option>
          </select>
        </label>
        <div className="field">
          <label>
            {mode === 'set' ? 'Units on hand' : 'Add or remove units'}
            <input {...stockFields.props('delta')} type="number" step={1} min={mode === 'set' ? 0 : undefined} inputMode="numeric" />
          </label>
          {stockFields.error('delta')}
        </div>
        <div className="field">
          <label>
            Reason
            <input {...stockFields.props('reason')} list={`reasons-${v.id}`} maxLength={500} defaultValue="restock" />
          </label>
          <datalist id={`reasons-${v.id}`}>
            {STOCK_REASONS.map((r) => (
              <option key={r} value={r} />
            ))}
          </datalist>
          {stockFields.error('reason')}
        </div>
        <BusyButton type="submit" busy={busy === 'adjust'} busyText="Adjusting…" disabled={busy !== null}>
          Adjust
        </BusyButton>
      </form>
      <ActionNote note={note} />
      {data && history.length > 0 && (
        <>
          <h3 className="small-title">Stock history</h3>
          <ul className="muted" aria-label={`Stock history of ${v.title}`}>
            {history.map((a) => (
              <li key={a.id}>
                {formatDate(a.createdAt)}: {a.delta > 0 ? '+' : ''}
                {a.delta} → {a.onHandAfter} ({a.reason})
              </li>
            ))}
          </ul>
          {historyCursor && (
            <BusyButton type="button" className="secondary more" busy={moreBusy} busyText="Loading older changes…" onClick={() => void showOlder()}>
              Load more<span className="visually-hidden"> of the stock history of {v.title}</span>
            </BusyButton>
          )}
          {moreError && <ErrorNote>{moreError}</ErrorNote>}
        </>
      )}
    </section>
  );
}

/** Stock changes per page of a variant's history ("Load more" reads the next). */
const HISTORY_PAGE = 10;

const STOCK_REASONS = ['restock', 'stock count', 'damaged', 'lost', 'found', 'returned by a shopper'];

type Note = { ok: boolean; text: string } | null;

/** Runs one action at a time: which one is busy (its button says so, the others wait) and what came of it. */
function useAction() {
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<Note>(null);
  const run = async (action: string, what: string, call: () => Promise<unknown>, onError?: (e: unknown) => void) => {
    setBusy(action);
    setNote(null);
    try {
      await call();
      // an empty `what` (loading more of a list) says nothing on success
      if (what) setNote({ ok: true, text: what });
    } catch (e) {
      onError?.(e);
      setNote({ ok: false, text: messageFor(e) });
    } finally {
      setBusy(null);
    }
  };
  // a money-moving call keeps its Idempotency-Key while the same attempt is retried after an answer that may hide a
  // completed first try (lost connection, provider not answering, still running), and takes a new one otherwise
  const kept = useRef<{ key: string; attempt: string } | null>(null);
  const runKeyed = (action: string, what: string, attempt: string, call: (idempotencyKey: string) => Promise<unknown>) => {
    if (!kept.current || kept.current.attempt !== attempt) kept.current = { key: newIdempotencyKey(), attempt };
    const key = kept.current.key;
    return run(action, what, async () => {
      try {
        await call(key);
        kept.current = null;
      } catch (e) {
        if (!(e instanceof ApiError && RETRY_SAME_KEY.has(e.code))) kept.current = null;
        throw e;
      }
    });
  };
  return { busy, note, setNote, run, runKeyed };
}

const RETRY_SAME_KEY = new Set(['network', 'payment_unavailable', 'idempotency_in_progress']);

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
        {/* the same scope server-side: revenue of this shop's products that posts drove, per day */}
        <RevenueChart url={`/v1/reports/timeseries?granularity=day&model=${model}&from=${from}&to=${to}`} />
      </div>
    </>
  );
}
