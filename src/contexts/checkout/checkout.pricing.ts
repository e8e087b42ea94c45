// Server-side pricing: every amount of a cart or checkout is computed here from catalog prices; client prices are
// never read. Integer minor units only.
import type { VariantForSale } from '../catalog';
import type { LineAttribution, NewOrder } from '../orders';

/** Verified referral claims as stored on a cart line or attempt (JSON-safe: the time is an ISO string). */
export interface StoredClaims {
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  tagCreatedAt: string;
  kid: string;
  /**
   * When the token was stamped on the line (the tap attribution counts the click window from): the add to cart, or
   * the buy-now request. Absent on attempts started before it was recorded: taken as the order's time.
   */
  referredAt?: string | undefined;
}

export interface LineRequest {
  lineId: string | null;
  skuId: string;
  quantity: number;
  claims: StoredClaims | null;
}

export interface PricedLine extends LineRequest {
  productId: string;
  merchantId: string;
  productName: string;
  variantTitle: string;
  currency: string;
  unitPriceMinor: number;
  netAmountMinor: number;
  taxMinor: number;
}

export interface PricedCheckout {
  lines: PricedLine[];
  currency: string;
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
}

export type PricingResult =
  | ({ ok: true } & PricedCheckout)
  | { ok: false; code: 'not_found' | 'product_unavailable'; skuId: string }
  | { ok: false; code: 'mixed_currency'; currencies: string[] };

/** Tax of one line: round half-up of net × rate (basis points); exact in integers (net ≤ 1e10 keeps it < 2^53). */
export function taxOf(netMinor: number, taxRateBps: number): number {
  return Math.floor((netMinor * taxRateBps + 5000) / 10000);
}

/** Prices one line from the catalog's variant (no availability or currency checks). */
export function priceLine(line: LineRequest, v: VariantForSale, taxRateBps: number): PricedLine {
  const net = v.priceMinor * line.quantity;
  // one literal, no spread: a spread here made slow (dictionary-mode) objects that every later step paid for
  return {
    lineId: line.lineId,
    skuId: line.skuId,
    quantity: line.quantity,
    claims: line.claims,
    productId: v.productId,
    merchantId: v.merchantId,
    productName: v.productName,
    variantTitle: v.variantTitle,
    currency: v.currency,
    unitPriceMinor: v.priceMinor,
    netAmountMinor: net,
    taxMinor: taxOf(net, taxRateBps),
  };
}

/** Prices a checkout: every SKU must exist, be on sale and share one currency. */
export function priceCheckout(lines: readonly LineRequest[], variants: Map<string, VariantForSale>, taxRateBps: number): PricingResult {
  const priced: PricedLine[] = [];
  for (const line of lines) {
    const v = variants.get(line.skuId);
    if (!v) return { ok: false, code: 'not_found', skuId: line.skuId };
    if (v.productStatus !== 'active') return { ok: false, code: 'product_unavailable', skuId: line.skuId };
    priced.push(priceLine(line, v, taxRateBps));
  }
  const currencies = [...new Set(priced.map((l) => l.currency))];
  if (currencies.length !== 1) return { ok: false, code: 'mixed_currency', currencies };
  const subtotalMinor = sum(priced.map((l) => l.netAmountMinor));
  const taxMinor = sum(priced.map((l) => l.taxMinor));
  return { ok: true, lines: priced, currency: currencies[0]!, subtotalMinor, taxMinor, totalMinor: subtotalMinor + taxMinor };
}

/** One order per merchant (merchants in a stable order), each with its own totals. */
export function ordersOf(checkout: PricedCheckout): NewOrder[] {
  const byMerchant = new Map<string, PricedLine[]>();
  for (const l of checkout.lines) byMerchant.set(l.merchantId, [...(byMerchant.get(l.merchantId) ?? []), l]);
  return [...byMerchant.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([merchantId, lines]) => {
      const subtotalMinor = sum(lines.map((l) => l.netAmountMinor));
      const taxMinor = sum(lines.map((l) => l.taxMinor));
      return {
        merchantId,
        currency: checkout.currency,
        subtotalMinor,
        taxMinor,
        totalMinor: subtotalMinor + taxMinor,
        lines: lines.map((l) => ({
          productId: l.productId,
          skuId: l.skuId,
          productName: l.productName,
          variantTitle: l.variantTitle,
          quantity: l.quantity,
          unitPriceMinor: l.unitPriceMinor,
          netAmountMinor: l.netAmountMinor,
          taxMinor: l.taxMinor,
          attribution: attributionOf(l.claims),
        })),
      };
    });
}

function attributionOf(c: StoredClaims | null): LineAttribution | null {
  if (!c) return null;
  return {
    tagId: c.tagId,
    postId: c.postId,
    creatorId: c.creatorId,
    productId: c.productId,
    tagCreatedAt: new Date(c.tagCreatedAt),
    keyId: c.kid,
    referredAt: c.referredAt ? new Date(c.referredAt) : null,
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
