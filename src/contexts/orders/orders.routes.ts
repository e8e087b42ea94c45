import type { FastifyReply, FastifyRequest } from 'fastify';
import { requirePrincipal } from '../../platform/auth';
import { AppError } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { replyIdempotent, RetryLater, type IdempotencyDeps } from '../../platform/idempotency';
import { ORDERS_ERROR_MESSAGES } from './orders.errors';
import {
  CancelInput,
  MerchantOrdersQuery,
  OrderPage,
  OrderParams,
  OrderView,
  RefundInput,
  ReturnInput,
  ShipInput,
  ShopperOrdersQuery,
  ShopSummary,
  ShopSummaryQuery,
} from './orders.schemas';
import type { OrdersServiceImpl, Result, Viewer } from './orders.service';

const tags = ['orders'];
const SHOPPER = ['shopper'] as const;
const MERCHANT = ['merchant'] as const;

/** A failed service result becomes the AppError whose code decides the HTTP status. */
function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  const message = r.code === 'invalid_cursor' ? 'The cursor is not valid' : ORDERS_ERROR_MESSAGES[r.code];
  throw new AppError(r.code, message, r.details);
}

const viewer = (request: FastifyRequest, role: Viewer['role']): Viewer => ({ role, accountId: requirePrincipal(request).accountId });

/**
 * Runs a money-moving call under the request's Idempotency-Key: a retry answers the first result (its status too, a
 * refusal included), never runs twice.
 */
function idempotent<T>(deps: IdempotencyDeps, request: FastifyRequest, reply: FastifyReply, action: string, call: (key: string) => Promise<Result<T>>) {
  return replyIdempotent(deps, request, reply, action, async ({ key }) => {
    const r = await call(key);
    // a provider that did not answer is not a result to replay: a retry with the same key resumes the pending refund
    if (!r.ok && r.code === 'payment_unavailable') throw new RetryLater(new AppError(r.code, ORDERS_ERROR_MESSAGES[r.code], r.details));
    return { status: 200, body: unwrap(r) };
  });
}

export async function ordersRoutes(app: App, service: OrdersServiceImpl, deps: IdempotencyDeps): Promise<void> {
  const moneyHeader = { description: 'Required: `Idempotency-Key` header (a retry with the same key and body answers the first result)' };

  // ---- shoppers: their own orders (another's order answers 404)

  app.get(
    '/orders',
    {
      config: { auth: SHOPPER },
      schema: { tags, summary: 'My orders, newest first', querystring: ShopperOrdersQuery, response: { 200: OrderPage, ...errorResponses(401, 403) } },
    },
    async (request) => unwrap(await service.listOrders(viewer(request, 'shopper'), request.query)),
  );

  app.get(
    '/orders/:id',
    {
      config: { auth: SHOPPER },
      schema: {
        tags,
        summary: 'One of my orders: lines, totals, status, tracking and history',
        params: OrderParams,
        response: { 200: OrderView, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => unwrap(await service.getOrder(viewer(request, 'shopper'), request.params.id)),
  );

  app.post(
    '/orders/:id/cancel',
    {
      config: { auth: SHOPPER },
      schema: {
        tags,
        summary: 'Cancel my order while it is placed or paid (refunded or voided, stock released)',
        description: moneyHeader.description,
        params: OrderParams,
        body: CancelInput,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => idempotent(deps, request, reply, 'orders.cancel', () => service.cancel(viewer(request, 'shopper'), request.params.id, request.body.reason)),
  );

  // ---- merchants: their shop's orders (another merchant's order answers 404)

  app.get(
    '/merchant/orders',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'My shop\'s orders, newest first, optionally by status',
        querystring: MerchantOrdersQuery,
        response: { 200: OrderPage, ...errorResponses(401, 403) },
      },
    },
    async (request) => unwrap(await service.listOrders(viewer(request, 'merchant'), request.query)),
  );

  app.get(
    '/merchant/summary',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: "My shop's totals over a period, per currency: orders (and cancelled), units, revenue after refunds, refunds",
        description:
          'Every order of the shop placed in [`from`, `to`), whether or not a post drove it (the reports count attributed sales only). At most 366 days (400 `invalid_range`, also when `from` is not before `to`). A merchant without a shop gets no currencies.',
        querystring: ShopSummaryQuery,
        response: { 200: ShopSummary, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'private, no-store');
      return unwrap(await service.shopSummary(viewer(request, 'merchant'), request.query));
    },
  );

  app.get(
    '/merchant/orders/:id',
    {
      config: { auth: MERCHANT },
      schema: { tags, summary: 'One order of my shop', params: OrderParams, response: { 200: OrderView, ...errorResponses(401, 403, 404) } },
    },
    async (request) => unwrap(await service.getOrder(viewer(request, 'merchant'), request.params.id)),
  );

  app.post(
    '/merchant/orders/:id/fulfil',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Start fulfilment (paid → fulfilling)',
        params: OrderParams,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.fulfil(viewer(request, 'merchant'), request.params.id)),
  );

  app.post(
    '/merchant/orders/:id/ship',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Mark shipped with carrier and tracking number (paid | fulfilling → shipped)',
        params: OrderParams,
        body: ShipInput,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.ship(viewer(request, 'merchant'), request.params.id, request.body)),
  );

  app.post(
    '/merchant/orders/:id/deliver',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Mark delivered (shipped → delivered); stands in for the carrier\'s webhook',
        params: OrderParams,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.deliver(viewer(request, 'merchant'), request.params.id)),
  );

  app.post(
    '/merchant/orders/:id/cancel',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Cancel before shipment (placed | paid | fulfilling): refund or void, stock released',
        description: moneyHeader.description,
        params: OrderParams,
        body: CancelInput,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => idempotent(deps, request, reply, 'orders.cancel', () => service.cancel(viewer(request, 'merchant'), request.params.id, request.body.reason)),
  );

  app.post(
    '/merchant/orders/:id/refunds',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Refund lines by quantity (net + tax pro rata; 409 refund_exceeds_remaining beyond what is left)',
        description: moneyHeader.description,
        params: OrderParams,
        body: RefundInput,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => idempotent(deps, request, reply, 'orders.refund', (key) => service.refund(viewer(request, 'merchant'), request.params.id, request.body, key)),
  );

  app.post(
    '/merchant/orders/:id/returns',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Record a return after delivery: restock those units, refund those not refunded before (409 refund_exceeds_remaining past what was sold)',
        description: moneyHeader.description,
        params: OrderParams,
        body: ReturnInput,
        response: { 200: OrderView, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) =>
      idempotent(deps, request, reply, 'orders.return', (key) => service.returnLines(viewer(request, 'merchant'), request.params.id, request.body, key)),
  );
}
