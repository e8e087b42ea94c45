// Every code identity answers with (email_taken, invalid_credentials, rate_limited, unauthenticated, forbidden,
// validation_failed, invalid_cursor) already has its HTTP status in the platform's ERROR_STATUS table, so nothing
// is registered here. The failure values the service returns:

export type SignUpFailure = { ok: false; code: 'email_taken' };
export type LogInFailure = { ok: false; code: 'invalid_credentials' } | { ok: false; code: 'rate_limited'; retryAfterSeconds: number };
export type ListFailure = { ok: false; code: 'invalid_cursor' };
