// Events the earnings context publishes (through the outbox, in the transaction that settled the payout).

export interface PayoutEventPayload {
  payoutId: string;
  creatorId: string;
  currency: string;
  amountMinor: number;
  provider: 'simulated' | 'stripe';
  trigger: 'scheduled' | 'on_demand';
  /** ISO 8601: when the payout settled. */
  at: string;
}

declare module '../../platform/events' {
  interface EventMap {
    /** The provider confirmed the transfer: the amount moved to paid. */
    'earnings.payout.sent': PayoutEventPayload & { providerRef: string };
    /** The provider refused the transfer: the amount is available again. */
    'earnings.payout.failed': PayoutEventPayload & { failureCode: string };
    /**
     * The provider reversed (part of) a sent transfer: `reversedMinor` moved from paid back to available, in the
     * transaction that booked it; `totalReversedMinor` is the transfer's cumulative reversed amount (= amountMinor
     * when wholly reversed, and the payout's status is then `reversed`).
     */
    'earnings.payout.reversed': PayoutEventPayload & { providerRef: string; reversedMinor: number; totalReversedMinor: number };
  }
}

export {};
