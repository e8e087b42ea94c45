import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * The catalog's own tables. Foreign keys stay inside the context; references to other contexts (accounts) are
 * prefixed ids. The rating summary carries CHECKs tying its totals to its per-star counts, and it is updated in the
 * transaction of every review change, so it always equals a recomputation from the reviews.
 */
export const catalogMigrations: ContextMigrations = {
  schema: 'catalog',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE catalog.merchants (
        id text PRIMARY KEY,
        account_id text NOT NULL UNIQUE,
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );

      CREATE TABLE catalog.products (
        id text PRIMARY KEY,
        merchant_id text NOT NULL REFERENCES catalog.merchants (id),
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT '',
        status text NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX products_by_merchant ON catalog.products (merchant_id, id DESC);
      CREATE INDEX products_active ON catalog.products (id DESC) WHERE status = 'active';

      CREATE TABLE catalog.variants (
        id text PRIMARY KEY,
        product_id text NOT NULL REFERENCES catalog.products (id),
        title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
        options jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
        price_minor integer NOT NULL CHECK (price_minor > 0 AND price_minor <= 100000000),
        position integer NOT NULL CHECK (position >= 0)
      );
      CREATE INDEX variants_by_product ON catalog.variants (product_id, position);

      CREATE TABLE catalog.media (
        id text PRIMARY KEY,
        product_id text NOT NULL REFERENCES catalog.products (id),
        kind text NOT NULL CHECK (kind IN ('image', 'video')),
        url text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
        alt text NOT NULL DEFAULT '',
        position integer NOT NULL CHECK (position >= 0)
      );
      CREATE INDEX media_by_product ON catalog.media (product_id, position);

      CREATE TABLE catalog.reviews (
        id text PRIMARY KEY,
        product_id text NOT NULL REFERENCES catalog.products (id),
        account_id text NOT NULL,
        rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
        title text,
        body text NOT NULL,
        verified_buyer boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (product_id, account_id)
      );
      CREATE INDEX reviews_newest ON catalog.reviews (product_id, created_at DESC, id DESC);

      CREATE TABLE catalog.rating_summaries (
        product_id text PRIMARY KEY REFERENCES catalog.products (id),
        review_count integer NOT NULL DEFAULT 0,
        rating_sum integer NOT NULL DEFAULT 0,
        stars_1 integer NOT NULL DEFAULT 0 CHECK (stars_1 >= 0),
        stars_2 integer NOT NULL DEFAULT 0 CHECK (stars_2 >= 0),
        stars_3 integer NOT NULL DEFAULT 0 CHECK (stars_3 >= 0),
        stars_4 integer NOT NULL DEFAULT 0 CHECK (stars_4 >= 0),
        stars_5 integer NOT NULL DEFAULT 0 CHECK (stars_5 >= 0),
        CONSTRAINT summary_count_matches CHECK (review_count = stars_1 + stars_2 + stars_3 + stars_4 + stars_5),
        CONSTRAINT summary_sum_matches CHECK (rating_sum = stars_1 + 2 * stars_2 + 3 * stars_3 + 4 * stars_4 + 5 * stars_5)
      );
    `),
    // verified buyers: who received which product (from orders.order.delivered), so reviews can carry the badge
    '0002_purchases': sqlMigration(`
      CREATE TABLE catalog.purchases (
        account_id text NOT NULL,
        product_id text NOT NULL,
        order_id text NOT NULL,
        delivered_at timestamptz NOT NULL,
        PRIMARY KEY (account_id, product_id)
      );
    `),
    // a merchant retires one SKU without archiving the product: not sold, hidden from shoppers, kept for orders
    '0003_variant_status': sqlMigration(`
      ALTER TABLE catalog.variants ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived'));
    `),
  },
};
