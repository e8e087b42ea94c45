import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { requirePrincipal } from '../../platform/auth';
import type { Clock } from '../../platform/clock';
import { AppError, validation } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { decodeJsonCursor, encodeJsonCursor, ID_PREFIX, isId } from '../../platform/ids';
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

// what the store's Date type holds (ClickHouse: 1970-01-01 … 2149-06-06); a day outside it would be clamped to an
// edge and read as an empty report, so such a time is refused instead
const STORE_FIRST = Date.UTC(1970, 0, 1);
const STORE_END = Date.UTC(2149, 5, 7);

const notATime = (field: string, message: string) => validation(`Invalid querystring: ${field} ${message}`, [{ in: 'querystring', path: `/${field}`, message }]);

/**
 * `from`/`to` with their defaults (the last 30 days); refused when reversed, longer than a year or outside what the
 * store holds. `to` is exclusive, so consecutive ranges ([Jan 1, Feb 1), [Feb 1, Mar 1)) neither overlap nor leave a
 * gap; left out, it is now, and what happened at now counts.
 */
function rangeOf(q: { from?: string | undefined; to?: string | undefined }, now: Date): Range {
  const to = q.to ? new Date(q.to) : new Date(now.getTime() + 1);
  // a defaulted `from` stops at the store's first day rather than refusing a field the caller did not send
  const from = q.from ? new Date(q.from) : new Date(Math.max(STORE_FIRST, to.getTime() - 30 * DAY_MS));
  for (const [field, d] of [['from', from], ['to', to]] as const) {
    // the date-time format lets a leap second (23:59:60) through, which no Date can hold
    if (Number.isNaN(d.getTime())) throw notATime(field, 'is not a time');
    if (d.getTime() < STORE_FIRST || d.getTime() > STORE_END) throw notATime(field, 'must be between 1970-01-01T00:00:00Z and 2149-06-07T00:00:00Z');
  }
  if (!(from < to) || (q.to ? to : now).getTime() - from.getTime() > 366 * DAY_MS) throw new AppError('invalid_range', ANALYTICS_ERROR_MESSAGES.invalid_range);
  return { from, to };
}

/** What a day report covers: whole UTC days, from `from`'s day through the day of the last instant before `to`. */
const wholeDays = (r: Range): Range => ({
  from: new Date(Math.floor(r.from.getTime() / DAY_MS) * DAY_MS),
  to: new Date(Math.floor((r.to.getTime() - 1) / DAY_MS) * DAY_MS + DAY_MS),
});

/**
 * A list report's page. The cursor carries the list it belongs to, the range it read (so a later page of a range
 * ending "now" reads the same range) and how many places of it were shown: offsets over a stable order.
 */
interface Cursor {
  list: string;
  from: number;
  to: number;
  offset: number;
}
const encodeCursor = (c: Cursor) => encodeJsonCursor([c.list, c.from, c.to, c.offset]);
const badCursor = () => new AppError('invalid_cursor', 'The cursor is not one this report issued for this query');
const MAX_OFFSET = 10_000_000;

/** The page a query asks for: the first, or the one its cursor names (refused when it belongs to another query). */
function pageOf(q: { cursor?: string | undefined; from?: string | undefined; to?: string | undefined }, list: string, now: Date): { range: Range; offset: number } {
  if (q.cursor === undefined) return { range: rangeOf(q, now), offset: 0 };
  const c = decodeJsonCursor(q.cursor);
  if (!Array.isArray(c) || c.length !== 4 || c[0] !== list || !c.slice(1).every((n) => Number.isSafeInteger(n))) throw badCursor();
  const [, from, to, offset] = c as [string, number, number, number];
  if (offset < 1 || offset > MAX_OFFSET) throw badCursor();
  // the same query: a bound that is given must be the one the first page read
  if ((q.from !== undefined && Date.parse(q.from) !== from) || (q.to !== undefined && Date.parse(q.to) !== to)) throw badCursor();
  const range = { from: new Date(from), to: new Date(to) };
  try {
    rangeOf({ from: range.from.toISOString(), to: range.to.toISOString() }, now);
  } catch {
    throw badCursor();
  }
  return { range, offset };
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

// one account's figures: never kept by a shared cache (a CDN or proxy would hand them to the next caller), nor stored
// by the browser (a dashboard polls, and a shared computer keeps no copy)
const PRIVATE = 'private, no-store';

/** Answers JSON, or a CSV download of `rows` under the header `cols` (also when there are no rows) when the query asked for format=csv. */
function answer<T>(reply: FastifyReply, format: string | undefined, name: string, body: T, cols: readonly string[], rows: Record<string, unknown>[]) {
  reply.header('cache-control', PRIVATE);
  if (format !== 'csv') return body;
  const csv = [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(csv);
}

const FIGURE_COLUMNS = ['currency', 'revenueMinor', 'orders', 'units'] as const;
// rank last: a spreadsheet reading the first columns (as before ranks) still finds them
const TOP_COLUMNS = ['id', ...FIGURE_COLUMNS, 'rank'];
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
        roles: request.principal?.roles ?? [],
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
    response: {
      200: { ...ok, headers: { 'cache-control': Type.String({ description: '`private, no-store`: one account’s figures (CSV downloads too)' }) } },
      ...errorResponses(401, 403, 503),
    },
  });

  app.get(
    '/reports/top',
    { config: { auth: REPORTERS }, schema: reportSchema('Top posts, creators, products or merchants by credited revenue, orders or units', TopQuery, TopReport) },
    async (request: FastifyRequest<{ Querystring: TopQuery }>, reply) => {
      const q = request.query;
      const metric = q.metric ?? 'revenue';
      const model = q.model ?? 'last_click';
      const list = `top:${q.dimension}:${metric}:${model}:${q.currency ?? ''}`;
      const { range, offset } = pageOf(q, list, clock.now());
      const scope = await service.scopeOf(requirePrincipal(request));
      const { items, more } = await fromStore(request, service.reports.topPage(scope, { dimension: q.dimension, metric, model, limit: q.limit, offset, currency: q.currency, ...range }));
      const covered = wholeDays(range);
      const body: TopReport = {
        dimension: q.dimension,
        metric,
        model,
        ...(q.currency ? { currency: q.currency } : {}),
        currencies: [...new Set(items.map((i) => i.currency))],
        from: covered.from.toISOString(),
        to: covered.to.toISOString(),
        items,
        nextCursor: more ? encodeCursor({ list, from: range.from.getTime(), to: range.to.getTime(), offset: offset + q.limit }) : null,
      };
      const name = `top-${q.dimension}-${metric}-${model}${q.currency ? `-${q.currency}` : ''}-${stamp(covered)}`;
      return answer(reply, q.format, name, body, TOP_COLUMNS, items);
    },
  );

  app.get(
    '/reports/funnel',
    { config: { auth: REPORTERS }, schema: reportSchema('Impressions → taps → views → carts → checkouts → purchases per post or creator', FunnelQuery, FunnelReport) },
    async (request: FastifyRequest<{ Querystring: FunnelQuery }>, reply) => {
      const q = request.query;
      const list = `funnel:${q.by}`;
      const { range, offset } = pageOf(q, list, clock.now());
      const scope = await service.scopeOf(requirePrincipal(request));
      const { items, totals, more } = await fromStore(request, service.reports.funnel(scope, { by: q.by, limit: q.limit, offset, ...range }));
      const covered = wholeDays(range);
      const nextCursor = more ? encodeCursor({ list, from: range.from.getTime(), to: range.to.getTime(), offset: offset + q.limit }) : null;
      const body: FunnelReport = { by: q.by, from: covered.from.toISOString(), to: covered.to.toISOString(), items, totals, nextCursor };
      return answer(reply, q.format, `funnel-${q.by}-${stamp(covered)}`, body, FUNNEL_COLUMNS, items.map(flatRates));
    },
  );

  app.get(
    '/reports/timeseries',
    { config: { auth: REPORTERS }, schema: reportSchema('Credited revenue, orders and units per day or hour', TimeseriesQuery, TimeseriesReport) },
    async (request: FastifyRequest<{ Querystring: TimeseriesQuery }>, reply) => {
      const q = request.query;
      const range = rangeOf(q, clock.now());
      const granularity = q.granularity ?? 'day';
      const dimension = q.dimension ?? 'post';
      const model = q.model ?? 'last_click';
      checkIdKind(dimension, q.id);
      const scope = await service.scopeOf(requirePrincipal(request));
      const points = await fromStore(request, service.reports.timeseries(scope, { granularity, dimension, id: q.id, model, ...range }));
      // days read whole UTC days; hours read the raw rows of exactly the range
      const covered = granularity === 'day' ? wholeDays(range) : range;
      const body: TimeseriesReport = { granularity, model, from: covered.from.toISOString(), to: covered.to.toISOString(), points };
      return answer(reply, q.format, `timeseries-${granularity}-${model}-${stamp(covered)}`, body, SERIES_COLUMNS, points);
    },
  );
}
