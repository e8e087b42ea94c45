import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect, type LogEvent } from 'kysely';
import pg from 'pg';

// bigint columns (counts, money totals) fit comfortably in a double: parse them as numbers, not strings.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export type Engine = 'pglite' | 'postgres';

/** Any context's Kysely; each context narrows it to its own tables (`db as Kysely<CatalogTables>`). */
export type AnyDb = Kysely<any>;

export interface Database {
  readonly engine: Engine;
  readonly db: AnyDb;
  /** Connection pool figures for /metrics. */
  poolStats(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; absent means embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory, or 'memory://' for a throw-away store. */
  pgliteDir?: string;
  poolSize?: number;
  onQuery?: (event: LogEvent) => void;
}

const queryScope = new AsyncLocalStorage<{ count: number }>();

/**
 * Counts the database round trips made inside `fn` (and everything it awaits). Tests use it to prove a feed page
 * costs a fixed number of queries whatever its size.
 */
export async function countQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
  const scope = { count: 0 };
  const result = await queryScope.run(scope, fn);
  return { result, queries: scope.count };
}

/** Opens PostgreSQL when a URL is given, else the embedded PGlite engine; the SQL dialect is the same. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const log = (event: LogEvent) => {
    const scope = queryScope.getStore();
    if (scope) scope.count++;
    options.onQuery?.(event);
  };
  if (options.url) {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 });
    pool.on('error', () => {
      /* idle client errors are surfaced on next use; never crash the process here */
    });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }), log });
    return {
      engine: 'postgres',
      db,
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      close: () => db.destroy(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  const dir = options.pgliteDir ?? 'memory://';
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true });
  const lite = await PGlite.create(dir);
  const pool = new pg.Pool(createPgConfig(lite) as unknown as pg.PoolConfig);
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }), log });
  return {
    engine: 'pglite',
    db,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await db.destroy();
      await lite.close();
    },
  };
}

export function pgliteDirFor(dataDir: string): string {
  return join(dataDir, 'pglite');
}
