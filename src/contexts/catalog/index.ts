// Public surface of the catalog context. CONTRACT: other contexts rely on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import type { AttributionService } from '../attribution';
import type { Availability, InventoryService } from '../inventory';
import type { ReferralTokens } from '../social/referral-token';
import { catalogMigrations } from './catalog.migrations';
import { catalogRoutes } from './catalog.routes';
import { createCatalogService, type CatalogServiceImpl } from './catalog.service';
import './catalog.errors';

export type { NewProduct } from './catalog.schemas';

/** What the feed shows for a tagged product, enough to open the product sheet without another request. */
export interface ProductCard {
  id: string;
  merchantId: string;
  name: string;
  priceMinor: number;
  currency: string;
  imageUrl: string | null;
  availability: Availability;
  status: 'draft' | 'active' | 'archived';
}

/** A SKU as checkout sees it: the server-side price and who sells it. */
export interface VariantForSale {
  skuId: string;
  productId: string;
  merchantId: string;
  productName: string;
  variantTitle: string;
  priceMinor: number;
  currency: string;
  productStatus: 'draft' | 'active' | 'archived';
}

export interface CatalogService {
  /** Current price and owner of many SKUs in one query (checkout prices lines from here, never from the client). */
  getVariantsForSale(skuIds: readonly string[]): Promise<Map<string, VariantForSale>>;
  /** Cards for many products in a fixed number of queries (catalog + inventory), whatever the count. */
  getProductCards(productIds: readonly string[]): Promise<Map<string, ProductCard>>;
  /** The merchant owned by an account, if any. */
  getMerchantByAccount(accountId: string): Promise<{ id: string; name: string } | null>;
  /** The account's products (every status) with `url` among their media (media refuses to delete a file they show). */
  productIdsUsingMedia(accountId: string, url: string): Promise<string[]>;
}

/** Everything the catalog offers in-process (the seed and tests use the operations beyond the contract). */
export type CatalogServiceFull = CatalogServiceImpl;

export interface CatalogDeps extends ContextDeps {
  inventory: InventoryService;
  referrals: ReferralTokens;
  attribution: AttributionService;
}

export function createCatalogContext(deps: CatalogDeps): ContextModule<CatalogServiceFull> {
  const service = createCatalogService(deps);
  return {
    name: 'catalog',
    migrations: catalogMigrations,
    service,
    routes: (app: App) => catalogRoutes(app, service),
    subscribe() {
      // verified buyers: the event is declared by orders (orders.events.ts); recording is idempotent, so redelivery is safe
      deps.outbox.subscribe('catalog.verified-buyers', ['orders.order.delivered'], async (event) => {
        const { accountId, lines, orderId, at } = event.payload;
        if (accountId) await service.recordPurchases(accountId, lines.map((l) => l.productId), orderId, new Date(at));
      });
    },
  };
}
