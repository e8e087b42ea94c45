// Events the inventory context publishes (through the outbox, in the transaction of the change).
declare module '../../platform/events' {
  interface EventMap {
    /** On-hand or reserved changed for a SKU. */
    'inventory.stock.changed': { skuId: string; onHand: number; reserved: number; available: number };
    /** A change left a SKU with nothing available (it had some before). */
    'inventory.sku.sold_out': { skuId: string };
  }
}

export {};
