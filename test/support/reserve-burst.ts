/**
 * One API process of the multi-process race (test/multi-process.test.ts): builds the app against the shared
 * PostgreSQL, prints {"ready":true}, waits for "go" on stdin, then asks reserve() for one unit of SKU N times,
 * in waves so that its batches interleave with the other process's, and prints the outcome as JSON.
 * Env: DATABASE_URL, SKU, REQUESTS (default 300), WAVE (asks per wave, default 30).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFeedshop } from '../../src/app';
import { loadConfig } from '../../src/config';
import { newId } from '../../src/platform/ids';

const sku = process.env.SKU!;
const requests = Number(process.env.REQUESTS ?? 300);
const wave = Number(process.env.WAVE ?? 30);
const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-burst-'));
const config = loadConfig({}, { databaseUrl: process.env.DATABASE_URL!, logLevel: 'silent', dataDir, referralKeys: `k1:${randomBytes(32).toString('base64url')}` });
const app = await createFeedshop({ config });
const inventory = app.contexts.inventory.service;
// open the pool's connections before the race, so the race measures reservations, not connecting
await Promise.all(Array.from({ length: 4 }, () => inventory.getStockLevels([sku])));

console.log(JSON.stringify({ ready: true }));
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;
process.stdin.destroy();

const asks: Promise<{ ok: boolean; code?: string }>[] = [];
for (let i = 0; i < requests; i += wave) {
  for (let j = i; j < Math.min(requests, i + wave); j++) {
    asks.push(inventory.reserve(newId('checkout'), [{ skuId: sku, quantity: 1 }]).then((r) => (r.ok ? { ok: true } : { ok: false, code: r.code })));
  }
  await sleep(1);
}
const results = await Promise.allSettled(asks);
const outcome = { granted: 0, sold_out: 0, insufficient_stock: 0, errors: [] as string[] };
for (const r of results) {
  if (r.status === 'rejected') outcome.errors.push(String((r.reason as Error)?.message ?? r.reason));
  else if (r.value.ok) outcome.granted++;
  else outcome[r.value.code as 'sold_out' | 'insufficient_stock']++;
}
console.log(JSON.stringify(outcome));
await app.close();
rmSync(dataDir, { recursive: true, force: true });
