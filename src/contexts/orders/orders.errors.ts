import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the orders context, as values; routes turn them into AppErrors with these codes. */
export type OrdersFailure =
  | 'not_found'
  | 'line_not_found'
  | 'invalid_transition'
  | 'already_shipped'
  | 'refund_exceeds_remaining'
  | 'payment_not_settled'
  | 'refund_refused'
  | 'payment_unavailable'
  | 'invalid_range'
  | 'idempotency_key_reused';

export const ORDERS_ERROR_MESSAGES: Record<OrdersFailure, string> = {
  not_found: 'Order not found',
  line_not_found: 'That line is not part of this order',
  invalid_transition: 'The order cannot make this change in its current status',
  already_shipped: 'The order was already shipped with another carrier or tracking number',
  refund_exceeds_remaining: 'That is more than remains to refund on this line (for a return: more than was sold, net of earlier returns)',
  payment_not_settled: 'The payment of this order is still being settled; try again in a moment',
  refund_refused: 'The payment provider refused the refund',
  payment_unavailable: 'The payment provider did not answer; retry with the same Idempotency-Key',
  invalid_range: '`from` must be before `to`, and the range at most 366 days',
  // registered (422) by src/platform/idempotency.ts
  idempotency_key_reused: 'This Idempotency-Key was used for another refund or return of this order; use a new key for a new request',
};

registerErrorCodes({
  line_not_found: 404,
  invalid_transition: 409,
  already_shipped: 409,
  refund_exceeds_remaining: 409,
  payment_not_settled: 409,
  refund_refused: 409,
  payment_unavailable: 503,
  invalid_range: 400,
});
