import { Type } from 'typebox';
import type { InvalidTokenReason } from './index';

/** Every reason a referral token is refused; the admin report lists each, zero included. */
export const INVALID_TOKEN_REASONS = ['malformed', 'bad_signature', 'unknown_key', 'unsupported_version', 'product_mismatch'] as const satisfies readonly InvalidTokenReason[];

export const InvalidTokenCountsQuery = Type.Object({}, { additionalProperties: false });

export const InvalidTokenCountsResponse = Type.Object(
  {
    byReason: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
      description: 'Invalid referral tokens seen, all time, by reason',
    }),
  },
  { additionalProperties: false },
);
