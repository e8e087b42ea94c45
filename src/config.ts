import { resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

/**
 * Configuration is read from the environment once, validated against one schema (which is also its type), and
 * passed down from the composition root. Nothing else reads process.env.
 */
export const ConfigSchema = Type.Object({
  host: Type.String({ default: '127.0.0.1' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  /** PostgreSQL connection string; when absent the embedded PGlite store under dataDir is used. */
  databaseUrl: Type.Optional(Type.String({ minLength: 1 })),
  databasePoolSize: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /** Where the embedded engines and generated development keys live. */
  dataDir: Type.String({ default: '.data' }),
  logLevel: Type.Union(
    [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
    { default: 'info' },
  ),
  /** Referral signing keys "kid:base64url-secret,…", newest first; generated into dataDir when absent. */
  referralKeys: Type.Optional(Type.String({ minLength: 1 })),
  sessionTtlHours: Type.Integer({ minimum: 1, default: 24 * 30 }),
  cookieSecure: Type.Boolean({ default: false }),
  /** Trust X-Forwarded-For from a reverse proxy (the client IP drives the per-IP log-in limit). */
  trustProxy: Type.Boolean({ default: false }),
  /** Log-in attempts allowed per email and per IP in loginWindowSeconds. */
  loginMaxAttempts: Type.Integer({ minimum: 1, default: 10 }),
  loginWindowSeconds: Type.Integer({ minimum: 1, default: 300 }),
  bodyLimitBytes: Type.Integer({ minimum: 1024, default: 256 * 1024 }),
  /** Largest image upload (POST /v1/media with image/*); an upload is held whole in memory and stored as one value. */
  mediaImageMaxBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024, default: 8 * 1024 * 1024 }),
  /** Largest video upload (video/mp4, video/webm). */
  mediaVideoMaxBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024, default: 64 * 1024 * 1024 }),
  /** What one account may upload in all (bytes of its distinct files): uploads past it are refused. */
  mediaQuotaBytes: Type.Integer({ minimum: 1024, maximum: 2 ** 40, default: 2 * 1024 ** 3 }),
  /** Products with at most this many units available show as "low". */
  lowStockThreshold: Type.Integer({ minimum: 0, default: 5 }),
  storyTtlHours: Type.Integer({ minimum: 1, default: 24 }),
  /** How long a checkout's stock reservation holds before the sweeper gives it back. */
  reservationTtlMinutes: Type.Number({ exclusiveMinimum: 0, default: 10 }),
  /**
   * How long a checkout's runner (the live request, or a sweeper) owns its attempt after each step; past it, a crashed
   * or stalled checkout is taken over by the sweeper or by a repeat of the request. Longer than the slowest provider call.
   */
  checkoutLockSeconds: Type.Integer({ minimum: 5, default: 60 }),
  /** Sales tax as basis points of the net line amount (800 = 8%); one simple rate for every line. */
  taxRateBps: Type.Integer({ minimum: 0, maximum: 10000, default: 0 }),
  /** Payment provider: the built-in simulator (quickstart, tests) or Stripe. */
  paymentProvider: Type.Union([Type.Literal('simulated'), Type.Literal('stripe')], { default: 'simulated' }),
  stripeSecretKey: Type.Optional(Type.String({ minLength: 1 })),
  stripeWebhookSecret: Type.Optional(Type.String({ minLength: 1 })),
  /** Base URL of the Stripe API (tests point it at the local stand-in). */
  stripeApiBase: Type.Optional(Type.String({ minLength: 1 })),
  /** Webhook signing secret of the simulated provider; generated into dataDir when absent. */
  simulatedWebhookSecret: Type.Optional(Type.String({ minLength: 16 })),
  /** How often the worker looks for expired reservations and stuck checkouts. */
  sweepIntervalSeconds: Type.Number({ exclusiveMinimum: 0, default: 5 }),
  /**
   * Coalesce concurrent single-SKU reservations into one statement per batch and answer sold-out SKUs from memory
   * (design.md §5). Off: one row-locked transaction per request, no memo (the flash-sale benchmark's naive variant).
   */
  reservationCoalescing: Type.Boolean({ default: true }),
  /**
   * Group commit (src/platform/batcher.ts): concurrent requests' writes and look-ups on the sale path share one
   * statement per batch. Off: every call runs on its own (the flash-sale benchmark's naive variant). Process-wide.
   */
  groupCommit: Type.Boolean({ default: true }),
  /** ClickHouse server URL (http://user:pass@host:8123/db); when absent the embedded chDB store under dataDir is used. */
  clickhouseUrl: Type.Optional(Type.String({ minLength: 1 })),
  /** ClickHouse database the analytics tables live in (chDB and server alike). */
  analyticsDatabase: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'feedshop' }),
  /** Client and server events are appended to the store in batches of at most this many rows… */
  analyticsBatchSize: Type.Integer({ minimum: 1, default: 5000 }),
  /** …or after this many milliseconds, whichever comes first. */
  analyticsFlushMs: Type.Integer({ minimum: 1, default: 1000 }),
  /** Attribution windows (design.md §7): clicks (taps, product views with a token) and view-through impressions. */
  attributionClickWindowDays: Type.Number({ exclusiveMinimum: 0, default: 7 }),
  attributionViewWindowHours: Type.Number({ exclusiveMinimum: 0, default: 24 }),
  /** A device recording more touches than this in any 60 seconds is a touch flood: its touches then are not credited. */
  attributionFloodPerMinute: Type.Integer({ minimum: 1, default: 120 }),
  /**
   * How long a worker holds a recompute job after each committed page; past it, a dead or stalled runner's job is
   * taken over by another worker from its last committed page. Longer than one page (200 lines) takes.
   */
  attributionRecomputeLeaseSeconds: Type.Integer({ minimum: 5, default: 60 }),
  /** Commission rate in basis points when a merchant has set none (1000 = 10%). */
  defaultCommissionBps: Type.Integer({ minimum: 0, maximum: 10000, default: 1000 }),
  /** Commissions become payable this many days after delivery (the return window). */
  earningsHoldDays: Type.Number({ minimum: 0, default: 30 }),
  /** Payouts (scheduled and on demand) need at least this available balance, in minor units. */
  payoutMinimumMinor: Type.Integer({ minimum: 1, default: 1000 }),
  /** How often scheduled payouts run for every creator above the minimum. */
  payoutScheduleHours: Type.Number({ exclusiveMinimum: 0, default: 24 * 7 }),
  /** Payout provider: the built-in simulator or Stripe Connect (uses the Stripe keys above). */
  payoutProvider: Type.Union([Type.Literal('simulated'), Type.Literal('stripe')], { default: 'simulated' }),
  /**
   * Signing secrets (comma-separated) of the Stripe webhook endpoints posting to /v1/earnings/webhooks/stripe: the
   * Connect endpoint's (account.updated) and the platform endpoint's (transfer.*). Unset: those webhooks are refused.
   */
  stripeConnectWebhookSecret: Type.Optional(Type.String({ pattern: '^whsec_[A-Za-z0-9_]+(,whsec_[A-Za-z0-9_]+)*$' })),
  /**
   * TEST-ONLY fault injection for the checkout crash matrix: the process kills itself (SIGKILL) right after this
   * checkout step. Never set in production.
   */
  crashAt: Type.Optional(
    Type.Union([Type.Literal('started'), Type.Literal('reserved'), Type.Literal('authorized'), Type.Literal('committed'), Type.Literal('recorded'), Type.Literal('ordered'), Type.Literal('captured')]),
  ),
});

export type Config = Static<typeof ConfigSchema>;

const ENV_KEYS: Record<keyof Config, string> = {
  host: 'HOST',
  port: 'PORT',
  databaseUrl: 'DATABASE_URL',
  databasePoolSize: 'DATABASE_POOL_SIZE',
  dataDir: 'DATA_DIR',
  logLevel: 'LOG_LEVEL',
  referralKeys: 'REFERRAL_KEYS',
  sessionTtlHours: 'SESSION_TTL_HOURS',
  cookieSecure: 'COOKIE_SECURE',
  trustProxy: 'TRUST_PROXY',
  loginMaxAttempts: 'LOGIN_MAX_ATTEMPTS',
  loginWindowSeconds: 'LOGIN_WINDOW_SECONDS',
  bodyLimitBytes: 'BODY_LIMIT_BYTES',
  mediaImageMaxBytes: 'MEDIA_IMAGE_MAX_BYTES',
  mediaVideoMaxBytes: 'MEDIA_VIDEO_MAX_BYTES',
  mediaQuotaBytes: 'MEDIA_QUOTA_BYTES',
  lowStockThreshold: 'LOW_STOCK_THRESHOLD',
  storyTtlHours: 'STORY_TTL_HOURS',
  reservationTtlMinutes: 'RESERVATION_TTL_MINUTES',
  checkoutLockSeconds: 'CHECKOUT_LOCK_SECONDS',
  taxRateBps: 'TAX_RATE_BPS',
  paymentProvider: 'PAYMENT_PROVIDER',
  stripeSecretKey: 'STRIPE_SECRET_KEY',
  stripeWebhookSecret: 'STRIPE_WEBHOOK_SECRET',
  stripeApiBase: 'STRIPE_API_BASE',
  simulatedWebhookSecret: 'SIMULATED_WEBHOOK_SECRET',
  sweepIntervalSeconds: 'SWEEP_INTERVAL_SECONDS',
  reservationCoalescing: 'RESERVATION_COALESCING',
  groupCommit: 'GROUP_COMMIT',
  clickhouseUrl: 'CLICKHOUSE_URL',
  analyticsDatabase: 'ANALYTICS_DATABASE',
  analyticsBatchSize: 'ANALYTICS_BATCH_SIZE',
  analyticsFlushMs: 'ANALYTICS_FLUSH_MS',
  attributionClickWindowDays: 'ATTRIBUTION_CLICK_WINDOW_DAYS',
  attributionViewWindowHours: 'ATTRIBUTION_VIEW_WINDOW_HOURS',
  attributionFloodPerMinute: 'ATTRIBUTION_FLOOD_PER_MINUTE',
  attributionRecomputeLeaseSeconds: 'ATTRIBUTION_RECOMPUTE_LEASE_SECONDS',
  defaultCommissionBps: 'DEFAULT_COMMISSION_BPS',
  earningsHoldDays: 'EARNINGS_HOLD_DAYS',
  payoutMinimumMinor: 'PAYOUT_MINIMUM_MINOR',
  payoutScheduleHours: 'PAYOUT_SCHEDULE_HOURS',
  payoutProvider: 'PAYOUT_PROVIDER',
  stripeConnectWebhookSecret: 'STRIPE_CONNECT_WEBHOOK_SECRET',
  crashAt: 'FEEDSHOP_CRASH_AT',
};

export class ConfigError extends Error {}

/** Builds the config from environment variables plus explicit overrides (tests, CLI flags). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV_KEYS)) {
    const v = env[envName];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  Object.assign(raw, overrides);
  const withDefaults = Value.Default(ConfigSchema, raw);
  const converted = Value.Convert(ConfigSchema, withDefaults);
  const errors = [...Value.Errors(ConfigSchema, converted)];
  if (errors.length > 0) {
    const lines = errors.map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = converted as Config;
  return { ...config, dataDir: resolve(config.dataDir) };
}
