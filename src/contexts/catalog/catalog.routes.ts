import { createHash } from 'node:crypto';
import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import { requirePrincipal } from '../../platform/auth';
import { AppError } from '../../platform/errors';
import { errorResponses, matchesIfNoneMatch, notModified, type App } from '../../platform/http';
import { CATALOG_ERROR_MESSAGES } from './catalog.errors';
import {
  AdjustStockInput,
  MerchantInput,
  MerchantParams,
  MerchantView,
  NewProduct,
  OwnMerchantProfile,
  PageQuery,
  ProductCardPage,
  ProductDetailQuery,
  ProductDetailView,
  ProductParams,
  ProductPatch,
  ProductSearchQuery,
  ReviewInput,
  ReviewPage,
  ReviewView,
  SetStockInput,
  SkuParams,
  StockLevelView,
  StockView,
  StockHistoryQuery,
  VariantInput,
  VariantPatch,
  VariantView,
} from './catalog.schemas';
import type { CatalogServiceImpl, Result } from './catalog.service';

const tags = ['catalog'];
const MERCHANT = ['merchant'] as const;
const SHOPPER = ['shopper'] as const;

/** A failed service result becomes the AppError whose code decides the HTTP status. */
function unwrap<T>(r: Result<T, any>): T {
  if (r.ok) return r.value;
  const message = r.code === 'invalid_cursor' ? 'The cursor is not valid' : CATALOG_ERROR_MESSAGES[r.code as keyof typeof CATALOG_ERROR_MESSAGES];
  throw new AppError(r.code, message, r.details);
}

const notFound = () => new AppError('not_found', 'Not found');

/** A strong validator over the exact bytes answered, so any change (stock, price, reviews) gives a new one. */
function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}


export async function catalogRoutes(app: App, service: CatalogServiceImpl): Promise<void> {
  // ---- merchants

  app.put(
    '/merchants/me',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Create or update my merchant profile',
        body: MerchantInput,
        response: { 200: MerchantView, 201: MerchantView, ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      const { created, ...merchant } = await service.upsertMerchant(requirePrincipal(request).accountId, request.body);
      return reply.code(created ? 201 : 200).send(merchant);
    },
  );

  app.get(
    '/merchants/me',
    {
      config: { auth: MERCHANT },
      schema: { tags, summary: 'My merchant profile', response: { 200: MerchantView, ...errorResponses(401, 403, 404) } },
    },
    async (request) => {
      const merchant = await service.getOwnMerchant(requirePrincipal(request).accountId);
      if (!merchant) throw notFound();
      return merchant;
    },
  );

  // the same shop, or null before it is set up: the web app's first visit to the back office asks this one, since
  // the 404 above (kept for existing clients) is logged as an error in the browser's console
  app.get(
    '/merchant/profile',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'My merchant profile, or { merchant: null } until I set it up',
        description: 'As `GET /v1/merchants/me`, but 200 `{ "merchant": null }` instead of a 404 before `PUT /v1/merchants/me`.',
        response: { 200: OwnMerchantProfile, ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ merchant: await service.getOwnMerchant(requirePrincipal(request).accountId) }),
  );

  app.get(
    '/merchants/:id',
    {
      config: { auth: 'public' },
      schema: { tags, summary: 'A merchant profile', params: MerchantParams, response: { 200: MerchantView, ...errorResponses(404) } },
    },
    async (request) => {
      const merchant = await service.getMerchant(request.params.id);
      if (!merchant) throw notFound();
      return merchant;
    },
  );

  // ---- shopping

  app.get(
    '/products',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'Browse or search active products (cards), newest first',
        querystring: ProductSearchQuery,
        response: { 200: ProductCardPage, ...errorResponses() },
      },
    },
    async (request) => unwrap(await service.listProducts(request.query)),
  );

  app.get(
    '/products/:id',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'The product sheet: media, variants with availability, rating and the latest reviews',
        description:
          'Answers a strong `ETag`; send it back in `If-None-Match` to get 304. Pass the tag\'s referral token as `ref` so the tap is credited (a bad token is ignored and counted, never refused). Drafts and archived products are visible only to their merchant, and so are archived variants (shoppers get only the variants for sale).',
        params: ProductParams,
        querystring: ProductDetailQuery,
        response: { 200: ProductDetailView, 304: Type.Null({ description: 'Not modified' }), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const detail = await service.getProductDetail(request.params.id, request.principal, { ref: request.query.ref, deviceId: request.deviceId });
      if (!detail) throw notFound();
      const etag = etagOf(JSON.stringify(detail));
      reply.header('etag', etag).header('cache-control', 'private, no-cache');
      if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return notModified(reply as FastifyReply);
      return detail;
    },
  );

  app.get(
    '/products/:id/reviews',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'Reviews of a product, newest first',
        params: ProductParams,
        querystring: PageQuery,
        response: { 200: ReviewPage, ...errorResponses(404) },
      },
    },
    async (request) => unwrap(await service.listReviews(request.params.id, request.query)),
  );

  app.post(
    '/products/:id/reviews',
    {
      config: { auth: SHOPPER },
      schema: {
        tags,
        summary: 'Review a product (one review per shopper: 409 review_exists on a second)',
        params: ProductParams,
        body: ReviewInput,
        response: { 201: ReviewView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const review = unwrap(await service.addReview(request.params.id, requirePrincipal(request).accountId, request.body));
      return reply.code(201).send(review);
    },
  );

  app.put(
    '/products/:id/reviews/mine',
    {
      config: { auth: SHOPPER },
      schema: {
        tags,
        summary: 'Replace my review of a product',
        params: ProductParams,
        body: ReviewInput,
        response: { 200: ReviewView, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => unwrap(await service.updateMyReview(request.params.id, requirePrincipal(request).accountId, request.body)),
  );

  app.delete(
    '/products/:id/reviews/mine',
    {
      config: { auth: SHOPPER },
      schema: {
        tags,
        summary: 'Delete my review of a product',
        params: ProductParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      unwrap(await service.deleteMyReview(request.params.id, requirePrincipal(request).accountId));
      return reply.code(204).send(null);
    },
  );

  // ---- merchant console (another merchant's product or SKU answers 404: existence does not leak)

  app.get(
    '/merchant/products',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'My products, in every status, newest first',
        querystring: PageQuery,
        response: { 200: ProductCardPage, ...errorResponses(401, 403, 409) },
      },
    },
    async (request) => unwrap(await service.listOwnProducts(requirePrincipal(request).accountId, request.query)),
  );

  app.post(
    '/merchant/products',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Create a product with its variants (at least one) and media',
        body: NewProduct,
        response: { 201: ProductDetailView, ...errorResponses(401, 403, 409) },
      },
    },
    async (request, reply) => {
      const detail = unwrap(await service.createOwnProduct(requirePrincipal(request).accountId, request.body));
      return reply.code(201).send(detail);
    },
  );

  app.patch(
    '/merchant/products/:id',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Edit my product (media, when given, replaces all media)',
        params: ProductParams,
        body: ProductPatch,
        response: { 200: ProductDetailView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.updateOwnProduct(requirePrincipal(request).accountId, request.params.id, request.body)),
  );

  app.post(
    '/merchant/products/:id/variants',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Add a variant (SKU) to my product',
        params: ProductParams,
        body: VariantInput,
        response: { 201: VariantView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const variant = unwrap(await service.addOwnVariant(requirePrincipal(request).accountId, request.params.id, request.body));
      return reply.code(201).send(variant);
    },
  );

  app.patch(
    '/merchant/variants/:skuId',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Edit a variant of my product; `status: archived` stops selling it (hidden from shoppers, refused at checkout), `active` sells it again',
        params: SkuParams,
        body: VariantPatch,
        response: { 200: VariantView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.updateOwnVariant(requirePrincipal(request).accountId, request.params.skuId, request.body)),
  );

  app.put(
    '/merchant/variants/:skuId/stock',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Set the on-hand count of my SKU (journaled with the reason)',
        params: SkuParams,
        body: SetStockInput,
        response: { 200: StockLevelView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) =>
      unwrap(await service.setOwnStock(requirePrincipal(request).accountId, request.params.skuId, request.body.onHand, request.body.reason)),
  );

  app.post(
    '/merchant/variants/:skuId/stock-adjustments',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Add or remove units of my SKU (409 insufficient_stock below what is reserved or zero, 409 stock_limit_exceeded past 1,000,000,000 on hand)',
        params: SkuParams,
        body: AdjustStockInput,
        response: { 200: StockLevelView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) =>
      unwrap(await service.adjustOwnStock(requirePrincipal(request).accountId, request.params.skuId, request.body.delta, request.body.reason)),
  );

  app.get(
    '/merchant/variants/:skuId/stock',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Stock level of my SKU and a page of its adjustments, newest first (400 invalid_cursor for a cursor not from this list)',
        params: SkuParams,
        querystring: StockHistoryQuery,
        response: { 200: StockView, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.getOwnStock(requirePrincipal(request).accountId, request.params.skuId, request.query)),
  );
}
