import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql, type LogEvent, type RawBuilder } from 'kysely';
import pg from 'pg';

// bigint columns (counts, money totals) fit comfortably in a double: parse them as numbers, not strings.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

const parseTimestamptzSlow = pg.types.getTypeParser(1184) as (text: string) => Date | number | null;

/**
 * timestamptz as PostgreSQL writes it with DateStyle ISO (`2026-11-25 19:39:35.123456+00`, also `+05:30`), read
 * by char codes; anything else (BC, infinity, years below 100, other styles) goes to pg's own parser. pg's parser
 * runs three regular expressions per value; a flash sale parses ~10 timestamps per checkout, each read back rows.
 * Same result as pg's parser: milliseconds truncated, the offset applied (test/pg-timestamptz.test.ts).
 */
export function parseTimestamptz(s: string): Date | number | null {
  const n = s.length;
  if (n < 22 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) {
    return parseTimestamptzSlow(s);
  }
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return parseTimestamptzSlow(s);
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    // milliseconds are the first three fraction digits (the rest are truncated, as a Date would)
    for (let scale = 100, d = s.charCodeAt(++i) - 48; d >= 0 && d <= 9; d = s.charCodeAt(++i) - 48, scale /= 10) if (scale >= 1) ms += d * scale;
  }
  const sign = s.charCodeAt(i) === 43 ? 1 : s.charCodeAt(i) === 45 ? -1 : 0;
  if (sign === 0) return parseTimestamptzSlow(s);
  let offset = digits(s, i + 1, 2) * 3600;
  i += 3;
  for (const unit of [60, 1]) {
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return parseTimestamptzSlow(s);
    offset += digits(s, i + 1, 2) * unit;
    i += 3;
  }
  if (i !== n || !(offset >= 0)) return parseTimestamptzSlow(s);
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - sign * offset * 1000);
}

/** The unsigned decimal number of `len` digits at `at`, or -1 when one of them is not a digit. */
function digits(s: string, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1; // NaN past the end too
    v = v * 10 + d;
  }
  return v;
}

pg.types.setTypeParser(1184, parseTimestamptz);

export type Engine = 'pglite' | 'postgres';

const COLUMN = /^[a-z_][a-z0-9_]*$/;

/**
 * `INSERT INTO <table> (<columns>) SELECT <columns> FROM jsonb_populate_recordset(NULL::<table>, $1)`: many rows in
 * one statement with ONE parameter, the rows as JSON. The batched write paths use it: a multi-row `.values()` costs a
 * query node per value to build and compile, and a bound parameter per value to serialize (a Date becomes text
 * each time); 500 checkouts' orders were ~25,000 of each. The columns are the first row's keys, so every row must
 * have the same shape (build them with one object literal); a column left out takes its default. Values are
 * converted as JSON.stringify does (a Date becomes its ISO text); an object or array goes as is to a json/jsonb
 * (or array) column. Append ON CONFLICT or RETURNING in the caller's `sql` template.
 */
export function insertJsonRows(table: string, rows: readonly object[]): RawBuilder<unknown> {
  if (rows.length === 0) throw new Error('insertJsonRows: no rows');
  const columns = Object.keys(rows[0]!);
  for (const c of columns) if (!COLUMN.test(c)) throw new Error(`insertJsonRows: not a column name: ${c}`);
  const list = sql.raw(columns.join(', '));
  return sql`INSERT INTO ${sql.table(table)} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${sql.table(table)}, ${JSON.stringify(rows)}::jsonb)`;
}

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
