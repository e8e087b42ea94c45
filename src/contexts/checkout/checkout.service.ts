import type { CheckoutDeps } from './index';
import type { CheckoutFailure } from './checkout.errors';
import { createCheckoutFlow, type CheckoutKey, type FlowAnswer, type FlowResult } from './checkout.flow';
import { priceCheckout, priceLine, type LineRequest, type PricedCheckout, type StoredClaims } from './checkout.pricing';
import { CheckoutRepository, claimsOfLine, type CartLineRow, type Shopper } from './checkout.repository';
import type { AddCartLine, BuyNowInput, CartLineView, CartView, CheckoutCartInput } from './checkout.schemas';
import type { ShippingAddress } from '../orders';
import type { VariantForSale } from '../catalog';
import { pruneIdempotencyKeys } from '../../platform/idempotency';
import './checkout.events';

export type { Shopper } from './checkout.repository';
export type { CheckoutKey } from './checkout.flow';

export type Result<T> = { ok: true; value: T } | { ok: false; code: CheckoutFailure; details?: unknown };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = (code: CheckoutFailure, details?: unknown): Result<never> => ({ ok: false, code, ...(details !== undefined ? { details } : {}) });

/** A checkout's answer; `replayed` when it is the answer an earlier request with the same key got. */
export type CheckoutAnswer = Result<FlowResultView> & { replayed?: true };

export function createCheckoutService(deps: CheckoutDeps) {
  const repo = new CheckoutRepository(deps.db);
  const flow = createCheckoutFlow(deps, repo);
  const now = () => deps.clock.now();

  /** The verified claims of a token for a product, or null; a bad token is counted, never an error. */
  async function verifiedClaims(token: string | undefined, productId: string, where: string): Promise<StoredClaims | null> {
    if (!token) return null;
    const v = deps.referrals.verify(token);
    if (!v.ok) {
      await deps.attribution.recordInvalidToken(v.reason, where);
      return null;
    }
    if (v.claims.productId !== productId) {
      await deps.attribution.recordInvalidToken('product_mismatch', where);
      return null;
    }
    const c = v.claims;
    return { tagId: c.tagId, postId: c.postId, creatorId: c.creatorId, productId: c.productId, tagCreatedAt: c.tagCreatedAt.toISOString(), kid: c.kid };
  }

  async function cartView(cartId: string | null, lines: CartLineRow[]): Promise<CartView> {
    const skuIds = lines.map((l) => l.sku_id);
    const [variants, stock] = await Promise.all([deps.catalog.getVariantsForSale(skuIds), deps.inventory.getStockLevels(skuIds)]);
    const views: CartLineView[] = [];
    const totals = new Map<string, { currency: string; subtotalMinor: number; taxMinor: number; totalMinor: number }>();
    for (const l of lines) {
      const v = variants.get(l.sku_id);
      if (!v) continue; // a SKU that no longer exists cannot be shown or bought
      const p = priceLine({ lineId: l.id, skuId: l.sku_id, quantity: l.quantity, claims: claimsOfLine(l) }, v, deps.config.taxRateBps);
      const level = stock.get(l.sku_id);
      const available = Math.max(0, level?.available ?? 0);
      views.push({
        id: l.id,
        skuId: l.sku_id,
        productId: p.productId,
        merchantId: p.merchantId,
        productName: p.productName,
        variantTitle: p.variantTitle,
        quantity: l.quantity,
        currency: p.currency,
        unitPriceMinor: p.unitPriceMinor,
        netAmountMinor: p.netAmountMinor,
        taxMinor: p.taxMinor,
        availability: level?.availability ?? 'sold_out',
        available,
        purchasable: v.productStatus === 'active' && available >= l.quantity,
        referral: l.referral
          ? { tagId: l.referral.tagId, postId: l.referral.postId, creatorId: l.referral.creatorId, referredAt: l.referred_at ? new Date(l.referred_at).toISOString() : null }
          : null,
        addedAt: new Date(l.created_at).toISOString(),
      });
      const t = totals.get(p.currency) ?? { currency: p.currency, subtotalMinor: 0, taxMinor: 0, totalMinor: 0 };
      t.subtotalMinor += p.netAmountMinor;
      t.taxMinor += p.taxMinor;
      t.totalMinor += p.netAmountMinor + p.taxMinor;
      totals.set(p.currency, t);
    }
    return { id: cartId, lines: views, totals: [...totals.values()] };
  }

  async function priced(
    lines: LineRequest[],
    expectedTotalMinor: number | undefined,
    known?: Map<string, VariantForSale>,
  ): Promise<Result<PricedCheckout>> {
    const variants = known ?? (await deps.catalog.getVariantsForSale(lines.map((l) => l.skuId)));
    const r = priceCheckout(lines, variants, deps.config.taxRateBps);
    if (!r.ok) return r.code === 'mixed_currency' ? fail('mixed_currency', { currencies: r.currencies }) : fail(r.code, { skuId: r.skuId });
    if (expectedTotalMinor !== undefined && expectedTotalMinor !== r.totalMinor) {
      return fail('price_changed', { totalMinor: r.totalMinor, currency: r.currency });
    }
    return ok(r);
  }

  const fromFlow = (r: FlowAnswer): CheckoutAnswer => {
    const res: Result<FlowResultView> = r.ok ? ok(r.view) : fail(r.code, r.details);
    return r.replayed ? { ...res, replayed: true } : res;
  };

  /**
   * A checkout refused before it could start (unknown SKU, price changed, empty cart) is not recorded; but when the
   * key already started one (this is a repeat, and the product or cart changed since), the answer is that checkout's.
   */
  async function refused(r: Result<never>, idempotency: CheckoutKey, paymentMethod: string): Promise<CheckoutAnswer> {
    const earlier = await flow.repeat(idempotency, paymentMethod);
    return earlier ? fromFlow(earlier) : r;
  }

  /**
   * A signed-in shopper whose request names a device sees that device's anonymous cart in their own at once: the
   * sign-in's subscriber merges it too, but later, so every cart read and write merges first (exactly once whoever
   * runs first, see repo.mergeDeviceCart). One indexed read when there is nothing to merge.
   */
  async function withDeviceCart(shopper: Shopper): Promise<void> {
    if (!shopper.accountId || !shopper.deviceNamed) return;
    if (await repo.deviceCartHasLines(shopper.deviceId)) await repo.mergeDeviceCart(shopper.deviceId, shopper.accountId, now());
  }

  return {
    /**
     * The shopper's open cart priced now from the catalog, with availability; creates nothing, except that a signed-in
     * shopper's cart first takes in the lines their device's anonymous cart still holds.
     */
    async getCart(shopper: Shopper): Promise<CartView> {
      await withDeviceCart(shopper);
      const cart = await repo.findOpenCart(shopper);
      return cart ? cartView(cart.id, await repo.listLines(cart.id)) : { id: null, lines: [], totals: [] };
    },

    /**
     * Adds units of a SKU to the shopper's cart (summing into an existing line of that SKU). A valid referral token for
     * the SKU's product credits the line (stamped now: the click window counts from this add); any other token is
     * counted and the line is added uncredited.
     */
    async addLine(shopper: Shopper, input: AddCartLine): Promise<Result<CartView>> {
      const v = (await deps.catalog.getVariantsForSale([input.skuId])).get(input.skuId);
      if (!v) return fail('not_found', { skuId: input.skuId });
      if (v.productStatus !== 'active') return fail('product_unavailable', { skuId: input.skuId });
      const claims = await verifiedClaims(input.referralToken, v.productId, 'cart');
      await withDeviceCart(shopper);
      const cart = await repo.ensureOpenCart(repo.db, shopper, now());
      const line = await repo.addLine(repo.db, cart.id, input.skuId, input.quantity, claims, now());
      if (!line) return fail('quantity_limit_exceeded', { skuId: input.skuId, max: 99 });
      return ok(await cartView(cart.id, await repo.listLines(cart.id)));
    },

    /**
     * Sets a line's quantity; a line of another shopper's cart is not found. (A device line merged into the account's
     * cart keeps its id unless the account's cart had that SKU, so a line id read before sign-in still works.)
     */
    async changeLine(shopper: Shopper, lineId: string, quantity: number): Promise<Result<CartView>> {
      await withDeviceCart(shopper);
      const cart = await repo.findOpenCart(shopper);
      if (!cart || !(await repo.setLineQuantity(cart.id, lineId, quantity, now()))) return fail('not_found');
      return ok(await cartView(cart.id, await repo.listLines(cart.id)));
    },

    /** Removes a line; a line of another shopper's cart is not found. */
    async removeLine(shopper: Shopper, lineId: string): Promise<Result<CartView>> {
      await withDeviceCart(shopper);
      const cart = await repo.findOpenCart(shopper);
      if (!cart || !(await repo.deleteLine(cart.id, lineId))) return fail('not_found');
      return ok(await cartView(cart.id, await repo.listLines(cart.id)));
    },

    /**
     * Merges a device's anonymous cart into the account's on sign-in (equal SKUs summed, capped); exactly once, however
     * many run at once. `signedInAt`: only a device cart that existed by then (the subscriber's late delivery).
     */
    async mergeDeviceCart(deviceId: string, accountId: string, signedInAt?: Date): Promise<void> {
      await repo.mergeDeviceCart(deviceId, accountId, now(), signedInAt);
    },

    /**
     * Checks out the shopper's cart at server prices: completed (one order per merchant, one payment) or failed with
     * nothing left behind. A repeat of the request (same key) answers with the checkout it started.
     */
    async checkoutCart(shopper: Shopper, input: CheckoutCartInput, idempotency: CheckoutKey): Promise<CheckoutAnswer> {
      await withDeviceCart(shopper);
      const cart = await repo.findOpenCart(shopper);
      const lines = cart ? await repo.listLines(cart.id) : [];
      // a repeat after the first completed finds the cart emptied by it: refused before starting, it gets that answer
      const r: Result<PricedCheckout> = !cart || lines.length === 0
        ? fail('cart_empty')
        : await priced(lines.map((l) => ({ lineId: l.id, skuId: l.sku_id, quantity: l.quantity, claims: claimsOfLine(l) })), input.expectedTotalMinor);
      if (!r.ok) return refused(r, idempotency, input.paymentMethod);
      return fromFlow(
        await flow.run({
          shopper,
          source: 'cart',
          cartId: cart!.id,
          priced: r.value,
          shipping: (input.shipping as ShippingAddress | undefined) ?? null,
          paymentMethod: input.paymentMethod,
          idempotency,
        }),
      );
    },

    /** Checks out one line without touching the cart; same guarantees as checkoutCart. */
    async buyNow(shopper: Shopper, input: BuyNowInput, idempotency: CheckoutKey): Promise<CheckoutAnswer> {
      const v = (await deps.catalog.getVariantsForSale([input.skuId])).get(input.skuId);
      if (!v) return refused(fail('not_found', { skuId: input.skuId }), idempotency, input.paymentMethod);
      if (v.productStatus !== 'active') return refused(fail('product_unavailable', { skuId: input.skuId }), idempotency, input.paymentMethod);
      const verified = await verifiedClaims(input.referralToken, v.productId, 'buy_now');
      // the tap is this request: the click window counts from now
      const claims = verified && { ...verified, referredAt: now().toISOString() };
      const r = await priced([{ lineId: null, skuId: input.skuId, quantity: input.quantity, claims }], input.expectedTotalMinor, new Map([[input.skuId, v]]));
      if (!r.ok) return refused(r, idempotency, input.paymentMethod);
      return fromFlow(
        await flow.run({
          shopper,
          source: 'buy_now',
          cartId: null,
          priced: r.value,
          shipping: (input.shipping as ShippingAddress | undefined) ?? null,
          paymentMethod: input.paymentMethod,
          idempotency,
        }),
      );
    },

    /** Finishes or undoes stuck checkouts and forgets day-old idempotency answers (the module's sweep). */
    async sweep(): Promise<void> {
      await flow.recover();
      await pruneIdempotencyKeys(deps);
    },

    /** Recovery alone (tests and the worker): returns how many stuck attempts it took on. */
    recoverStuckCheckouts: (limit?: number) => flow.recover(limit),

    /** A checkout attempt's journal (status, failure, payment and orders) for support and tests. */
    async getAttempt(checkoutId: string) {
      const a = await repo.getAttempt(checkoutId);
      if (!a) return null;
      return {
        id: a.id,
        status: a.status,
        failureCode: a.failure_code,
        undone: a.undone,
        paymentId: a.payment_id,
        orderIds: a.order_ids,
        totalMinor: a.total_minor,
        currency: a.currency,
        accountId: a.account_id,
        deviceId: a.device_id,
      };
    },

    /** Internal: starts a checkout from already priced lines (tests of the crash matrix drive steps from here). */
    flow,
    repo,
  };
}

export type FlowResultView = Extract<FlowResult, { ok: true }>['view'];
export type CheckoutServiceImpl = ReturnType<typeof createCheckoutService>;
