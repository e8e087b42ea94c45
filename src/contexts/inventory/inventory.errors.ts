import { registerErrorCodes } from '../../platform/errors';

/**
 * Expected failures of inventory, as values (the inventory context has no routes of its own: checkout and orders
 * turn these into AppErrors). Registered here so their HTTP status is decided in one place.
 */
export type InventoryFailure = 'sold_out' | 'insufficient_stock' | 'stock_limit_exceeded' | 'not_held';

registerErrorCodes({ sold_out: 409, insufficient_stock: 409, stock_limit_exceeded: 409, not_held: 409 });

/** The most units one SKU can have on hand (an adjustment past it is refused with `stock_limit_exceeded`). */
export const MAX_ON_HAND = 1_000_000_000;
