import { Value } from 'typebox/value';
import type { Principal } from '../../platform/auth';
import { Batcher } from '../../platform/batcher';
import { decodeJsonCursor, encodeJsonCursor, isId, newId } from '../../platform/ids';
import { MAX_ON_HAND, type StockLevel } from '../inventory';
import type { CatalogDeps, CatalogService, ProductCard, VariantForSale } from './index';
import type { CatalogFailure } from './catalog.errors';
import { CatalogRepository, type MediaRow, type ProductBatch, type ProductWithMerchant, type ReviewRow, type VariantRow } from './catalog.repository';
import {
  NewProduct,
  type MediaInput,
  type MerchantInput,
  type MerchantView,
  type ProductDetailView,
  type ProductPatch,
  type RatingView,
  type ReviewInput,
  type ReviewPage,
  type ReviewView,
  type VariantInput,
  type VariantPatch,
  type VariantView,
} from './catalog.schemas';
import './catalog.events';

export type Result<T, C extends CatalogFailure = CatalogFailure> = { ok: true; value: T } | { ok: false; code: C | 'invalid_cursor'; details?: unknown };
const ok = <T>(value: T) => ({ ok: true, value }) as const;
const fail = <C extends CatalogFailure | 'invalid_cursor'>(code: C, details?: unknown) => (details === undefined ? ({ ok: false, code }) as const : ({ ok: false, code, details }) as const);

const RANK = { sold_out: 0, low: 1, in_stock: 2 } as const;
const DETAIL_REVIEWS = 10;

// Opaque keyset cursors: base64url JSON, validated on the way back in.
const encodeCursor = encodeJsonCursor;
function decodeCursor<T>(cursor: string | undefined, valid: (v: any) => boolean): T | null | 'invalid' {
  if (cursor === undefined) return null;
  const v = decodeJsonCursor(cursor);
  return v !== undefined && valid(v) ? (v as T) : 'invalid';
}
/** A product list's cursor: the last product id shown (a forged one that names no product id is refused). */
const idCursor = (c: string | undefined) => decodeCursor<{ id: string }>(c, (v) => typeof v?.id === 'string' && isId('product', v.id));
/** A review list's cursor: the last review's time (not before 1970, as none is) and id. */
const reviewCursor = (c: string | undefined) =>
  decodeCursor<{ t: string; id: string }>(c, (v) => typeof v?.id === 'string' && isId('review', v.id) && typeof v?.t === 'string' && Date.parse(v.t) >= 0);

/** A stock history's cursor: the last adjustment's time and id (newest first, like reviews). */
const adjustmentCursor = (c: string | undefined) =>
  decodeCursor<{ t: string; id: string }>(c, (v) => typeof v?.id === 'string' && isId('adjustment', v.id) && typeof v?.t === 'string' && Date.parse(v.t) >= 0);

const iso = (d: Date | string) => new Date(d).toISOString();

function ratingOf(s: Pick<ProductWithMerchant, 'review_count' | 'rating_sum' | 'stars_1' | 'stars_2' | 'stars_3' | 'stars_4' | 'stars_5'>): RatingView {
  return {
    average: s.review_count > 0 ? Math.round((s.rating_sum / s.review_count) * 10) / 10 : null,
    count: s.review_count,
    distribution: { 1: s.stars_1, 2: s.stars_2, 3: s.stars_3, 4: s.stars_4, 5: s.stars_5 },
  };
}

function reviewView(r: ReviewRow): ReviewView {
  return {
    id: r.id,
    rating: r.rating,
    title: r.title,
    body: r.body,
    verifiedBuyer: r.verified_buyer,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** `forMerchant` adds the sale status: a shopper is only ever shown variants for sale. */
function variantView(v: VariantRow, currency: string, level: StockLevel | undefined, forMerchant = true): VariantView {
  const view: VariantView = {
    id: v.id,
    title: v.title,
    options: v.options,
    priceMinor: v.price_minor,
    currency,
    available: Math.max(0, level?.available ?? 0),
    availability: level?.availability ?? 'sold_out',
  };
  if (forMerchant) view.status = v.status;
  return view;
}

function mediaRows(productId: string, media: readonly MediaInput[] | undefined): MediaRow[] {
  return (media ?? []).map((m, position) => ({ id: newId('media'), product_id: productId, kind: m.kind, url: m.url, alt: m.alt ?? '', position }));
}

function assertNewProduct(p: NewProduct): void {
  if (!Value.Check(NewProduct, p)) {
    const first = [...Value.Errors(NewProduct, p)][0];
    throw new Error(`catalog: invalid product: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
}

export type CatalogServiceImpl = ReturnType<typeof createCatalogService>;

export function createCatalogService(deps: CatalogDeps) {
  const repo = new CatalogRepository(deps.db);

  /**
   * Concurrent price look-ups (a flash sale's checkouts) are read in one query per batch; every caller gets only its
   * SKUs, read from the database now: batching changes the round trips, never the freshness.
   */
  const variantsForSale = new Batcher<readonly string[], Map<string, VariantForSale>>(async (asks) => {
    const rows = await repo.findVariantsForSale([...new Set(asks.flat())]);
    const all = new Map<string, VariantForSale>(
      rows.map((r) => [
        r.id,
        // a retired SKU reads as an archived product, so carts and checkout refuse it the same way (product_unavailable)
        { skuId: r.id, productId: r.product_id, merchantId: r.merchant_id, productName: r.name, variantTitle: r.title, priceMinor: r.price_minor, currency: r.currency, productStatus: r.variant_status === 'archived' ? 'archived' : r.status },
      ]),
    );
    return asks.map((ids) => new Map(ids.flatMap((id) => (all.has(id) ? [[id, all.get(id)!] as const] : []))));
  }, { name: 'catalog.variants_for_sale' });
  const { inventory, outbox, clock } = deps;

  const merchantView = (m: { id: string; name: string; description: string; created_at: Date }): MerchantView => ({
    id: m.id,
    name: m.name,
    description: m.description,
    createdAt: iso(m.created_at),
  });

  /** Builds rows for new products; positions follow the input order. */
  const buildBatch = (merchantId: string, items: readonly NewProduct[]) => {
    const batch: ProductBatch = { products: [], variants: [], media: [] };
    const created: Array<{ id: string; skuIds: string[] }> = [];
    const stock: Array<{ skuId: string; onHand: number }> = [];
    for (const p of items) {
      assertNewProduct(p);
      const productId = newId('product');
      batch.products.push({
        id: productId,
        merchant_id: merchantId,
        name: p.name,
        description: p.description ?? '',
        status: p.status ?? 'draft',
        currency: p.currency,
      });
      const skuIds = p.variants.map((v, position) => {
        const id = newId('variant');
        batch.variants.push({ id, product_id: productId, title: v.title, options: v.options ?? {}, price_minor: v.priceMinor, position, status: 'active' });
        if (v.stock !== undefined) stock.push({ skuId: id, onHand: v.stock });
        return id;
      });
      batch.media.push(...mediaRows(productId, p.media));
      created.push({ id: productId, skuIds });
    }
    return { batch, created, stock };
  };

  const requireMerchant = async (accountId: string) => repo.findMerchantByAccount(accountId);

  /** The variant when it belongs to the account's merchant; another merchant's SKU reads as not found. */
  const ownVariant = async (accountId: string) => {
    const merchant = await requireMerchant(accountId);
    return async (skuId: string) => {
      if (!merchant) return fail('merchant_profile_required');
      const v = await repo.findVariant(skuId);
      if (!v || v.merchant_id !== merchant.id) return fail('not_found');
      return ok({ variant: v, merchant });
    };
  };

  const service = {
    /** Cards for many products in two round trips (catalog, then inventory for every SKU at once), whatever the count. */
    async getProductCards(productIds: readonly string[]): Promise<Map<string, ProductCard>> {
      const rows = await repo.findCards([...new Set(productIds)]);
      const levels = await inventory.getStockLevels(rows.flatMap((r) => r.sku_ids));
      const cards = new Map<string, ProductCard>();
      for (const r of rows) {
        let availability: ProductCard['availability'] = 'sold_out';
        for (const sku of r.sku_ids) {
          const a = levels.get(sku)?.availability ?? 'sold_out';
          if (RANK[a] > RANK[availability]) availability = a;
        }
        cards.set(r.id, {
          id: r.id,
          merchantId: r.merchant_id,
          name: r.name,
          priceMinor: r.price_minor ?? 0,
          currency: r.currency,
          imageUrl: r.image_url,
          availability,
          status: r.status,
        });
      }
      return cards;
    },

    /** Current price and owner of many SKUs in one query: checkout prices every line from here, never from the client. */
    async getVariantsForSale(skuIds: readonly string[]): Promise<Map<string, VariantForSale>> {
      return variantsForSale.submit(skuIds);
    },

    /** The merchant owned by an account, if any. */
    async getMerchantByAccount(accountId: string): Promise<{ id: string; name: string } | null> {
      const m = await repo.findMerchantByAccount(accountId);
      return m ? { id: m.id, name: m.name } : null;
    },

    /** The account's products (every status: a draft or archived one still shows its media) with `url` among their media. */
    async productIdsUsingMedia(accountId: string, url: string): Promise<string[]> {
      return repo.productIdsWithMedia(accountId, url);
    },

    /** A merchant's public profile. */
    async getMerchant(merchantId: string): Promise<MerchantView | null> {
      const m = await repo.findMerchant(merchantId);
      return m ? merchantView(m) : null;
    },

    /** The account's own merchant profile. */
    async getOwnMerchant(accountId: string): Promise<MerchantView | null> {
      const m = await repo.findMerchantByAccount(accountId);
      return m ? merchantView(m) : null;
    },

    /** Creates the account's merchant profile, or updates it (one profile per account, enforced by the database). */
    async upsertMerchant(accountId: string, input: MerchantInput): Promise<MerchantView & { created: boolean }> {
      const m = await repo.upsertMerchant({ id: newId('merchant'), accountId, name: input.name, description: input.description, at: clock.now() });
      return { ...merchantView(m), created: m.created };
    },

    /** Creates a product with its variants and media in one transaction, then sets each variant's initial stock. */
    async createProduct(merchantId: string, input: NewProduct): Promise<{ id: string; skuIds: string[] }> {
      const merchant = await repo.findMerchant(merchantId);
      if (!merchant) throw new Error(`catalog: merchant ${merchantId} does not exist`);
      const { batch, created, stock } = buildBatch(merchantId, [input]);
      const product = created[0]!;
      await repo.db.transaction().execute(async (trx) => {
        await repo.insertProducts(trx, batch, clock.now());
        await outbox.publish(trx, 'catalog.product.updated', { productId: product.id, merchantId });
      });
      for (const s of stock) await inventory.setOnHand(s.skuId, s.onHand, { accountId: merchant.account_id, reason: 'initial stock' });
      return product;
    },

    /**
     * Bulk creation for seeding: a fixed number of multi-row statements per call whatever the count (products,
     * summaries, variants, media, stock, stock journal). It publishes no per-product events: nothing can have
     * subscribed to products that did not exist.
     */
    async importProducts(merchantId: string, items: readonly NewProduct[]): Promise<Array<{ id: string; skuIds: string[] }>> {
      const merchant = await repo.findMerchant(merchantId);
      if (!merchant) throw new Error(`catalog: merchant ${merchantId} does not exist`);
      const { batch, created, stock } = buildBatch(merchantId, items);
      await repo.db.transaction().execute((trx) => repo.insertProducts(trx, batch, clock.now()));
      await inventory.setOnHandMany(stock, { accountId: merchant.account_id, reason: 'initial stock' });
      return created;
    },

    /** Product ids, newest first (for the seed and the feed). */
    async listProductIds(f: { status?: 'draft' | 'active' | 'archived'; merchantId?: string; limit: number }): Promise<string[]> {
      return repo.listProductIds(f);
    },

    /** A page of active products as cards, newest first; `q` matches every word in the name. */
    async listProducts(f: { q?: string; merchantId?: string; cursor?: string; limit: number }): Promise<Result<{ items: ProductCard[]; nextCursor: string | null }>> {
      const after = idCursor(f.cursor);
      if (after === 'invalid') return fail('invalid_cursor');
      const words = (f.q ?? '').split(/\s+/).filter(Boolean).slice(0, 8);
      return ok(await page({ status: 'active', merchantId: f.merchantId, words, beforeId: after?.id, limit: f.limit }));
    },

    /** The merchant console's list: the account's own products in every status. */
    async listOwnProducts(accountId: string, f: { cursor?: string; limit: number }): Promise<Result<{ items: ProductCard[]; nextCursor: string | null }>> {
      const merchant = await requireMerchant(accountId);
      if (!merchant) return fail('merchant_profile_required');
      const after = idCursor(f.cursor);
      if (after === 'invalid') return fail('invalid_cursor');
      return ok(await page({ merchantId: merchant.id, beforeId: after?.id, limit: f.limit }));
    },

    /**
     * The product sheet: visible to everyone when active, otherwise only to the owning merchant (null = not found).
     * A referral token in `visit.ref` is verified without a database read and recorded as a tap (or counted as
     * invalid); recording never changes or fails the answer.
     */
    async getProductDetail(
      productId: string,
      viewer: Principal | null,
      visit?: { ref?: string | undefined; deviceId: string },
    ): Promise<ProductDetailView | null> {
      const p = await repo.findProduct(productId);
      const owner = p?.merchant_account_id === viewer?.accountId;
      if (!p || (p.status !== 'active' && !owner)) return null;
      if (visit?.ref !== undefined) await recordReferral(productId, visit.ref, viewer, visit.deviceId);
      // shoppers see only the SKUs for sale; the owner also the retired ones (to sell them again), as with drafts
      return detail(p, owner);
    },

    /** Reviews of a visible product, newest first; pages never repeat or skip. */
    async listReviews(productId: string, f: { cursor?: string; limit: number }): Promise<Result<ReviewPage>> {
      const after = reviewCursor(f.cursor);
      if (after === 'invalid') return fail('invalid_cursor');
      const p = await repo.findProduct(productId);
      if (!p || p.status !== 'active') return fail('not_found');
      return ok(await reviewPage(productId, after ? { createdAt: new Date(after.t), id: after.id } : null, f.limit));
    },

    /** One review per account and active product; the rating summary changes in the same transaction. */
    async addReview(
      productId: string,
      accountId: string,
      input: ReviewInput,
      opts: { verifiedBuyer?: boolean } = {},
    ): Promise<Result<ReviewView, 'not_found' | 'review_exists'>> {
      const p = await repo.findProduct(productId);
      if (!p || p.status !== 'active') return fail('not_found');
      const now = clock.now();
      const row: ReviewRow = {
        id: newId('review'),
        product_id: productId,
        account_id: accountId,
        rating: input.rating,
        title: input.title ?? null,
        body: input.body,
        // a buyer whose order of this product was delivered gets the badge (catalog.purchases, fed by orders events)
        verified_buyer: opts.verifiedBuyer ?? (await repo.hasPurchased(accountId, productId)),
        created_at: now,
        updated_at: now,
      };
      const inserted = await repo.db.transaction().execute(async (trx) => {
        const r = await repo.insertReview(trx, row);
        if (!r) return null;
        await repo.applyRatingChange(trx, productId, null, r.rating);
        await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: p.merchant_id });
        return r;
      });
      return inserted ? ok(reviewView(inserted)) : fail('review_exists');
    },

    /**
     * Records that an order delivered these products to the account (idempotent: the first delivery counts) and badges
     * the account's existing reviews of them as verified, in one transaction with the products' update events.
     */
    async recordPurchases(accountId: string, productIds: readonly string[], orderId: string, deliveredAt: Date): Promise<void> {
      const ids = [...new Set(productIds)];
      if (ids.length === 0) return;
      await repo.db.transaction().execute(async (trx) => {
        for (const productId of await repo.recordPurchases(trx, accountId, ids, orderId, deliveredAt)) {
          const { merchant_id } = await repo.touchProduct(trx, productId, clock.now());
          await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: merchant_id });
        }
      });
    },

    /** Replaces the account's review of the product; the summary moves the rating in the same transaction. */
    async updateMyReview(productId: string, accountId: string, input: ReviewInput): Promise<Result<ReviewView, 'not_found'>> {
      const updated = await repo.db.transaction().execute(async (trx) => {
        const r = await repo.updateReview(trx, productId, accountId, { rating: input.rating, title: input.title ?? null, body: input.body }, clock.now());
        if (!r) return null;
        await repo.applyRatingChange(trx, productId, r.previous_rating, r.rating);
        const { merchant_id } = await repo.touchProduct(trx, productId, clock.now());
        await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: merchant_id });
        return r;
      });
      return updated ? ok(reviewView(updated)) : fail('not_found');
    },

    /** Deletes the account's review of the product; the summary drops it in the same transaction. */
    async deleteMyReview(productId: string, accountId: string): Promise<Result<null, 'not_found'>> {
      const deleted = await repo.db.transaction().execute(async (trx) => {
        const r = await repo.deleteReview(trx, productId, accountId);
        if (!r) return false;
        await repo.applyRatingChange(trx, productId, r.rating, null);
        const { merchant_id } = await repo.touchProduct(trx, productId, clock.now());
        await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: merchant_id });
        return true;
      });
      return deleted ? ok(null) : fail('not_found');
    },

    /** Creates a product for the account's merchant and answers its sheet. */
    async createOwnProduct(accountId: string, input: NewProduct): Promise<Result<ProductDetailView>> {
      const merchant = await requireMerchant(accountId);
      if (!merchant) return fail('merchant_profile_required');
      const { id: productId } = await service.createProduct(merchant.id, input);
      return ok(await detail((await repo.findProduct(productId))!));
    },

    /** Edits the account's own product (name, description, status; media replaced as a whole) in one transaction. */
    async updateOwnProduct(accountId: string, productId: string, patch: ProductPatch): Promise<Result<ProductDetailView>> {
      const owned = await ownProduct(accountId, productId);
      if (!owned.ok) return owned;
      const { media, ...fields } = patch;
      await repo.db.transaction().execute(async (trx) => {
        await repo.updateProduct(trx, productId, fields, clock.now());
        if (media) await repo.replaceMedia(trx, productId, mediaRows(productId, media));
        await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: owned.value.id });
      });
      return ok(await detail((await repo.findProduct(productId))!));
    },

    /** Adds a variant (after the last one) to the account's own product, with optional initial stock. */
    async addOwnVariant(accountId: string, productId: string, input: VariantInput): Promise<Result<VariantView>> {
      const owned = await ownProduct(accountId, productId);
      if (!owned.ok) return owned;
      const v = await repo.db.transaction().execute(async (trx) => {
        const row = await repo.insertVariant(trx, {
          id: newId('variant'),
          product_id: productId,
          title: input.title,
          options: input.options ?? {},
          price_minor: input.priceMinor,
          status: 'active',
        });
        await repo.touchProduct(trx, productId, clock.now());
        await outbox.publish(trx, 'catalog.product.updated', { productId, merchantId: owned.value.id });
        return row;
      });
      const level = input.stock !== undefined ? await inventory.setOnHand(v.id, input.stock, { accountId, reason: 'initial stock' }) : undefined;
      return ok(variantView(v, owned.value.currency, level));
    },

    /** Edits a variant of the account's own product. */
    async updateOwnVariant(accountId: string, skuId: string, patch: VariantPatch): Promise<Result<VariantView>> {
      const owned = await (await ownVariant(accountId))(skuId);
      if (!owned.ok) return owned;
      const { variant } = owned.value;
      const v = await repo.db.transaction().execute(async (trx) => {
        const row = await repo.updateVariant(trx, skuId, { title: patch.title, price_minor: patch.priceMinor, options: patch.options, status: patch.status });
        await repo.touchProduct(trx, variant.product_id, clock.now());
        await outbox.publish(trx, 'catalog.product.updated', { productId: variant.product_id, merchantId: variant.merchant_id });
        return row;
      });
      const levels = await inventory.getStockLevels([skuId]);
      return ok(variantView(v, variant.currency, levels.get(skuId)));
    },

    /** Sets the on-hand count of the account's own SKU (journaled with who and why). */
    async setOwnStock(accountId: string, skuId: string, onHand: number, reason: string): Promise<Result<StockLevel>> {
      const owned = await (await ownVariant(accountId))(skuId);
      if (!owned.ok) return owned;
      const r = await inventory.trySetOnHand(skuId, onHand, { accountId, reason });
      return r.ok ? ok(r.level) : fail('insufficient_stock');
    },

    /** Adds or removes units of the account's own SKU; refused (nothing changed) below what is reserved or zero, or past the most a SKU can hold. */
    async adjustOwnStock(accountId: string, skuId: string, delta: number, reason: string): Promise<Result<StockLevel>> {
      const owned = await (await ownVariant(accountId))(skuId);
      if (!owned.ok) return owned;
      const r = await inventory.adjust(skuId, delta, { accountId, reason });
      return r.ok ? ok(r.level) : fail(r.code, r.code === 'stock_limit_exceeded' ? { onHand: r.level.onHand, max: MAX_ON_HAND } : undefined);
    },

    /** The stock level of the account's own SKU and one page of its adjustments, newest first (a cursor pages on). */
    async getOwnStock(accountId: string, skuId: string, f: { cursor?: string; limit: number } = { limit: 50 }) {
      const after = adjustmentCursor(f.cursor);
      if (after === 'invalid') return fail('invalid_cursor');
      const owned = await (await ownVariant(accountId))(skuId);
      if (!owned.ok) return owned;
      const before = after && { createdAt: new Date(after.t), id: after.id };
      const [levels, rows] = await Promise.all([inventory.getStockLevels([skuId]), inventory.listAdjustments(skuId, f.limit + 1, before)]);
      const adjustments = rows.slice(0, f.limit);
      const last = adjustments[adjustments.length - 1];
      return ok({
        level: levels.get(skuId)!,
        adjustments: adjustments.map((a) => ({ ...a, createdAt: iso(a.createdAt) })),
        nextCursor: rows.length > f.limit && last ? encodeCursor({ t: iso(last.createdAt), id: last.id }) : null,
      });
    },
  } satisfies CatalogService & Record<string, unknown>;

  async function page(f: Parameters<CatalogRepository['listProductIds']>[0]) {
    const ids = await repo.listProductIds({ ...f, limit: f.limit + 1 });
    const more = ids.length > f.limit;
    const pageIds = ids.slice(0, f.limit);
    const cards = await service.getProductCards(pageIds);
    return {
      items: pageIds.map((id) => cards.get(id)).filter((c): c is ProductCard => c !== undefined),
      nextCursor: more ? encodeCursor({ id: pageIds[pageIds.length - 1] }) : null,
    };
  }

  async function reviewPage(productId: string, after: { createdAt: Date; id: string } | null, limit: number): Promise<ReviewPage> {
    const rows = await repo.listReviews(productId, after, limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map(reviewView),
      nextCursor: rows.length > limit && last ? encodeCursor({ t: iso(last.created_at), id: last.id }) : null,
    };
  }

  /** The product sheet; the merchant's (`withArchived`) also lists retired variants and says each one's status. */
  async function detail(p: ProductWithMerchant, withArchived = true): Promise<ProductDetailView> {
    const [all, media, reviews] = await Promise.all([repo.findVariants(p.id), repo.findMedia(p.id), reviewPage(p.id, null, DETAIL_REVIEWS)]);
    const variants = withArchived ? all : all.filter((v) => v.status === 'active');
    const levels = await inventory.getStockLevels(variants.map((v) => v.id));
    return {
      id: p.id,
      merchant: { id: p.merchant_id, name: p.merchant_name },
      name: p.name,
      description: p.description,
      status: p.status,
      currency: p.currency,
      media: media.map((m) => ({ id: m.id, kind: m.kind, url: m.url, alt: m.alt })),
      variants: variants.map((v) => variantView(v, p.currency, levels.get(v.id), withArchived)),
      rating: ratingOf(p),
      reviews,
      updatedAt: iso(p.updated_at),
    };
  }

  /** The product when it belongs to the account's merchant; another merchant's product reads as not found. */
  async function ownProduct(accountId: string, productId: string) {
    const merchant = await requireMerchant(accountId);
    if (!merchant) return fail('merchant_profile_required');
    const p = await repo.findProduct(productId);
    if (!p || p.merchant_id !== merchant.id) return fail('not_found');
    return ok({ id: merchant.id, currency: p.currency });
  }

  /** Credits a tap on a tagged product; a bad or mismatched token is counted, and nothing here ever fails the request. */
  async function recordReferral(productId: string, ref: string, viewer: Principal | null, deviceId: string): Promise<void> {
    try {
      const v = deps.referrals.verify(ref);
      if (!v.ok) await deps.attribution.recordInvalidToken(v.reason, 'product_detail');
      else if (v.claims.productId !== productId) await deps.attribution.recordInvalidToken('product_mismatch', 'product_detail');
      else await deps.attribution.recordTouch({ kind: 'tap', accountId: viewer?.accountId ?? null, deviceId, claims: v.claims });
    } catch (err) {
      deps.log.warn({ err, productId }, 'could not record the referral of a product view');
    }
  }

  return service;
}
