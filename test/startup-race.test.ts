import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../src/platform/db';
import { migrateAll, sqlMigration } from '../src/platform/migrations';
import { createDatabase } from './support/processes';

/**
 * Several processes starting at the same moment on one store must all come up: both start-up steps that create
 * something shared (the schemas and their migration history, the development key file) are raced here on purpose.
 */
const url = process.env.TEST_DATABASE_URL;
if (!url && process.env.CI === 'true') throw new Error('CI=true but TEST_DATABASE_URL is not set: the start-up races would be skipped');
const run = promisify(execFile);

describe('processes starting together', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('agree on one development referral key, and none reads a half-written key file', async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-keys-'));
      dirs.push(dataDir);
      // the same claims signed by every process: equal tokens mean an equal key (kid and secret)
      const claims = `{ tagId: 'tag_01ARZ3NDEKTSV4RRFFQ69G5FAV', postId: 'pst_01ARZ3NDEKTSV4RRFFQ69G5FAV', creatorId: 'cre_01ARZ3NDEKTSV4RRFFQ69G5FAV', productId: 'prd_01ARZ3NDEKTSV4RRFFQ69G5FAV', tagCreatedAt: new Date(0) }`;
      const script = `import('./src/contexts/social/referral-keys.ts').then((m) => process.stdout.write(m.loadReferralTokens({ dataDir: ${JSON.stringify(dataDir)} }).sign(${claims})))`;
      const outputs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', '-e', script])));
      const tokens = new Set(outputs.map((o) => o.stdout));
      assert.equal(tokens.size, 1, `every process signs with the same key: ${[...tokens].join(', ')}`);
      assert.deepEqual(readdirSync(join(dataDir, 'keys')), ['referral-keys.json'], 'no staged file is left behind');
    }
  });

  it('migrate one fresh PostgreSQL database from four pools at once [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL' }, async () => {
    for (let round = 0; round < 3; round++) {
      const store = await createDatabase(url!, 'feedshop_test_migrate');
      const pools = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: store.url, poolSize: 2 })));
      try {
        const contexts = ['alpha', 'beta'].map((schema) => ({
          schema,
          migrations: { '0001_init': sqlMigration(`CREATE TABLE ${schema}.things (id int PRIMARY KEY)`) },
        }));
        const applied = await Promise.all(pools.map((p) => migrateAll(p.db, contexts)));
        assert.deepEqual(applied.flat().sort(), ['alpha/0001_init', 'beta/0001_init'], 'each migration ran exactly once');
        const tables = await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'things'`.execute(pools[0]!.db);
        assert.equal(tables.rows[0]!.n, 2);
      } finally {
        await Promise.all(pools.map((p) => p.close()));
        await store.drop();
      }
    }
  });
});
