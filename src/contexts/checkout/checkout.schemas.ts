import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';

// The HTTP types of carts and checkout: each schema validates input, serializes output and documents the API.
// No input carries a price: an unknown field (priceMinor, totalMinor…) is refused, and prices come from the catalog.

const strict = { additionalProperties: false } as const;
const DateTime = Type.String({ format: 'date-time' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
const Minor = Type.Integer({ description: 'Integer minor units' });

export const SkuId = Type.String({ pattern: idPattern('variant') });
export const LineQuantity = Type.Integer({ minimum: 1, maximum: 99, description: 'Units of the variant (1 to 99)' });
const ReferralToken = Type.String({ minLength: 1, maxLength: 512, description: 'The referral token of the tag the shopper came from' });

export const CartLineParams = Type.Object({ id: Type.String({ pattern: idPattern('cartLine') }) }, strict);

export const AddCartLine = Type.Object({ skuId: SkuId, quantity: LineQuantity, referralToken: Type.Optional(ReferralToken) }, strict);
export type AddCartLine = Static<typeof AddCartLine>;

export const ChangeCartLine = Type.Object({ quantity: LineQuantity }, strict);

export const ShippingAddress = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  strict,
);

const PaymentMethod = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'A payment method reference (a test card number for the simulated provider, pm_… for Stripe)',
});
const ExpectedTotal = Type.Integer({
  minimum: 0,
  description: 'The total the shopper was shown; when it differs from the server total the checkout is refused (409 price_changed)',
});

export const CheckoutCartInput = Type.Object(
  { paymentMethod: PaymentMethod, shipping: Type.Optional(ShippingAddress), expectedTotalMinor: Type.Optional(ExpectedTotal) },
  strict,
);
export type CheckoutCartInput = Static<typeof CheckoutCartInput>;

export const BuyNowInput = Type.Object(
  {
    skuId: SkuId,
    quantity: LineQuantity,
    referralToken: Type.Optional(ReferralToken),
    paymentMethod: PaymentMethod,
    shipping: Type.Optional(ShippingAddress),
    expectedTotalMinor: Type.Optional(ExpectedTotal),
  },
  strict,
);
export type BuyNowInput = Static<typeof BuyNowInput>;

// ---- answers

export const CartLineView = Type.Object({
  id: Type.String(),
  skuId: Type.String(),
  productId: Type.String(),
  merchantId: Type.String(),
  productName: Type.String(),
  variantTitle: Type.String(),
  quantity: Type.Integer(),
  currency: Currency,
  unitPriceMinor: Minor,
  netAmountMinor: Minor,
  taxMinor: Minor,
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
  available: Type.Integer({ description: 'Units available now' }),
  purchasable: Type.Boolean({ description: 'The product is on sale and enough units are available for this line' }),
  referral: Type.Union(
    [
      Type.Object({
        tagId: Type.String(),
        postId: Type.String(),
        creatorId: Type.String(),
        referredAt: Type.Union([DateTime, Type.Null()], { description: 'When the line was added from the tag: the click window counts from it (null: not recorded, taken as the order time)' }),
      }),
      Type.Null(),
    ],
    { description: 'The tag this line was added from (credited), or null' },
  ),
  addedAt: DateTime,
});
export type CartLineView = Static<typeof CartLineView>;

export const CartTotals = Type.Object({ currency: Currency, subtotalMinor: Minor, taxMinor: Minor, totalMinor: Minor });

export const CartView = Type.Object({
  id: Type.Union([Type.String(), Type.Null()], { description: 'Null until the first line is added' }),
  lines: Type.Array(CartLineView),
  totals: Type.Array(CartTotals, { description: 'Per currency (a cart can only be checked out in one)' }),
});
export type CartView = Static<typeof CartView>;

export const CheckoutView = Type.Object({
  checkoutId: Type.String(),
  status: Type.Union([Type.Literal('completed'), Type.Literal('ordered')], {
    description: 'completed: orders placed and paid; ordered: orders placed, the capture is being retried',
  }),
  orders: Type.Array(Type.Object({ id: Type.String(), merchantId: Type.String(), totalMinor: Minor })),
  subtotalMinor: Minor,
  taxMinor: Minor,
  totalMinor: Minor,
  currency: Currency,
});
export type CheckoutView = Static<typeof CheckoutView>;
