import Stripe from 'stripe';
import type { AccountCheck, PayoutProvider, TransferRequest, TransferResult } from './earnings.payout-provider';
import { createStripeClient } from '../../platform/stripe';

export interface StripeConnectOptions {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111 (the local stand-in); absent means api.stripe.com. */
  apiBase?: string | undefined;
  timeoutMs: number;
}

/**
 * Payouts through Stripe Connect with the official SDK: a Transfer from the platform balance to the creator's connected
 * account (`acct_…`), sent with our payout id as the Idempotency-Key. The SDK retries nothing on its own
 * (maxNetworkRetries 0): an unanswered transfer stays in flight and the sweep replays the same key, which Stripe
 * answers with the first transfer. Stripe then pays the connected account out to the creator's bank on the account's
 * own payout schedule.
 */
export class StripeConnectPayoutProvider implements PayoutProvider {
  readonly name = 'stripe' as const;
  readonly #stripe: Stripe;

  constructor(opts: StripeConnectOptions) {
    this.#stripe = createStripeClient(opts);
  }

  async checkAccount(accountRef: string): Promise<AccountCheck> {
    try {
      const account = await this.#stripe.accounts.retrieve(accountRef);
      if (account.capabilities?.transfers !== 'active') {
        return { ok: false, code: 'account_invalid', message: `Account ${accountRef} cannot receive transfers yet (transfers capability ${account.capabilities?.transfers ?? 'missing'})` };
      }
      return { ok: true };
    } catch (e) {
      const failure = mapError(e);
      return { ok: false, code: failure.code === 'rejected' ? 'account_invalid' : 'unavailable', message: failure.message };
    }
  }

  async transfer(req: TransferRequest): Promise<TransferResult> {
    try {
      const transfer = await this.#stripe.transfers.create(
        {
          amount: req.amountMinor,
          currency: req.currency.toLowerCase(),
          destination: req.destination,
          transfer_group: req.metadata.payout_id,
          metadata: req.metadata,
        },
        { idempotencyKey: req.idempotencyKey },
      );
      return { ok: true, ref: transfer.id };
    } catch (e) {
      return mapError(e);
    }
  }
}

/** 4xx: refused, nothing moved. Network trouble, 5xx and rate limits: unknown, replay the same key later. */
function mapError(e: unknown): { ok: false; code: 'rejected' | 'unavailable'; message: string } {
  if (e instanceof Stripe.errors.StripeConnectionError) return { ok: false, code: 'unavailable', message: e.message };
  if (e instanceof Stripe.errors.StripeError) {
    if ((e.statusCode ?? 500) >= 500 || e instanceof Stripe.errors.StripeRateLimitError) return { ok: false, code: 'unavailable', message: e.message };
    return { ok: false, code: 'rejected', message: `${e.code ?? e.type}: ${e.message}` };
  }
  throw e;
}
