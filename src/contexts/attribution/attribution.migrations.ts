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
    '0002_credits': sqlMigration(`
      -- Flagged as bot traffic at ingest: kept for the record, never credited.
      ALTER TABLE attribution.touches ADD COLUMN bot boolean NOT NULL DEFAULT false;

      -- One row per attributed order line: the facts its credits were computed from (so recompute needs no other
      -- context), how much of it was refunded, and which analytics revision of its credits is live.
      CREATE TABLE attribution.lines (
        line_id text PRIMARY KEY CHECK (line_id LIKE 'oln\\_%'),
        order_id text NOT NULL CHECK (order_id LIKE 'ord\\_%'),
        merchant_id text NOT NULL,
        product_id text NOT NULL,
        account_id text,
        device_id text NOT NULL,
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        ordered_at timestamptz NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        net_amount_minor bigint NOT NULL CHECK (net_amount_minor >= 0),
        -- the referral token stamped on the line at checkout (a tap at T), or null
        claim jsonb,
        refunded_quantity integer NOT NULL DEFAULT 0 CHECK (refunded_quantity BETWEEN 0 AND quantity),
        refunded_net_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_net_minor BETWEEN 0 AND net_amount_minor),
        -- fraud-guard exclusions seen when the line was first credited, by reason ({"bot": 2})
        flags jsonb NOT NULL DEFAULT '{}'::jsonb,
        revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
        credited_at timestamptz NOT NULL
      );
      CREATE INDEX lines_order ON attribution.lines (order_id);
      CREATE INDEX lines_ordered_at ON attribution.lines (ordered_at, line_id);
      CREATE INDEX lines_flagged ON attribution.lines (ordered_at DESC) WHERE flags <> '{}'::jsonb;

      -- Analytics credits: one row per (line, revision, model, tag). Revision 1 is computed when the order is paid;
      -- a recompute writes revision n+1 and the line points at it; older revisions stay as history.
      CREATE TABLE attribution.credits (
        line_id text NOT NULL REFERENCES attribution.lines (line_id),
        revision integer NOT NULL CHECK (revision >= 1),
        model text NOT NULL CHECK (model IN ('last_click', 'first_click', 'linear', 'time_decay', 'position')),
        tag_id text NOT NULL,
        post_id text NOT NULL,
        creator_id text NOT NULL,
        model_version integer NOT NULL CHECK (model_version >= 1),
        click_window_days double precision NOT NULL CHECK (click_window_days > 0),
        view_window_hours double precision NOT NULL CHECK (view_window_hours > 0),
        weight double precision NOT NULL CHECK (weight > 0 AND weight <= 1.000000001),
        amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
        -- units in ten-thousandths (a unit split over tags sums exactly to the quantity)
        units_e4 bigint NOT NULL CHECK (units_e4 >= 0),
        reversed_minor bigint NOT NULL DEFAULT 0 CHECK (reversed_minor BETWEEN 0 AND amount_minor),
        reversed_units_e4 bigint NOT NULL DEFAULT 0 CHECK (reversed_units_e4 BETWEEN 0 AND units_e4),
        PRIMARY KEY (line_id, revision, model, tag_id)
      );

      -- The commission basis: last click, frozen when the line is first credited; recompute never touches it.
      CREATE TABLE attribution.commissionable (
        line_id text PRIMARY KEY REFERENCES attribution.lines (line_id),
        tag_id text NOT NULL,
        post_id text NOT NULL,
        creator_id text NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
        reversed_minor bigint NOT NULL DEFAULT 0 CHECK (reversed_minor BETWEEN 0 AND amount_minor)
      );

      -- Each (refund, line) is reversed once, however often the refund event is delivered.
      CREATE TABLE attribution.reversals (
        refund_id text NOT NULL CHECK (refund_id LIKE 'rfd\\_%'),
        line_id text NOT NULL REFERENCES attribution.lines (line_id),
        quantity integer NOT NULL CHECK (quantity >= 0),
        net_amount_minor bigint NOT NULL CHECK (net_amount_minor >= 0),
        at timestamptz NOT NULL,
        PRIMARY KEY (refund_id, line_id)
      );

      -- Fraud-guard exclusions by order day and reason (touches left out of a credited line).
      CREATE TABLE attribution.flag_counts (
        day date NOT NULL,
        reason text NOT NULL CHECK (reason IN ('self_referral', 'bot', 'flood', 'expired_token', 'inactive_tag')),
        count bigint NOT NULL CHECK (count > 0),
        PRIMARY KEY (day, reason)
      );

      -- Minutes in which a device recorded more touches than the flood limit: its touches then are not credited.
      CREATE TABLE attribution.flooded_minutes (
        device_id text NOT NULL,
        minute timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
        touches integer NOT NULL CHECK (touches > 0),
        flagged_at timestamptz NOT NULL,
        PRIMARY KEY (device_id, minute)
      );
      CREATE INDEX flooded_minutes_recent ON attribution.flooded_minutes (minute DESC);
    `),
    '0003_recompute_jobs': sqlMigration(`
      -- A recompute asked for by an admin (POST /v1/admin/attribution/recompute), run by whichever worker claims it,
      -- one page of lines per transaction. The page's transaction also moves the cursor and the counters, fenced by
      -- the lease token, so a runner that lost its lease commits nothing and a take-over resumes after the last page.
      CREATE TABLE attribution.recompute_jobs (
        id text PRIMARY KEY CHECK (id LIKE 'rcj\\_%'),
        status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        range_from timestamptz NOT NULL,
        range_to timestamptz NOT NULL CHECK (range_from < range_to),
        click_window_days double precision NOT NULL CHECK (click_window_days > 0),
        view_window_hours double precision NOT NULL CHECK (view_window_hours > 0),
        requested_by text,
        -- lines in the range, counted when the job is first claimed (lines credited later may add to lines_done)
        lines_total integer CHECK (lines_total >= 0),
        lines_done integer NOT NULL DEFAULT 0 CHECK (lines_done >= 0),
        recomputed integer NOT NULL DEFAULT 0 CHECK (recomputed BETWEEN 0 AND lines_done),
        -- the last line of the last committed page, in (ordered_at, line_id) order
        cursor_ordered_at timestamptz,
        cursor_line_id text,
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        -- who runs it and until when: past lease_until any worker may take it over
        lease_token text,
        lease_until timestamptz,
        error text,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        CHECK ((cursor_ordered_at IS NULL) = (cursor_line_id IS NULL)),
        CHECK ((status = 'running') = (lease_token IS NOT NULL AND lease_until IS NOT NULL)),
        CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
      );
      -- the claim's scan: only unfinished jobs, oldest first
      CREATE INDEX recompute_jobs_open ON attribution.recompute_jobs (id) WHERE status IN ('queued', 'running');
    `),
  },
};
