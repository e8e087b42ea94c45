import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * Stock per SKU. The CHECK constraints are the last line against overselling: whatever the code does, the database
 * refuses a negative on-hand, a negative reservation, more reserved than on hand, or negative sold units.
 */
export const inventoryMigrations: ContextMigrations = {
  schema: 'inventory',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE inventory.stock (
        sku_id text PRIMARY KEY,
        on_hand integer NOT NULL DEFAULT 0,
        reserved integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL,
        CONSTRAINT stock_on_hand_not_negative CHECK (on_hand >= 0),
        CONSTRAINT stock_reserved_not_negative CHECK (reserved >= 0),
        CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
      );

      -- every change of on-hand, with who and why (an append-only journal)
      CREATE TABLE inventory.adjustments (
        id text PRIMARY KEY,
        sku_id text NOT NULL,
        delta integer NOT NULL,
        on_hand_after integer NOT NULL CHECK (on_hand_after >= 0),
        account_id text NOT NULL,
        reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
        created_at timestamptz NOT NULL
      );
      CREATE INDEX adjustments_by_sku ON inventory.adjustments (sku_id, created_at DESC, id DESC);
    `),
    // Reservations (holds for a checkout) and sold units. Conservation, checkable at any time:
    //   sum(adjustments.delta + adjustments.sold_delta) = on_hand + sold   (units the shop took in, net of write-offs)
    //   sum(quantity of held reservations)              = reserved
    // A sale (commit) moves units from on_hand to sold and a restock moves them back; neither changes on_hand + sold.
    '0002_reservations': sqlMigration(`
      ALTER TABLE inventory.stock ADD COLUMN sold integer NOT NULL DEFAULT 0;
      ALTER TABLE inventory.stock ADD CONSTRAINT stock_sold_not_negative CHECK (sold >= 0);

      -- a restock is journaled with delta = +q (on hand) and sold_delta = -q; idempotency_key makes it happen once
      ALTER TABLE inventory.adjustments ADD COLUMN sold_delta integer NOT NULL DEFAULT 0;
      ALTER TABLE inventory.adjustments ADD COLUMN idempotency_key text;
      CREATE UNIQUE INDEX adjustments_idempotency_key ON inventory.adjustments (idempotency_key) WHERE idempotency_key IS NOT NULL;

      CREATE TABLE inventory.reservations (
        id text PRIMARY KEY,
        holder_id text NOT NULL,
        sku_id text NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        status text NOT NULL CHECK (status IN ('held', 'committed', 'released', 'expired')),
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      -- the sweeper's scan
      CREATE INDEX reservations_due ON inventory.reservations (status, expires_at);
      -- one live hold per holder and SKU: a duplicate reserve racing from another process fails instead of holding twice
      CREATE UNIQUE INDEX reservations_live_per_holder ON inventory.reservations (holder_id, sku_id) WHERE status IN ('held', 'committed');
      CREATE INDEX reservations_by_holder ON inventory.reservations (holder_id);
    `),
  },
};
