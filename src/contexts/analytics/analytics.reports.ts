import type { AnalyticsStore } from './analytics.store';
import { chTime } from './analytics.clickhouse';
import type { Dimension, FunnelReport, TimeseriesReport, TopReport } from './analytics.schemas';

/** Whose figures a caller may see: an admin everything, a creator their own posts, a merchant their own products. */
export type Scope = { kind: 'all' } | { kind: 'creator'; id: string } | { kind: 'merchant'; id: string } | { kind: 'none' };

/** `to` is exclusive: a range ending at midnight leaves that day out. */
export interface Range {
  from: Date;
  to: Date;
}

type Figures = { currency: string; revenueMinor: number; orders: number; units: number };
type FunnelRow = Omit<FunnelReport['items'][number], 'rates'>;

const day = (d: Date) => d.toISOString().slice(0, 10);
/** The last UTC day a range covers (`to` is exclusive). */
const lastDay = (to: Date) => day(new Date(to.getTime() - 1));
// units are split in ten-thousandths; summed as floats they pick up noise (0.30000000000000004, -1.1e-16)
const units = (n: unknown) => Math.round(Number(n) * 10_000) / 10_000 || 0;
const column = (d: Dimension) => `${d}_id`;
// post, creator and merchant figures read the per-post rollup; product figures the per-product one
const rollupOf = (d: Dimension) => (d === 'product' ? 'credits_product_daily' : 'credits_post_daily');
const METRIC_ORDER = { revenue: 'revenueMinor', orders: 'orders', units: 'units' } as const;

/** The WHERE fragment limiting rows to the scope (its value is bound as {scope:String}). */
function scopeClause(scope: Scope, db: string, productColumn = false): string {
  if (scope.kind === 'creator') return 'AND creator_id = {scope:String}';
  if (scope.kind === 'merchant') {
    return productColumn
      ? `AND product_id IN (SELECT product_id FROM ${db}.product_merchants WHERE merchant_id = {scope:String})`
      : 'AND merchant_id = {scope:String}';
  }
  return '';
}
const scopeParam = (scope: Scope) => (scope.kind === 'creator' || scope.kind === 'merchant' ? { scope: scope.id } : {});

const rate = (n: number, of: number) => (of > 0 ? n / of : null);
const withRates = <T extends FunnelRow>(r: T) => ({
  ...r,
  rates: {
    tap: rate(r.taps, r.impressions),
    view: rate(r.views, r.taps),
    cart: rate(r.carts, r.views),
    checkout: rate(r.checkouts, r.carts),
    purchase: rate(r.purchases, r.checkouts),
  },
});

/** The report queries over the rollups (and the raw tables where a rollup would not help). */
export function createReports(open: () => Promise<{ store: AnalyticsStore; database: string }>) {
  const reports = {
    /**
     * Top ids of a dimension by a metric under a model, read from the daily rollups (days are UTC, whole days). Each
     * currency is ranked on its own (amounts in different currencies are never added or compared): a page holds up to
     * `limit` items of every currency, from place `offset + 1` of each; `more` says whether some currency has more.
     * By revenue or units, the ranking uses the plain sums and distinct orders are merged for the page's ids only:
     * merging every id's order set is what would make the query slow.
     */
    async topPage(
      scope: Scope,
      q: { dimension: Dimension; metric: keyof typeof METRIC_ORDER; model: string; limit: number; offset: number; currency?: string | undefined } & Range,
    ): Promise<{ items: TopReport['items']; more: boolean }> {
      if (scope.kind === 'none') return { items: [], more: false };
      const { store: s, database: db } = await open();
      const col = column(q.dimension);
      const currencyClause = q.currency ? 'AND toString(currency) = {currency:String}' : '';
      const where = `FROM ${db}.${rollupOf(q.dimension)}
         WHERE model = {model:String} AND day >= {fromDay:Date} AND day <= {toDay:Date} AND ${col} != '' ${currencyClause} ${scopeClause(scope, db)}`;
      // one more row per currency than asked for tells whether that currency goes on
      const page = `ORDER BY currency, ${METRIC_ORDER[q.metric]} DESC, id LIMIT {offset:UInt64}, {take:UInt64} BY currency`;
      const params = { model: q.model, fromDay: day(q.from), toDay: lastDay(q.to), offset: q.offset, take: q.limit + 1, currency: q.currency ?? '', ...scopeParam(scope) };
      let rows: ({ id: string } & Figures)[];
      if (q.metric === 'orders') {
        rows = await s.queryRows<{ id: string } & Figures>(
          `SELECT ${col} AS id, toString(currency) AS currency, sum(revenue) AS revenueMinor, uniqExactMerge(orders) AS orders, sum(units) AS units
           ${where} GROUP BY id, currency ${page}`,
          params,
        );
      } else {
        const ranked = await s.queryRows<{ id: string } & Omit<Figures, 'orders'>>(
          `SELECT ${col} AS id, toString(currency) AS currency, sum(revenue) AS revenueMinor, sum(units) AS units
           ${where} GROUP BY id, currency ${page}`,
          params,
        );
        if (ranked.length === 0) return { items: [], more: false };
        const counts = await s.queryRows<{ id: string; currency: string; orders: number }>(
          `SELECT ${col} AS id, toString(currency) AS currency, uniqExactMerge(orders) AS orders
           ${where} AND ${col} IN {ids:Array(String)} GROUP BY id, currency`,
          { ...params, ids: [...new Set(ranked.map((r) => r.id))] },
        );
        const orders = new Map(counts.map((c) => [`${c.id} ${c.currency}`, Number(c.orders)]));
        rows = ranked.map((r) => ({ ...r, orders: orders.get(`${r.id} ${r.currency}`) ?? 0 }));
      }
      const place = new Map<string, number>();
      const items: TopReport['items'] = [];
      let more = false;
      for (const r of rows) {
        const n = (place.get(r.currency) ?? 0) + 1;
        place.set(r.currency, n);
        if (n > q.limit) more = true;
        else items.push({ rank: q.offset + n, ...figures(r) });
      }
      return { items, more };
    },

    /** The first page of `topPage` without ranks (the benchmark compares it with `topPostsRaw`). */
    async top(
      scope: Scope,
      q: { dimension: Dimension; metric: keyof typeof METRIC_ORDER; model: string; limit: number; currency?: string | undefined } & Range,
    ): Promise<Omit<TopReport['items'][number], 'rank'>[]> {
      return (await reports.topPage(scope, { ...q, offset: 0 })).items.map(({ rank: _rank, ...item }) => item);
    },

    /** The same top-posts-by-revenue answer computed from the raw credit rows (the benchmark's contrast). */
    async topPostsRaw(q: { model: string; limit: number } & Range): Promise<Omit<TopReport['items'][number], 'rank'>[]> {
      const { store: s, database: db } = await open();
      const rows = await s.queryRows<{ id: string } & Figures>(
        `SELECT post_id AS id, toString(currency) AS currency, sum(amount_minor) AS revenueMinor, uniqExactIf(order_id, amount_minor > 0) AS orders, sum(units) AS units
         FROM ${db}.credits
         WHERE model = {model:String} AND at >= {from:DateTime64(3, 'UTC')} AND at < {to:DateTime64(3, 'UTC')} AND post_id != ''
         GROUP BY id, currency ORDER BY revenueMinor DESC, id LIMIT {limit:UInt32}`,
        { model: q.model, from: chTime(q.from), to: chTime(q.to), limit: q.limit },
      );
      return rows.map(figures);
    },

    /**
     * Impressions → taps → views → carts → checkouts → purchases per post or creator (bots and creators' views of their
     * own tags excluded), items from place `offset + 1` in a stable order (purchases, impressions, id).
     */
    async funnel(scope: Scope, q: { by: 'post' | 'creator'; limit: number; offset?: number } & Range): Promise<Pick<FunnelReport, 'items' | 'totals'> & { more: boolean }> {
      const zero: FunnelRow = { id: '', impressions: 0, taps: 0, views: 0, carts: 0, checkouts: 0, purchases: 0 };
      if (scope.kind === 'none') return { items: [], totals: withRates(zero), more: false };
      const col = column(q.by);
      const { store: s, database: db } = await open();
      const params = { fromDay: day(q.from), toDay: lastDay(q.to), ...scopeParam(scope) };
      const [steps, purchases] = await Promise.all([
        s.queryRows<Omit<FunnelRow, 'purchases'>>(
          `SELECT ${col} AS id, sumIf(n, type = 'impression') AS impressions, sumIf(n, type = 'tag_tap') AS taps,
             sumIf(n, type = 'product_view') AS views, sumIf(n, type = 'add_to_cart') AS carts, sumIf(n, type = 'checkout_started') AS checkouts
           FROM ${db}.events_daily
           WHERE day >= {fromDay:Date} AND day <= {toDay:Date} AND ${col} != '' ${scopeClause(scope, db, true)}
           GROUP BY id`,
          params,
        ),
        s.queryRows<{ id: string; purchases: number }>(
          `SELECT ${col} AS id, uniqExactMerge(orders) AS purchases FROM ${db}.credits_post_daily
           WHERE model = 'last_click' AND day >= {fromDay:Date} AND day <= {toDay:Date} AND ${col} != '' ${scopeClause(scope, db)}
           GROUP BY id`,
          params,
        ),
      ]);
      const byId = new Map<string, FunnelRow>();
      for (const r of steps) byId.set(r.id, { ...zero, ...numbers(r), id: r.id });
      for (const r of purchases) byId.set(r.id, { ...(byId.get(r.id) ?? { ...zero, id: r.id }), purchases: Number(r.purchases) });
      const all = [...byId.values()].sort((a, b) => b.purchases - a.purchases || b.impressions - a.impressions || a.id.localeCompare(b.id));
      const totals = { ...zero };
      for (const r of all) for (const k of ['impressions', 'taps', 'views', 'carts', 'checkouts', 'purchases'] as const) totals[k] += r[k];
      const { id: _id, ...totalFigures } = withRates(totals);
      const offset = q.offset ?? 0;
      return { items: all.slice(offset, offset + q.limit).map(withRates), totals: totalFigures, more: all.length > offset + q.limit };
    },

    /** Credited revenue per day (rollup) or hour (raw credit rows), optionally for one id of a dimension. */
    async timeseries(
      scope: Scope,
      q: { granularity: 'day' | 'hour'; dimension: Dimension; id?: string | undefined; model: string } & Range,
    ): Promise<TimeseriesReport['points']> {
      if (scope.kind === 'none') return [];
      const { store: s, database: db } = await open();
      const col = column(q.dimension);
      const idClause = q.id ? `AND ${col} = {id:String}` : '';
      const params = { model: q.model, id: q.id ?? '', ...scopeParam(scope) };
      const rows =
        q.granularity === 'day'
          ? await s.queryRows<{ t: string } & Figures>(
              `SELECT toString(day) AS t, toString(currency) AS currency, sum(revenue) AS revenueMinor, uniqExactMerge(orders) AS orders, sum(units) AS units
               FROM ${db}.${rollupOf(q.dimension)}
               WHERE model = {model:String} AND day >= {fromDay:Date} AND day <= {toDay:Date} ${idClause} ${scopeClause(scope, db)}
               GROUP BY t, currency ORDER BY t, currency`,
              { ...params, fromDay: day(q.from), toDay: lastDay(q.to) },
            )
          : await s.queryRows<{ t: string } & Figures>(
              `SELECT toString(toStartOfHour(at)) AS t, toString(currency) AS currency, sum(amount_minor) AS revenueMinor,
                 uniqExactIf(order_id, amount_minor > 0) AS orders, sum(units) AS units
               FROM ${db}.credits
               WHERE model = {model:String} AND at >= {from:DateTime64(3, 'UTC')} AND at < {to:DateTime64(3, 'UTC')} ${idClause} ${scopeClause(scope, db)}
               GROUP BY t, currency ORDER BY t, currency`,
              { ...params, from: chTime(q.from), to: chTime(q.to) },
            );
      return rows.map((r) => ({ t: isoOf(r.t), currency: r.currency, revenueMinor: Number(r.revenueMinor), orders: Number(r.orders), units: units(r.units) }));
    },
  };
  return reports;
}

export type Reports = ReturnType<typeof createReports>;

function figures(r: { id: string } & Figures) {
  return { id: r.id, currency: r.currency, revenueMinor: Number(r.revenueMinor), orders: Number(r.orders), units: units(r.units) };
}

function numbers<T extends object>(r: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = k === 'id' ? v : Number(v);
  return out as T;
}

/** `2026-01-10` or `2026-01-10 13:00:00` (UTC) as ISO 8601. */
const isoOf = (t: string) => new Date(`${t.length === 10 ? `${t}T00:00:00` : t.replace(' ', 'T')}Z`).toISOString();
