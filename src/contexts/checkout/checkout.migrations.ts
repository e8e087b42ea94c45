import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * Carts and checkout attempts. An attempt row is the flow's journal: its status says which steps are done, so a
 * crashed checkout can be finished or undone by the sweeper (checkout.flow.ts). References to other contexts
 * (accounts, SKUs, payments, orders) are prefixed ids, never foreign keys.
 */
export const checkoutMigrations: ContextMigrations = {
  schema: 'checkout',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE checkout.carts (
        id text PRIMARY KEY,
        account_id text,
        device_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('open', 'merged')),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      -- one open cart per account, and one per device for anonymous shoppers
      CREATE UNIQUE INDEX carts_open_account ON checkout.carts (account_id) WHERE status = 'open' AND account_id IS NOT NULL;
      CREATE UNIQUE INDEX carts_open_device ON checkout.carts (device_id) WHERE status = 'open' AND account_id IS NULL;

      CREATE TABLE checkout.cart_lines (
        id text PRIMARY KEY,
        cart_id text NOT NULL REFERENCES checkout.carts (id),
        sku_id text NOT NULL,
        quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
        -- the verified referral claims of the token the line was added with (null: uncredited)
        referral jsonb CHECK (referral IS NULL OR jsonb_typeof(referral) = 'object'),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (cart_id, sku_id)
      );

      CREATE TABLE checkout.attempts (
        id text PRIMARY KEY,
        idempotency_scope text NOT NULL,
        idempotency_key text NOT NULL,
        account_id text,
        device_id text NOT NULL,
        source text NOT NULL CHECK (source IN ('cart', 'buy_now')),
        cart_id text,
        status text NOT NULL CHECK (status IN ('started', 'reserved', 'authorized', 'committed', 'ordered', 'completed', 'failed')),
        failure_code text,
        failure_details jsonb,
        -- a failed attempt whose undos have all succeeded (no hold, no authorization, no committed stock left)
        undone boolean NOT NULL DEFAULT false,
        committed boolean NOT NULL DEFAULT false,
        lines jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array' AND jsonb_array_length(lines) > 0),
        shipping jsonb,
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        subtotal_minor bigint NOT NULL CHECK (subtotal_minor >= 0),
        tax_minor bigint NOT NULL CHECK (tax_minor >= 0),
        total_minor bigint NOT NULL CHECK (total_minor = subtotal_minor + tax_minor),
        -- the inventory holder currently holding the stock (the checkout id; a new one after a lapsed hold)
        holder_id text NOT NULL,
        payment_id text,
        order_ids text[] NOT NULL DEFAULT '{}',
        -- the live request or a sweeper owns the attempt until then; past it, a sweeper may take it over
        locked_until timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        finished_at timestamptz,
        UNIQUE (idempotency_scope, idempotency_key),
        CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
        CHECK (status IN ('started', 'reserved', 'failed') OR payment_id IS NOT NULL),
        CHECK (status NOT IN ('ordered', 'completed') OR cardinality(order_ids) > 0),
        CHECK (NOT undone OR status = 'failed')
      );
      CREATE INDEX attempts_unsettled ON checkout.attempts (locked_until)
        WHERE status NOT IN ('completed', 'failed') OR (status = 'failed' AND NOT undone);
    `),
    // the attempt is the checkout's idempotency record (checkout.flow.ts, "Idempotency"): the hash of the request that
    // started it, so the same key with another request is refused (null on attempts made before this migration)
    '0002_request_hash': sqlMigration(`
      ALTER TABLE checkout.attempts ADD COLUMN request_hash text;
    `),
    // when the line's referral token was stamped (the tap the click window counts from, docs/attribution.md); set
    // with the referral. Lines referred before this migration get their last change, the latest the token can have
    // been stamped. Null with a referral: unknown, taken as the order's time.
    '0003_referred_at': sqlMigration(`
      ALTER TABLE checkout.cart_lines ADD COLUMN referred_at timestamptz;
      UPDATE checkout.cart_lines SET referred_at = updated_at WHERE referral IS NOT NULL;
    `),
  },
};
