import { sqlMigration, type ContextMigrations } from '../../platform/migrations';

/**
 * Earnings (schema `earnings`): commission rules (append-only versions, so the rate in force at any order time can be
 * found again), commissions (one per credited order line, rate frozen), reversals, deliveries (the hold starts there),
 * the creator ledger (append-only: a trigger refuses UPDATE and DELETE), payouts and payout accounts, plus the simulated
 * payout provider's own books (`sim_transfers`).
 *
 * The ledger keeps money in buckets: an amount moves between buckets as a pair of entries that sum to zero
 * (pending → available at release, available → in_transit when a payout starts, in_transit → paid or back to
 * available when it settles). A balance is the sum of a bucket's entries; `balances` (0002) keeps those sums, added
 * to by a trigger in the transaction of every ledger insert, so reads and the payout sweep never sum a whole history.
 */
export const earningsMigrations: ContextMigrations = {
  schema: 'earnings',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE earnings.commission_rules (
        id text PRIMARY KEY,
        merchant_id text NOT NULL,
        -- null: the merchant's default for every product without its own rule
        product_id text,
        -- null: the rule was removed from this time on (the merchant default or the platform default applies again)
        rate_bps integer CHECK (rate_bps BETWEEN 0 AND 10000),
        effective_at timestamptz NOT NULL
      );
      CREATE INDEX commission_rules_lookup ON earnings.commission_rules (merchant_id, product_id, effective_at DESC, id DESC);

      CREATE TABLE earnings.commissions (
        id text PRIMARY KEY,
        line_id text NOT NULL UNIQUE,
        order_id text NOT NULL,
        merchant_id text NOT NULL,
        product_id text NOT NULL,
        creator_id text NOT NULL,
        post_id text NOT NULL,
        tag_id text NOT NULL,
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        ordered_at timestamptz NOT NULL,
        basis_minor bigint NOT NULL CHECK (basis_minor > 0),
        rate_bps integer NOT NULL CHECK (rate_bps BETWEEN 0 AND 10000),
        amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
        reversed_basis_minor bigint NOT NULL DEFAULT 0,
        reversed_minor bigint NOT NULL DEFAULT 0,
        -- set once, when the hold after delivery elapsed and the unreversed rest moved to available
        released_at timestamptz,
        created_at timestamptz NOT NULL,
        CHECK (reversed_basis_minor BETWEEN 0 AND basis_minor),
        CHECK (reversed_minor BETWEEN 0 AND amount_minor),
        -- a full refund nets to exactly zero
        CHECK (reversed_basis_minor < basis_minor OR reversed_minor = amount_minor)
      );
      CREATE INDEX commissions_by_order ON earnings.commissions (order_id) WHERE released_at IS NULL;
      CREATE INDEX commissions_by_creator ON earnings.commissions (creator_id);

      CREATE TABLE earnings.reversals (
        refund_id text NOT NULL,
        line_id text NOT NULL,
        commission_id text NOT NULL REFERENCES earnings.commissions (id),
        basis_minor bigint NOT NULL CHECK (basis_minor >= 0),
        commission_minor bigint NOT NULL CHECK (commission_minor >= 0),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (refund_id, line_id)
      );

      CREATE TABLE earnings.deliveries (
        order_id text PRIMARY KEY,
        delivered_at timestamptz NOT NULL
      );

      CREATE TABLE earnings.payout_accounts (
        creator_id text PRIMARY KEY,
        id text NOT NULL UNIQUE,
        provider text NOT NULL CHECK (provider IN ('simulated', 'stripe')),
        account_ref text NOT NULL CHECK (account_ref ~ '^acct_[A-Za-z0-9]{1,64}$'),
        updated_at timestamptz NOT NULL
      );

      CREATE TABLE earnings.payouts (
        id text PRIMARY KEY,
        creator_id text NOT NULL,
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        status text NOT NULL CHECK (status IN ('processing', 'sent', 'failed')),
        trigger text NOT NULL CHECK (trigger IN ('scheduled', 'on_demand')),
        provider text NOT NULL CHECK (provider IN ('simulated', 'stripe')),
        destination text NOT NULL,
        provider_ref text,
        failure_code text,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        settled_at timestamptz,
        CHECK ((status = 'sent') = (provider_ref IS NOT NULL)),
        CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
        CHECK ((status = 'processing') = (settled_at IS NULL))
      );
      -- at most one payout in flight per creator and currency: two concurrent requests cannot both take the balance
      CREATE UNIQUE INDEX payouts_one_in_flight ON earnings.payouts (creator_id, currency) WHERE status = 'processing';
      CREATE INDEX payouts_by_creator ON earnings.payouts (creator_id, created_at DESC, id DESC);

      CREATE TABLE earnings.ledger_entries (
        id text PRIMARY KEY,
        creator_id text NOT NULL,
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        kind text NOT NULL CHECK (kind IN ('commission', 'reversal', 'release', 'payout', 'payout_paid', 'payout_failed')),
        bucket text NOT NULL CHECK (bucket IN ('pending', 'available', 'in_transit', 'paid')),
        amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
        -- what caused the entry (credit:<line>, reversal:<refund>:<line>, release:<com>, payout:<pyo>, settle:<pyo>):
        -- one entry per source and bucket, which makes every handler idempotent
        source_key text NOT NULL,
        commission_id text REFERENCES earnings.commissions (id),
        order_id text,
        payout_id text REFERENCES earnings.payouts (id),
        created_at timestamptz NOT NULL,
        UNIQUE (source_key, bucket),
        CHECK ((kind IN ('commission', 'reversal', 'release')) = (commission_id IS NOT NULL)),
        CHECK ((kind IN ('payout', 'payout_paid', 'payout_failed')) = (payout_id IS NOT NULL))
      );
      CREATE INDEX ledger_by_creator ON earnings.ledger_entries (creator_id, id DESC);
      CREATE INDEX ledger_by_creator_time ON earnings.ledger_entries (creator_id, created_at, id);

      CREATE FUNCTION earnings.ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'earnings.ledger_entries is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
      END;
      $$;
      CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON earnings.ledger_entries
        FOR EACH ROW EXECUTE FUNCTION earnings.ledger_is_append_only();
      CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON earnings.ledger_entries
        FOR EACH STATEMENT EXECUTE FUNCTION earnings.ledger_is_append_only();

      -- the simulated payout provider's books: one transfer per idempotency key, as a real provider keeps them
      CREATE TABLE earnings.sim_transfers (
        idempotency_key text PRIMARY KEY,
        ref text NOT NULL UNIQUE,
        destination text NOT NULL,
        currency char(3) NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        created_at timestamptz NOT NULL
      );
    `),

    // The running sum of each (creator, currency, bucket), maintained by the database itself: a statement-level trigger
    // adds the entries a ledger INSERT really inserted (ON CONFLICT DO NOTHING skips are not in its transition table),
    // so no code path can forget it. One upsert per statement, in key order: two transactions touching several
    // balances lock them in the same order and cannot deadlock on them; two adding to the same balance serialize on
    // its row and both land. The backfill runs under a lock that keeps out ledger inserts until the migration commits.
    '0002_balances': sqlMigration(`
      CREATE TABLE earnings.balances (
        creator_id text NOT NULL,
        currency char(3) NOT NULL,
        bucket text NOT NULL CHECK (bucket IN ('pending', 'available', 'in_transit', 'paid')),
        amount_minor bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (creator_id, currency, bucket)
      );
      -- the scheduled payout sweep: available balances at or over the minimum
      CREATE INDEX balances_payable ON earnings.balances (amount_minor, creator_id, currency) WHERE bucket = 'available';

      CREATE FUNCTION earnings.add_to_balances() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO earnings.balances AS b (creator_id, currency, bucket, amount_minor, updated_at)
        SELECT creator_id, currency, bucket, sum(amount_minor), max(created_at) FROM inserted
        GROUP BY creator_id, currency, bucket
        ORDER BY creator_id, currency, bucket
        ON CONFLICT (creator_id, currency, bucket) DO UPDATE
          SET amount_minor = b.amount_minor + EXCLUDED.amount_minor, updated_at = EXCLUDED.updated_at;
        RETURN NULL;
      END;
      $$;

      LOCK TABLE earnings.ledger_entries IN SHARE ROW EXCLUSIVE MODE;
      CREATE TRIGGER ledger_adds_to_balances AFTER INSERT ON earnings.ledger_entries
        REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION earnings.add_to_balances();
      INSERT INTO earnings.balances (creator_id, currency, bucket, amount_minor, updated_at)
      SELECT creator_id, currency, bucket, sum(amount_minor), max(created_at) FROM earnings.ledger_entries
      GROUP BY creator_id, currency, bucket;
    `),

    // Provider events after a payout (docs/earnings.md "Reversals"): a transfer reversed at the provider moves the
    // reversed part of its payout from paid back to available (the cumulative reversed total is kept on the payout, so
    // each event books only what is new), and a connected account that can no longer receive transfers is marked so.
    // The constraints named below are the ones 0001 created without names (PostgreSQL's default names).
    '0003_connect_events': sqlMigration(`
      ALTER TABLE earnings.payouts
        ADD COLUMN reversed_minor bigint NOT NULL DEFAULT 0,
        DROP CONSTRAINT payouts_status_check,
        DROP CONSTRAINT payouts_check,
        ADD CONSTRAINT payouts_status_check CHECK (status IN ('processing', 'sent', 'failed', 'reversed')),
        ADD CONSTRAINT payouts_ref_when_transferred CHECK ((status IN ('sent', 'reversed')) = (provider_ref IS NOT NULL)),
        -- only a transferred payout can be reversed; 'reversed' means wholly reversed
        ADD CONSTRAINT payouts_reversed_bounds CHECK (
          reversed_minor BETWEEN 0 AND amount_minor
          AND (reversed_minor = 0 OR status IN ('sent', 'reversed'))
          AND (status = 'reversed') = (reversed_minor = amount_minor)
        );
      CREATE INDEX payouts_by_provider_ref ON earnings.payouts (provider_ref) WHERE provider_ref IS NOT NULL;

      ALTER TABLE earnings.ledger_entries
        DROP CONSTRAINT ledger_entries_kind_check,
        DROP CONSTRAINT ledger_entries_check1,
        ADD CONSTRAINT ledger_entries_kind_check
          CHECK (kind IN ('commission', 'reversal', 'release', 'payout', 'payout_paid', 'payout_failed', 'payout_reversed')),
        ADD CONSTRAINT ledger_entries_payout_kinds
          CHECK ((kind IN ('payout', 'payout_paid', 'payout_failed', 'payout_reversed')) = (payout_id IS NOT NULL));

      -- restricted_reason: null while the account can receive transfers. state_at: the time of the provider's
      -- account state applied last (an older event delivered late never overrides a newer state)
      ALTER TABLE earnings.payout_accounts ADD COLUMN restricted_reason text, ADD COLUMN state_at timestamptz;
      UPDATE earnings.payout_accounts SET state_at = updated_at;
      ALTER TABLE earnings.payout_accounts ALTER COLUMN state_at SET NOT NULL;
      CREATE INDEX payout_accounts_by_ref ON earnings.payout_accounts (account_ref);

      -- every provider event we accepted, raw, for audit; the unique key makes a redelivered event a no-op
      CREATE TABLE earnings.webhook_events (
        id text PRIMARY KEY,
        provider text NOT NULL,
        provider_event_id text NOT NULL,
        event_type text NOT NULL,
        payout_id text,
        raw_body text NOT NULL,
        received_at timestamptz NOT NULL,
        CONSTRAINT webhook_events_once UNIQUE (provider, provider_event_id)
      );

      -- the simulator's books: what was reversed of each transfer (one reversal per idempotency key), and the
      -- accounts whose transfers capability is not active
      ALTER TABLE earnings.sim_transfers ADD COLUMN amount_reversed bigint NOT NULL DEFAULT 0,
        ADD CONSTRAINT sim_transfers_reversed_bounds CHECK (amount_reversed BETWEEN 0 AND amount_minor);
      CREATE TABLE earnings.sim_transfer_reversals (
        idempotency_key text PRIMARY KEY,
        ref text NOT NULL REFERENCES earnings.sim_transfers (ref),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        created_at timestamptz NOT NULL
      );
      CREATE TABLE earnings.sim_accounts (
        ref text PRIMARY KEY,
        transfers text NOT NULL CHECK (transfers IN ('active', 'inactive', 'pending'))
      );
    `),
    // the admin's list of every payout (no creatorId) is newest first by (created_at, id), as a creator's list is
    '0004_payouts_by_time': sqlMigration(`
      CREATE INDEX payouts_by_time ON earnings.payouts (created_at DESC, id DESC);
    `),
  },
};
