import { type FormEvent } from 'react';
import { formatMoney, messageFor, type CheckoutView } from '../api';
import { track } from '../events';
import { ErrorNote, useKeptKeyCall } from '../ui';

/**
 * Failures after which the same attempt is retried with the same key: the first request may still complete. Not
 * checkout's 503 payment_unavailable: that attempt is failed and undone (nothing charged, stock back), and its key
 * would replay the 503 for ever, even once the provider answers again.
 */
const RETRY_SAME_KEY = new Set(['network', 'idempotency_in_progress']);

export interface PayDetails {
  paymentMethod: string;
  shipping: { name: string; line1: string; city: string; postalCode: string; country: string };
}

/**
 * Card and address, then one money-moving call under an Idempotency-Key. A double click or a retry after a dropped
 * connection reuses the key, so the shopper is never charged twice.
 */
/** What a checkout_started event says a line came from (the funnel counts checkouts per post and creator). */
export type CheckoutSubject = { postId?: string; productId?: string; referralToken?: string };

export function PayForm({
  totalLabel,
  pay,
  onPaid,
  subjects = [],
  focusFirst = false,
  attempt = '',
}: {
  totalLabel?: string;
  pay(details: PayDetails, key: string): Promise<CheckoutView>;
  onPaid(r: CheckoutView): void;
  /** The referred lines being paid for: one checkout_started each (one plain event when none was referred). */
  subjects?: CheckoutSubject[];
  /** Put focus in the card field on mount (the sheet's "Buy now" button it replaces would leave focus nowhere). */
  focusFirst?: boolean;
  /** What else the request carries (the sheet's quantity): a change makes a new attempt, with a new key. */
  attempt?: string;
}) {
  const { busy, error, run } = useKeptKeyCall(RETRY_SAME_KEY);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (busy) return;
    const f = new FormData(e.currentTarget);
    const get = (n: string) => String(f.get(n) ?? '').trim();
    const details: PayDetails = {
      paymentMethod: get('card').replace(/\s+/g, ''),
      shipping: { name: get('name'), line1: get('line1'), city: get('city'), postalCode: get('postalCode'), country: get('country').toUpperCase() },
    };
    if (subjects.length === 0) track('checkout_started');
    for (const subject of subjects) track('checkout_started', subject);
    // the same key only for the same attempt: a changed card or address is a new attempt (the server refuses a
    // reused key with a different body)
    const result = await run(JSON.stringify([details, attempt]), (key) => pay(details, key));
    if (result) onPaid(result);
  };
  return (
    <form className="pay" onSubmit={(e) => void submit(e)} aria-busy={busy}>
      <fieldset disabled={busy}>
        <legend>Payment and delivery</legend>
        <label>
          Card number
          <input name="card" inputMode="numeric" autoComplete="cc-number" required minLength={12} defaultValue="" aria-describedby="card-hint" autoFocus={focusFirst} />
        </label>
        <p id="card-hint" className="hint">
          Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined.
        </p>
        <label>
          Full name
          <input name="name" autoComplete="name" required defaultValue="" />
        </label>
        <label>
          Address
          <input name="line1" autoComplete="address-line1" required />
        </label>
        <div className="row">
          <label>
            City
            <input name="city" autoComplete="address-level2" required />
          </label>
          <label>
            Postal code
            <input name="postalCode" autoComplete="postal-code" required />
          </label>
          <label>
            Country
            <input name="country" autoComplete="country" required defaultValue="US" pattern="[A-Za-z]{2}" maxLength={2} size={3} />
          </label>
        </div>
      </fieldset>
      {error && <ErrorNote>{error}</ErrorNote>}
      <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
        {busy ? 'Paying…' : `Pay${totalLabel ? ` ${totalLabel}` : ''}`}
      </button>
    </form>
  );
}

export function paidSentence(r: CheckoutView): string {
  return `Payment accepted: ${formatMoney(r.totalMinor, r.currency)}. Order ${r.orders.map((o) => o.id).join(', ')} placed.`;
}

export { messageFor };
