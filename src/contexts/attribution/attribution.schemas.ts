import { Type } from 'typebox';
import { idPattern } from '../../platform/ids';
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

const Iso = (description: string) => Type.String({ format: 'date-time', description });

export const FlagsQuery = Type.Object(
  { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 365, default: 30, description: 'How many UTC days of counts, today included (1: today alone)' })) },
  { additionalProperties: false },
);

export const FlagsResponse = Type.Object(
  {
    counts: Type.Array(
      Type.Object(
        {
          day: Type.String({ description: 'UTC day (YYYY-MM-DD); for exclusions the day the order was placed' }),
          reason: Type.String({ description: 'self_referral, bot, flood, expired_token, inactive_tag, or invalid_token:<reason>' }),
          count: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    floodedDevices: Type.Array(
      Type.Object({ deviceId: Type.String(), minute: Iso('The flooded minute'), touches: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      { description: 'Most recent first; touches of these devices in these minutes are never credited' },
    ),
    flaggedLines: Type.Array(
      Type.Object(
        { orderId: Type.String(), lineId: Type.String(), orderedAt: Iso('When the order was placed'), reasons: Type.Record(Type.String(), Type.Integer({ minimum: 0 })) },
        { additionalProperties: false },
      ),
      { description: 'Order lines that had touches left out by a fraud guard, most recent first' },
    ),
  },
  { additionalProperties: false },
);

export const RecomputeBody = Type.Object(
  {
    from: Iso('Lines ordered at or after this time'),
    to: Iso('Lines ordered before this time'),
    clickWindowDays: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 365 })),
    viewWindowHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 8760 })),
  },
  { additionalProperties: false },
);

/** Recompute job ids: `rcj_` and a ULID, like every id (platform/ids.ts). */
const RECOMPUTE_JOB_ID = idPattern('recomputeJob');
const IsoOrNull = (description: string) => Type.Union([Iso(description), Type.Null()]);

export const RecomputeJobView = Type.Object(
  {
    id: Type.String({ pattern: RECOMPUTE_JOB_ID }),
    status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')], {
      description: 'queued until a worker claims it; running (also while it waits to be taken over after its runner stopped); succeeded or failed',
    }),
    from: Iso('Lines ordered at or after this time'),
    to: Iso('Lines ordered before this time'),
    windows: Type.Object({ clickWindowDays: Type.Number(), viewWindowHours: Type.Number() }, { additionalProperties: false }),
    linesDone: Type.Integer({ minimum: 0, description: 'Lines recomputed so far (committed pages)' }),
    linesTotal: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Lines in the range when the job started; null until then' }),
    recomputed: Type.Integer({ minimum: 0, description: 'Lines whose analytics credits changed (a new revision)' }),
    attempts: Type.Integer({ minimum: 0, description: 'Times a worker claimed the job (a take-over counts again); it fails after 5' }),
    requestedBy: Type.Union([Type.String(), Type.Null()], { description: 'The admin account that asked for it' }),
    createdAt: Iso('When it was asked for'),
    startedAt: IsoOrNull('When a worker first claimed it'),
    finishedAt: IsoOrNull('When it succeeded or failed'),
    error: Type.Union([Type.String(), Type.Null()], { description: 'Why it failed, or why its last attempt did while it is retried' }),
  },
  { additionalProperties: false },
);

export const RecomputeJobParams = Type.Object({ jobId: Type.String({ pattern: RECOMPUTE_JOB_ID }) }, { additionalProperties: false });

export const RecomputeJobsQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'How many of the most recent jobs' })) },
  { additionalProperties: false },
);

export const RecomputeJobList = Type.Object({ items: Type.Array(RecomputeJobView, { description: 'Newest first' }) }, { additionalProperties: false });

export const OrderIdParams = Type.Object({ id: Type.String({ pattern: idPattern('order') }) }, { additionalProperties: false });

const Credit = Type.Object(
  {
    model: Type.String(),
    modelVersion: Type.Integer(),
    clickWindowDays: Type.Number(),
    viewWindowHours: Type.Number(),
    tagId: Type.String(),
    postId: Type.String(),
    creatorId: Type.String(),
    amountMinor: Type.Integer({ minimum: 0 }),
    units: Type.Number({ minimum: 0 }),
    weight: Type.Number(),
    reversedMinor: Type.Integer({ minimum: 0 }),
    reversedUnits: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const OrderAttributionResponse = Type.Object(
  {
    orderId: Type.String(),
    lines: Type.Array(
      Type.Object(
        {
          lineId: Type.String(),
          productId: Type.String(),
          orderedAt: Iso('When the order was placed (T)'),
          quantity: Type.Integer(),
          netAmountMinor: Type.Integer(),
          refundedQuantity: Type.Integer(),
          refundedNetMinor: Type.Integer(),
          revision: Type.Integer(),
          flags: Type.Record(Type.String(), Type.Integer()),
          commissionable: Type.Union([
            Type.Object(
              { creatorId: Type.String(), postId: Type.String(), tagId: Type.String(), amountMinor: Type.Integer(), reversedMinor: Type.Integer() },
              { additionalProperties: false },
            ),
            Type.Null(),
          ]),
          credits: Type.Array(Credit),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
