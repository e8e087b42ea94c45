import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';
import { MEDIA_URL_PATTERN } from '../../platform/http';

// The HTTP types of the catalog: each schema validates input, serializes output and documents the API.

const strict = { additionalProperties: false } as const;

export const Name = Type.String({ minLength: 1, maxLength: 200 });
export const Description = Type.String({ maxLength: 10_000 });
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. EUR' });
/**
 * The currencies a product can be priced in: ISO 4217 codes with 2 decimals (cents), since prices everywhere are
 * shown and typed as minor units / 100. A code with 0 or 3 decimals (JPY, KWD) or no currency at all ("UDS") would be
 * charged 100 or 10 times off, so it is refused (400 validation_failed on `currency`).
 */
export const PRICING_CURRENCIES: readonly string[] = Intl.supportedValuesOf('currency').filter(
  (c) => new Intl.NumberFormat('en', { style: 'currency', currency: c }).resolvedOptions().maximumFractionDigits === 2,
);
export const PricingCurrency = Type.String({
  pattern: `^(${PRICING_CURRENCIES.join('|')})$`,
  description: 'ISO 4217 code with 2 decimals (cents), e.g. EUR; JPY, KWD and unknown codes are refused',
});
export const PriceMinor = Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Integer minor units (1299 = 12.99)' });
export const Quantity = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });
export const ProductStatus = Type.Union([Type.Literal('draft'), Type.Literal('active'), Type.Literal('archived')]);
export const VariantStatus = Type.Union([Type.Literal('active'), Type.Literal('archived')], { description: 'archived: no longer sold (hidden from shoppers, refused at checkout)' });
export const AvailabilitySchema = Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]);
// the key schema of a Record only picks the pattern of its property names: its lengths are checked by propertyNames
export const Options = Type.Record(Type.String(), Type.String({ maxLength: 100 }), {
  maxProperties: 20,
  propertyNames: { minLength: 1, maxLength: 50 },
  description: 'Option values, e.g. { "size": "M", "color": "red" }',
});
const Reason = Type.String({ minLength: 1, maxLength: 500 });
const DateTime = Type.String({ format: 'date-time' });
const Cursor = Type.String({ minLength: 1, maxLength: 200, description: 'Opaque; from the previous page' });
const Limit = (def: number) => Type.Integer({ minimum: 1, maximum: 100, default: def });

export const ProductId = Type.String({ pattern: idPattern('product') });
export const SkuId = Type.String({ pattern: idPattern('variant') });
export const MerchantId = Type.String({ pattern: idPattern('merchant') });

// ---- inputs

export const MediaInput = Type.Object(
  {
    kind: Type.Union([Type.Literal('image'), Type.Literal('video')]),
    url: Type.String({ minLength: 1, maxLength: 2000, pattern: MEDIA_URL_PATTERN, description: 'Absolute http(s) URL or a path on this server' }),
    alt: Type.Optional(Type.String({ maxLength: 500 })),
  },
  strict,
);
export type MediaInput = Static<typeof MediaInput>;

export const VariantInput = Type.Object(
  { title: Name, priceMinor: PriceMinor, options: Type.Optional(Options), stock: Type.Optional(Quantity) },
  strict,
);
export type VariantInput = Static<typeof VariantInput>;

export const NewProduct = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    status: Type.Optional(ProductStatus),
    currency: PricingCurrency,
    media: Type.Optional(Type.Array(MediaInput, { maxItems: 20 })),
    variants: Type.Array(VariantInput, { minItems: 1, maxItems: 100 }),
  },
  strict,
);
export type NewProduct = Static<typeof NewProduct>;

export const ProductPatch = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    status: Type.Optional(ProductStatus),
    media: Type.Optional(Type.Array(MediaInput, { maxItems: 20, description: 'Replaces all media, in this order' })),
  },
  { ...strict, minProperties: 1 },
);
export type ProductPatch = Static<typeof ProductPatch>;

export const VariantPatch = Type.Object(
  { title: Type.Optional(Name), priceMinor: Type.Optional(PriceMinor), options: Type.Optional(Options), status: Type.Optional(VariantStatus) },
  { ...strict, minProperties: 1 },
);
export type VariantPatch = Static<typeof VariantPatch>;

export const MerchantInput = Type.Object({ name: Name, description: Type.Optional(Description) }, strict);
export type MerchantInput = Static<typeof MerchantInput>;

export const ReviewInput = Type.Object(
  {
    rating: Type.Integer({ minimum: 1, maximum: 5 }),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    body: Type.String({ minLength: 1, maxLength: 5000 }),
  },
  strict,
);
export type ReviewInput = Static<typeof ReviewInput>;

export const SetStockInput = Type.Object({ onHand: Quantity, reason: Reason }, strict);
export const AdjustStockInput = Type.Object(
  { delta: Type.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000, not: { const: 0 } }), reason: Reason },
  strict,
);

export const ProductParams = Type.Object({ id: ProductId }, strict);
export const MerchantParams = Type.Object({ id: MerchantId }, strict);
export const SkuParams = Type.Object({ skuId: SkuId }, strict);
export const PageQuery = Type.Object({ cursor: Type.Optional(Cursor), limit: Limit(20) }, strict);
export const StockHistoryQuery = Type.Object({ cursor: Type.Optional(Cursor), limit: Limit(50) }, strict);
export const ProductSearchQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Words in the product name' })),
    merchantId: Type.Optional(MerchantId),
    cursor: Type.Optional(Cursor),
    limit: Limit(20),
  },
  strict,
);
export const ProductDetailQuery = Type.Object(
  { ref: Type.Optional(Type.String({ maxLength: 2000, description: 'Referral token of the tag the shopper tapped' })) },
  strict,
);

// ---- outputs

export const MerchantView = Type.Object({ id: Type.String(), name: Type.String(), description: Type.String(), createdAt: DateTime });
export type MerchantView = Static<typeof MerchantView>;
/** The caller's own shop or null until it is set up: a 200 either way (a 404 is logged in the browser's console). */
export const OwnMerchantProfile = Type.Object(
  { merchant: Type.Union([MerchantView, Type.Null({ description: 'no merchant profile yet (PUT /v1/merchants/me sets it up)' })]) },
  { additionalProperties: false },
);

export const ProductCardView = Type.Object({
  id: Type.String(),
  merchantId: Type.String(),
  name: Type.String(),
  priceMinor: Type.Integer({ description: 'Lowest variant price' }),
  currency: Type.String(),
  imageUrl: Type.Union([Type.String(), Type.Null()]),
  availability: AvailabilitySchema,
  status: ProductStatus,
});
export const ProductCardPage = Type.Object({ items: Type.Array(ProductCardView), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const MediaView = Type.Object({ id: Type.String(), kind: Type.String(), url: Type.String(), alt: Type.String() });
export const VariantView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  options: Type.Record(Type.String(), Type.String()),
  priceMinor: Type.Integer(),
  currency: Type.String(),
  status: Type.Optional(
    Type.Union([Type.Literal('active'), Type.Literal('archived')], { description: 'Only in the merchant\'s own views (a shopper is shown only the variants for sale); archived: no longer sold' }),
  ),
  available: Type.Integer(),
  availability: AvailabilitySchema,
});
export type VariantView = Static<typeof VariantView>;

export const ReviewView = Type.Object({
  id: Type.String(),
  rating: Type.Integer(),
  title: Type.Union([Type.String(), Type.Null()]),
  body: Type.String(),
  verifiedBuyer: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export type ReviewView = Static<typeof ReviewView>;
export const ReviewPage = Type.Object({ items: Type.Array(ReviewView), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export type ReviewPage = Static<typeof ReviewPage>;

export const RatingView = Type.Object({
  average: Type.Union([Type.Number(), Type.Null()], { description: 'One decimal; null when there are no reviews' }),
  count: Type.Integer(),
  distribution: Type.Object({ 1: Type.Integer(), 2: Type.Integer(), 3: Type.Integer(), 4: Type.Integer(), 5: Type.Integer() }),
});
export type RatingView = Static<typeof RatingView>;

export const ProductDetailView = Type.Object({
  id: Type.String(),
  merchant: Type.Object({ id: Type.String(), name: Type.String() }),
  name: Type.String(),
  description: Type.String(),
  status: ProductStatus,
  currency: Type.String(),
  media: Type.Array(MediaView),
  variants: Type.Array(VariantView),
  rating: RatingView,
  reviews: ReviewPage,
  updatedAt: DateTime,
});
export type ProductDetailView = Static<typeof ProductDetailView>;

export const StockLevelView = Type.Object({
  skuId: Type.String(),
  onHand: Type.Integer(),
  reserved: Type.Integer(),
  available: Type.Integer(),
  availability: AvailabilitySchema,
});
export const StockView = Type.Object({
  level: StockLevelView,
  adjustments: Type.Array(
    Type.Object({ id: Type.String(), delta: Type.Integer(), onHandAfter: Type.Integer(), accountId: Type.String(), reason: Type.String(), createdAt: DateTime }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the older adjustments; null on the last page' }),
});
