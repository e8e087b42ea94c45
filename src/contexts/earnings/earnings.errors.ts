import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the earnings context, as values; routes turn them into AppErrors with these codes. */
export type EarningsFailure =
  | 'creator_profile_required'
  | 'creator_not_found'
  | 'merchant_profile_required'
  | 'product_not_found'
  | 'payout_account_required'
  | 'payout_account_invalid'
  | 'payout_account_restricted'
  | 'payout_not_found'
  | 'payout_not_reversible'
  | 'invalid_signature'
  | 'unknown_provider'
  | 'connect_webhooks_disabled'
  | 'payout_below_minimum'
  | 'payout_in_progress'
  | 'payout_failed'
  | 'payout_provider_unavailable'
  | 'invalid_month';

export const EARNINGS_ERROR_MESSAGES: Record<EarningsFailure, string> = {
  creator_profile_required: 'Create your creator profile first (PUT /v1/creators/me)',
  creator_not_found: 'No creator has this id',
  merchant_profile_required: 'Create your merchant profile first (PUT /v1/merchants/me)',
  product_not_found: 'No product of yours has this id',
  payout_account_required: 'Register your payout account first (PUT /v1/creator/payout-account)',
  payout_account_invalid: 'The payout provider does not know this account or it cannot receive transfers yet',
  payout_account_restricted: 'Your payout account cannot receive transfers at the moment (see GET /v1/creator/payout-account); the money stays available',
  payout_not_found: 'No payout has this id',
  payout_not_reversible: 'Only a sent payout can be reversed, by at most what is left of it',
  invalid_signature: 'The webhook signature is missing, invalid or too old',
  unknown_provider: 'This process does not accept payout webhooks from that provider',
  connect_webhooks_disabled: 'This process has no STRIPE_CONNECT_WEBHOOK_SECRET: it does not accept Stripe payout webhooks',
  payout_below_minimum: 'Your available balance is below the payout minimum',
  payout_in_progress: 'A payout in this currency is already being processed',
  payout_failed: 'The payout provider refused the payout; the money stays available',
  payout_provider_unavailable: 'The payout provider did not answer; the payout is retried automatically with the same key',
  invalid_month: 'The month must be YYYY-MM, from 1970-01 to 9999-12',
};

registerErrorCodes({
  creator_profile_required: 409,
  creator_not_found: 404,
  merchant_profile_required: 409,
  product_not_found: 404,
  payout_account_required: 409,
  payout_account_invalid: 422,
  payout_account_restricted: 409,
  payout_not_found: 404,
  payout_not_reversible: 409,
  // the same codes and statuses as the payments webhook route
  invalid_signature: 400,
  unknown_provider: 404,
  connect_webhooks_disabled: 404,
  payout_below_minimum: 422,
  payout_in_progress: 409,
  payout_failed: 502,
  payout_provider_unavailable: 503,
  invalid_month: 400,
});
