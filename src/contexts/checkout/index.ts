// Public surface of the checkout context: carts, buy-now, the checkout flow and its recovery.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import type { AttributionService } from '../attribution';
import type { CatalogService } from '../catalog';
import type { InventoryService } from '../inventory';
import type { OrdersService } from '../orders';
import type { PaymentsService } from '../payments';
import type { ReferralTokens } from '../social/referral-token';
import { checkoutMigrations } from './checkout.migrations';
import { checkoutRoutes } from './checkout.routes';
import { createCheckoutService, type CheckoutServiceImpl } from './checkout.service';
import './checkout.errors';
import './checkout.events';
import '../identity/identity.events';

export type { CheckoutEventBase } from './checkout.events';
export type { CheckoutView, CartView } from './checkout.schemas';
export { ATTEMPT_LOCK_MS } from './checkout.flow';

/** Everything checkout offers in-process (routes, the sweeper and tests use it). */
export type CheckoutService = CheckoutServiceImpl;

export interface CheckoutDeps extends ContextDeps {
  catalog: CatalogService;
  inventory: InventoryService;
  payments: PaymentsService;
  orders: OrdersService;
  referrals: ReferralTokens;
  attribution: AttributionService;
}

export function createCheckoutContext(deps: CheckoutDeps): ContextModule<CheckoutService> {
  const service = createCheckoutService(deps);
  return {
    name: 'checkout',
    migrations: checkoutMigrations,
    service,
    routes: (app: App) => checkoutRoutes(app, service),
    subscribe() {
      // a device's anonymous cart joins the account's cart on sign-in: the backstop for a client that does not read its
      // cart naming the device (cart reads and writes merge first). Exactly once, so redelivery is safe; only a cart
      // the device had by the sign-in, so a late delivery never takes one started after a sign-out
      deps.outbox.subscribe('checkout.cart-merge', ['identity.device.linked'], async (event) => {
        await service.mergeDeviceCart(event.payload.deviceId, event.payload.accountId, event.occurredAt);
      });
    },
    sweep: () => service.sweep(),
  };
}
