import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * The orders context's tables. Money is integer minor units; the CHECKs keep every total consistent with its parts
 * (total = subtotal + tax, never refunding more than was charged per line or per order, quantities in range) and
 * a line's attribution all-or-nothing, whatever the code does. References to other contexts are prefixed ids.
 */
export const ordersMigrations: ContextMigrations = {
  schema: 'orders',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE orders.orders (
        id text PRIMARY KEY,
        checkout_id text NOT NULL,
        merchant_id text NOT NULL,
        account_id text,
        device_id text NOT NULL,
        payment_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('placed', 'paid', 'fulfilling', 'shipped', 'delivered', 'cancelled')),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        subtotal_minor bigint NOT NULL CHECK (subtotal_minor >= 0),
        tax_minor bigint NOT NULL CHECK (tax_minor >= 0),
        total_minor bigint NOT NULL CHECK (total_minor = subtotal_minor + tax_minor),
        refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor BETWEEN 0 AND total_minor),
        shipping_address jsonb CHECK (shipping_address IS NULL OR jsonb_typeof(shipping_address) = 'object'),
        carrier text CHECK (char_length(carrier) BETWEEN 1 AND 100),
        tracking_number text CHECK (char_length(tracking_number) BETWEEN 1 AND 200),
        cancel_reason text,
        placed_at timestamptz NOT NULL,
        paid_at timestamptz,
        fulfilling_at timestamptz,
        shipped_at timestamptz,
        delivered_at timestamptz,
        cancelled_at timestamptz,
        updated_at timestamptz NOT NULL,
        UNIQUE (checkout_id, merchant_id),
        -- a shipped (or delivered) order always says how it travels
        CONSTRAINT shipped_has_tracking CHECK (status NOT IN ('shipped', 'delivered') OR (carrier IS NOT NULL AND tracking_number IS NOT NULL))
      );
      CREATE INDEX orders_by_account ON orders.orders (account_id, id DESC) WHERE account_id IS NOT NULL;
      CREATE INDEX orders_by_merchant ON orders.orders (merchant_id, id DESC);
      CREATE INDEX orders_by_merchant_status ON orders.orders (merchant_id, status, id DESC);
      CREATE INDEX orders_by_payment ON orders.orders (payment_id);

      CREATE TABLE orders.order_lines (
        id text PRIMARY KEY,
        order_id text NOT NULL REFERENCES orders.orders (id),
        position integer NOT NULL CHECK (position >= 0),
        product_id text NOT NULL,
        sku_id text NOT NULL,
        product_name text NOT NULL,
        variant_title text NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
        net_amount_minor bigint NOT NULL CHECK (net_amount_minor >= 0),
        tax_minor bigint NOT NULL CHECK (tax_minor >= 0),
        refunded_quantity integer NOT NULL DEFAULT 0 CHECK (refunded_quantity BETWEEN 0 AND quantity),
        refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor BETWEEN 0 AND net_amount_minor + tax_minor),
        refunded_net_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_net_minor BETWEEN 0 AND net_amount_minor),
        returned_quantity integer NOT NULL DEFAULT 0 CHECK (returned_quantity BETWEEN 0 AND refunded_quantity),
        tag_id text,
        post_id text,
        creator_id text,
        attributed_product_id text,
        tag_created_at timestamptz,
        referral_key_id text,
        UNIQUE (order_id, position),
        CONSTRAINT attribution_all_or_nothing
          CHECK (num_nulls(tag_id, post_id, creator_id, attributed_product_id, tag_created_at, referral_key_id) IN (0, 6))
      );
      CREATE INDEX order_lines_by_order ON orders.order_lines (order_id, position);

      -- the readable history: every transition, refund and return, in order
      CREATE TABLE orders.order_events (
        order_id text NOT NULL REFERENCES orders.orders (id),
        seq integer NOT NULL CHECK (seq > 0),
        type text NOT NULL,
        from_status text,
        to_status text,
        actor text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL,
        PRIMARY KEY (order_id, seq)
      );

      -- refunds are recorded 'pending' before the provider is called and settled after, so a crash is resumable
      CREATE TABLE orders.refunds (
        id text PRIMARY KEY,
        order_id text NOT NULL REFERENCES orders.orders (id),
        request_key text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('refund', 'cancel', 'return')),
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
        lines jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
        reason text NOT NULL,
        actor text NOT NULL,
        failure_code text,
        created_at timestamptz NOT NULL,
        settled_at timestamptz,
        UNIQUE (order_id, request_key),
        CHECK ((status = 'pending') = (settled_at IS NULL))
      );
      CREATE INDEX refunds_pending ON orders.refunds (created_at) WHERE status = 'pending';

      CREATE TABLE orders.returns (
        id text PRIMARY KEY,
        order_id text NOT NULL REFERENCES orders.orders (id),
        refund_id text NOT NULL REFERENCES orders.refunds (id),
        lines jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
        reason text NOT NULL,
        created_at timestamptz NOT NULL
      );
    `),
    // when the line's referral token was stamped (the tap attribution's click window counts from); null on a line
    // without attribution, and on lines placed before it was recorded (attribution then takes the order's time)
    '0002_referred_at': sqlMigration(`
      ALTER TABLE orders.order_lines ADD COLUMN referred_at timestamptz;
      ALTER TABLE orders.order_lines ADD CONSTRAINT referred_at_with_attribution CHECK (referred_at IS NULL OR tag_id IS NOT NULL);
    `),
    // the shop's totals over a period (GET /v1/merchant/summary) read a merchant's orders by when they were placed
    '0003_orders_by_merchant_placed': sqlMigration(`
      CREATE INDEX orders_by_merchant_placed ON orders.orders (merchant_id, placed_at);
    `),
  },
};
