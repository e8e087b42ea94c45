import { useState, type FormEvent } from 'react';
import { BusyButton } from '../actions';
import { api, ApiError, formatDate } from '../api';
import { ErrorNote, useApi, useInterval, useKeptKeyCall } from '../ui';

/** A recompute job (GET /v1/admin/attribution/recompute/{id}), mirrored by hand like AttributionFlags in api.ts. */
interface RecomputeJob {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  from: string;
  to: string;
  linesDone: number;
  linesTotal: number | null;
  recomputed: number;
  finishedAt: string | null;
  error: string | null;
}

const JOBS = '/v1/admin/attribution/recompute';
/** Failures after which the job may have started: a retry of the same range sends the same key. */
const RETRY_SAME_KEY = new Set(['network', 'idempotency_in_progress']);
const dayFromNow = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
/** The range is [from, until): until is not included, so it must be a later day (the same day twice holds no order). */
const EMPTY_RANGE = 'Pick an end date after the start date: the end date is not included, so the same day twice covers no orders.';

/** Recomputes the analytics credits of a range under other windows: a worker runs the job, this polls its progress. */
export function RecomputeJobs() {
  const latest = useApi<{ items: RecomputeJob[] }>(`${JOBS}?limit=1`);
  // a retry after a lost answer keeps the key, so it gets the job the first request started instead of a second one
  const { busy, error, run } = useKeptKeyCall(RETRY_SAME_KEY);
  // the range refused before sending (or by the server, whose words for invalid_range speak of report periods)
  const [rangeError, setRangeError] = useState<string | null>(null);
  const job = latest.data?.items[0];
  const active = job?.status === 'queued' || job?.status === 'running';
  useInterval(() => active && latest.reload(), 1000);
  const start = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = {
      from: new Date(String(f.get('from'))).toISOString(),
      to: new Date(String(f.get('to'))).toISOString(),
      clickWindowDays: Number(f.get('clickWindowDays')),
      viewWindowHours: Number(f.get('viewWindowHours')),
    };
    if (!(Date.parse(body.from) < Date.parse(body.to))) {
      setRangeError(EMPTY_RANGE);
      return;
    }
    setRangeError(null);
    return run(JSON.stringify(body), async (key) => {
      try {
        latest.setData({ items: [await api<RecomputeJob>(JOBS, { method: 'POST', idempotencyKey: key, body })] });
      } catch (err) {
        if (err instanceof ApiError && err.code === 'invalid_range') setRangeError(EMPTY_RANGE);
        throw err;
      }
    });
  };
  return (
    <section className="report">
      <h2>Recompute attribution</h2>
      <form onSubmit={(e) => void start(e)} className="action-form" aria-label="Recompute attribution">
        <label>
          Orders from <input name="from" type="date" required defaultValue={dayFromNow(-7)} />
        </label>
        <label>
          until (not included) <input name="to" type="date" required defaultValue={dayFromNow(1)} />
        </label>
        <label>
          Click window, days <input name="clickWindowDays" type="number" min="0.01" max="365" step="any" required defaultValue="7" />
        </label>
        <label>
          View window, hours <input name="viewWindowHours" type="number" min="0.01" max="8760" step="any" required defaultValue="24" />
        </label>
        {(rangeError ?? error) && <ErrorNote>{rangeError ?? error}</ErrorNote>}
        <BusyButton type="submit" busy={busy || active} busyText={active ? 'Recomputing…' : 'Starting…'}>
          Recompute
        </BusyButton>
      </form>
      {job && (
        <p role="status" data-testid="recompute-job">
          {formatDate(job.from)} – {formatDate(job.to)}: <strong>{job.status}</strong>, {job.linesDone}
          {job.linesTotal !== null && ` of ${job.linesTotal}`} lines, {job.recomputed} changed
          {active && <progress value={job.linesDone} max={job.linesTotal || 1} aria-label="Recompute progress" />}
          {job.error && <span className="error"> {job.error}</span>}
        </p>
      )}
    </section>
  );
}
