import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';

// The HTTP types of the orders context: each schema validates input, serializes output and documents the API.

const strict = { additionalProperties: false } as const;
const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const Reason = Type.String({ minLength: 1, maxLength: 500 });
const Minor = Type.Integer({ description: 'Integer minor units (1299 = 12.99)' });

export const OrderStatusSchema = Type.Union([
  Type.Literal('placed'),
  Type.Literal('paid'),
  Type.Literal('fulfilling'),
  Type.Literal('shipped'),
  Type.Literal('delivered'),
  Type.Literal('cancelled'),
]);

// ---- inputs

export const OrderParams = Type.Object({ id: Type.String({ pattern: idPattern('order') }) }, strict);
export const ShopperOrdersQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Opaque; from the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  strict,
);
export const MerchantOrdersQuery = Type.Object(
  {
    status: Type.Optional(OrderStatusSchema),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Opaque; from the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  strict,
);

export const ShopSummaryQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Orders placed at or after (default: 30 days before `to`)' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Orders placed before (default: now)' })),
  },
  strict,
);

export const ShopSummary = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  currencies: Type.Array(
    Type.Object({
      currency: Type.String(),
      orders: Type.Integer({ description: 'Orders placed in the period and not cancelled' }),
      cancelled: Type.Integer({ description: 'Orders placed in the period and cancelled since' }),
      units: Type.Integer({ description: 'Units of the orders not cancelled' }),
      revenueMinor: { ...Minor, description: 'What the orders not cancelled kept: their totals less their refunds' },
      refundedMinor: { ...Minor, description: 'Refunds of the period\'s orders, a cancellation\'s included' },
    }),
    { description: 'One entry per currency the shop sold in (amounts are never added across currencies), by code' },
  ),
});
export type ShopSummary = Static<typeof ShopSummary>;

export const ShipInput = Type.Object(
  {
    // not only spaces: the shopper is shown both to find the parcel
    carrier: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
    trackingNumber: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
  },
  strict,
);
export type ShipInput = Static<typeof ShipInput>;

export const CancelInput = Type.Object({ reason: Reason }, strict);
export type CancelInput = Static<typeof CancelInput>;

export const LineQuantities = Type.Array(
  Type.Object(
    { lineId: Type.String({ pattern: idPattern('orderLine') }), quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
    strict,
  ),
  { minItems: 1, maxItems: 100 },
);
export type LineQuantities = Static<typeof LineQuantities>;

export const RefundInput = Type.Object({ lines: LineQuantities, reason: Reason }, strict);
export type RefundInput = Static<typeof RefundInput>;
export const ReturnInput = Type.Object({ lines: LineQuantities, reason: Reason }, strict);
export type ReturnInput = Static<typeof ReturnInput>;

// ---- outputs

export const AttributionView = Type.Union([
  Type.Object({
    tagId: Type.String(),
    postId: Type.String(),
    creatorId: Type.String(),
    productId: Type.String(),
    tagCreatedAt: DateTime,
    keyId: Type.String(),
    referredAt: NullableDateTime,
  }),
  Type.Null(),
]);

export const OrderLineView = Type.Object({
  id: Type.String(),
  productId: Type.String(),
  skuId: Type.String(),
  productName: Type.String(),
  variantTitle: Type.String(),
  quantity: Type.Integer(),
  unitPriceMinor: Minor,
  netAmountMinor: Minor,
  taxMinor: Minor,
  refundedQuantity: Type.Integer(),
  refundedMinor: Minor,
  returnedQuantity: Type.Integer(),
  attribution: AttributionView,
});

export const ShippingView = Type.Union([
  Type.Object({
    name: Type.String(),
    line1: Type.String(),
    line2: Type.Optional(Type.String()),
    city: Type.String(),
    postalCode: Type.String(),
    country: Type.String(),
  }),
  Type.Null(),
]);

export const HistoryView = Type.Object({
  seq: Type.Integer(),
  type: Type.String(),
  fromStatus: NullableString,
  toStatus: NullableString,
  actor: Type.String({ description: '`system`, or `<role>:<account id>`' }),
  details: Type.Record(Type.String(), Type.Unknown()),
  at: DateTime,
});

export const RefundView = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('refund'), Type.Literal('cancel'), Type.Literal('return')]),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
  amountMinor: Minor,
  reason: Type.String(),
  lines: Type.Array(Type.Object({ lineId: Type.String(), quantity: Type.Integer(), amountMinor: Minor, netAmountMinor: Minor })),
  createdAt: DateTime,
  settledAt: NullableDateTime,
});

export const ReturnView = Type.Object({
  id: Type.String(),
  refundId: Type.String(),
  reason: Type.String(),
  lines: Type.Array(Type.Object({ lineId: Type.String(), quantity: Type.Integer() })),
  createdAt: DateTime,
});

const summaryFields = {
  id: Type.String(),
  checkoutId: Type.String(),
  merchantId: Type.String(),
  status: OrderStatusSchema,
  currency: Type.String(),
  subtotalMinor: Minor,
  taxMinor: Minor,
  totalMinor: Minor,
  refundedMinor: Minor,
  itemCount: Type.Integer({ description: 'Units across all lines' }),
  placedAt: DateTime,
  updatedAt: DateTime,
};

export const OrderSummaryView = Type.Object(summaryFields);
export type OrderSummaryView = Static<typeof OrderSummaryView>;
export const OrderPage = Type.Object({ items: Type.Array(OrderSummaryView), nextCursor: NullableString });
export type OrderPage = Static<typeof OrderPage>;

export const OrderView = Type.Object({
  ...summaryFields,
  accountId: NullableString,
  paymentId: Type.String(),
  shipping: ShippingView,
  carrier: NullableString,
  trackingNumber: NullableString,
  cancelReason: NullableString,
  paidAt: NullableDateTime,
  fulfillingAt: NullableDateTime,
  shippedAt: NullableDateTime,
  deliveredAt: NullableDateTime,
  cancelledAt: NullableDateTime,
  lines: Type.Array(OrderLineView),
  history: Type.Array(HistoryView),
  refunds: Type.Array(RefundView),
  returns: Type.Array(ReturnView),
});
export type OrderView = Static<typeof OrderView>;
