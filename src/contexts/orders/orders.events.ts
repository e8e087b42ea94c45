// Events the orders context publishes (through the outbox, in the transaction of the change). Analytics and
// attribution consume them: every payload carries the per-line amounts and the lines' attribution fields.

/** The attribution a referral token stamped on a line (design.md §6); null when the line was not referred. */
export interface OrderLineAttributionPayload {
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  /** ISO 8601 */
  tagCreatedAt: string;
  keyId: string;
  /**
   * ISO 8601: when the token was stamped on the line (added to the cart with it, or the buy-now request), the tap the
   * click window counts from. Null or absent when not known (lines placed before it was recorded): the order's time.
   */
  referredAt?: string | null;
}

export interface OrderLinePayload {
  lineId: string;
  productId: string;
  skuId: string;
  quantity: number;
  unitPriceMinor: number;
  /** The commissionable basis, excluding tax. */
  netAmountMinor: number;
  taxMinor: number;
  refundedQuantity: number;
  refundedMinor: number;
  returnedQuantity: number;
  attribution: OrderLineAttributionPayload | null;
}

/** The order as it stands after the transition. */
export interface OrderPayload {
  orderId: string;
  checkoutId: string;
  merchantId: string;
  accountId: string | null;
  deviceId: string;
  paymentId: string;
  currency: string;
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
  refundedMinor: number;
  status: string;
  /** ISO 8601: when the order was placed (attribution's "time of the order", whatever the transition). */
  placedAt: string;
  /** The status before the transition (null for placed). */
  fromStatus: string | null;
  /** ISO 8601, the time of the transition. */
  at: string;
  lines: OrderLinePayload[];
}

/** Money returned to the shopper: the amount per line (net and tax split) so commissions can be reduced pro rata. */
export interface OrderRefundedPayload extends OrderPayload {
  refundId: string;
  kind: 'refund' | 'cancel' | 'return';
  amountMinor: number;
  reason: string;
  refundedLines: Array<{ lineId: string; productId: string; quantity: number; amountMinor: number; netAmountMinor: number; attribution: OrderLineAttributionPayload | null }>;
}

export interface OrderReturnedPayload extends OrderPayload {
  returnId: string;
  refundId: string;
  reason: string;
  returnedLines: Array<{ lineId: string; productId: string; skuId: string; quantity: number }>;
}

declare module '../../platform/events' {
  interface EventMap {
    'orders.order.placed': OrderPayload;
    'orders.order.paid': OrderPayload;
    'orders.order.fulfilling': OrderPayload;
    'orders.order.shipped': OrderPayload & { carrier: string; trackingNumber: string };
    'orders.order.delivered': OrderPayload;
    'orders.order.cancelled': OrderPayload & { reason: string; moneyAction: 'refund' | 'void' | 'none' };
    'orders.order.refunded': OrderRefundedPayload;
    'orders.order.returned': OrderReturnedPayload;
  }
}
