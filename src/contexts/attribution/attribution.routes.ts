import { Type } from 'typebox';
import { AppError, validation } from '../../platform/errors';
import type { App } from '../../platform/http';
import { errorResponses } from '../../platform/http';
import { IDEMPOTENCY_HEADER, idempotencyScope, requireIdempotencyKey, withIdempotency, type IdempotencyDeps } from '../../platform/idempotency';
import { ATTRIBUTION_ERROR_MESSAGES } from './attribution.errors';
import type { AttributionService, RecomputeJob } from './index';
import {
  FlagsQuery,
  FlagsResponse,
  InvalidTokenCountsQuery,
  InvalidTokenCountsResponse,
  OrderAttributionResponse,
  OrderIdParams,
  RecomputeBody,
  RecomputeJobList,
  RecomputeJobParams,
  RecomputeJobsQuery,
  RecomputeJobView,
} from './attribution.schemas';

const RECOMPUTE = '/admin/attribution/recompute';

export async function attributionRoutes(app: App, service: AttributionService, deps: IdempotencyDeps): Promise<void> {
  app.get(
    '/admin/attribution/invalid-tokens',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'Invalid referral tokens seen, by reason',
        description: 'Forged, tampered or unverifiable tokens never block a purchase; they are counted here.',
        querystring: InvalidTokenCountsQuery,
        response: { 200: InvalidTokenCountsResponse, ...errorResponses(401, 403) },
      },
    },
    async () => ({ byReason: await service.invalidTokenCounts() }),
  );

  app.get<{ Querystring: { days?: number } }>(
    '/admin/attribution/flags',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'Fraud guards: touches left out of credits, per day and reason',
        description: 'Self-referral, bot, flood, expired token and inactive tag exclusions, plus invalid tokens; recent flooded devices and flagged order lines.',
        querystring: FlagsQuery,
        response: { 200: FlagsResponse, ...errorResponses(401, 403) },
      },
    },
    async (request) => service.flags(request.query.days ?? 30),
  );

  app.post<{ Body: { from: string; to: string; clickWindowDays?: number; viewWindowHours?: number } }>(
    RECOMPUTE,
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'Recompute analytics credits of a time range under new windows (a background job)',
        description:
          'Answers 202 with the queued job and its `Location`; a worker runs it a page of lines at a time (poll the job). ' +
          'Never changes the commissionable (last click, frozen) credit. Re-running with the same windows changes nothing. ' +
          'With an `Idempotency-Key`, a retry with the same key and body answers the first job (`idempotent-replayed: true`) and starts none; ' +
          'the same key with another body is 422 `idempotency_key_reused`.',
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ description: 'Optional: a unique key per recompute (e.g. a UUID), so a retried request does not start a second job' })),
        }),
        body: RecomputeBody,
        response: {
          202: {
            ...RecomputeJobView,
            headers: {
              location: Type.String({ description: 'The job to poll: /v1/admin/attribution/recompute/{jobId}' }),
              'idempotent-replayed': Type.Optional(Type.String({ description: '`true` when this is the stored answer of an earlier request with the same key' })),
            },
          },
          ...errorResponses(401, 403, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const { from, to, clickWindowDays, viewWindowHours } = request.body;
      // the date-time format lets a leap second (23:59:60) through, which no Date can hold
      for (const [field, value] of [['from', from], ['to', to]] as const) {
        if (Number.isNaN(Date.parse(value))) throw validation(`Invalid body: ${field} is not a time`, [{ in: 'body', path: `/${field}`, message: 'is not a time' }]);
      }
      if (!(Date.parse(from) < Date.parse(to))) throw new AppError('invalid_range', ATTRIBUTION_ERROR_MESSAGES.invalid_range, { from, to });
      const start = async () => ({
        status: 202,
        body: await service.startRecompute({ from: new Date(from), to: new Date(to), clickWindowDays, viewWindowHours }, request.principal?.accountId ?? null),
      });
      // a job can span millions of lines: a retried request (a timeout, a double click) must not queue a second one
      const answer =
        request.headers[IDEMPOTENCY_HEADER] === undefined
          ? { ...(await start()), replayed: false }
          : await withIdempotency(deps, { scope: idempotencyScope(request), key: requireIdempotencyKey(request), request: { action: 'attribution.recompute', body: request.body } }, start);
      if (answer.replayed) reply.header('idempotent-replayed', 'true');
      const job = answer.body as RecomputeJob;
      return reply.code(answer.status).header('location', `/v1${RECOMPUTE}/${job.id}`).send(job);
    },
  );

  app.get<{ Querystring: { limit?: number } }>(
    RECOMPUTE,
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'Recent recompute jobs, newest first',
        querystring: RecomputeJobsQuery,
        response: { 200: RecomputeJobList, ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ items: await service.recomputeJobs(request.query.limit ?? 20) }),
  );

  app.get<{ Params: { jobId: string } }>(
    `${RECOMPUTE}/:jobId`,
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'A recompute job: status and progress',
        description: '404 `recompute_job_not_found` when no job has this id.',
        params: RecomputeJobParams,
        response: { 200: RecomputeJobView, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const job = await service.recomputeJob(request.params.jobId);
      if (!job) throw new AppError('recompute_job_not_found', ATTRIBUTION_ERROR_MESSAGES.recompute_job_not_found, { id: request.params.jobId });
      return job;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/orders/:id/attribution',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'How an order’s lines were credited, per model and tag',
        description: 'No lines until the order is paid. 404 `order_not_found` when no order has this id.',
        params: OrderIdParams,
        response: { 200: OrderAttributionResponse, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const lines = await service.creditsForOrder(request.params.id);
      if (lines === null) throw new AppError('order_not_found', ATTRIBUTION_ERROR_MESSAGES.order_not_found, { id: request.params.id });
      return { orderId: request.params.id, lines };
    },
  );
}
