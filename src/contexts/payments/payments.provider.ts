/**
 * What a payment provider must offer. Two implementations: the built-in simulator (payments.simulator.ts) and the
 * Stripe adapter (payments.stripe.ts). Every money-moving call carries a provider idempotency key derived from our
 * ids, so a retry after a timeout or a crash can never move money twice.
 */

/** The provider's view of one payment, reduced to what we record. Amounts are totals so far (monotone). */
export interface ProviderSnapshot {
  ref: string;
  status: 'authorized' | 'captured' | 'voided' | 'failed';
  amountMinor: number;
  capturedMinor: number;
  /** Total refunded; 0 when the provider's answer does not say (merging keeps the larger known total). */
  refundedMinor: number;
  failureCode: string | null;
}

export type ProviderFailureCode =
  | 'card_declined'
  | 'insufficient_funds'
  /** No answer in time: the outcome is unknown, reconcile later with the same idempotency key. */
  | 'provider_timeout'
  /** The provider failed (5xx-like): nothing is known to have happened. */
  | 'provider_unavailable'
  /** The provider refused the operation in the payment's current state (capturing a voided payment, refunding too much). */
  | 'rejected';

export interface ProviderFailure {
  ok: false;
  code: ProviderFailureCode;
  /** The provider's payment, when it created one (a declined PaymentIntent). */
  snapshot?: ProviderSnapshot | undefined;
  message?: string | undefined;
}

export type ProviderResult = { ok: true; snapshot: ProviderSnapshot } | ProviderFailure;

export interface AuthorizeRequest {
  amountMinor: number;
  currency: string;
  paymentMethod: string;
  idempotencyKey: string;
  /** Echoed back on webhooks: we send payment_id and checkout_id so a webhook finds its payment before we know the ref. */
  metadata: Record<string, string>;
}

/** A verified webhook, reduced to the snapshot it reports. */
export interface ProviderEvent {
  id: string;
  type: string;
  snapshot: ProviderSnapshot | null;
  paymentId: string | null;
}

export type WebhookHeaders = Record<string, string | string[] | undefined>;

export interface PaymentProvider {
  readonly name: 'simulated' | 'stripe';
  /** Authorizes with manual capture. */
  authorize(req: AuthorizeRequest): Promise<ProviderResult>;
  /** Captures all (or `amountMinor`) of an authorization. */
  capture(ref: string, amountMinor: number | undefined, idempotencyKey: string): Promise<ProviderResult>;
  /** Cancels an uncaptured authorization. */
  void(ref: string, idempotencyKey: string): Promise<ProviderResult>;
  /** Refunds `amountMinor` of a captured payment; the snapshot reports the new refunded total. */
  refund(ref: string, amountMinor: number, idempotencyKey: string): Promise<ProviderResult>;
  /** The provider's current state of a payment. */
  retrieve(ref: string): Promise<ProviderResult>;
  /**
   * Settles an authorization whose answer we never got (timeout, crash): the provider's record under the same
   * idempotency key, `not_found` when the provider never saw it.
   */
  recoverAuthorization(req: AuthorizeRequest): Promise<ProviderResult | { ok: false; code: 'not_found' }>;
  /** Checks the signature of a raw webhook body; null when it is missing, wrong or too old. */
  verifyWebhook(rawBody: string, headers: WebhookHeaders): ProviderEvent | null;
}

/** The shortest honest form of a payment method for our records: never a full card number. */
export function describePaymentMethod(paymentMethod: string): string {
  const digits = paymentMethod.replace(/[\s-]/g, '');
  return /^\d{12,19}$/.test(digits) ? `card_${digits.slice(-4)}` : paymentMethod;
}

export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
