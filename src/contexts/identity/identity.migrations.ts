import type { ContextMigrations } from '../../platform/migrations';
import { sqlMigration } from '../../platform/migrations';

export const identityMigrations: ContextMigrations = {
  schema: 'identity',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE identity.accounts (
        id text PRIMARY KEY,
        email text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
        roles text[] NOT NULL CHECK (
          cardinality(roles) >= 1 AND roles <@ ARRAY['shopper', 'creator', 'merchant', 'admin']::text[]
        ),
        -- scrypt$N$r$p$salt$hash: the parameters travel with the hash so they can be raised later
        password_hash text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
        created_at timestamptz NOT NULL
      );

      -- Only the SHA-256 of a session token is stored: a leaked table does not let anyone sign in.
      CREATE TABLE identity.sessions (
        id text PRIMARY KEY,
        account_id text NOT NULL REFERENCES identity.accounts (id),
        token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        device_id text,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        CHECK (expires_at > created_at)
      );
      CREATE INDEX sessions_account ON identity.sessions (account_id);

      -- Failed log-ins, shared by every API process; rows older than the window are pruned as new ones arrive.
      CREATE TABLE identity.login_failures (
        id bigserial PRIMARY KEY,
        email text NOT NULL,
        ip text NOT NULL,
        failed_at timestamptz NOT NULL
      );
      CREATE INDEX login_failures_email ON identity.login_failures (email, failed_at);
      CREATE INDEX login_failures_ip ON identity.login_failures (ip, failed_at);
      CREATE INDEX login_failures_age ON identity.login_failures (failed_at);
    `),
    // an attempt counts against its e-mail from before its password check (pending) until it is known to be wrong
    '0002_login_pending': sqlMigration(`
      ALTER TABLE identity.login_failures ADD COLUMN pending boolean NOT NULL DEFAULT false;
    `),
    // a log-in's success stops its e-mail's failures counting against the e-mail, not against the IPs they came from
    '0003_login_email_cleared': sqlMigration(`
      ALTER TABLE identity.login_failures ADD COLUMN email_cleared boolean NOT NULL DEFAULT false;
    `),
  },
};
