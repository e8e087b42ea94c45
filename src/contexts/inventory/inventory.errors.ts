import { registerErrorCodes } from '../../platform/errors';

/**
 * Expected failures of inventory, as values (the inventory context has no routes of its own: checkout and orders
 * turn these into AppErrors). Registered here so their HTTP status is decided in one place.
 */
export type InventoryFailure = 'sold_out' | 'insufficient_stock' | 'not_held';

registerErrorCodes({ sold_out: 409, insufficient_stock: 409, not_held: 409 });
