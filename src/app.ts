import pino from 'pino';
import { sql } from 'kysely';
import type { Config } from './config';
import { observeBatches, setGroupCommit } from './platform/batcher';
import { systemClock, type Clock } from './platform/clock';
import type { ContextModule } from './platform/context';
import { openDatabase, pgliteDirFor, type Database } from './platform/db';
import { Outbox, outboxMigrations } from './platform/events';
import { createHttpServer, type App } from './platform/http';
import { idempotencyMigrations } from './platform/idempotency';
import { Metrics } from './platform/metrics';
import { migrateAll } from './platform/migrations';
import { createAttributionContext } from './contexts/attribution';
import { createCatalogContext } from './contexts/catalog';
import { createIdentityContext } from './contexts/identity';
import { createInventoryContext } from './contexts/inventory';
import { createSocialContext, loadReferralTokens } from './contexts/social';
import { createPaymentsContext } from './contexts/payments';
import { createOrdersContext } from './contexts/orders';
import { createCheckoutContext } from './contexts/checkout';
import { createAnalyticsContext } from './contexts/analytics';
import { createEarningsContext } from './contexts/earnings';
import { createMediaContext } from './contexts/media';
import { registerWebApp } from './web';
import { registerDemoMedia } from './demo/media';

export const CONTEXT_NAMES = ['identity', 'catalog', 'inventory', 'social', 'attribution', 'payments', 'orders', 'checkout', 'analytics', 'earnings', 'media'] as const;
export type ContextName = (typeof CONTEXT_NAMES)[number];

export interface FeedshopOptions {
  config: Config;
  clock?: Clock;
  /** An already open database (tests); otherwise opened from config. */
  database?: Database;
  /** Contexts whose routes this process serves (the `api` role); default all. */
  serve?: readonly ContextName[];
  /** Where application logs go; commands whose stdout is their result (seed) log to stderr. */
  logTo?: 'stdout' | 'stderr';
}

export type Feedshop = Awaited<ReturnType<typeof createFeedshop>>;

/**
 * The composition root: the only place that knows every context. It wires services by hand, in dependency order,
 * from a config read once. Nothing here runs until `migrate()`, `http.listen()` or `outbox.run()` is called.
 */
export async function createFeedshop(options: FeedshopOptions) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = pino({ level: config.logLevel }, pino.destination(options.logTo === 'stderr' ? 2 : 1));
  const metrics = new Metrics();
  const database =
    options.database ??
    (await openDatabase({ url: config.databaseUrl, pgliteDir: pgliteDirFor(config.dataDir), poolSize: config.databasePoolSize }));
  const db = database.db;
  const outbox = new Outbox(db, clock);
  setGroupCommit(config.groupCommit);
  const deps = { db, clock, config, outbox, metrics, log };

  const referrals = loadReferralTokens(config);
  const identity = createIdentityContext(deps);
  const inventory = createInventoryContext(deps);
  // social and orders are built after attribution (social records touches into it); attribution reaches their lookups late
  const attribution = createAttributionContext({
    ...deps,
    social: {
      accountsOfCreators: (ids) => social.service.accountsOfCreators(ids),
      tagStates: (ids) => social.service.tagStates(ids),
    },
    orders: { orderExists: (id) => orders.service.orderExists(id) },
  });
  const catalog = createCatalogContext({ ...deps, inventory: inventory.service, referrals, attribution: attribution.service });
  const social = createSocialContext({ ...deps, catalog: catalog.service, referrals, attribution: attribution.service });
  const payments = createPaymentsContext(deps);
  const orders = createOrdersContext({ ...deps, payments: payments.service, inventory: inventory.service, catalog: catalog.service });
  const checkout = createCheckoutContext({
    ...deps,
    catalog: catalog.service,
    inventory: inventory.service,
    payments: payments.service,
    orders: orders.service,
    referrals,
    attribution: attribution.service,
  });

  const analytics = createAnalyticsContext({ ...deps, referrals, attribution: attribution.service, social: social.service, catalog: catalog.service });
  const earnings = createEarningsContext({ ...deps, social: social.service, catalog: catalog.service });
  const media = createMediaContext({
    ...deps,
    uses: { postIdsUsing: (a, url) => social.service.livePostIdsUsingMedia(a, url), productIdsUsing: (a, url) => catalog.service.productIdsUsingMedia(a, url) },
  });

  const contexts = { identity, catalog, inventory, social, attribution, payments, orders, checkout, analytics, earnings, media } satisfies Record<ContextName, ContextModule>;
  const all: ContextModule[] = Object.values(contexts);
  for (const ctx of all) ctx.subscribe?.();

  metrics.gauge('feedshop_db_pool_connections', 'Open database connections', () => database.poolStats().total);
  metrics.gauge('feedshop_db_pool_idle', 'Idle database connections', () => database.poolStats().idle);
  metrics.gauge('feedshop_db_pool_waiting', 'Queries waiting for a database connection', () => database.poolStats().waiting);
  metrics.gauge('feedshop_event_backlog', 'Outbox deliveries not yet handled', () => outbox.backlog().catch(() => -1));
  const batchSize = metrics.histogram('feedshop_batch_size', 'Items per group-commit batch (src/platform/batcher.ts), by batcher', ['batcher'], [1, 2, 5, 10, 20, 50, 100, 200, 500]);
  const stopObservingBatches = observeBatches((name, size) => batchSize.observe({ batcher: name }, size));

  let migrated = false;
  let timer: NodeJS.Timeout | undefined;
  const http: App = await createHttpServer({
    logLevel: config.logLevel,
    bodyLimit: config.bodyLimitBytes,
    cookieSecure: config.cookieSecure,
    trustProxy: config.trustProxy,
    metrics,
    authenticate: identity.service.authenticate,
    ready: async () => {
      if (!migrated) throw new Error('migrations have not run');
      await sql`SELECT 1`.execute(db);
    },
  });
  registerDemoMedia(http);
  await registerWebApp(http, { config, log, inventory: inventory.service, catalog: catalog.service });
  const serve = new Set<string>(options.serve ?? CONTEXT_NAMES);
  for (const ctx of all) {
    if (ctx.routes && serve.has(ctx.name)) await http.register(async (scoped) => ctx.routes!(scoped as App), { prefix: '/v1' });
  }
  if (serve.has(media.name)) await media.files(http);

  return {
    config,
    clock,
    database,
    db,
    log,
    metrics,
    outbox,
    http,
    referrals,
    contexts,
    /** Brings every context's schema up to date and records this process's event subscriptions. */
    async migrate(): Promise<string[]> {
      const applied = await migrateAll(db, [outboxMigrations, idempotencyMigrations, ...all.map((c) => c.migrations)]);
      await outbox.register();
      migrated = true;
      return applied;
    },
    /** Runs every context's periodic work once (reservation expiry, stuck-checkout recovery); errors are logged. */
    async sweep(): Promise<void> {
      for (const ctx of all) {
        if (!ctx.sweep) continue;
        try {
          await ctx.sweep();
        } catch (err) {
          log.error({ err, context: ctx.name }, 'sweep failed');
        }
      }
    },
    /** Runs `sweep()` every sweepIntervalSeconds until close(). */
    startTimers(): void {
      if (timer) return;
      timer = setInterval(() => void this.sweep(), config.sweepIntervalSeconds * 1000);
    },
    /** Graceful shutdown: stop taking requests, finish in-flight ones, stop the worker loop, close the store. */
    async close(): Promise<void> {
      if (timer) clearInterval(timer);
      outbox.stop();
      await http.close();
      for (const ctx of all) {
        try {
          await ctx.close?.();
        } catch (err) {
          log.error({ err, context: ctx.name }, 'close failed');
        }
      }
      stopObservingBatches();
      await database.close();
    },
  };
}
