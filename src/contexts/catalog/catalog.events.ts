// Events the catalog context publishes (through the outbox, in the transaction of the change).
declare module '../../platform/events' {
  interface EventMap {
    /** A product, its variants, media or rating changed (anything a card or the product sheet shows). */
    'catalog.product.updated': { productId: string; merchantId: string };
  }
}

export {};
