import Stripe from 'stripe';
import type { AccountCheck, AccountState, ConnectEvent, PayoutProvider, ReversalResult, TransferRequest, TransferResult, TransferState } from './earnings.payout-provider';
import { createStripeClient } from '../../platform/stripe';

export interface StripeConnectOptions {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111 (the local stand-in); absent means api.stripe.com. */
  apiBase?: string | undefined;
  timeoutMs: number;
  /**
   * Signing secrets of the webhook endpoints that post to our route (the Connect endpoint's for `account.updated`,
   * the platform endpoint's for `transfer.*`, an old one while a secret is rolled); none: webhooks are refused.
   */
  webhookSecrets?: string[];
  /** Seconds since the epoch for the webhook tolerance check (the injected clock). */
  nowSeconds?: () => number;
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
  readonly #webhookSecrets: string[];
  readonly #nowSeconds: () => number;

  constructor(opts: StripeConnectOptions) {
    this.#stripe = createStripeClient(opts);
    this.#webhookSecrets = opts.webhookSecrets ?? [];
    this.#nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  async checkAccount(accountRef: string): Promise<AccountCheck> {
    try {
      const state = accountState(await this.#stripe.accounts.retrieve(accountRef));
      return state.canReceiveTransfers ? { ok: true } : { ok: false, code: 'account_invalid', message: `Account ${accountRef} cannot receive transfers yet (${state.reason})` };
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

  /** A transfer reversal with our key, then the transfer itself for its cumulative `amount_reversed`. */
  async reverseTransfer(ref: string, amountMinor: number, idempotencyKey: string): Promise<ReversalResult> {
    try {
      await this.#stripe.transfers.createReversal(ref, { amount: amountMinor }, { idempotencyKey });
      return { ok: true, transfer: transferState(await this.#stripe.transfers.retrieve(ref)) };
    } catch (e) {
      return mapError(e);
    }
  }

  /**
   * `Stripe-Signature` checked by the SDK against each configured secret. `transfer.reversed` / `transfer.updated`
   * carry the transfer (cumulative `amount_reversed`), `account.updated` the connected account; other types neither.
   */
  verifyWebhook(rawBody: string, headers: Record<string, string | string[] | undefined>): ConnectEvent | null | 'not_configured' {
    if (this.#webhookSecrets.length === 0) return 'not_configured';
    const header = headers['stripe-signature'];
    const signature = Array.isArray(header) ? header[0] : header;
    if (!signature) return null;
    let event: Stripe.Event | null = null;
    for (const secret of this.#webhookSecrets) {
      try {
        event = this.#stripe.webhooks.constructEvent(rawBody, signature, secret, undefined, undefined, this.#nowSeconds() * 1000);
        break;
      } catch {
        // not this endpoint's secret: try the next
      }
    }
    // signed but not an event (JSON null, no id, type or object): refused like a bad signature, never a 5xx
    if (typeof event !== 'object' || event === null || typeof event.id !== 'string' || typeof event.type !== 'string') return null;
    const object = event.data?.object as unknown as Record<string, unknown> | undefined;
    if (typeof object !== 'object' || object === null) return null;
    const base = { id: event.id, type: event.type, createdAt: new Date((typeof event.created === 'number' ? event.created : this.#nowSeconds()) * 1000) };
    // a transfer or account object without the fields we read is no event either (reading it threw: a 5xx)
    if ((event.type === 'transfer.reversed' || event.type === 'transfer.updated') && object.object === 'transfer') {
      return isTransfer(object) ? { ...base, transfer: transferState(object as unknown as Stripe.Transfer) } : null;
    }
    if (event.type === 'account.updated' && object.object === 'account') {
      return isAccount(object) ? { ...base, account: accountState(object as unknown as Stripe.Account) } : null;
    }
    return base;
  }
}

const isAmount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isRecordOrAbsent = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));

/** What transferState reads, with the types it reads them as. */
function isTransfer(o: Record<string, unknown>): boolean {
  const metadata = o.metadata as Record<string, unknown> | null | undefined;
  return (
    typeof o.id === 'string' && isAmount(o.amount) && isAmount(o.amount_reversed) && typeof o.currency === 'string' && /^[A-Za-z]{3}$/.test(o.currency) &&
    isRecordOrAbsent(metadata) && (metadata?.payout_id === undefined || typeof metadata.payout_id === 'string')
  );
}

/** What accountState reads, with the types it reads them as. */
function isAccount(o: Record<string, unknown>): boolean {
  const capabilities = o.capabilities as Record<string, unknown> | null | undefined;
  const requirements = o.requirements as Record<string, unknown> | null | undefined;
  return (
    typeof o.id === 'string' && isRecordOrAbsent(capabilities) && (capabilities?.transfers === undefined || typeof capabilities.transfers === 'string') &&
    isRecordOrAbsent(requirements) && (requirements?.disabled_reason == null || typeof requirements.disabled_reason === 'string')
  );
}

function transferState(t: Stripe.Transfer): TransferState {
  return { ref: t.id, payoutId: t.metadata?.payout_id ?? null, amountMinor: t.amount, currency: t.currency.toUpperCase(), reversedMinor: t.amount_reversed };
}

function accountState(a: Stripe.Account): AccountState {
  const transfers = a.capabilities?.transfers ?? 'missing';
  const disabled = a.requirements?.disabled_reason;
  return { ref: a.id, canReceiveTransfers: transfers === 'active', reason: transfers === 'active' ? null : `transfers capability ${transfers}${disabled ? ` (${disabled})` : ''}` };
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
