import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import { requirePrincipal } from '../../platform/auth';
import type { Clock } from '../../platform/clock';
import { AppError, validation } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { ID_PREFIX, isId } from '../../platform/ids';
import { ANALYTICS_ERROR_MESSAGES } from './analytics.errors';
import type { Range } from './analytics.reports';
import {
  type Dimension,
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
import { StoreUnavailableError } from './analytics.store';

const REPORTERS = ['creator', 'merchant', 'admin'] as const;
const DAY_MS = 86_400_000;

/**
 * `from`/`to` with their defaults (the last 30 days); refused when reversed or longer than a year. `shown` is what the
 * answer echoes; `range` is what the reports read: `to` is exclusive, so consecutive ranges ([Jan 1, Feb 1),
 * [Feb 1, Mar 1)) neither overlap nor leave a gap. Left out, `to` is now, and what happened at now counts.
 */
function rangeOf(q: { from?: string | undefined; to?: string | undefined }, now: Date): { shown: Range; range: Range } {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
  // the date-time format lets a leap second (23:59:60) through, which no Date can hold
  for (const [field, d] of [['from', from], ['to', to]] as const) {
    if (Number.isNaN(d.getTime())) throw validation(`Invalid querystring: ${field} is not a time`, [{ in: 'querystring', path: `/${field}`, message: 'is not a time' }]);
  }
  if (!(from < to) || to.getTime() - from.getTime() > 366 * DAY_MS) throw new AppError('invalid_range', ANALYTICS_ERROR_MESSAGES.invalid_range);
  return { shown: { from, to }, range: { from, to: q.to ? to : new Date(now.getTime() + 1) } };
}

/** An `id` of another kind than the dimension (a post id for dimension=creator) can match nothing: refused. */
function checkIdKind(dimension: Dimension, id: string | undefined): void {
  if (id !== undefined && !isId(dimension, id)) {
    throw validation(`Invalid querystring: id must be a ${dimension} id (${ID_PREFIX[dimension]}_…) for dimension=${dimension}`, [
      { in: 'querystring', path: '/id', message: `must be a ${dimension} id` },
    ]);
  }
}

/** A report's answer; a store that cannot be reached is 503 analytics_unavailable (retry later), not a 500. */
async function fromStore<T>(request: FastifyRequest, report: Promise<T>): Promise<T> {
  try {
    return await report;
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    request.log.warn({ err: e }, 'analytics store unavailable for a report');
    throw new AppError('analytics_unavailable', ANALYTICS_ERROR_MESSAGES.analytics_unavailable);
  }
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  // quote what needs it, and neutralise spreadsheet formulas
  const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** Answers JSON, or a CSV download of `rows` under the header `cols` (also when there are no rows) when the query asked for format=csv. */
function answer<T>(reply: FastifyReply, format: string | undefined, name: string, body: T, cols: readonly string[], rows: Record<string, unknown>[]) {
  if (format !== 'csv') return body;
  const csv = [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(csv);
}

const FIGURE_COLUMNS = ['currency', 'revenueMinor', 'orders', 'units'] as const;
const TOP_COLUMNS = ['id', ...FIGURE_COLUMNS];
const SERIES_COLUMNS = ['t', ...FIGURE_COLUMNS];
const FUNNEL_COLUMNS = ['id', 'impressions', 'taps', 'views', 'carts', 'checkouts', 'purchases', 'tapRate', 'viewRate', 'cartRate', 'checkoutRate', 'purchaseRate'];

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
      'Scoped: a creator sees their own posts, a merchant their own products, an admin everything; an account without a creator or merchant profile gets empty results. `to` is exclusive; days are whole UTC days.',
    querystring,
    response: { 200: ok, ...errorResponses(401, 403, 503) },
  });

  app.get(
    '/reports/top',
    { config: { auth: REPORTERS }, schema: reportSchema('Top posts, creators, products or merchants by credited revenue, orders or units', TopQuery, TopReport) },
    async (request: FastifyRequest<{ Querystring: TopQuery }>, reply) => {
      const q = request.query;
      const { shown, range } = rangeOf(q, clock.now());
      const metric = q.metric ?? 'revenue';
      const model = q.model ?? 'last_click';
      const scope = await service.scopeOf(requirePrincipal(request));
      const items = await fromStore(request, service.reports.top(scope, { dimension: q.dimension, metric, model, limit: q.limit, currency: q.currency, ...range }));
      const body: TopReport = { dimension: q.dimension, metric, model, ...(q.currency ? { currency: q.currency } : {}), from: shown.from.toISOString(), to: shown.to.toISOString(), items };
      const name = `top-${q.dimension}-${metric}-${model}${q.currency ? `-${q.currency}` : ''}-${stamp(shown)}`;
      return answer(reply, q.format, name, body, TOP_COLUMNS, items);
    },
  );

  app.get(
    '/reports/funnel',
    { config: { auth: REPORTERS }, schema: reportSchema('Impressions → taps → views → carts → checkouts → purchases per post or creator', FunnelQuery, FunnelReport) },
    async (request: FastifyRequest<{ Querystring: FunnelQuery }>, reply) => {
      const q = request.query;
      const { shown, range } = rangeOf(q, clock.now());
      const scope = await service.scopeOf(requirePrincipal(request));
      const { items, totals } = await fromStore(request, service.reports.funnel(scope, { by: q.by, limit: q.limit, ...range }));
      const body: FunnelReport = { by: q.by, from: shown.from.toISOString(), to: shown.to.toISOString(), items, totals };
      return answer(reply, q.format, `funnel-${q.by}-${stamp(shown)}`, body, FUNNEL_COLUMNS, items.map(flatRates));
    },
  );

  app.get(
    '/reports/timeseries',
    { config: { auth: REPORTERS }, schema: reportSchema('Credited revenue, orders and units per day or hour', TimeseriesQuery, TimeseriesReport) },
    async (request: FastifyRequest<{ Querystring: TimeseriesQuery }>, reply) => {
      const q = request.query;
      const { shown, range } = rangeOf(q, clock.now());
      const granularity = q.granularity ?? 'day';
      const dimension = q.dimension ?? 'post';
      const model = q.model ?? 'last_click';
      checkIdKind(dimension, q.id);
      const scope = await service.scopeOf(requirePrincipal(request));
      const points = await fromStore(request, service.reports.timeseries(scope, { granularity, dimension, id: q.id, model, ...range }));
      const body: TimeseriesReport = { granularity, model, from: shown.from.toISOString(), to: shown.to.toISOString(), points };
      return answer(reply, q.format, `timeseries-${granularity}-${model}-${stamp(shown)}`, body, SERIES_COLUMNS, points);
    },
  );
}
