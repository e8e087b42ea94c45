import { registerErrorCodes } from '../../platform/errors';

/** The social context's own error codes and their HTTP statuses (registered once, at module load). */
export const SOCIAL_ERRORS = {
  handle_taken: 409,
  creator_profile_required: 409,
  cannot_follow_self: 400,
  unknown_product: 400,
  too_many_tags: 409,
  /** A product is tagged at most once on a post (among its active tags), whether at creation or added later. */
  duplicate_tag: 409,
} as const;

registerErrorCodes(SOCIAL_ERRORS);

export type SocialErrorCode = keyof typeof SOCIAL_ERRORS | 'not_found' | 'forbidden' | 'invalid_cursor';

export type Result<T, C extends SocialErrorCode = SocialErrorCode> =
  | ({ ok: true } & T)
  | { ok: false; code: C; message: string; details?: unknown };

export const fail = <C extends SocialErrorCode>(code: C, message: string, details?: unknown) =>
  ({ ok: false as const, code, message, ...(details !== undefined ? { details } : {}) });
