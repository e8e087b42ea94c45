import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of carts and checkout, as values; routes turn them into AppErrors with these codes. */
export type CheckoutFailure =
  | 'not_found'
  | 'product_unavailable'
  | 'mixed_currency'
  | 'cart_empty'
  | 'quantity_limit_exceeded'
  | 'price_changed'
  | 'sold_out'
  | 'payment_declined'
  | 'payment_unavailable'
  | 'capture_refused'
  | 'checkout_abandoned'
  | 'checkout_failed';

export const CHECKOUT_ERROR_MESSAGES: Record<CheckoutFailure, string> = {
  not_found: 'Not found',
  product_unavailable: 'This product is not for sale right now',
  mixed_currency: 'Every line of one checkout must be priced in the same currency',
  cart_empty: 'The cart is empty',
  quantity_limit_exceeded: 'A cart line holds at most 99 units',
  price_changed: 'The total changed since you saw it; review the new total and try again',
  sold_out: 'Not enough stock left for this order',
  payment_declined: 'The payment was declined',
  payment_unavailable: 'The payment provider did not answer; nothing was charged, try again',
  capture_refused: 'The payment could not be taken; the orders were cancelled and nothing was charged',
  checkout_abandoned: 'This checkout was interrupted and rolled back; nothing was charged. Start a new checkout with a new Idempotency-Key',
  checkout_failed: 'The checkout could not be completed; nothing was charged',
};

/** An anonymous checkout without a device id (header or cookie): nothing would scope its Idempotency-Key. */
export const CHECKOUT_DEVICE_REQUIRED =
  'An anonymous purchase needs its device id (the x-device-id header or the fs_device cookie), so that a retry with the same Idempotency-Key is recognised';

registerErrorCodes({
  device_id_required: 400,
  product_unavailable: 409,
  mixed_currency: 400,
  cart_empty: 409,
  quantity_limit_exceeded: 400,
  price_changed: 409,
  sold_out: 409,
  payment_declined: 402,
  payment_unavailable: 503,
  // 402, like a decline: the payment (not the stock or the request) failed, and paying again is the shopper's remedy
  capture_refused: 402,
  // a checkout interrupted (crash) before payment and rolled back by recovery: a designed outcome, not a server fault
  checkout_abandoned: 409,
  checkout_failed: 500,
});
