import type { FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { requirePrincipal } from '../../platform/auth';
import { AppError } from '../../platform/errors';
import { errorResponses, withRawJsonBodies, type App } from '../../platform/http';
import { idempotencyScope, replyIdempotent, requireIdempotencyKey, RetryLater, withIdempotency, type IdempotencyDeps } from '../../platform/idempotency';
import type { CatalogService } from '../catalog';
import type { SocialService } from '../social';
import { EARNINGS_ERROR_MESSAGES } from './earnings.errors';
import {
  AdminPayoutsQuery,
  CommissionRulesView,
  CreatorParams,
  EarningsView,
  LedgerPage,
  MerchantRuleInput,
  MonthParams,
  NoQuery,
  PageQuery,
  PayoutAccountInput,
  PayoutAccountView,
  PayoutInput,
  PayoutPage,
  PayoutParams,
  PayoutReversalInput,
  PayoutView,
  ProductParams,
  ProductRuleInput,
  ReconcileQuery,
  ReconcileView,
  StatementCsv,
  StatementList,
  WebhookAck,
  WebhookBody,
  WebhookParams,
} from './earnings.schemas';
import type { EarningsServiceImpl, Result } from './earnings.service';

const tags = ['earnings'];
const CREATOR = ['creator'] as const;
const MERCHANT = ['merchant'] as const;
const ADMIN = ['admin'] as const;

/** A failed service result becomes the AppError whose code decides the HTTP status. */
function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  const message = r.code === 'invalid_cursor' ? 'The cursor is not valid' : EARNINGS_ERROR_MESSAGES[r.code];
  throw new AppError(r.code, message, r.details);
}

export interface EarningsRouteDeps extends IdempotencyDeps {
  social: Pick<SocialService, 'getCreatorByAccount'>;
  catalog: Pick<CatalogService, 'getMerchantByAccount'>;
}

export async function earningsRoutes(app: App, service: EarningsServiceImpl, deps: EarningsRouteDeps): Promise<void> {
  /** The caller's own creator id: a creator only ever reads and moves their own earnings. */
  async function creatorId(request: FastifyRequest): Promise<string> {
    const creator = await deps.social.getCreatorByAccount(requirePrincipal(request).accountId);
    if (!creator) throw new AppError('creator_profile_required', EARNINGS_ERROR_MESSAGES.creator_profile_required);
    return creator.id;
  }
  async function merchantId(request: FastifyRequest): Promise<string> {
    const merchant = await deps.catalog.getMerchantByAccount(requirePrincipal(request).accountId);
    if (!merchant) throw new AppError('merchant_profile_required', EARNINGS_ERROR_MESSAGES.merchant_profile_required);
    return merchant.id;
  }

  // ---- creators: their own earnings, ledger, payouts and statements

  app.get(
    '/creator/earnings',
    {
      config: { auth: CREATOR },
      schema: { tags, summary: 'My balances per currency (pending, available, in transit, paid), next payout and minimum', querystring: NoQuery, response: { 200: EarningsView, ...errorResponses(401, 403, 409) } },
    },
    async (request) => service.summary(await creatorId(request)),
  );

  app.get(
    '/creator/earnings/ledger',
    {
      config: { auth: CREATOR },
      schema: { tags, summary: 'My ledger entries, newest first (keyset pages)', querystring: PageQuery, response: { 200: LedgerPage, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request) => unwrap(await service.ledger(await creatorId(request), request.query)),
  );

  app.get(
    '/creator/payouts',
    {
      config: { auth: CREATOR },
      schema: { tags, summary: 'My payouts, newest first', querystring: PageQuery, response: { 200: PayoutPage, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request) => unwrap(await service.payouts({ creatorId: await creatorId(request), ...request.query })),
  );

  app.post(
    '/creator/payouts',
    {
      config: { auth: CREATOR },
      schema: {
        tags,
        summary: 'Pay out my whole available balance in one currency now',
        description:
          'Required: `Idempotency-Key` header (a retry with the same key answers the first result). 201 when the provider confirmed the ' +
          'transfer, 202 when its answer is pending (the payout settles in the background), 422 `payout_below_minimum` under the minimum.',
        body: PayoutInput,
        response: { 201: PayoutView, 202: PayoutView, ...errorResponses(400, 401, 403, 409, 422, 502) },
      },
    },
    async (request, reply) => {
      const key = requireIdempotencyKey(request);
      const id = await creatorId(request);
      const answer = await withIdempotency(deps, { scope: idempotencyScope(request), key, request: { action: 'earnings.payout', body: request.body } }, async () => {
        const r = await service.requestPayout(id, request.body.currency);
        // another payout is in flight: an answer about that moment, not this request's result, so a retry with the
        // key runs again (Stripe keeps no result for a request that conflicted with a concurrent one)
        if (!r.ok && r.code === 'payout_in_progress') throw new RetryLater(new AppError(r.code, EARNINGS_ERROR_MESSAGES[r.code], r.details));
        const payout = unwrap(r);
        if (payout.status === 'failed') throw new AppError('payout_failed', EARNINGS_ERROR_MESSAGES.payout_failed, { payoutId: payout.id });
        return { status: payout.status === 'sent' ? 201 : 202, body: payout };
      }).catch((e: unknown) => {
        throw e instanceof RetryLater ? e.appError : e;
      });
      if (answer.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(answer.status as 201 | 202).send(answer.body as Static<typeof PayoutView>);
    },
  );

  app.get(
    '/creator/payout-account',
    {
      config: { auth: CREATOR },
      schema: {
        tags,
        summary: 'My registered payout account, or { account: null } until I register one',
        description:
          'The account as PUT answers it once one is registered; until then 200 `{ "account": null }` (not a 404, which a browser logs as an error on every visit to the earnings page).',
        querystring: NoQuery,
        response: {
          200: Type.Union([PayoutAccountView, Type.Object({ account: Type.Null({ description: 'no payout account registered yet' }) }, { additionalProperties: false })]),
          ...errorResponses(401, 403, 409),
        },
      },
    },
    async (request) => (await service.getPayoutAccount(await creatorId(request))) ?? { account: null },
  );

  app.put(
    '/creator/payout-account',
    {
      config: { auth: CREATOR },
      schema: {
        tags,
        summary: 'Register my connected account (acct_…); the provider must confirm it can receive transfers',
        body: PayoutAccountInput,
        response: { 200: PayoutAccountView, ...errorResponses(400, 401, 403, 409, 422, 503) },
      },
    },
    async (request) => unwrap(await service.setPayoutAccount(await creatorId(request), request.body.accountId)),
  );

  app.get(
    '/creator/statements',
    {
      config: { auth: CREATOR },
      schema: { tags, summary: 'Months with a statement, newest first', querystring: NoQuery, response: { 200: StatementList, ...errorResponses(401, 403, 409) } },
    },
    async (request) => ({
      items: (await service.statementMonths(await creatorId(request))).map((m) => ({ ...m, url: `/v1/creator/statements/${m.month}` })),
    }),
  );

  app.get(
    '/creator/statements/:month',
    {
      config: { auth: CREATOR },
      schema: {
        tags,
        summary: 'My statement of one month (UTC) as a CSV download',
        params: MonthParams,
        querystring: NoQuery,
        response: { 200: StatementCsv, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const csv = unwrap(await service.statementCsv(await creatorId(request), request.params.month));
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="feedshop-statement-${request.params.month}.csv"`)
        .send(csv);
    },
  );

  // ---- merchants: their own commission rules

  app.get(
    '/merchant/commission-rules',
    {
      config: { auth: MERCHANT },
      schema: { tags, summary: 'My commission rates in force (default and per product)', querystring: NoQuery, response: { 200: CommissionRulesView, ...errorResponses(401, 403, 409) } },
    },
    async (request) => service.commissionRules(await merchantId(request)),
  );

  app.put(
    '/merchant/commission-rules',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Set my default commission rate from now on (orders already placed keep their rate)',
        body: MerchantRuleInput,
        response: { 200: CommissionRulesView, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => unwrap(await service.setCommissionRule(await merchantId(request), null, request.body.rateBps)),
  );

  app.put(
    '/merchant/commission-rules/products/:productId',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Set the commission rate of one of my products from now on',
        params: ProductParams,
        body: ProductRuleInput,
        response: { 200: CommissionRulesView, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.setCommissionRule(await merchantId(request), request.params.productId, request.body.rateBps)),
  );

  app.delete(
    '/merchant/commission-rules/products/:productId',
    {
      config: { auth: MERCHANT },
      schema: {
        tags,
        summary: 'Remove the rate of one of my products (my default applies again from now on)',
        params: ProductParams,
        response: { 200: CommissionRulesView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => unwrap(await service.setCommissionRule(await merchantId(request), request.params.productId, null)),
  );

  // ---- the payout provider: transfer and account events (Stripe webhooks; the simulator delivers in process)

  // signatures cover the exact bytes sent: the body arrives as the string received
  await withRawJsonBodies(app, (scope) => {
    scope.post(
      '/earnings/webhooks/:provider',
      {
        config: { auth: 'public' },
        schema: {
          tags,
          summary: 'Receive payout provider webhooks: transfer reversals and connected-account updates (signature-verified, applied once)',
          description:
            '`stripe` only, with `STRIPE_CONNECT_WEBHOOK_SECRET` set (else 404 `connect_webhooks_disabled`); another provider answers 404 ' +
            '`unknown_provider`, a missing or wrong `Stripe-Signature` 400 `invalid_signature`. A redelivered event answers `duplicate: true`.',
          params: WebhookParams,
          body: WebhookBody,
          response: { 200: WebhookAck, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({ received: true, duplicate: unwrap(await service.handleWebhook(request.params.provider, request.body, request.headers)).duplicate }),
    );
  });

  // ---- admins: every payout, reversals, and the reconciliation

  app.get(
    '/admin/payouts',
    {
      config: { auth: ADMIN },
      schema: { tags, summary: 'All payouts, newest first, by creator or status', querystring: AdminPayoutsQuery, response: { 200: PayoutPage, ...errorResponses(400, 401, 403) } },
    },
    async (request) => unwrap(await service.payouts(request.query)),
  );

  app.post(
    '/admin/payouts/:payoutId/reversals',
    {
      config: { auth: ADMIN },
      schema: {
        tags,
        summary: 'Take back part or all of a sent payout from the connected account',
        description:
          'Required: `Idempotency-Key` header. Reverses the transfer at the provider and books it like the provider\'s `transfer.reversed` ' +
          'event: the amount moves from paid back to available (paid again by the next payout). 409 `payout_not_reversible` when the ' +
          'payout is not sent or the amount exceeds what is left of it.',
        params: PayoutParams,
        body: PayoutReversalInput,
        response: { 200: PayoutView, ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) =>
      replyIdempotent(deps, request, reply, 'earnings.payout.reversal', async ({ key }) => {
        const { payoutId } = request.params;
        const r = await service.reversePayout(payoutId, request.body.amountMinor, `${payoutId}:reversal:${key}`);
        // no answer from the provider: not kept under the key, so a retry with it asks again (same provider key)
        if (!r.ok && r.code === 'payout_provider_unavailable') throw new RetryLater(new AppError(r.code, EARNINGS_ERROR_MESSAGES[r.code], r.details));
        return { status: 200, body: unwrap(r) };
      }),
  );

  app.get(
    '/admin/creators/:creatorId/earnings',
    {
      config: { auth: ADMIN },
      schema: {
        tags,
        summary: 'A creator\'s balances, next payout and minimum (support view)',
        description: '404 `creator_not_found` when no creator has this id; a creator without earnings answers empty balances.',
        params: CreatorParams,
        querystring: NoQuery,
        response: { 200: EarningsView, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => unwrap(await service.creatorSummary(request.params.creatorId)),
  );

  app.get(
    '/admin/earnings/reconcile',
    {
      config: { auth: ADMIN },
      schema: {
        tags,
        summary: 'Ledger vs commissions vs payouts: every discrepancy (none when the books balance)',
        querystring: ReconcileQuery,
        response: { 200: ReconcileView, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const discrepancies = await service.reconcile(request.query.creatorId);
      return { ok: discrepancies.length === 0, discrepancies };
    },
  );
}
