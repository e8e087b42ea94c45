import { registerErrorCodes } from '../../platform/errors';

/** Expected failures of the analytics context, as values; routes turn them into AppErrors with these codes. */
export type AnalyticsFailure = 'invalid_range' | 'analytics_unavailable';

export const ANALYTICS_ERROR_MESSAGES: Record<AnalyticsFailure, string> = {
  invalid_range: '`from` must be before `to`, and the range at most 366 days',
  analytics_unavailable: 'The analytics store cannot be reached right now; try again shortly',
};

registerErrorCodes({ invalid_range: 400, analytics_unavailable: 503 });
