// Events the attribution context publishes (through the outbox, in the transaction that wrote the credits).
// CONTRACT: analytics sums the credit deltas into its revenue rollups; earnings turns the commissionable credit into
// commissions. Every amount is a signed delta in minor units, so consumers only ever add them up.

export type AttributionModel = 'last_click' | 'first_click' | 'linear' | 'time_decay' | 'position';

/** One model's share of one line for one tag (a credit, or the reversal of part of one when negative). */
export interface CreditDelta {
  model: AttributionModel;
  modelVersion: number;
  /** The windows the credit was computed under (design.md §7). */
  clickWindowDays: number;
  viewWindowHours: number;
  tagId: string;
  postId: string;
  creatorId: string;
  /** Signed: positive when credited, negative when reversed (refund, cancel) or superseded (recompute). */
  amountMinor: number;
  /** Signed units, pro rata like the amount (a refund of 1 of 2 units reverses half). */
  units: number;
  /** The model's weight for this tag (0..1); informative, the money is amountMinor. */
  weight: number;
}

/** The commission basis: the line's net amount credited under last click (the paying model), frozen at order time. */
export interface CommissionableCredit {
  creatorId: string;
  postId: string;
  tagId: string;
  /** Signed, like CreditDelta.amountMinor. */
  amountMinor: number;
}

interface LineFacts {
  orderId: string;
  lineId: string;
  merchantId: string;
  productId: string;
  accountId: string | null;
  currency: string;
  /** ISO 8601: when the order was placed; reports bucket credits (and their reversals) by this time. */
  orderedAt: string;
}

declare module '../../platform/events' {
  interface EventMap {
    /** A paid order line's credits under every model (empty credits: the line was not attributable). */
    'attribution.line.credited': LineFacts & {
      quantity: number;
      netAmountMinor: number;
      credits: CreditDelta[];
      commissionable: CommissionableCredit | null;
    };
    /** Part or all of a line was refunded or cancelled: every credit is reduced pro rata (negative deltas). */
    'attribution.line.reversed': LineFacts & {
      refundId: string;
      /** ISO 8601: when the money went back. */
      at: string;
      quantity: number;
      netAmountMinor: number;
      credits: CreditDelta[];
      commissionable: CommissionableCredit | null;
      /** The line's original commissionable credit, so a consumer that has not seen the credit yet can still act. */
      originalCommissionable: CommissionableCredit | null;
    };
    /** Analytics credits recomputed under new windows: old credits negated plus new ones (never the commissionable). */
    'attribution.line.recomputed': LineFacts & { credits: CreditDelta[] };
  }
}

export {};
