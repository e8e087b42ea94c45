// The web app's server side: the built single-page app at / and the live streams it listens to. CONTRACT: the
// composition root calls registerWebApp once; the web work fills in the implementation.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config';
import type { App } from '../platform/http';
import type { CatalogService } from '../contexts/catalog';
import type { InventoryService } from '../contexts/inventory';
import { registerLiveAvailability } from './live';
import { registerStatic } from './static';

export { ensureWebBuilt, WEB_DIST, webBuildIsStale } from './build';

export interface WebDeps {
  config: Config;
  log: FastifyBaseLogger;
  inventory: Pick<InventoryService, 'getStockLevels'>;
  /** Lets the stream watch whole products (feed pins); without it only SKUs can be watched. */
  catalog?: Pick<CatalogService, 'getProductCards' | 'getVariantsForSale'>;
}

/**
 * Serves the built web app at / (hashed assets cached for a year, client routes fall back to index.html) and the
 * live availability stream; until the app is built, / says how to build it.
 */
export async function registerWebApp(http: App, deps: WebDeps): Promise<void> {
  registerLiveAvailability(http, { inventory: deps.inventory, log: deps.log, ...(deps.catalog ? { catalog: deps.catalog } : {}) });
  registerStatic(http);
}
