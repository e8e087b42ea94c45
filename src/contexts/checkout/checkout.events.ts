// Analytics facts of every checkout step, published through the outbox in the transaction of the step.

/** The priced lines and amounts every checkout event carries (server prices, never the client's). */
export interface CheckoutEventBase {
  checkoutId: string;
  accountId: string | null;
  deviceId: string;
  source: 'cart' | 'buy_now';
  currency: string;
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
  lines: Array<{
    skuId: string;
    productId: string;
    merchantId: string;
    quantity: number;
    unitPriceMinor: number;
    netAmountMinor: number;
    taxMinor: number;
    tagId: string | null;
    creatorId: string | null;
  }>;
}

declare module '../../platform/events' {
  interface EventMap {
    /** A checkout was accepted and its lines priced. */
    'checkout.checkout.started': CheckoutEventBase;
    /** Stock for every line is held for the checkout. */
    'checkout.checkout.stock_reserved': CheckoutEventBase;
    /** The payment for the whole checkout is authorized (not yet captured). */
    'checkout.checkout.payment_authorized': CheckoutEventBase & { paymentId: string };
    /** The provider declined the payment. */
    'checkout.checkout.payment_declined': CheckoutEventBase & { reason: string };
    /** Orders exist and the payment is captured. */
    'checkout.checkout.completed': CheckoutEventBase & { paymentId: string; orderIds: string[] };
    /** The checkout ended without orders; every earlier step is (being) undone. */
    'checkout.checkout.failed': CheckoutEventBase & { reason: string };
  }
}

export {};
