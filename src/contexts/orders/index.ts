// Public surface of the orders context. CONTRACT: checkout relies on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { CatalogService } from '../catalog';
import type { InventoryService } from '../inventory';
import type { PaymentsService } from '../payments';
import type { App } from '../../platform/http';
import { ordersMigrations } from './orders.migrations';
import { ordersRoutes } from './orders.routes';
import { createOrdersService, type OrdersServiceImpl } from './orders.service';
import './orders.errors';

export type * from './orders.events';

/** The attribution fields a referral token carried onto a line (design.md §6). */
export interface LineAttribution {
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  tagCreatedAt: Date;
  keyId: string;
  /** When the token was stamped on the line (null or absent: not known, the order's time counts). */
  referredAt?: Date | null;
}

export interface NewOrderLine {
  productId: string;
  skuId: string;
  productName: string;
  variantTitle: string;
  quantity: number;
  unitPriceMinor: number;
  /** unitPriceMinor × quantity minus discounts: the commissionable basis, excluding tax. */
  netAmountMinor: number;
  taxMinor: number;
  attribution: LineAttribution | null;
}

export interface NewOrder {
  merchantId: string;
  currency: string;
  lines: NewOrderLine[];
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
}

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string | undefined;
  city: string;
  postalCode: string;
  country: string;
}

export type OrderStatus = 'placed' | 'paid' | 'fulfilling' | 'shipped' | 'delivered' | 'cancelled';

export interface OrdersService {
  /**
   * Creates one order per merchant for a checkout, in one transaction with their `orders.order.placed` events.
   * Idempotent per checkoutId: a retry returns the orders already created.
   */
  placeOrders(input: { checkoutId: string; accountId: string | null; deviceId: string; paymentId: string; shipping: ShippingAddress | null; orders: NewOrder[] }): Promise<Array<{ id: string; merchantId: string; status: OrderStatus; totalMinor: number }>>;
  /** Marks a checkout's orders paid once its payment is captured. Idempotent. */
  markPaid(checkoutId: string): Promise<void>;
  /**
   * Undo of placeOrders when the checkout's capture was refused: cancels every placed order of the checkout (history +
   * `orders.order.cancelled` with moneyAction 'none') and restocks each line. Moves no money. Idempotent.
   */
  cancelForCheckout(checkoutId: string, reason: string): Promise<Array<{ id: string; merchantId: string; status: OrderStatus; totalMinor: number }>>;
  /** Orders of a checkout (recovery and the checkout answer). */
  findByCheckout(checkoutId: string): Promise<Array<{ id: string; merchantId: string; status: OrderStatus; totalMinor: number }>>;
  /** Whether an order with this id was ever placed, whatever its status now (admin look-ups elsewhere answer 404 otherwise). */
  orderExists(orderId: string): Promise<boolean>;
}

export interface OrdersDeps extends ContextDeps {
  payments: PaymentsService;
  inventory: InventoryService;
  catalog: CatalogService;
}

export type { OrdersServiceImpl, Viewer } from './orders.service';

export function createOrdersContext(deps: OrdersDeps): ContextModule<OrdersServiceImpl> {
  const service = createOrdersService(deps);
  return {
    name: 'orders',
    migrations: ordersMigrations,
    service,
    routes: (app: App) => ordersRoutes(app, service, deps),
    // refunds a crash or a provider timeout left pending are settled (cancellations also restocked)
    sweep: async () => {
      await service.settlePendingRefunds();
    },
  };
}
