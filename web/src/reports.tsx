// Report widgets shared by the creator, merchant and admin areas (lazy chunks only: never in the shopper's bundle).
import { useEffect, useState } from 'react';
import { api, ApiError, formatMoney, type AttributionModel, type CreatorView, type FunnelReportT, type PostView, type TimeseriesReportT, type TopReportT } from './api';
import { DownloadButton } from './actions';
import { ErrorNote, Spinner, useApi, useInterval } from './ui';

export const MODELS: { id: AttributionModel; label: string }[] = [
  { id: 'last_click', label: 'Last click' },
  { id: 'first_click', label: 'First click' },
  { id: 'linear', label: 'Linear' },
  { id: 'time_decay', label: 'Time decay' },
  { id: 'position', label: 'Position based' },
];

/** How often dashboards refetch, so new sales appear without a reload. */
export const POLL_MS = 5000;

export function ModelSwitch({ value, onChange }: { value: AttributionModel; onChange(m: AttributionModel): void }) {
  return (
    <label className="inline">
      Attribution model{' '}
      <select value={value} onChange={(e) => onChange(e.target.value as AttributionModel)}>
        {MODELS.map((m) => (
          <option key={m.id} value={m.id}>
            {m.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The last `days` days up to the end of the current hour (fixed while mounted, so polling reuses one URL). */
export function useRange(days = 30) {
  const [range] = useState(() => {
    const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
    const from = new Date(to.getTime() - days * 86_400_000);
    return { from: from.toISOString(), to: to.toISOString() };
  });
  return range;
}

/** A report that may not exist yet on this server: 404 is shown as "not available", not as a failure. */
export function usePolledReport<T>(url: string) {
  const r = useApi<T>(url);
  useInterval(r.reload, POLL_MS);
  const unavailable = r.error?.status === 404 || r.error?.status === 501;
  return { ...r, unavailable };
}

function ReportState({ loading, error, unavailable, hasData }: { loading: boolean; error: { message: string } | null; unavailable: boolean; hasData: boolean }) {
  if (unavailable) return <p className="empty">This report is not available on this server yet.</p>;
  if (error && !hasData) return <ErrorNote>{error.message}</ErrorNote>;
  if (loading && !hasData) return <Spinner />;
  return null;
}

/**
 * Readable names for report ids, as the rest of the app names them: a post by its caption alone ("Untitled post"
 * without one, "Removed post" once deleted), a creator by display name and handle. The API has no batch read by ids,
 * so each id is read once (GET /v1/posts/:id, GET /v1/creators/:id) and at most LOOKUPS_AT_ONCE of those reads are in
 * flight: a report page of 20 rows per currency does not send them all at once. An id shows as itself until (or
 * unless) its name arrives; a failed read is tried again when the report's ids change.
 */
const names = new Map<string, Promise<string>>();
const LOOKUPS_AT_ONCE = 4;
let lookups = 0;
const waiting: (() => void)[] = [];

async function bounded<T>(read: () => Promise<T>): Promise<T> {
  if (lookups < LOOKUPS_AT_ONCE) lookups++;
  else await new Promise<void>((go) => waiting.push(go)); // a finished read hands its place over
  try {
    return await read();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else lookups--;
  }
}

const postName = (post: Pick<PostView, 'caption'>): string => post.caption || 'Untitled post';

function nameOf(id: string): Promise<string> {
  let p = names.get(id);
  if (!p) {
    p = id.startsWith('pst_')
      ? bounded(() => api<PostView>(`/v1/posts/${id}`)).then(postName, (e) => (e instanceof ApiError && e.status === 404 ? 'Removed post' : Promise.reject(e)))
      : id.startsWith('cre_')
        ? bounded(() => api<CreatorView>(`/v1/creators/${id}`)).then((c) => `${c.displayName} (@${c.handle})`)
        : Promise.resolve(id);
    p = p.catch(() => {
      names.delete(id);
      return id;
    });
    names.set(id, p);
  }
  return p;
}

function useNames(ids: string[], given?: (id: string) => string | undefined): (id: string) => string {
  const [resolved, setResolved] = useState<Record<string, string>>({});
  const key = ids.join(',');
  useEffect(() => {
    let live = true;
    for (const id of ids) void nameOf(id).then((n) => live && setResolved((r) => (r[id] === n ? r : { ...r, [id]: n })));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return (id) => given?.(id) ?? resolved[id] ?? id;
}

/** Items grouped by currency, in the answer's order: each currency is ranked on its own and never summed with another. */
function byCurrency<T extends { currency: string }>(items: T[]): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const it of items) {
    const group = groups.get(it.currency);
    if (group) group.push(it);
    else groups.set(it.currency, [it]);
  }
  return [...groups];
}

export function TopTable({ title, url, label, testId, csvName }: { title: string; url: string; label?(id: string): string | undefined; testId?: string; csvName: string }) {
  const r = usePolledReport<TopReportT>(url);
  const name = useNames((r.data?.items ?? []).map((it) => it.id), label);
  const groups = byCurrency(r.data?.items ?? []);
  return (
    <section className="report" data-testid={testId}>
      <div className="report-head">
        <h2>{title}</h2>
        <DownloadButton url={`${url}${url.includes('?') ? '&' : '?'}format=csv`} filename={`${csvName}.csv`}>
          Download CSV
        </DownloadButton>
      </div>
      <ReportState loading={r.loading} error={r.error} unavailable={r.unavailable} hasData={!!r.data} />
      {r.data && r.data.items.length === 0 && <p className="empty">No attributed sales in this period yet. Sales through your tags appear here within seconds.</p>}
      {groups.length > 1 && <p className="hint">Sales in {groups.map(([c]) => c).join(', ')}: each currency is ranked in its own table, since amounts in different currencies cannot be compared.</p>}
      {groups.map(([currency, items]) => (
        <table key={currency} data-currency={currency}>
          {groups.length > 1 && <caption>In {currency}</caption>}
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Item</th>
              <th scope="col" className="num">
                Revenue ({currency})
              </th>
              <th scope="col" className="num">
                Orders
              </th>
              <th scope="col" className="num">
                Units
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((it) => (
              <tr key={`${it.id}-${it.currency}`}>
                <td>{it.rank}</td>
                <td>{name(it.id)}</td>
                <td className="num">{formatMoney(it.revenueMinor, it.currency)}</td>
                <td className="num">{it.orders}</td>
                <td className="num">{Math.round(it.units * 100) / 100}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

const FUNNEL_STEPS: ('impressions' | 'taps' | 'views' | 'carts' | 'checkouts' | 'purchases')[] = ['impressions', 'taps', 'views', 'carts', 'checkouts', 'purchases'];

export function FunnelReport({ url, label }: { url: string; label?(id: string): string | undefined }) {
  const r = usePolledReport<FunnelReportT>(url);
  const name = useNames((r.data?.items ?? []).map((it) => it.id), label);
  const totals = r.data?.totals;
  const max = totals ? Math.max(1, ...FUNNEL_STEPS.map((s) => totals[s])) : 1;
  return (
    // a row of its own in a dashboard's grid: its table has a column per step
    <section className="report wide">
      <h2>Funnel</h2>
      <ReportState loading={r.loading} error={r.error} unavailable={r.unavailable} hasData={!!r.data} />
      {totals && (
        <ol className="funnel" aria-label="Funnel totals">
          {FUNNEL_STEPS.map((s) => (
            <li key={s}>
              <span className="funnel-label">{s}</span>
              <span className="bar" style={{ width: `${Math.max(2, (100 * totals[s]) / max)}%` }} aria-hidden="true" />
              <span>{totals[s]}</span>
            </li>
          ))}
        </ol>
      )}
      {r.data && r.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Item</th>
              {FUNNEL_STEPS.map((s) => (
                <th scope="col" key={s}>
                  {s}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {r.data.items.map((it) => (
              <tr key={it.id}>
                <td>{name(it.id)}</td>
                {FUNNEL_STEPS.map((s) => (
                  <td key={s}>{it[s]}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A round step for `max` split in about `n` ticks (1, 2 or 5 × a power of ten). */
function niceStep(max: number, n: number): number {
  const raw = max / n;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * pow >= raw) ?? 10) * pow;
}

const shortDay = (iso: string) => new Date(iso).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

/**
 * Revenue over time as hand-rolled SVG line charts with labelled axes and gridlines: one chart per currency, each on
 * its own money axis (a shared axis would read ¥5,000 against €49.99 as if they were the same kind of number).
 */
export function RevenueChart({ url }: { url: string }) {
  const r = usePolledReport<TimeseriesReportT>(url);
  const points = r.data?.points ?? [];
  const groups = byCurrency(points);
  const total = groups.map(([c, ps]) => formatMoney(ps.reduce((s, p) => s + p.revenueMinor, 0), c)).join(', ');
  return (
    <section className="report">
      <div className="report-head">
        <h2>Revenue over time</h2>
        {points.length > 0 && <p className="figure">{total}</p>}
      </div>
      <ReportState loading={r.loading} error={r.error} unavailable={r.unavailable} hasData={!!r.data} />
      {r.data && points.length === 0 && <p className="empty">No revenue in the last 30 days yet. Each day with sales becomes a point here.</p>}
      {groups.length > 1 && <p className="hint">One chart per currency: amounts in different currencies are not added up or drawn on one scale.</p>}
      {groups.map(([currency, series]) => (
        <CurrencyChart key={currency} currency={currency} series={series} titled={groups.length > 1} />
      ))}
    </section>
  );
}

function CurrencyChart({ currency, series: unsorted, titled }: { currency: string; series: TimeseriesReportT['points']; titled: boolean }) {
  // drawn at about the size a report card shows it, so 12-unit text stays ~12 px
  const W = 360;
  const H = 220;
  const L = 52; // room for the money labels
  const R = 12;
  const T = 12;
  const B = 40; // room for the dates and the axis title
  const series = [...unsorted].sort((a, b) => a.t.localeCompare(b.t));
  const times = series.map((p) => p.t);
  const step = niceStep(Math.max(100, ...series.map((p) => p.revenueMinor)), 4);
  const top = step * Math.ceil(Math.max(1, ...series.map((p) => p.revenueMinor)) / step);
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  const x = (t: string) => L + (times.length <= 1 ? (W - L - R) / 2 : ((W - L - R) * times.indexOf(t)) / (times.length - 1));
  const y = (v: number) => H - B - ((H - B - T) * v) / top;
  const xLabels = times.length <= 3 ? times : [times[0]!, times[Math.floor((times.length - 1) / 2)]!, times[times.length - 1]!];
  const total = formatMoney(series.reduce((s, p) => s + p.revenueMinor, 0), currency);
  return (
    // a figure without its default indent, so one chart per currency lines up with a single one
    <figure className="chart-figure" data-currency={currency} style={{ margin: 0 }}>
      {titled && <figcaption>In {currency}: {total}</figcaption>}
      <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label={`Revenue in ${currency} per day over the last 30 days: ${total} in total`}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={L} x2={W - R} y1={y(v)} y2={y(v)} className={v === 0 ? 'axis' : 'grid'} />
            <text x={L - 8} y={y(v) + 4} className="tick" textAnchor="end">
              {formatMoney(v, currency).replace(/\.00$/, '')}
            </text>
          </g>
        ))}
        <line x1={L} y1={T} x2={L} y2={H - B} className="axis" />
        {xLabels.map((t) => (
          <text key={t} x={x(t)} y={H - B + 18} className="tick" textAnchor="middle">
            {shortDay(t)}
          </text>
        ))}
        <text x={(L + W - R) / 2} y={H - 4} className="axis-title" textAnchor="middle">
          Day (UTC)
        </text>
        <g className="series s0">
          <polyline fill="none" points={series.map((p) => `${x(p.t)},${y(p.revenueMinor)}`).join(' ')} />
          {series.map((p) => (
            <circle key={p.t} cx={x(p.t)} cy={y(p.revenueMinor)} r={4}>
              <title>
                {shortDay(p.t)}: {formatMoney(p.revenueMinor, p.currency)}, {p.orders} orders
              </title>
            </circle>
          ))}
        </g>
      </svg>
    </figure>
  );
}
