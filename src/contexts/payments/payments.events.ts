// Events the payments context publishes (through the outbox, in the transaction of the change).
declare module '../../platform/events' {
  interface EventMap {
    /** The provider holds the amount for the checkout (manual capture): nothing is taken yet. */
    'payments.payment.authorized': { paymentId: string; checkoutId: string; amountMinor: number; currency: string };
    /** Money was taken: `capturedMinor` is the total captured so far. */
    'payments.payment.captured': { paymentId: string; checkoutId: string; capturedMinor: number; currency: string };
    /** The authorization was cancelled; the shopper's hold is released. */
    'payments.payment.voided': { paymentId: string; checkoutId: string };
    /** Money went back: `amountMinor` this time, `refundedMinor` in total. */
    'payments.payment.refunded': { paymentId: string; checkoutId: string; amountMinor: number; refundedMinor: number; currency: string };
    /** The authorization was refused (decline, insufficient funds) or never happened. */
    'payments.payment.failed': { paymentId: string; checkoutId: string; code: string };
  }
}

export {};
