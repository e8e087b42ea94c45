/**
 * Errors carry a stable machine code; HTTP status is decided here, in one place.
 * Expected failures inside a context are values (see each context's *.errors.ts); they become an AppError
 * only at the edge, when a route decides the request cannot succeed.
 */
export const ERROR_STATUS = {
  // request shape
  validation_failed: 400,
  malformed_json: 400,
  bad_request: 400,
  request_timeout: 408,
  headers_too_large: 431,
  invalid_cursor: 400,
  unsupported_media_type: 415,
  body_too_large: 413,
  // identity
  unauthenticated: 401,
  invalid_credentials: 401,
  forbidden: 403,
  rate_limited: 429,
  email_taken: 409,
  // generic
  not_found: 404,
  route_not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<string, number>;

export type KnownErrorCode = keyof typeof ERROR_STATUS;

/** Context-specific codes register their status here so the translation still happens in one place. */
const extraStatus = new Map<string, number>();

export function registerErrorCodes(codes: Record<string, number>): void {
  for (const [code, status] of Object.entries(codes)) extraStatus.set(code, status);
}

/** Every code the API can answer with: the platform's and those the contexts registered (the web app words each). */
export function knownErrorCodes(): string[] {
  return [...new Set([...Object.keys(ERROR_STATUS), ...extraStatus.keys()])].sort();
}

export function statusForCode(code: string): number {
  return (ERROR_STATUS as Record<string, number>)[code] ?? extraStatus.get(code) ?? 500;
}

export class AppError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: KnownErrorCode | (string & {}), message: string, details?: unknown) {
    // a refusal (4xx) is an expected answer, not a bug: capturing its stack trace would cost more than the rest of
    // the error (a flash sale answers thousands of sold_out per second); 5xx keep theirs
    const limit = Error.stackTraceLimit;
    if (statusForCode(code) < 500) Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return statusForCode(this.code);
  }
}

/** The body every refusal answers with: `{ error: { code, message, details? } }` (the one JSON shape of errors). */
export function errorBody(err: AppError): { error: { code: string; message: string; details?: unknown } } {
  return { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } };
}

export const notFound = (what: string, id?: string) =>
  new AppError('not_found', id ? `${what} ${id} was not found` : `${what} was not found`, id ? { id } : undefined);
export const forbidden = (message = 'You may not do this') => new AppError('forbidden', message);
export const validation = (message: string, details?: unknown) => new AppError('validation_failed', message, details);
