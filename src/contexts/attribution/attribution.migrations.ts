import { sqlMigration, type ContextMigrations } from '../../platform/migrations';

export const attributionMigrations: ContextMigrations = {
  schema: 'attribution',
  migrations: {
    '0001_init': sqlMigration(`
      -- One row per shopper touch on a tag: the facts attribution is computed from later (windows, dedupe and
      -- self-referral are applied at attribution time, never at write time).
      CREATE TABLE attribution.touches (
        id text PRIMARY KEY CHECK (id LIKE 'tch\\_%'),
        kind text NOT NULL CHECK (kind IN ('tap', 'view', 'impression')),
        account_id text CHECK (account_id LIKE 'acc\\_%'),
        device_id text NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),
        tag_id text NOT NULL,
        post_id text NOT NULL,
        creator_id text NOT NULL,
        product_id text NOT NULL,
        tag_created_at timestamptz NOT NULL,
        occurred_at timestamptz NOT NULL CHECK (occurred_at = date_trunc('second', occurred_at)),
        key_id text NOT NULL,
        recorded_at timestamptz NOT NULL,
        -- an identical retry (same device, tag, kind and second) is stored once
        CONSTRAINT touches_once UNIQUE (device_id, tag_id, kind, occurred_at)
      );
      -- "touches of a shopper on a product before T", by account and by (still anonymous) device
      CREATE INDEX touches_account_product ON attribution.touches (account_id, product_id, occurred_at) WHERE account_id IS NOT NULL;
      CREATE INDEX touches_device_product ON attribution.touches (device_id, product_id, occurred_at);

      -- A device an account signed in on; its anonymous touches belong to that account.
      CREATE TABLE attribution.device_links (
        device_id text NOT NULL,
        account_id text NOT NULL CHECK (account_id LIKE 'acc\\_%'),
        linked_at timestamptz NOT NULL,
        PRIMARY KEY (device_id, account_id)
      );
      CREATE INDEX device_links_account ON attribution.device_links (account_id, device_id);

      -- Forged, tampered or unverifiable referral tokens, counted per UTC day, reason and place seen.
      CREATE TABLE attribution.invalid_token_counts (
        day date NOT NULL,
        reason text NOT NULL,
        seen_at text NOT NULL,
        count bigint NOT NULL CHECK (count > 0),
        PRIMARY KEY (day, reason, seen_at)
      );
    `),
  },
};
