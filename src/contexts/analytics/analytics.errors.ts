import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the analytics context, as values; routes turn them into AppErrors with these codes. */
export type AnalyticsFailure = 'invalid_range';

export const ANALYTICS_ERROR_MESSAGES: Record<AnalyticsFailure, string> = {
  invalid_range: '`from` must be before `to`, and the range at most 366 days',
};

registerErrorCodes({ invalid_range: 400 });
