import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

/**
 * Payments as we know them (schema `payments`), plus the simulated provider's own books (schema `payments_sim`).
 * The CHECKs are the money invariants: never capture more than authorized, never refund more than captured.
 */
export const paymentsMigrations: ContextMigrations = {
  schema: 'payments',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE payments.payments (
        id text PRIMARY KEY,
        checkout_id text NOT NULL UNIQUE,
        account_id text,
        provider text NOT NULL CHECK (provider IN ('simulated', 'stripe')),
        provider_ref text,
        -- a provider payment-method id (pm_…) or, for test card numbers, only their last four digits
        payment_method text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'authorized', 'captured', 'voided', 'partially_refunded', 'refunded', 'failed')),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        captured_minor bigint NOT NULL DEFAULT 0,
        refunded_minor bigint NOT NULL DEFAULT 0,
        failure_code text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT payments_captured_within_amount CHECK (captured_minor >= 0 AND captured_minor <= amount_minor),
        CONSTRAINT payments_refunded_within_captured CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor),
        CONSTRAINT payments_failed_has_code CHECK ((status = 'failed') = (failure_code IS NOT NULL))
      );
      CREATE UNIQUE INDEX payments_by_provider_ref ON payments.payments (provider, provider_ref) WHERE provider_ref IS NOT NULL;
      CREATE INDEX payments_pending ON payments.payments (created_at) WHERE status = 'pending';

      CREATE TABLE payments.refunds (
        id text PRIMARY KEY,
        payment_id text NOT NULL REFERENCES payments.payments (id),
        key text NOT NULL UNIQUE,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        provider_ref text,
        failure_code text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX refunds_by_payment ON payments.refunds (payment_id);

      -- every webhook we accepted, raw, for audit; the unique key makes a redelivered event a no-op
      CREATE TABLE payments.webhook_events (
        id text PRIMARY KEY,
        provider text NOT NULL,
        provider_event_id text NOT NULL,
        event_type text NOT NULL,
        payment_id text,
        raw_body text NOT NULL,
        received_at timestamptz NOT NULL,
        CONSTRAINT webhook_events_once UNIQUE (provider, provider_event_id)
      );
    `),
    // The simulated provider's side. It stands in for a remote provider, so it lives in the database (not in
    // memory): it survives our crashes and every process sees the same authorizations, like a real provider would.
    '0002_simulator': sqlMigration(`
      CREATE SCHEMA IF NOT EXISTS payments_sim;
      CREATE TABLE payments_sim.requests (
        idempotency_key text PRIMARY KEY,
        operation text NOT NULL,
        request_hash text NOT NULL,
        status integer,
        response jsonb,
        created_at timestamptz NOT NULL
      );
      CREATE TABLE payments_sim.intents (
        ref text PRIMARY KEY,
        idempotency_key text NOT NULL UNIQUE,
        status text NOT NULL CHECK (status IN ('requires_capture', 'succeeded', 'canceled', 'failed')),
        currency char(3) NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        captured_minor bigint NOT NULL DEFAULT 0 CHECK (captured_minor <= amount_minor),
        refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor <= captured_minor),
        failure_code text,
        metadata jsonb NOT NULL,
        created_at timestamptz NOT NULL
      );
      CREATE TABLE payments_sim.refunds (
        ref text PRIMARY KEY,
        intent_ref text NOT NULL REFERENCES payments_sim.intents (ref),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        created_at timestamptz NOT NULL
      );
      CREATE TABLE payments_sim.webhooks (
        id text PRIMARY KEY,
        body text NOT NULL,
        created_at timestamptz NOT NULL,
        lease_until timestamptz,
        delivered_at timestamptz,
        attempts integer NOT NULL DEFAULT 0
      );
      CREATE INDEX webhooks_undelivered ON payments_sim.webhooks (id) WHERE delivered_at IS NULL;
    `),
  },
};
