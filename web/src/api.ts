// The client's view of the API. Types come from the server's TypeBox schemas as type-only imports (erased at build
// time, so no server code reaches the bundle): a schema change that breaks the app breaks `tsc -p web`.
import type { Static } from 'typebox';
import type { FeedPage, StoriesPage, PostView, TagView, FollowingPage, CreatorView, CreatePostInput, OwnCreatorProfile } from '../../src/contexts/social/social.schemas';
import type { ProductDetailView, ReviewInput, NewProduct, VariantView, ProductCardPage, StockView, MerchantView, ProductPatch, OwnMerchantProfile } from '../../src/contexts/catalog/catalog.schemas';
import type { CartView, CheckoutView, CartLineView } from '../../src/contexts/checkout/checkout.schemas';
import type { OrderPage, OrderView, OrderSummaryView } from '../../src/contexts/orders/orders.schemas';
import type { MODELS, TopReport, FunnelReport, TimeseriesReport } from '../../src/contexts/analytics/analytics.schemas';
import type { EarningsView, PayoutPage, StatementList, PayoutAccountView as PayoutAccountSchema, ReconcileView } from '../../src/contexts/earnings/earnings.schemas';
import type { MediaObjectView } from '../../src/contexts/media/media.schemas';

export type { FeedPage, StoriesPage, PostView, TagView, ProductDetailView, ReviewInput, CartView, CheckoutView, CartLineView, OrderPage, OrderView, OrderSummaryView, VariantView, CreatorView, CreatePostInput, NewProduct };
export type FollowingPageT = Static<typeof FollowingPage>;
export type ProductCardPageT = Static<typeof ProductCardPage>;
export type StockViewT = Static<typeof StockView>;
export type MerchantViewT = Static<typeof MerchantView>;
/** GET /v1/creator/profile and /v1/merchant/profile: the caller's own profile, null until it is set up. */
export type OwnCreatorProfileT = Static<typeof OwnCreatorProfile>;
export type OwnMerchantProfileT = Static<typeof OwnMerchantProfile>;
export type { ProductPatch };
/** What POST /v1/media answers: `url` goes where a media URL is asked for. */
export type UploadedMedia = MediaObjectView;
export type ProductCard = TagView['product'];
export type Availability = ProductCard['availability'];

export interface Account {
  id: string;
  email: string;
  displayName: string;
  roles: ('shopper' | 'creator' | 'merchant' | 'admin')[];
  createdAt: string;
}

// Reports and earnings: the analytics and earnings contexts' schemas, type-only like the rest.
export type AttributionModel = (typeof MODELS)[number];
export type TopReportT = Static<typeof TopReport>;
export type TopItem = TopReportT['items'][number];
export type FunnelReportT = Static<typeof FunnelReport>;
export type FunnelItem = FunnelReportT['items'][number];
export type TimeseriesReportT = Static<typeof TimeseriesReport>;
export type TimePoint = TimeseriesReportT['points'][number];
export type Earnings = Static<typeof EarningsView>;
export type PayoutPageT = Static<typeof PayoutPage>;
export type StatementListT = Static<typeof StatementList>;
export type PayoutAccountView = Static<typeof PayoutAccountSchema>;
export type PayoutT = PayoutPageT['items'][number];
export type ReconcileViewT = Static<typeof ReconcileView>;
/**
 * GET /v1/admin/attribution/flags, mirrored by hand: attribution.schemas.ts imports the context's index, which would
 * pull the whole server (and its event map) into the web type program.
 */
export interface AttributionFlags {
  counts: { day: string; reason: string; count: number }[];
  floodedDevices: { deviceId: string; minute: string; touches: number }[];
  flaggedLines: { orderId: string; lineId: string; orderedAt: string; reasons: Record<string, number> }[];
}

/** An API failure: the stable code decides what the app says (see messageFor). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const MESSAGES: Record<string, string> = {
  unauthenticated: 'Please sign in to continue.',
  invalid_credentials: 'That e-mail and password do not match. Check them and try again.',
  email_taken: 'An account with this e-mail already exists. Sign in instead.',
  forbidden: 'Your account is not allowed to do this.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
  sold_out: 'Sold out: someone just bought the last one. Nothing was charged.',
  product_unavailable: 'This product is not for sale right now.',
  payment_declined: 'Your card was declined. Nothing was charged; try another card.',
  card_declined: 'Your card was declined. Nothing was charged; try another card.',
  insufficient_funds: 'The card has insufficient funds. Nothing was charged; try another card.',
  payment_unavailable: 'The payment provider did not answer. Nothing was charged; try again in a moment.',
  capture_refused: 'The payment could not be taken. Nothing was charged; try another card.',
  price_changed: 'The price changed since you saw it. Review the new total and pay again.',
  cart_empty: 'Your cart is empty.',
  mixed_currency: 'Your cart mixes currencies; check out one currency at a time.',
  review_exists: 'You already reviewed this product.',
  idempotency_in_progress: 'Your payment is still being processed. Wait a moment, then check your orders.',
  validation_failed: 'Some fields are not valid. Check the form and try again.',
  network: 'No connection to feedshop. Check your network and try again.',
  invalid_transition: 'The order is no longer in a state that allows this. Reload to see its status.',
  refund_exceeds_remaining: 'That is more than is left to refund on this order.',
  insufficient_stock: 'You cannot remove more units than are unreserved.',
  payout_below_minimum: 'Your available balance is below the payout minimum. Wait for more sales to clear the hold.',
  payout_account_required: 'Add your payout account first (below), then request the payout again.',
  payout_account_invalid: 'The payout provider does not know this account or it cannot receive money yet. Check the id.',
  payout_in_progress: 'A payout in this currency is already on its way. Wait for it to arrive before requesting another.',
  payout_not_reversible: 'This payout cannot be reversed by that much: only a sent payout can, by at most what is left of it. Reload to see it.',
  payout_not_found: 'No payout has this id. Reload the list.',
  payout_failed: 'The payout provider refused the payout. The money is still available; check your payout account.',
  payout_provider_unavailable: 'The payout provider did not answer. We retry automatically; nothing is paid twice.',
  creator_profile_required: 'Set up your creator profile first.',
  invalid_range: 'That period is not valid: pick a start before the end, at most a year apart.',
  invalid_month: 'That statement month does not exist.',
  not_found: 'This was not found. It may have been removed; reload the page.',
  unsupported_media_type: 'This kind of file cannot be uploaded. Choose a JPEG, PNG, WebP or GIF image, or an MP4 or WebM video.',
  media_type_mismatch: 'This file is not what its name says (its contents are another format). Export it again and retry.',
  body_too_large: 'This is too large to send. If it is a file, choose a smaller one.',
  empty_body: 'This file is empty. Choose another one.',
  merchant_profile_required: 'Set up your shop first (the form on this page), then try again.',
  handle_taken: 'That handle is taken. Choose another one.',
  already_shipped: 'This order was already shipped with another carrier or tracking number. Reload to see it.',
  checkout_abandoned: 'This checkout was interrupted and nothing was charged. Pay again to start a new one.',
  checkout_failed: 'The checkout could not be completed and nothing was charged. Try again.',
  payment_not_settled: 'The payment of this order is still being settled. Try again in a moment.',
  quantity_limit_exceeded: 'A cart line holds at most 99 units.',
  refund_refused: 'The payment provider refused the refund, so nothing was refunded. Try again later.',
  idempotency_key_reused: 'This was already sent with other details. Reload the page and try again.',
  route_not_found: 'This is not available on this server yet.',
  internal: 'Something went wrong on our side. Try again in a moment.',
  media_quota_exceeded: 'Your uploads have reached their storage limit, so this file was not uploaded. Use a file you uploaded before, or a link.',
  cannot_follow_self: 'This is your own post: you cannot follow yourself.',
  too_many_tags: 'A post carries at most 20 tags. Remove one before adding another.',
  duplicate_tag: 'This product is already tagged on this post.',
  unknown_product: 'One of the tagged products is not on sale any more. Pick another product.',
  payout_account_restricted: 'Your payout account cannot receive money right now. Finish its set-up with the payout provider, then try again.',
  analytics_unavailable: 'The sales figures cannot be read right now. Nothing is lost; try again in a moment.',
  request_timeout: 'That took too long. Check your connection and try again.',
  product_not_found: 'This product is no longer available. Reload the page.',
  creator_not_found: 'This creator was not found. Check the id.',
  line_not_found: 'That line is not on this order. Reload the page.',
  order_not_found: 'No order has this id. Check it and try again.',
  recompute_job_not_found: 'This recomputation is not known (any more). Reload the page.',
  stock_limit_exceeded: 'That is more units than a product variant can hold (1,000,000,000).',
  idempotency_key_required: 'This could not be sent safely. Reload the page and try again.',
};

/** The most units one cart line holds (the API refuses more: quantity_limit_exceeded). */
export const MAX_LINE_QUANTITY = 99;

/** A sentence for a person: what happened and what to do. */
export function messageFor(err: unknown): string {
  if (err instanceof ApiError && err.code === 'validation_failed' && Array.isArray(err.details)) {
    // name the fields (`/shipping/postalCode` → "postal code"), so the person knows which one to fix
    const fields = [...new Set((err.details as { path?: string }[]).map((d) => (d.path ?? '').split('/').pop()!.replace(/([A-Z])/g, ' $1').toLowerCase()).filter(Boolean))];
    if (fields.length > 0) return `Check ${fields.join(', ')}: ${fields.length === 1 ? 'it is' : 'they are'} not valid.`;
  }
  if (err instanceof ApiError) return MESSAGES[err.code] ?? err.message;
  return 'Something went wrong. Try again.';
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** JSON request to the same origin (the session travels in the HTTP-only cookie). */
export async function api<T>(url: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers,
      credentials: 'same-origin',
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'network error');
  }
  if (res.status === 204) return undefined as T;
  const body = await readBody(res);
  if (!res.ok) throw errorOf(res, body);
  return body as T;
}

export async function readBody(res: Response): Promise<unknown> {
  return (res.headers.get('content-type') ?? '').includes('json') ? res.json() : res.text();
}

export function errorOf(res: Response, body: unknown): ApiError {
  const e = (body as { error?: { code: string; message: string; details?: unknown } } | null)?.error;
  return new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${res.status}`, e?.details);
}

/** A fresh key per attempt: a retry of the same attempt reuses it, so a payment never runs twice. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/**
 * An amount in minor units as money, by the currency's own minor-unit digits (JPY has none: 500 is ¥500; KWD has
 * three); a code Intl does not know is shown with two decimals and the code ("12.34 XYZ").
 */
export function formatMoney(minor: number, currency: string): string {
  let format: Intl.NumberFormat;
  try {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
  return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

export const AVAILABILITY_TEXT: Record<Availability, string> = { in_stock: 'In stock', low: 'Only a few left', sold_out: 'Sold out' };

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' });
}
