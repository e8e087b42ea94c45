import { registerErrorCodes } from '../../platform/errors';

/** The media context's own error codes and their HTTP statuses (registered once, at module load). */
export const MEDIA_ERRORS = {
  /** The file's first bytes are not the format its Content-Type declares. */
  media_type_mismatch: 400,
  /** An upload with no bytes. */
  empty_body: 400,
  /** The upload would take the account past its quota (config mediaQuotaBytes). */
  media_quota_exceeded: 409,
  /** A delete of a file that the owner's live posts or stories, or products, still show (`details: { postIds, productIds }`). */
  media_in_use: 409,
  /** A Range that starts past the end of the file. */
  range_not_satisfiable: 416,
} as const;

registerErrorCodes(MEDIA_ERRORS);

/** Expected failures of an upload, as values; the route turns them into AppErrors with these codes. */
export type UploadFailure = { code: 'media_type_mismatch' | 'empty_body' | 'unsupported_media_type' | 'body_too_large' | 'media_quota_exceeded'; message: string; details?: unknown };

/** Expected failures of a delete: not the caller's to delete (or no such file), or still shown somewhere. */
export type RemoveFailure =
  | { code: 'not_found' }
  | { code: 'media_in_use'; message: string; details: { postIds: string[]; productIds: string[] } };
