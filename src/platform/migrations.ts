import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import type { AnyDb } from './db';

/** A migration written as plain SQL: reviewers read the DDL as it runs. */
export function sqlMigration(up: string): Migration {
  return { up: (db) => sql.raw(up).execute(db).then(() => undefined) };
}

export interface ContextMigrations {
  /** The context's PostgreSQL schema; it also holds the context's migration history. */
  schema: string;
  /** Ordered by key: use zero-padded names ("0001_init"). */
  migrations: Record<string, Migration>;
}

/** Brings every context's schema up to date. Safe to run from several processes at once (Kysely takes a lock). */
export async function migrateAll(db: AnyDb, contexts: readonly ContextMigrations[]): Promise<string[]> {
  const applied: string[] = [];
  for (const ctx of contexts) {
    await createSchema(db, ctx.schema);
    const provider: MigrationProvider = { getMigrations: async () => ctx.migrations };
    const migrator = new Migrator({
      db,
      provider,
      migrationTableSchema: ctx.schema,
      migrationTableName: 'migrations',
      migrationLockTableName: 'migrations_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    for (const r of results ?? []) {
      if (r.status === 'Success') applied.push(`${ctx.schema}/${r.migrationName}`);
    }
    if (error) throw new Error(`migration of ${ctx.schema} failed: ${String((error as Error).message ?? error)}`, { cause: error });
  }
  return applied;
}

/**
 * CREATE SCHEMA IF NOT EXISTS is not safe against itself: two processes starting together both see no schema and
 * one fails on pg_namespace's unique index. The loser checks again and carries on when the schema is there.
 */
async function createSchema(db: AnyDb, schema: string): Promise<void> {
  try {
    await sql.raw(`CREATE SCHEMA IF NOT EXISTS "${schema}"`).execute(db);
  } catch (error) {
    const found = await sql<{ n: number }>`SELECT 1 AS n FROM information_schema.schemata WHERE schema_name = ${schema}`.execute(db);
    if (found.rows.length === 0) throw error;
  }
}
