import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the attribution context. */
export type AttributionFailure = 'invalid_range';

export const ATTRIBUTION_ERROR_MESSAGES: Record<AttributionFailure, string> = {
  invalid_range: '`from` must be before `to`',
};

registerErrorCodes({ invalid_range: 400 });
