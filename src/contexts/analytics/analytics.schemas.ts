import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';

// The HTTP types of the analytics context: ingest of client events and the reports (contract with the web app).

const strict = { additionalProperties: false } as const;
// a union of string literals whose static type is the union (TypeBox cannot infer it from a mapped array)
const lit = <T extends string>(xs: readonly T[]) => Type.Unsafe<T>(Type.Union(xs.map((x) => Type.Literal(x))));

export const CLIENT_EVENT_TYPES = ['impression', 'tag_tap', 'product_view', 'add_to_cart', 'checkout_started'] as const;
export type ClientEventType = (typeof CLIENT_EVENT_TYPES)[number];
export const MAX_BATCH = 500;

/** One client event; checked one by one so a bad event is rejected alone, not the batch. */
export const ClientEvent = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Client-generated, unique per event: a retried batch is not counted twice' }),
    type: lit(CLIENT_EVENT_TYPES),
    at: Type.String({ minLength: 10, maxLength: 40, description: 'ISO 8601; refused when more than 7 days old or 5 minutes ahead' }),
    referralToken: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    postId: Type.Optional(Type.String({ pattern: idPattern('post') })),
    productId: Type.Optional(Type.String({ pattern: idPattern('product') })),
    skuId: Type.Optional(Type.String({ pattern: idPattern('variant') })),
  },
  strict,
);
export type ClientEvent = Static<typeof ClientEvent>;

export const EventBatch = Type.Object(
  {
    events: Type.Array(Type.Unknown({ description: 'A ClientEvent' }), {
      minItems: 1,
      maxItems: MAX_BATCH,
      description: `Up to ${MAX_BATCH} events: { id, type (${CLIENT_EVENT_TYPES.join(', ')}), at, referralToken?, postId?, productId?, skuId? }`,
    }),
  },
  strict,
);

export const REJECT_CODES = ['invalid_event', 'missing_subject', 'time_out_of_range'] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

export const IngestAnswer = Type.Object({
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Array(Type.Object({ index: Type.Integer(), code: lit(REJECT_CODES) })),
});
export type IngestAnswer = Static<typeof IngestAnswer>;

// ---- reports

export const MODELS = ['last_click', 'first_click', 'linear', 'time_decay', 'position'] as const;
export const DIMENSIONS = ['post', 'creator', 'product', 'merchant'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

const rangeFields = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Default: 30 days before `to` (not before 1970-01-01). 1970-01-01T00:00:00Z at the earliest, else 400' })),
  to: Type.Optional(
    Type.String({ format: 'date-time', description: 'Exclusive (consecutive ranges neither overlap nor leave a gap); default: now, included. 2149-06-07T00:00:00Z at the latest, else 400' }),
  ),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { description: 'csv: a text/csv download' })),
};

export const TopQuery = Type.Object(
  {
    ...rangeFields,
    dimension: lit(DIMENSIONS),
    metric: Type.Optional(lit(['revenue', 'orders', 'units'] as const)),
    model: Type.Optional(lit(MODELS)),
    currency: Type.Optional(
      Type.String({
        pattern: '^[A-Z]{3}$',
        description: 'Only this currency (ISO 4217). Without it, every currency is ranked on its own (see `currencies`): amounts in different currencies are never added or compared',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Items per currency on a page' }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The `nextCursor` of the previous page; another is 400 `invalid_cursor`' })),
  },
  strict,
);
export type TopQuery = Static<typeof TopQuery>;

export const FunnelQuery = Type.Object(
  {
    ...rangeFields,
    by: lit(['post', 'creator'] as const),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The `nextCursor` of the previous page; another is 400 `invalid_cursor`' })),
  },
  strict,
);
export type FunnelQuery = Static<typeof FunnelQuery>;

export const TimeseriesQuery = Type.Object(
  {
    ...rangeFields,
    granularity: Type.Optional(lit(['day', 'hour'] as const)),
    dimension: Type.Optional(lit(DIMENSIONS)),
    id: Type.Optional(Type.String({ pattern: '^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$', description: 'An id of the dimension’s kind (pst_, cre_, prd_, mer_); another kind is 400' })),
    model: Type.Optional(lit(MODELS)),
  },
  strict,
);
export type TimeseriesQuery = Static<typeof TimeseriesQuery>;

const Figures = {
  currency: Type.String({ description: 'Figures are per currency: amounts in different currencies are never added up' }),
  revenueMinor: Type.Integer({ description: 'Sum of credited amounts under the model, minor units' }),
  orders: Type.Integer({ description: 'Distinct orders with credit' }),
  units: Type.Number({ description: 'Credited units (fractional when a model splits a line)' }),
};

// what the figures cover, which can be wider than what was asked: day reports read whole UTC days
const Covered = {
  from: Type.String({ description: 'Start of what the figures cover (inclusive): for day reports the UTC midnight starting `from`’s day' }),
  to: Type.String({ description: 'End of what the figures cover (exclusive): for day reports the UTC midnight ending the last day read' }),
};
const NextCursor = Type.Union([Type.String(), Type.Null()], { description: 'Send as `cursor` (same query) for the next page; null on the last page' });

export const TopReport = Type.Object({
  dimension: Type.String(),
  metric: Type.String(),
  model: Type.String(),
  currency: Type.Optional(Type.String({ description: 'The currency asked for, when one was' })),
  currencies: Type.Array(Type.String(), {
    description: 'The currencies in `items`, in order; each is ranked on its own (`rank`, `limit` per currency), as minor units of different currencies are not comparable',
  }),
  ...Covered,
  items: Type.Array(Type.Object({ rank: Type.Integer({ description: 'Place within its currency (1 = first), across pages' }), id: Type.String(), ...Figures })),
  nextCursor: NextCursor,
});
export type TopReport = Static<typeof TopReport>;

const Rate = Type.Union([Type.Number(), Type.Null()], { description: 'Fraction of the previous step; null when it was 0' });
const FunnelFigures = {
  impressions: Type.Integer(),
  taps: Type.Integer(),
  views: Type.Integer(),
  carts: Type.Integer(),
  checkouts: Type.Integer(),
  purchases: Type.Integer(),
  rates: Type.Object({ tap: Rate, view: Rate, cart: Rate, checkout: Rate, purchase: Rate }),
};
export const FunnelReport = Type.Object({
  by: Type.String(),
  ...Covered,
  items: Type.Array(Type.Object({ id: Type.String(), ...FunnelFigures })),
  totals: Type.Object(FunnelFigures, { description: 'Every id in scope, whichever page' }),
  nextCursor: NextCursor,
});
export type FunnelReport = Static<typeof FunnelReport>;

export const TimeseriesReport = Type.Object({
  granularity: Type.String(),
  model: Type.String(),
  ...Covered,
  points: Type.Array(Type.Object({ t: Type.String(), ...Figures })),
});
export type TimeseriesReport = Static<typeof TimeseriesReport>;
