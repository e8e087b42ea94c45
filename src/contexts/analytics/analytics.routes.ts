import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import { requirePrincipal } from '../../platform/auth';
import type { Clock } from '../../platform/clock';
import { AppError } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { ANALYTICS_ERROR_MESSAGES } from './analytics.errors';
import type { Range } from './analytics.reports';
import {
  EventBatch,
  FunnelQuery,
  FunnelReport,
  IngestAnswer,
  TimeseriesQuery,
  TimeseriesReport,
  TopQuery,
  TopReport,
} from './analytics.schemas';
import type { AnalyticsServiceImpl } from './analytics.service';

const REPORTERS = ['creator', 'merchant', 'admin'] as const;
const DAY_MS = 86_400_000;

/** `from`/`to` with their defaults (the last 30 days); refused when reversed or longer than a year. */
function rangeOf(q: { from?: string | undefined; to?: string | undefined }, now: Date): Range {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
  if (!(from < to) || to.getTime() - from.getTime() > 366 * DAY_MS) throw new AppError('invalid_range', ANALYTICS_ERROR_MESSAGES.invalid_range);
  return { from, to };
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  // quote what needs it, and neutralise spreadsheet formulas
  const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** Answers JSON, or a CSV download of `rows` when the query asked for format=csv. */
function answer<T>(reply: FastifyReply, format: string | undefined, name: string, body: T, rows: Record<string, unknown>[]) {
  if (format !== 'csv') return body;
  const cols = rows.length > 0 ? Object.keys(rows[0]!) : [];
  const csv = [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(csv);
}

const stamp = (r: Range) => `${r.from.toISOString().slice(0, 10)}_${r.to.toISOString().slice(0, 10)}`;
const flatRates = <T extends { rates: Record<string, number | null> }>({ rates, ...rest }: T) => ({
  ...rest,
  ...Object.fromEntries(Object.entries(rates).map(([k, v]) => [`${k}Rate`, v])),
});

export async function analyticsRoutes(app: App, service: AnalyticsServiceImpl, clock: Clock): Promise<void> {
  // navigator.sendBeacon posts text/plain: in this scope only, a text/plain body is parsed as JSON
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      (e as { statusCode?: number }).statusCode = 400;
      done(e as Error, undefined);
    }
  });

  app.post(
    '/events',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['analytics'],
        summary: 'Record a batch of client events (impressions, tag taps, product views, carts, checkouts)',
        description:
          'Accepts `application/json` and `text/plain` (navigator.sendBeacon). Each event is checked alone: bad ones are listed in `rejected`, repeated ids counted in `duplicates`.',
        body: EventBatch,
        response: { 202: IngestAnswer, ...errorResponses(413, 415) },
      },
    },
    async (request: FastifyRequest<{ Body: { events: unknown[] } }>, reply) => {
      const result = await service.ingest({
        events: request.body.events,
        deviceId: request.deviceId,
        accountId: request.principal?.accountId ?? null,
        userAgent: request.headers['user-agent'],
      });
      return reply.code(202).send(result);
    },
  );

  const reportSchema = <Q extends TSchema, R extends TSchema>(summary: string, querystring: Q, ok: R) => ({
    tags: ['analytics'],
    summary,
    description:
      'Scoped: a creator sees their own posts, a merchant their own products, an admin everything; an account without a creator or merchant profile gets empty results. Days are whole UTC days.',
    querystring,
    response: { 200: ok, ...errorResponses(401, 403) },
  });

  app.get(
    '/reports/top',
    { config: { auth: REPORTERS }, schema: reportSchema('Top posts, creators, products or merchants by credited revenue, orders or units', TopQuery, TopReport) },
    async (request: FastifyRequest<{ Querystring: TopQuery }>, reply) => {
      const q = request.query;
      const range = rangeOf(q, clock.now());
      const metric = q.metric ?? 'revenue';
      const model = q.model ?? 'last_click';
      const scope = await service.scopeOf(requirePrincipal(request));
      const items = await service.reports.top(scope, { dimension: q.dimension, metric, model, limit: q.limit, ...range });
      const body: TopReport = { dimension: q.dimension, metric, model, from: range.from.toISOString(), to: range.to.toISOString(), items };
      return answer(reply, q.format, `top-${q.dimension}-${metric}-${model}-${stamp(range)}`, body, items);
    },
  );

  app.get(
    '/reports/funnel',
    { config: { auth: REPORTERS }, schema: reportSchema('Impressions → taps → views → carts → checkouts → purchases per post or creator', FunnelQuery, FunnelReport) },
    async (request: FastifyRequest<{ Querystring: FunnelQuery }>, reply) => {
      const q = request.query;
      const range = rangeOf(q, clock.now());
      const scope = await service.scopeOf(requirePrincipal(request));
      const { items, totals } = await service.reports.funnel(scope, { by: q.by, limit: q.limit, ...range });
      const body: FunnelReport = { by: q.by, from: range.from.toISOString(), to: range.to.toISOString(), items, totals };
      return answer(reply, q.format, `funnel-${q.by}-${stamp(range)}`, body, items.map(flatRates));
    },
  );

  app.get(
    '/reports/timeseries',
    { config: { auth: REPORTERS }, schema: reportSchema('Credited revenue, orders and units per day or hour', TimeseriesQuery, TimeseriesReport) },
    async (request: FastifyRequest<{ Querystring: TimeseriesQuery }>, reply) => {
      const q = request.query;
      const range = rangeOf(q, clock.now());
      const granularity = q.granularity ?? 'day';
      const model = q.model ?? 'last_click';
      const scope = await service.scopeOf(requirePrincipal(request));
      const points = await service.reports.timeseries(scope, { granularity, dimension: q.dimension ?? 'post', id: q.id, model, ...range });
      const body: TimeseriesReport = { granularity, model, from: range.from.toISOString(), to: range.to.toISOString(), points };
      return answer(reply, q.format, `timeseries-${granularity}-${model}-${stamp(range)}`, body, points);
    },
  );
}
