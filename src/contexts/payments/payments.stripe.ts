import Stripe from 'stripe';
import { createStripeClient } from '../../platform/stripe';
import {
  headerValue,
  type AuthorizeRequest,
  type PaymentProvider,
  type ProviderEvent,
  type ProviderFailure,
  type ProviderResult,
  type ProviderSnapshot,
  type WebhookHeaders,
} from './payments.provider';

export interface StripeAdapterOptions {
  secretKey: string;
  webhookSecret?: string | undefined;
  /** e.g. http://127.0.0.1:12111 (the local stand-in); absent means api.stripe.com. */
  apiBase?: string | undefined;
  timeoutMs: number;
  /** Seconds since the epoch for the webhook tolerance check (the injected clock). */
  nowSeconds: () => number;
}

/**
 * Stripe through its official SDK: PaymentIntents with manual capture, confirmed at creation with the given
 * payment method. Every call sends our idempotency key. The SDK retries nothing on its own (maxNetworkRetries 0):
 * an unanswered call is settled by reconcile, which replays the same key.
 */
export class StripeProvider implements PaymentProvider {
  readonly name = 'stripe' as const;
  readonly #stripe: Stripe;
  readonly #webhookSecret: string | undefined;
  readonly #nowSeconds: () => number;

  constructor(opts: StripeAdapterOptions) {
    this.#stripe = createStripeClient(opts);
    this.#webhookSecret = opts.webhookSecret;
    this.#nowSeconds = opts.nowSeconds;
  }

  authorize(req: AuthorizeRequest): Promise<ProviderResult> {
    return this.#call(async () => snapshotOfIntent(await this.#create(req)));
  }

  capture(ref: string, amountMinor: number | undefined, key: string): Promise<ProviderResult> {
    return this.#call(async () =>
      snapshotOfIntent(await this.#stripe.paymentIntents.capture(ref, amountMinor === undefined ? {} : { amount_to_capture: amountMinor }, { idempotencyKey: key })),
    );
  }

  void(ref: string, key: string): Promise<ProviderResult> {
    return this.#call(async () => snapshotOfIntent(await this.#stripe.paymentIntents.cancel(ref, {}, { idempotencyKey: key })));
  }

  refund(ref: string, amountMinor: number, key: string): Promise<ProviderResult> {
    return this.#call(async () => {
      await this.#stripe.refunds.create({ payment_intent: ref, amount: amountMinor }, { idempotencyKey: key });
      // the refund object does not carry the payment's refunded total; the charge does
      return this.#snapshot(ref);
    });
  }

  retrieve(ref: string): Promise<ProviderResult> {
    return this.#call(() => this.#snapshot(ref));
  }

  /** Stripe's documented recovery: replay the create with the same key and parameters, get the first answer back. */
  recoverAuthorization(req: AuthorizeRequest): Promise<ProviderResult> {
    return this.authorize(req);
  }

  verifyWebhook(rawBody: string, headers: WebhookHeaders): ProviderEvent | null {
    const signature = headerValue(headers, 'stripe-signature');
    if (!this.#webhookSecret || !signature) return null;
    let event: Stripe.Event;
    try {
      event = this.#stripe.webhooks.constructEvent(rawBody, signature, this.#webhookSecret, undefined, undefined, this.#nowSeconds() * 1000);
    } catch {
      return null;
    }
    // signed but not an event (JSON null, no type or object): refused like a bad signature, never a 5xx
    if (typeof event !== 'object' || event === null || typeof event.id !== 'string' || typeof event.type !== 'string') return null;
    if (typeof event.data?.object !== 'object' || event.data.object === null) return null;
    const object = event.data.object as unknown as Record<string, unknown>;
    if (event.type.startsWith('payment_intent.')) {
      const intent = object as unknown as Stripe.PaymentIntent;
      return { id: event.id, type: event.type, snapshot: snapshotOfIntent(intent), paymentId: intent.metadata?.payment_id ?? null };
    }
    if (event.type === 'charge.refunded') {
      const charge = object as unknown as Stripe.Charge;
      const ref = typeof charge.payment_intent === 'string' ? charge.payment_intent : (charge.payment_intent?.id ?? null);
      if (!ref) return { id: event.id, type: event.type, snapshot: null, paymentId: null };
      const snapshot: ProviderSnapshot = {
        ref,
        status: 'captured',
        amountMinor: charge.amount,
        capturedMinor: charge.amount_captured,
        refundedMinor: charge.amount_refunded,
        failureCode: null,
      };
      return { id: event.id, type: event.type, snapshot, paymentId: charge.metadata?.payment_id ?? null };
    }
    return { id: event.id, type: event.type, snapshot: null, paymentId: null };
  }

  #create(req: AuthorizeRequest): Promise<Stripe.PaymentIntent> {
    return this.#stripe.paymentIntents.create(
      {
        amount: req.amountMinor,
        currency: req.currency.toLowerCase(),
        payment_method: req.paymentMethod,
        // no redirect-based methods, so confirming server-side needs no return_url
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        capture_method: 'manual',
        confirm: true,
        metadata: req.metadata,
      },
      { idempotencyKey: req.idempotencyKey },
    );
  }

  async #snapshot(ref: string): Promise<ProviderSnapshot> {
    const intent = await this.#stripe.paymentIntents.retrieve(ref, { expand: ['latest_charge'] });
    const snap = snapshotOfIntent(intent);
    const charge = intent.latest_charge;
    if (charge && typeof charge === 'object') snap.refundedMinor = charge.amount_refunded;
    return snap;
  }

  async #call(run: () => Promise<ProviderSnapshot>): Promise<ProviderResult> {
    try {
      return { ok: true, snapshot: await run() };
    } catch (e) {
      return mapStripeError(e);
    }
  }
}

/** Stripe's PaymentIntent states reduced to ours. */
export function snapshotOfIntent(intent: Stripe.PaymentIntent): ProviderSnapshot {
  const status: ProviderSnapshot['status'] =
    intent.status === 'requires_capture'
      ? 'authorized'
      : intent.status === 'succeeded'
        ? 'captured'
        : intent.status === 'canceled'
          ? 'voided'
          : 'failed';
  const failureCode = status === 'failed' ? declineCode(intent.last_payment_error?.code, intent.last_payment_error?.decline_code) : null;
  return {
    ref: intent.id,
    status,
    amountMinor: intent.amount,
    capturedMinor: status === 'captured' ? intent.amount_received : 0,
    refundedMinor: 0,
    failureCode,
  };
}

function declineCode(code: string | undefined | null, decline: string | undefined | null): 'card_declined' | 'insufficient_funds' {
  return decline === 'insufficient_funds' || code === 'insufficient_funds' ? 'insufficient_funds' : 'card_declined';
}

/** Card errors become declines, network trouble a timeout (outcome unknown), 5xx unavailability; the rest a refusal. */
function mapStripeError(e: unknown): ProviderFailure {
  if (e instanceof Stripe.errors.StripeCardError) {
    const intent = (e.raw as { payment_intent?: Stripe.PaymentIntent }).payment_intent;
    return { ok: false, code: declineCode(e.code, e.decline_code), snapshot: intent ? snapshotOfIntent(intent) : undefined, message: e.message };
  }
  if (e instanceof Stripe.errors.StripeConnectionError) return { ok: false, code: 'provider_timeout', message: e.message };
  if (e instanceof Stripe.errors.StripeError) {
    if ((e.statusCode ?? 500) >= 500 || e instanceof Stripe.errors.StripeRateLimitError) return { ok: false, code: 'provider_unavailable', message: e.message };
    if (e instanceof Stripe.errors.StripeInvalidRequestError || e instanceof Stripe.errors.StripeIdempotencyError) {
      return { ok: false, code: 'rejected', message: `${e.code ?? e.type}: ${e.message}` };
    }
  }
  throw e;
}
