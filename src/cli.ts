import { parseArgs } from 'node:util';
import { CONTEXT_NAMES, createFeedshop, type ContextName, type Feedshop } from './app';
import { ensureWebBuilt } from './web';
import { ConfigError, loadConfig, type Config } from './config';
import { seedDemo, seedWorld, isEmpty, DEMO_LOGINS } from './demo/seed';
import { seedDemoSales } from './demo/sales';
import { listenWarm } from './platform/http';

const USAGE = `feedshop <command> [options]

commands:
  start              everything in one process: migrate, seed the demo world if the store is empty, serve HTTP and
                     run the worker (the quickstart)
  api                serve HTTP; --contexts identity,catalog,... picks which contexts' routes (default all)
  worker             drain the outbox, run subscribers and the sweepers (reservation expiry, stuck checkouts,
                     attribution recompute jobs)
  migrate            bring every context's schema up to date and exit
  seed               seed a world; --posts N --products N --creators N --shoppers N (default: the demo world)

options:
  --port N           HTTP port (env PORT, default 3000)
  --host H           HTTP host (env HOST, default 127.0.0.1)

environment: DATABASE_URL (PostgreSQL; absent = embedded PGlite under DATA_DIR, default ./.data), LOG_LEVEL, …
see docs/configuration.md`;

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      contexts: { type: 'string' },
      posts: { type: 'string' },
      products: { type: 'string' },
      creators: { type: 'string' },
      shoppers: { type: 'string' },
      merchants: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (!command || values.help) {
    console.log(USAGE);
    return;
  }
  const overrides: Partial<Config> = {};
  if (values.port) overrides.port = Number(values.port);
  if (values.host) overrides.host = values.host;
  let config: Config;
  try {
    config = loadConfig(process.env, overrides);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }

  switch (command) {
    case 'migrate': {
      const app = await createFeedshop({ config });
      const applied = await app.migrate();
      console.log(applied.length ? `applied:\n  ${applied.join('\n  ')}` : 'schema is up to date');
      await app.close();
      return;
    }
    case 'seed': {
      const app = await createFeedshop({ config, logTo: 'stderr' });
      await app.migrate();
      const size = sizeFrom(values);
      const summary = size ? await seedWorld(app, size) : await seedDemo(app);
      await app.outbox.drain();
      console.log(JSON.stringify(summary, null, 2));
      await app.close();
      return;
    }
    case 'start': {
      // the quickstart serves the web app too: build it when web/dist is missing or older than its sources
      const web = await ensureWebBuilt();
      if (web.built) console.log('built the web app into web/dist');
      const app = await createFeedshop({ config });
      await app.migrate();
      if (await isEmpty(app)) {
        app.log.info('empty store: seeding the demo world');
        await seedDemo(app);
        const sales = await seedDemoSales(app);
        app.log.info(sales, 'demo sales placed through the API');
      }
      void app.outbox.run();
      app.startTimers();
      await listen(app);
      printWelcome(app);
      return;
    }
    case 'api': {
      const serve = values.contexts ? parseContexts(values.contexts) : undefined;
      const app = await createFeedshop({ config, ...(serve ? { serve } : {}) });
      await app.migrate();
      await listen(app);
      return;
    }
    case 'worker': {
      const app = await createFeedshop({ config });
      await app.migrate();
      onShutdown(app);
      app.log.info('worker: draining the outbox and running the sweepers');
      app.startTimers();
      await app.outbox.run();
      return;
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      process.exit(2);
  }
}

function sizeFrom(values: Record<string, string | boolean | undefined>) {
  const keys = ['posts', 'products', 'creators', 'shoppers', 'merchants'] as const;
  if (!keys.some((k) => values[k] !== undefined)) return null;
  const n = (k: (typeof keys)[number], d: number) => (values[k] === undefined ? d : Number(values[k]));
  return { posts: n('posts', 1000), products: n('products', 500), creators: n('creators', 100), shoppers: n('shoppers', 1000), merchants: n('merchants', 20) };
}

function parseContexts(list: string): ContextName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(CONTEXT_NAMES as readonly string[]).includes(n)) {
      console.error(`unknown context "${n}"; known: ${CONTEXT_NAMES.join(', ')}`);
      process.exit(2);
    }
  }
  return names as ContextName[];
}

async function listen(app: Feedshop): Promise<void> {
  onShutdown(app);
  // says ready once the edge is warm (see listenWarm)
  await listenWarm(app.http, { port: app.config.port, host: app.config.host });
}

function onShutdown(app: Feedshop): void {
  let closing = false;
  const stop = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

function printWelcome(app: Feedshop): void {
  const url = `http://${app.config.host === '0.0.0.0' ? 'localhost' : app.config.host}:${app.config.port}`;
  const lines = [
    '',
    `feedshop is running: open ${url}/ in a browser`,
    `  API reference: ${url}/docs   OpenAPI: ${url}/openapi.json   metrics: ${url}/metrics`,
    `  store: ${app.database.engine === 'pglite' ? `embedded PGlite in ${app.config.dataDir}` : 'PostgreSQL (DATABASE_URL)'}`,
    `  analytics: ${app.config.clickhouseUrl ? 'ClickHouse server (CLICKHOUSE_URL)' : `embedded chDB in ${app.config.dataDir}/analytics`}`,
    '  demo log-ins (password for all: ' + DEMO_LOGINS.password + '):',
    ...DEMO_LOGINS.accounts.map((a) => `    ${a.role.padEnd(9)} ${a.email}`),
    '',
  ];
  console.log(lines.join('\n'));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
