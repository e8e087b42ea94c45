// Report widgets shared by the creator, merchant and admin areas (lazy chunks only: never in the shopper's bundle).
import { useState } from 'react';
import { formatMoney, type AttributionModel, type FunnelReportT, type TimeseriesReportT, type TopReportT } from './api';
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

export function TopTable({ title, url, label, testId }: { title: string; url: string; label?(id: string): string; testId?: string }) {
  const r = usePolledReport<TopReportT>(url);
  return (
    <section className="report" data-testid={testId}>
      <h2>{title}</h2>
      <ReportState loading={r.loading} error={r.error} unavailable={r.unavailable} hasData={!!r.data} />
      {r.data && r.data.items.length === 0 && <p className="empty">No attributed sales in this period yet.</p>}
      {r.data && r.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Item</th>
              <th scope="col">Revenue</th>
              <th scope="col">Orders</th>
              <th scope="col">Units</th>
            </tr>
          </thead>
          <tbody>
            {r.data.items.map((it, i) => (
              <tr key={`${it.id}-${it.currency}`}>
                <td>{i + 1}</td>
                <td>{label?.(it.id) ?? it.id}</td>
                <td>{formatMoney(it.revenueMinor, it.currency)}</td>
                <td>{it.orders}</td>
                <td>{it.units}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <a className="csv" href={`${url}${url.includes('?') ? '&' : '?'}format=csv`} download>
        Download CSV
      </a>
    </section>
  );
}

const FUNNEL_STEPS: ('impressions' | 'taps' | 'views' | 'carts' | 'checkouts' | 'purchases')[] = ['impressions', 'taps', 'views', 'carts', 'checkouts', 'purchases'];

export function FunnelReport({ url, label }: { url: string; label?(id: string): string }) {
  const r = usePolledReport<FunnelReportT>(url);
  const totals = r.data?.totals;
  const max = totals ? Math.max(1, ...FUNNEL_STEPS.map((s) => totals[s])) : 1;
  return (
    <section className="report">
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
                <td>{label?.(it.id) ?? it.id}</td>
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

/** Revenue over time as a hand-rolled SVG line chart (one line per currency). */
export function RevenueChart({ url }: { url: string }) {
  const r = usePolledReport<TimeseriesReportT>(url);
  const points = r.data?.points ?? [];
  const currencies = [...new Set(points.map((p) => p.currency))];
  const W = 600;
  const H = 200;
  const P = 30;
  const times = [...new Set(points.map((p) => p.t))].sort();
  const max = Math.max(1, ...points.map((p) => p.revenueMinor));
  const x = (t: string) => P + (times.length <= 1 ? (W - 2 * P) / 2 : ((W - 2 * P) * times.indexOf(t)) / (times.length - 1));
  const y = (v: number) => H - P - ((H - 2 * P) * v) / max;
  const total = currencies.map((c) => formatMoney(points.filter((p) => p.currency === c).reduce((s, p) => s + p.revenueMinor, 0), c)).join(', ');
  return (
    <section className="report">
      <h2>Revenue over time</h2>
      <ReportState loading={r.loading} error={r.error} unavailable={r.unavailable} hasData={!!r.data} />
      {r.data && points.length === 0 && <p className="empty">No revenue in this period yet.</p>}
      {points.length > 0 && (
        <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label={`Revenue over ${times.length} days: ${total}`}>
          <line x1={P} y1={H - P} x2={W - P} y2={H - P} className="axis" />
          <line x1={P} y1={P} x2={P} y2={H - P} className="axis" />
          <text x={P} y={P - 8} className="tick">
            {formatMoney(max, currencies[0] ?? 'USD')}
          </text>
          <text x={P} y={H - 8} className="tick">
            {times[0]?.slice(0, 10)}
          </text>
          <text x={W - P} y={H - 8} className="tick" textAnchor="end">
            {times[times.length - 1]?.slice(0, 10)}
          </text>
          {currencies.map((c, i) => {
            const series = points.filter((p) => p.currency === c).sort((a, b) => a.t.localeCompare(b.t));
            return (
              <g key={c} className={`series s${i}`}>
                <polyline fill="none" points={series.map((p) => `${x(p.t)},${y(p.revenueMinor)}`).join(' ')} />
                {series.map((p) => (
                  <circle key={p.t} cx={x(p.t)} cy={y(p.revenueMinor)} r={3}>
                    <title>
                      {p.t.slice(0, 10)}: {formatMoney(p.revenueMinor, p.currency)}, {p.orders} orders
                    </title>
                  </circle>
                ))}
              </g>
            );
          })}
        </svg>
      )}
    </section>
  );
}
