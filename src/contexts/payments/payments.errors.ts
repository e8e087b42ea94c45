import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of payments, as values; the webhook route turns them into AppErrors with these codes. */
export type PaymentsFailure =
  | 'card_declined'
  | 'insufficient_funds'
  | 'provider_timeout'
  | 'provider_unavailable'
  | 'not_capturable'
  | 'not_voidable'
  | 'not_refundable'
  | 'amount_exceeds_captured'
  | 'invalid_signature'
  | 'unknown_provider';

export const PAYMENTS_ERROR_MESSAGES: Record<PaymentsFailure, string> = {
  card_declined: 'The card was declined',
  insufficient_funds: 'The card has insufficient funds',
  provider_timeout: 'The payment provider did not answer in time; the outcome is settled by reconciliation',
  provider_unavailable: 'The payment provider is unavailable; try again',
  not_capturable: 'This payment cannot be captured in its current state',
  not_voidable: 'This payment cannot be voided in its current state (captured payments are refunded instead)',
  not_refundable: 'This payment cannot be refunded in its current state',
  amount_exceeds_captured: 'The refund would exceed what was captured',
  invalid_signature: 'The webhook signature is missing, invalid or too old',
  unknown_provider: 'This process does not accept webhooks from that provider',
};

registerErrorCodes({
  card_declined: 402,
  insufficient_funds: 402,
  provider_timeout: 504,
  provider_unavailable: 503,
  not_capturable: 409,
  not_voidable: 409,
  not_refundable: 409,
  amount_exceeds_captured: 409,
  invalid_signature: 400,
  unknown_provider: 404,
});
