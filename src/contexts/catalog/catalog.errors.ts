import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the catalog, as values; routes turn them into AppErrors with these codes. */
export type CatalogFailure = 'not_found' | 'review_exists' | 'merchant_profile_required' | 'insufficient_stock' | 'stock_limit_exceeded';

export const CATALOG_ERROR_MESSAGES: Record<CatalogFailure, string> = {
  not_found: 'Not found',
  review_exists: 'You have already reviewed this product; edit your review instead',
  merchant_profile_required: 'Create your merchant profile first (PUT /v1/merchants/me)',
  insufficient_stock: 'That would leave less stock than is reserved (or below zero)',
  stock_limit_exceeded: 'That would put more units on hand than a SKU can hold (1,000,000,000)',
};

registerErrorCodes({ review_exists: 409, merchant_profile_required: 409, insufficient_stock: 409, stock_limit_exceeded: 409 });
