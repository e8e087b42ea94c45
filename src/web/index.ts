// The web app's server side: the built single-page app at / and the live streams it listens to. CONTRACT: the
// composition root calls registerWebApp once; the web work fills in the implementation.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config';
import type { App } from '../platform/http';
import type { InventoryService } from '../contexts/inventory';

export interface WebDeps {
  config: Config;
  log: FastifyBaseLogger;
  inventory: Pick<InventoryService, 'getStockLevels'>;
}

/** Serves the web app at / (until it is built, / leads to the API reference). */
export async function registerWebApp(http: App, deps: WebDeps): Promise<void> {
  void deps;
  http.get('/', { config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => reply.redirect('/docs'));
}
