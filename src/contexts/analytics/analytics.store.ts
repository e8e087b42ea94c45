import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { drainPending, Session } from 'chdb';

/**
 * The one seam between analytics and ClickHouse (design.md §3): the same SQL runs on embedded chDB and on a server.
 * Queries use `{name:Type}` placeholders bound server-side by both engines; table names are always qualified with
 * the database, so nothing depends on a connection's current database.
 */
export interface AnalyticsStore {
  /** Runs a statement that returns nothing (DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Appends rows in one block. `dedupToken` makes a repeated insert of the same block a no-op (ClickHouse insert
   * deduplication, also applied to the materialized views fed by the table).
   */
  insertRows(table: string, rows: readonly Record<string, unknown>[], dedupToken?: string): Promise<void>;
  /** Runs a SELECT and returns its rows as objects (64-bit integers as numbers). */
  queryRows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
}

/** The store cannot be reached or opened (server down, connection refused or reset, timed out): retry later, not a bug. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** A server store's failure to reach the server becomes a StoreUnavailableError; a refused query stays what it is. */
const reaching = <T>(p: Promise<T>): Promise<T> =>
  p.catch((e: unknown) => {
    const err = e as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    const network = NETWORK_CODES.has(String(err?.code)) || NETWORK_CODES.has(String(err?.cause?.code)) || /^Timeout error/.test(String(err?.message));
    throw network ? new StoreUnavailableError(`the analytics store is unreachable: ${String(err?.message)}`, { cause: e }) : e;
  });

const insertSettings = (dedupToken?: string) => ({
  deduplicate_blocks_in_dependent_materialized_views: 1 as const,
  ...(dedupToken ? { insert_deduplication_token: dedupToken } : {}),
});

// libchdb binds ONE data directory per process: every app in the process shares this session; the first opener
// picks the directory, later ones get the same session whatever they asked for (each app uses its own database).
let shared: { session: Session; refs: number; databases: Set<string> } | undefined;

export interface OpenedStore {
  store: AnalyticsStore;
  /** The database this app's tables live in (the configured one, unless another app in this process holds it). */
  database: string;
}

/** The store the config asks for: a ClickHouse server when clickhouseUrl is set, else embedded chDB. */
export async function openStore(config: { clickhouseUrl?: string | undefined; dataDir: string; analyticsDatabase: string }): Promise<OpenedStore> {
  if (config.clickhouseUrl) return { store: openServerStore(config.clickhouseUrl), database: config.analyticsDatabase };
  return openChdbStore(config.dataDir, config.analyticsDatabase);
}

/**
 * The embedded store: a process-wide chDB session under `${dataDir}/analytics`, reference-counted. Apps sharing the
 * process each get their own database: when the wanted name is taken by a live app, a numbered one is derived.
 */
export async function openChdbStore(dataDir: string, wanted: string): Promise<OpenedStore> {
  if (!shared) {
    // a session closed by an earlier app may still be finishing native work; a new directory needs it gone
    await drainPending();
  }
  if (!shared) {
    const dir = join(dataDir, 'analytics', 'chdb');
    mkdirSync(dir, { recursive: true });
    shared = { session: new Session(dir, { connectionArgs: ['--output_format_json_quote_64bit_integers=0'] }), refs: 0, databases: new Set() };
  }
  shared.refs++;
  const { session, databases } = shared;
  let database = wanted;
  for (let n = 2; databases.has(database); n++) database = `${wanted}_${n}`;
  databases.add(database);
  let closed = false;
  const store: AnalyticsStore = {
    async exec(sql) {
      await session.queryAsync(sql);
    },
    async insertRows(table, rows, dedupToken) {
      if (rows.length === 0) return;
      const payload = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));
      await session.insert({ table, values: payload, format: 'JSONEachRow', settings: insertSettings(dedupToken) });
    },
    async queryRows<T>(sql: string, params: Record<string, unknown> = {}) {
      const r = await session.queryBindAsync(sql, params, { format: 'JSONEachRow' });
      const text = r.text();
      return text.length === 0 ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as T);
    },
    async close() {
      if (closed) return;
      closed = true;
      databases.delete(database);
      if (shared && --shared.refs === 0) {
        shared.session.close();
        shared = undefined;
      }
    },
  };
  return { store, database };
}

/** A ClickHouse server through the official HTTP client (CLICKHOUSE_URL). */
export function openServerStore(url: string): AnalyticsStore {
  const client: ClickHouseClient = createClient({
    url,
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    request_timeout: 30_000,
    // failures reach the caller (and our logs); the client's own console logging would duplicate them
    log: { level: ClickHouseLogLevel.OFF },
  });
  return {
    async exec(sql) {
      await reaching(client.command({ query: sql }));
    },
    async insertRows(table, rows, dedupToken) {
      if (rows.length === 0) return;
      await reaching(client.insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow', clickhouse_settings: insertSettings(dedupToken) }));
    },
    async queryRows<T>(sql: string, params: Record<string, unknown> = {}) {
      return reaching(client.query({ query: sql, query_params: params, format: 'JSONEachRow' }).then((rs) => rs.json<T>()));
    },
    async close() {
      await client.close();
    },
  };
}
