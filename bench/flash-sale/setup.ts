// Prepares a fresh flash-sale database (run as a child process by bench/flash-sale/run.ts, with DATABASE_URL): migrates,
// creates a merchant with the hot product (one SKU with STOCK units) and a warm-up product (plenty of units), and
// prints their SKU ids as JSON. The load process itself never loads the application.
import { randomBytes } from 'node:crypto';
import { createFeedshop } from '../../src/app';
import { loadConfig } from '../../src/config';

const stock = Number(process.env.STOCK);
const warmStock = Number(process.env.WARM_STOCK ?? 100_000);
if (!Number.isInteger(stock) || stock < 0) throw new Error(`STOCK must be a non-negative integer, got ${process.env.STOCK}`);

const app = await createFeedshop({ config: loadConfig(), logTo: 'stderr' });
try {
  await app.migrate();
  const { identity, catalog } = app.contexts;
  const created = await identity.service.createAccount({
    email: `flash-${randomBytes(4).toString('hex')}@example.test`,
    password: randomBytes(18).toString('base64url'),
    displayName: 'Flash sale merchant',
    roles: ['merchant'],
  });
  if (!created.ok) throw new Error(`merchant account: ${created.code}`);
  const merchant = await catalog.service.upsertMerchant(created.account.id, { name: 'Flash sale merchant' });
  const product = (name: string, units: number) =>
    catalog.service.createProduct(merchant.id, { name, currency: 'EUR', status: 'active', variants: [{ title: 'One size', priceMinor: 4900, stock: units }] });
  const hot = await product('The celebrity hoodie', stock);
  const warm = await product('Warm-up socks', warmStock);
  await app.outbox.drain();
  console.log(JSON.stringify({ skuId: hot.skuIds[0], warmSkuId: warm.skuIds[0] }));
} finally {
  await app.close();
}
