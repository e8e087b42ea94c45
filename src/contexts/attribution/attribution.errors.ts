import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the attribution context. */
export type AttributionFailure = 'invalid_range' | 'order_not_found' | 'recompute_job_not_found';

export const ATTRIBUTION_ERROR_MESSAGES: Record<AttributionFailure, string> = {
  invalid_range: '`from` must be before `to`: the range [from, to) holds no time otherwise',
  order_not_found: 'No order has this id',
  recompute_job_not_found: 'No recompute job has this id',
};

registerErrorCodes({ invalid_range: 400, order_not_found: 404, recompute_job_not_found: 404 });
