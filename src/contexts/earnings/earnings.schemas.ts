import { Type } from 'typebox';
import { idPattern } from '../../platform/ids';

// The HTTP types of the earnings context: each schema validates input, serializes output and documents the API.

const strict = { additionalProperties: false } as const;
const DateTime = Type.String({ format: 'date-time' });
const Minor = Type.Integer({ description: 'Integer minor units (1299 = 12.99)' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217' });
const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Opaque; from the previous page' }));
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20 });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const RateBps = Type.Integer({ minimum: 0, maximum: 10_000, description: 'Basis points of the line\'s net amount (1000 = 10%)' });

// ---- inputs

export const NoQuery = Type.Object({}, strict);
export const PageQuery = Type.Object({ cursor: Cursor, limit: Limit }, strict);
export const PayoutStatusSchema = Type.Union([Type.Literal('processing'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('reversed')], {
  description: 'reversed: the provider took the whole transfer back (a partly reversed payout stays sent; see reversedMinor)',
});
export const AdminPayoutsQuery = Type.Object(
  { creatorId: Type.Optional(Type.String({ pattern: idPattern('creator') })), status: Type.Optional(PayoutStatusSchema), cursor: Cursor, limit: Limit },
  strict,
);
export const CreatorParams = Type.Object({ creatorId: Type.String({ pattern: idPattern('creator') }) }, strict);
export const ReconcileQuery = Type.Object({ creatorId: Type.Optional(Type.String({ pattern: idPattern('creator') })) }, strict);
export const PayoutInput = Type.Object({ currency: Currency }, strict);
export const PayoutAccountInput = Type.Object(
  { accountId: Type.String({ pattern: '^acct_[A-Za-z0-9]{1,64}$', description: 'Your Stripe connected account id (acct_…)' }) },
  strict,
);
export const MonthParams = Type.Object({ month: Type.String({ minLength: 1, maxLength: 20, description: 'YYYY-MM (UTC)' }) }, strict);
export const ProductParams = Type.Object({ productId: Type.String({ pattern: idPattern('product') }) }, strict);
export const MerchantRuleInput = Type.Object(
  { rateBps: Type.Union([RateBps, Type.Null()], { description: 'null removes your default: the platform default applies' }) },
  strict,
);
export const ProductRuleInput = Type.Object({ rateBps: RateBps }, strict);
export const PayoutParams = Type.Object({ payoutId: Type.String({ pattern: idPattern('payout') }) }, strict);
// a maximum also refuses what JSON reads as Infinity (1e400), which passes as an integer otherwise
export const PayoutReversalInput = Type.Object(
  { amountMinor: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'What to take back of the transfer, in minor units' }) },
  strict,
);
export const WebhookParams = Type.Object({ provider: Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$', description: 'stripe (the configured payout provider)' }) }, strict);
/** The raw JSON body exactly as signed by the provider (verified byte for byte, then parsed). */
export const WebhookBody = Type.String({ description: 'The provider event, raw JSON as signed' });

// ---- outputs

export const BalanceView = Type.Object({
  currency: Type.String(),
  pendingMinor: Minor,
  availableMinor: Type.Integer({ description: 'Signed: negative when refunds after a payout are still to be netted' }),
  inTransitMinor: Minor,
  paidMinor: Minor,
  negativeCarryMinor: Minor,
});
export const EarningsView = Type.Object({ balances: Type.Array(BalanceView), nextPayoutAt: DateTime, minimumPayoutMinor: Minor });

const EntryKind = Type.Union([
  Type.Literal('commission'),
  Type.Literal('reversal'),
  Type.Literal('release'),
  Type.Literal('payout'),
  Type.Literal('payout_paid'),
  Type.Literal('payout_failed'),
  Type.Literal('payout_reversed'),
]);
const BucketSchema = Type.Union([Type.Literal('pending'), Type.Literal('available'), Type.Literal('in_transit'), Type.Literal('paid')]);
export const LedgerEntryView = Type.Object({
  id: Type.String(),
  kind: EntryKind,
  bucket: BucketSchema,
  currency: Type.String(),
  amountMinor: Minor,
  commissionId: Nullable(Type.String()),
  orderId: Nullable(Type.String()),
  payoutId: Nullable(Type.String()),
  createdAt: DateTime,
});
export const LedgerPage = Type.Object({ items: Type.Array(LedgerEntryView), nextCursor: Nullable(Type.String()) });

export const PayoutView = Type.Object({
  id: Type.String(),
  creatorId: Type.String(),
  currency: Type.String(),
  amountMinor: Minor,
  status: PayoutStatusSchema,
  trigger: Type.Union([Type.Literal('scheduled'), Type.Literal('on_demand')]),
  provider: Type.Union([Type.Literal('simulated'), Type.Literal('stripe')]),
  providerRef: Nullable(Type.String()),
  failureCode: Nullable(Type.String()),
  reversedMinor: Type.Integer({ description: 'What the provider reversed of the transfer (back to available); 0 if nothing' }),
  createdAt: DateTime,
  settledAt: Nullable(DateTime),
});
export const PayoutPage = Type.Object({ items: Type.Array(PayoutView), nextCursor: Nullable(Type.String()) });

export const PayoutAccountView = Type.Object({
  provider: Type.Union([Type.Literal('simulated'), Type.Literal('stripe')]),
  accountId: Type.String(),
  canReceiveTransfers: Type.Boolean({ description: 'false: the provider reported the account cannot receive transfers; payouts wait' }),
  restrictedReason: Nullable(Type.String({ description: 'why, when it cannot (e.g. "transfers capability inactive")' })),
  updatedAt: DateTime,
});
export const WebhookAck = Type.Object(
  { received: Type.Boolean(), duplicate: Type.Boolean({ description: 'true when this event was already received: nothing changed' }) },
  strict,
);
export const StatementList = Type.Object({ items: Type.Array(Type.Object({ month: Type.String(), entries: Type.Integer(), url: Type.String() })) });
export const StatementCsv = Type.String({ description: 'text/csv: opening balances, the month\'s entries, closing balances' });

export const CommissionRulesView = Type.Object({
  defaultBps: RateBps,
  merchantRateBps: Type.Union([RateBps, Type.Null()]),
  products: Type.Array(Type.Object({ productId: Type.String(), rateBps: RateBps, effectiveAt: DateTime })),
});

export const ReconcileView = Type.Object({
  ok: Type.Boolean(),
  discrepancies: Type.Array(
    Type.Object({
      check: Type.String(),
      creatorId: Type.String(),
      currency: Nullable(Type.String()),
      subject: Nullable(Type.String()),
      expectedMinor: Minor,
      actualMinor: Minor,
    }),
  ),
});
