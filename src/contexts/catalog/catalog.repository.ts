import { sql, type Kysely, type Transaction } from 'kysely';
import type { AnyDb } from '../../platform/db';

type Status = 'draft' | 'active' | 'archived';

export interface CatalogTables {
  'catalog.merchants': { id: string; account_id: string; name: string; description: string; created_at: Date; updated_at: Date };
  'catalog.products': {
    id: string;
    merchant_id: string;
    name: string;
    description: string;
    status: Status;
    currency: string;
    created_at: Date;
    updated_at: Date;
  };
  /** `archived`: the merchant stopped selling this SKU (kept for orders, carts and history). */
  'catalog.variants': { id: string; product_id: string; title: string; options: Record<string, string>; price_minor: number; position: number; status: 'active' | 'archived' };
  'catalog.media': { id: string; product_id: string; kind: 'image' | 'video'; url: string; alt: string; position: number };
  'catalog.reviews': {
    id: string;
    product_id: string;
    account_id: string;
    rating: number;
    title: string | null;
    body: string;
    verified_buyer: boolean;
    created_at: Date;
    updated_at: Date;
  };
  'catalog.purchases': { account_id: string; product_id: string; order_id: string; delivered_at: Date };
  'catalog.rating_summaries': {
    product_id: string;
    review_count: number;
    rating_sum: number;
    stars_1: number;
    stars_2: number;
    stars_3: number;
    stars_4: number;
    stars_5: number;
  };
}

export type Db = Kysely<CatalogTables>;
type Executor = Db | Transaction<CatalogTables>;
export type MerchantRow = CatalogTables['catalog.merchants'];
export type ProductRow = CatalogTables['catalog.products'];
export type VariantRow = CatalogTables['catalog.variants'];
export type MediaRow = CatalogTables['catalog.media'];
export type ReviewRow = CatalogTables['catalog.reviews'];
export type SummaryRow = CatalogTables['catalog.rating_summaries'];

export interface CardRow {
  id: string;
  merchant_id: string;
  name: string;
  currency: string;
  status: Status;
  price_minor: number | null;
  image_url: string | null;
  sku_ids: string[];
}

export type ProductWithMerchant = ProductRow & { merchant_name: string; merchant_account_id: string } & Omit<SummaryRow, 'product_id'>;

/** Rows for a bulk insert: each list goes in as one multi-row statement (unnest of arrays: a fixed number of parameters). */
export interface ProductBatch {
  products: Array<Omit<ProductRow, 'created_at' | 'updated_at'>>;
  variants: VariantRow[];
  media: MediaRow[];
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** All SQL of the catalog context. */
export class CatalogRepository {
  readonly db: Db;

  constructor(db: AnyDb) {
    this.db = db as unknown as Db;
  }

  // ---- merchants

  /** Creates or updates the account's merchant profile; `created` tells which (xmax = 0 only on a fresh insert). */
  async upsertMerchant(m: { id: string; accountId: string; name: string; description: string | undefined; at: Date }) {
    const r = await sql<MerchantRow & { created: boolean }>`
      INSERT INTO catalog.merchants AS m (id, account_id, name, description, created_at, updated_at)
      VALUES (${m.id}, ${m.accountId}, ${m.name}, ${m.description ?? ''}, ${m.at}, ${m.at})
      ON CONFLICT (account_id) DO UPDATE
        SET name = EXCLUDED.name,
            description = CASE WHEN ${m.description ?? null}::text IS NULL THEN m.description ELSE EXCLUDED.description END,
            updated_at = EXCLUDED.updated_at
      RETURNING m.*, (xmax = 0) AS created
    `.execute(this.db);
    return r.rows[0]!;
  }

  findMerchantByAccount(accountId: string) {
    return this.db.selectFrom('catalog.merchants').selectAll().where('account_id', '=', accountId).executeTakeFirst();
  }

  findMerchant(id: string) {
    return this.db.selectFrom('catalog.merchants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  // ---- products

  /** Inserts products with their variants, media and empty rating summaries: four statements whatever the count. */
  async insertProducts(trx: Executor, batch: ProductBatch, at: Date): Promise<void> {
    const { products: p, variants: v, media: m } = batch;
    if (p.length === 0) return;
    await sql`
      INSERT INTO catalog.products (id, merchant_id, name, description, status, currency, created_at, updated_at)
      SELECT id, merchant_id, name, description, status, currency, ${at}, ${at}
      FROM unnest(${p.map((x) => x.id)}::text[], ${p.map((x) => x.merchant_id)}::text[], ${p.map((x) => x.name)}::text[],
                  ${p.map((x) => x.description)}::text[], ${p.map((x) => x.status)}::text[], ${p.map((x) => x.currency)}::text[])
        AS t(id, merchant_id, name, description, status, currency)
    `.execute(trx);
    await sql`
      INSERT INTO catalog.rating_summaries (product_id) SELECT unnest(${p.map((x) => x.id)}::text[])
    `.execute(trx);
    if (v.length > 0) {
      await sql`
        INSERT INTO catalog.variants (id, product_id, title, options, price_minor, position)
        SELECT id, product_id, title, options::jsonb, price_minor, position
        FROM unnest(${v.map((x) => x.id)}::text[], ${v.map((x) => x.product_id)}::text[], ${v.map((x) => x.title)}::text[],
                    ${v.map((x) => JSON.stringify(x.options))}::text[], ${v.map((x) => x.price_minor)}::int[], ${v.map((x) => x.position)}::int[])
          AS t(id, product_id, title, options, price_minor, position)
      `.execute(trx);
    }
    if (m.length > 0) await this.insertMedia(trx, m);
  }

  async insertMedia(trx: Executor, m: MediaRow[]): Promise<void> {
    await sql`
      INSERT INTO catalog.media (id, product_id, kind, url, alt, position)
      SELECT * FROM unnest(${m.map((x) => x.id)}::text[], ${m.map((x) => x.product_id)}::text[], ${m.map((x) => x.kind)}::text[],
                           ${m.map((x) => x.url)}::text[], ${m.map((x) => x.alt)}::text[], ${m.map((x) => x.position)}::int[])
    `.execute(trx);
  }

  async replaceMedia(trx: Executor, productId: string, m: MediaRow[]): Promise<void> {
    await trx.deleteFrom('catalog.media').where('product_id', '=', productId).execute();
    if (m.length > 0) await this.insertMedia(trx, m);
  }

  /**
   * Card data for many products in ONE query: name, lowest price, primary image (the lowest-position image) and the
   * SKU ids, so the caller can fetch all their stock in one more query.
   */
  async findCards(ids: readonly string[]): Promise<CardRow[]> {
    if (ids.length === 0) return [];
    const r = await sql<CardRow>`
      SELECT p.id, p.merchant_id, p.name, p.currency, p.status,
             v.price_minor, v.sku_ids,
             (SELECT m.url FROM catalog.media m
               WHERE m.product_id = p.id AND m.kind = 'image'
               ORDER BY m.position, m.id LIMIT 1) AS image_url
      FROM catalog.products p
      CROSS JOIN LATERAL (
        -- archived SKUs are not for sale: they neither set the "from" price nor the availability
        SELECT coalesce(min(price_minor) FILTER (WHERE status = 'active'), min(price_minor))::int AS price_minor,
               coalesce(array_agg(id ORDER BY position, id) FILTER (WHERE status = 'active'), '{}') AS sku_ids
        FROM catalog.variants WHERE product_id = p.id
      ) v
      WHERE p.id = ANY (${[...ids]}::text[])
    `.execute(this.db);
    return r.rows;
  }

  /** The product with its merchant's name and its rating summary. */
  async findProduct(id: string): Promise<ProductWithMerchant | undefined> {
    const r = await sql<ProductWithMerchant>`
      SELECT p.*, m.name AS merchant_name, m.account_id AS merchant_account_id,
             s.review_count, s.rating_sum, s.stars_1, s.stars_2, s.stars_3, s.stars_4, s.stars_5
      FROM catalog.products p
      JOIN catalog.merchants m ON m.id = p.merchant_id
      JOIN catalog.rating_summaries s ON s.product_id = p.id
      WHERE p.id = ${id}
    `.execute(this.db);
    return r.rows[0];
  }

  findVariants(productId: string) {
    return this.db.selectFrom('catalog.variants').selectAll().where('product_id', '=', productId).orderBy('position').orderBy('id').execute();
  }

  findMedia(productId: string) {
    return this.db.selectFrom('catalog.media').selectAll().where('product_id', '=', productId).orderBy('position').orderBy('id').execute();
  }

  /** The account's products (every status) that have `url` among their media. */
  async productIdsWithMedia(accountId: string, url: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('catalog.merchants as me')
      .innerJoin('catalog.products as p', 'p.merchant_id', 'me.id')
      .innerJoin('catalog.media as m', 'm.product_id', 'p.id')
      .select('p.id')
      .distinct()
      .where('me.account_id', '=', accountId)
      .where('m.url', '=', url)
      .orderBy('p.id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** One page of product ids, newest first (ids are time-ordered ULIDs, so the id is the keyset). */
  async listProductIds(f: { status?: Status; merchantId?: string; words?: string[]; beforeId?: string; limit: number }): Promise<string[]> {
    let q = this.db.selectFrom('catalog.products').select('id').orderBy('id', 'desc').limit(f.limit);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.merchantId) q = q.where('merchant_id', '=', f.merchantId);
    if (f.beforeId) q = q.where('id', '<', f.beforeId);
    for (const w of f.words ?? []) q = q.where(sql<boolean>`name ILIKE ${`%${escapeLike(w)}%`}`);
    return (await q.execute()).map((r) => r.id);
  }

  /** Applies a patch and bumps updated_at; returns the owner, or nothing when the product does not exist. */
  async updateProduct(trx: Executor, id: string, patch: { name?: string; description?: string; status?: Status }, at: Date) {
    return trx
      .updateTable('catalog.products')
      .set({ ...patch, updated_at: at })
      .where('id', '=', id)
      .returning(['id', 'merchant_id'])
      .executeTakeFirst();
  }

  /** Appends a variant after the product's last one (position computed in the same statement). */
  async insertVariant(trx: Executor, v: Omit<VariantRow, 'position'>): Promise<VariantRow> {
    const r = await sql<VariantRow>`
      INSERT INTO catalog.variants (id, product_id, title, options, price_minor, position)
      SELECT ${v.id}, ${v.product_id}, ${v.title}, ${JSON.stringify(v.options)}::jsonb, ${v.price_minor}::int,
             coalesce(max(position) + 1, 0)
      FROM catalog.variants WHERE product_id = ${v.product_id}
      RETURNING *
    `.execute(trx);
    return r.rows[0]!;
  }

  /** Variants with what a sale needs from their product (checkout pricing), in one query. */
  async findVariantsForSale(skuIds: readonly string[]) {
    if (skuIds.length === 0) return [];
    return this.db
      .selectFrom('catalog.variants as v')
      .innerJoin('catalog.products as p', 'p.id', 'v.product_id')
      .select(['v.id', 'v.product_id', 'v.title', 'v.price_minor', 'p.merchant_id', 'p.currency', 'p.name', 'p.status', 'v.status as variant_status'])
      .where('v.id', 'in', [...skuIds])
      .execute();
  }

  /** The variant with its product's owner and currency. */
  async findVariant(skuId: string) {
    return this.db
      .selectFrom('catalog.variants as v')
      .innerJoin('catalog.products as p', 'p.id', 'v.product_id')
      .selectAll('v')
      .select(['p.merchant_id', 'p.currency'])
      .where('v.id', '=', skuId)
      .executeTakeFirst();
  }

  async updateVariant(trx: Executor, skuId: string, patch: { title?: string; price_minor?: number; options?: Record<string, string>; status?: VariantRow['status'] }) {
    const { options, ...rest } = patch;
    return trx
      .updateTable('catalog.variants')
      .set({ ...rest, ...(options ? { options: sql`${JSON.stringify(options)}::jsonb` as never } : {}) })
      .where('id', '=', skuId)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  // ---- reviews (each change applies its rating delta to the summary in the same transaction)

  /** Inserts the review unless the account already reviewed the product; nothing returned then. */
  async insertReview(trx: Executor, r: ReviewRow): Promise<ReviewRow | undefined> {
    return trx
      .insertInto('catalog.reviews')
      .values(r)
      .onConflict((oc) => oc.columns(['product_id', 'account_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  /** Updates the account's review; returns it with the rating it had before (locked, so the delta is exact). */
  async updateReview(trx: Executor, productId: string, accountId: string, patch: { rating: number; title: string | null; body: string }, at: Date) {
    const r = await sql<ReviewRow & { previous_rating: number }>`
      UPDATE catalog.reviews r
      SET rating = ${patch.rating}, title = ${patch.title}, body = ${patch.body}, updated_at = ${at}
      FROM (SELECT id, rating FROM catalog.reviews WHERE product_id = ${productId} AND account_id = ${accountId} FOR UPDATE) old
      WHERE r.id = old.id
      RETURNING r.*, old.rating AS previous_rating
    `.execute(trx);
    return r.rows[0];
  }

  async deleteReview(trx: Executor, productId: string, accountId: string) {
    return trx
      .deleteFrom('catalog.reviews')
      .where('product_id', '=', productId)
      .where('account_id', '=', accountId)
      .returning(['id', 'rating'])
      .executeTakeFirst();
  }

  /** Removes one rating and/or adds one, as relative increments (safe under concurrent reviews). */
  async applyRatingChange(trx: Executor, productId: string, removed: number | null, added: number | null): Promise<void> {
    const d = (star: number) => (added === star ? 1 : 0) - (removed === star ? 1 : 0);
    const count = (added ? 1 : 0) - (removed ? 1 : 0);
    const sum = (added ?? 0) - (removed ?? 0);
    await sql`
      UPDATE catalog.rating_summaries
      SET review_count = review_count + ${count}::int, rating_sum = rating_sum + ${sum}::int,
          stars_1 = stars_1 + ${d(1)}::int, stars_2 = stars_2 + ${d(2)}::int, stars_3 = stars_3 + ${d(3)}::int,
          stars_4 = stars_4 + ${d(4)}::int, stars_5 = stars_5 + ${d(5)}::int
      WHERE product_id = ${productId}
    `.execute(trx);
  }

  /** Reviews newest first, keyset on (created_at, id). */
  async listReviews(productId: string, after: { createdAt: Date; id: string } | null, limit: number): Promise<ReviewRow[]> {
    let q = this.db
      .selectFrom('catalog.reviews')
      .selectAll()
      .where('product_id', '=', productId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit);
    if (after) q = q.where(sql<boolean>`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::text)`);
    return q.execute();
  }

  // ---- verified buyers

  /** Records delivered purchases (the first delivery of a product to an account counts) and badges the account's reviews of them. */
  async recordPurchases(trx: Executor, accountId: string, productIds: readonly string[], orderId: string, at: Date): Promise<string[]> {
    await sql`
      INSERT INTO catalog.purchases (account_id, product_id, order_id, delivered_at)
      SELECT ${accountId}, p, ${orderId}, ${at} FROM unnest(${[...productIds]}::text[]) AS p
      ON CONFLICT (account_id, product_id) DO NOTHING
    `.execute(trx);
    const badged = await trx
      .updateTable('catalog.reviews')
      .set({ verified_buyer: true })
      .where('account_id', '=', accountId)
      .where('product_id', 'in', [...productIds])
      .where('verified_buyer', '=', false)
      .returning('product_id')
      .execute();
    return badged.map((r) => r.product_id);
  }

  async hasPurchased(accountId: string, productId: string): Promise<boolean> {
    const r = await this.db.selectFrom('catalog.purchases').select('product_id').where('account_id', '=', accountId).where('product_id', '=', productId).executeTakeFirst();
    return r !== undefined;
  }

  /** Bumps updated_at so product caches (ETag, feed cards) see the change; returns the owner. */
  async touchProduct(trx: Executor, productId: string, at: Date) {
    return trx.updateTable('catalog.products').set({ updated_at: at }).where('id', '=', productId).returning(['id', 'merchant_id']).executeTakeFirstOrThrow();
  }
}
