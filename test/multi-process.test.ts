import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createFeedshop, type Feedshop } from '../src/app';
import { loadConfig } from '../src/config';
import { newId } from '../src/platform/ids';

const url = process.env.TEST_DATABASE_URL;
if (!url && process.env.CI === 'true') throw new Error('CI=true but TEST_DATABASE_URL is not set: the multi-process race would be skipped');

interface Outcome {
  granted: number;
  sold_out: number;
  insufficient_stock: number;
  errors: string[];
}

/** Starts one API process running test/support/reserve-burst.ts; resolves once it is ready to race. */
function startBurst(env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', join('test', 'support', 'reserve-burst.ts')], {
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const messages: unknown[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    messages.push(JSON.parse(line));
    waiters.shift()?.();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      if (messages.length > 0) return resolve(messages.shift());
      waiters.push(() => resolve(messages.shift()));
      void exited.then((code) => reject(new Error(`reserve-burst exited (${code}) before answering: ${stderr}`)));
    });
  return {
    ready: next(),
    go: async (): Promise<Outcome> => {
      child.stdin.end('go\n');
      const outcome = (await next()) as Outcome;
      assert.equal(await exited, 0, stderr);
      return outcome;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe('two API processes racing for one SKU [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL: PGlite is one process by nature' }, () => {
  const dbName = `feedshop_test_mp_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-mp-'));
  let dbUrl: string;
  let app: Feedshop;

  before(async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(url!);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
    const config = loadConfig({}, { databaseUrl: dbUrl, logLevel: 'silent', dataDir, referralKeys: `k1:${randomBytes(32).toString('base64url')}` });
    app = await createFeedshop({ config });
    await app.migrate();
  });

  after(async () => {
    await app?.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('2 × 300 one-unit asks for 50 units: exactly 50 granted in total, none negative', { timeout: 120_000 }, async (t) => {
    const inventory = app.contexts.inventory.service;
    const sku = newId('variant');
    await inventory.setOnHand(sku, 50, { accountId: 'acc_TESTACTOR', reason: 'received' });

    const env = { DATABASE_URL: dbUrl, SKU: sku, REQUESTS: '300', WAVE: '30' };
    const processes = [startBurst(env), startBurst(env)];
    try {
      await Promise.all(processes.map((p) => p.ready));
      const outcomes = await Promise.all(processes.map((p) => p.go()));
      for (const o of outcomes) {
        assert.deepEqual(o.errors, []);
        assert.equal(o.granted + o.sold_out + o.insufficient_stock, 300);
      }
      t.diagnostic(`granted per process: ${outcomes.map((o) => o.granted).join(' + ')}`);
      assert.equal(outcomes[0]!.granted + outcomes[1]!.granted, 50, `granted per process: ${outcomes.map((o) => o.granted).join(' + ')}`);

      const level = (await inventory.getStockLevels([sku])).get(sku)!;
      assert.deepEqual([level.onHand, level.reserved, level.available], [50, 50, 0]);
      const [audit] = await inventory.auditStock([sku]);
      assert.deepEqual([audit!.held, audit!.journaled, audit!.sold], [50, 50, 0]);
    } finally {
      for (const p of processes) p.kill();
    }
  });
});
