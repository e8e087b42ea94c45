import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { idempotencyScope, requestHash, requireIdempotencyKey, sendRefusal } from '../../platform/idempotency';
import { CHECKOUT_DEVICE_REQUIRED, CHECKOUT_ERROR_MESSAGES } from './checkout.errors';
import { AddCartLine, BuyNowInput, CartLineParams, CartView, ChangeCartLine, CheckoutCartInput, CheckoutView } from './checkout.schemas';
import type { CheckoutAnswer, CheckoutKey, CheckoutServiceImpl, Result, Shopper } from './checkout.service';

const tags = ['checkout'];
const PUBLIC = { auth: 'public' } as const;
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ description: 'Required: a unique key per purchase (e.g. a UUID). A retry with the same key and body returns the first answer.' }),
  ),
});

function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new AppError(r.code, CHECKOUT_ERROR_MESSAGES[r.code], r.details);
}

/** Signed-in shoppers buy as their account; anonymous ones by the device id the platform resolved. */
const shopperOf = (request: FastifyRequest): Shopper => ({
  accountId: request.principal?.accountId ?? null,
  deviceId: request.deviceId,
  deviceNamed: request.deviceNamed,
});

/**
 * The checkout's `Idempotency-Key` (required), with the same scope and request hash as every other money-moving
 * route's (src/platform/idempotency.ts); the checkout keeps it on its attempt instead of a key record (checkout.flow.ts).
 */
function checkoutKey(request: FastifyRequest, action: string): CheckoutKey {
  // an anonymous caller's scope is its device: one minted for this very request (no x-device-id, no cookie) is new
  // on every retry, so the key would protect nothing and a retry would buy (and charge) again
  const key = requireIdempotencyKey(request);
  if (!request.principal && !request.deviceNamed) throw new AppError('device_id_required', CHECKOUT_DEVICE_REQUIRED);
  return { scope: idempotencyScope(request), key, hash: requestHash({ action, params: request.params, body: request.body }) };
}

/**
 * Sends a checkout's answer, first or replayed (`idempotent-replayed: true`); a refusal as the other money-moving
 * routes send theirs (sendRefusal), a 5xx through the error handler.
 */
function sendCheckout(request: FastifyRequest, reply: FastifyReply, answer: CheckoutAnswer): FastifyReply {
  if (answer.replayed) reply.header('idempotent-replayed', 'true');
  if (answer.ok) return reply.code(201).send(answer.value);
  return sendRefusal(request, reply, new AppError(answer.code, CHECKOUT_ERROR_MESSAGES[answer.code], answer.details));
}

export async function checkoutRoutes(app: App, service: CheckoutServiceImpl): Promise<void> {
  app.get(
    '/cart',
    { config: PUBLIC, schema: { tags, summary: 'My cart, priced now, with availability', response: { 200: CartView, ...errorResponses() } } },
    async (request) => service.getCart(shopperOf(request)),
  );

  app.post(
    '/cart/lines',
    {
      config: PUBLIC,
      schema: {
        tags,
        summary: 'Add units of a variant (a referral token credits the line when valid)',
        body: AddCartLine,
        response: { 201: CartView, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(unwrap(await service.addLine(shopperOf(request), request.body))),
  );

  app.patch(
    '/cart/lines/:id',
    {
      config: PUBLIC,
      schema: { tags, summary: 'Change the quantity of a cart line', params: CartLineParams, body: ChangeCartLine, response: { 200: CartView, ...errorResponses(404) } },
    },
    async (request) => unwrap(await service.changeLine(shopperOf(request), request.params.id, request.body.quantity)),
  );

  app.delete(
    '/cart/lines/:id',
    { config: PUBLIC, schema: { tags, summary: 'Remove a cart line', params: CartLineParams, response: { 200: CartView, ...errorResponses(404) } } },
    async (request) => unwrap(await service.removeLine(shopperOf(request), request.params.id)),
  );

  const checkoutResponses = { 201: CheckoutView, ...errorResponses(402, 404, 409, 422, 503) };

  app.post(
    '/checkout',
    {
      config: PUBLIC,
      schema: {
        tags,
        summary: 'Check out the cart: one order per merchant under one payment (requires Idempotency-Key)',
        headers: IdempotencyHeaders,
        body: CheckoutCartInput,
        response: checkoutResponses,
      },
    },
    async (request, reply) => sendCheckout(request, reply, await service.checkoutCart(shopperOf(request), request.body, checkoutKey(request, 'POST /v1/checkout'))),
  );

  app.post(
    '/checkout/buy-now',
    {
      config: PUBLIC,
      schema: {
        tags,
        summary: 'Buy one variant now without touching the cart (requires Idempotency-Key)',
        headers: IdempotencyHeaders,
        body: BuyNowInput,
        response: checkoutResponses,
      },
    },
    async (request, reply) =>
      sendCheckout(request, reply, await service.buyNow(shopperOf(request), request.body, checkoutKey(request, 'POST /v1/checkout/buy-now'))),
  );
}
