import { useState, type FormEvent } from 'react';
import { api, formatDate, type AttributionFlags } from '../api';
import { ModelSwitch, TopTable, useRange, usePolledReport } from '../reports';
import { AreaTabs, BusyButton } from '../actions';
import { useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { Empty, ErrorNote, NotFound, PageTitle, Spinner, useApi, useBusyCall } from '../ui';
import type { AttributionModel } from '../api';
import { AdminPayouts } from './Payouts';
import { RecomputeJobs } from './Recompute';

interface AccountRow {
  id: string;
  email: string;
  displayName: string;
  roles: string[];
  createdAt: string;
}

interface AccountPage {
  items: AccountRow[];
  nextCursor: string | null;
}

const ACCOUNTS_PAGE = 20;

/**
 * Accounts newest first, by role, and found by the start of an e-mail or a part of a name (`q`, sent when the form
 * is sent); "Load more accounts" reads the next page.
 */
function Accounts() {
  const [role, setRole] = useState('');
  const [q, setQ] = useState('');
  const query = `limit=${ACCOUNTS_PAGE}${role ? `&role=${role}` : ''}${q ? `&q=${encodeURIComponent(q)}` : ''}`;
  const accounts = useApi<AccountPage>(`/v1/admin/accounts?${query}`);
  const more = useBusyCall();
  const loadMore = async () => {
    const shown = accounts.data;
    if (!shown?.nextCursor) return;
    const page = await more.run(() => api<AccountPage>(`/v1/admin/accounts?${query}&cursor=${encodeURIComponent(shown.nextCursor!)}`));
    if (page) accounts.setData({ items: [...shown.items, ...page.items], nextCursor: page.nextCursor });
  };
  const search = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setQ(String(new FormData(e.currentTarget).get('q') ?? '').trim());
  };
  return (
    <section className="report wide">
      <h2>Accounts</h2>
      <div className="row">
        <form role="search" className="row" onSubmit={search}>
          <label className="inline">
            Find an account{' '}
            <input type="search" name="q" maxLength={254} placeholder="E-mail or name" defaultValue={q} />
          </label>
          <button type="submit">Find</button>
        </form>
        <label className="inline">
          Role{' '}
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            {['', 'shopper', 'creator', 'merchant', 'admin'].map((r) => (
              <option key={r} value={r}>
                {r || 'All'}
              </option>
            ))}
          </select>
        </label>
      </div>
      {accounts.loading && <Spinner />}
      {accounts.error && <ErrorNote>{accounts.error.message}</ErrorNote>}
      {accounts.data && accounts.data.items.length === 0 && <Empty>{q ? `No account matches “${q}”.` : 'No accounts.'}</Empty>}
      {accounts.data && accounts.data.items.length > 0 && (
        <table data-testid="accounts">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">E-mail</th>
              <th scope="col">Roles</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {accounts.data.items.map((a) => (
              <tr key={a.id}>
                <td>{a.displayName}</td>
                <td>{a.email}</td>
                <td>{a.roles.join(', ')}</td>
                <td className="num">{new Date(a.createdAt).toLocaleDateString('en-US', { dateStyle: 'medium' })}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {more.error && <ErrorNote>{more.error}</ErrorNote>}
      {accounts.data?.nextCursor && (
        <BusyButton type="button" className="more" busy={more.busy} busyText="Loading more accounts…" onClick={() => void loadMore()}>
          Load more accounts
        </BusyButton>
      )}
    </section>
  );
}

/** Platform operations: the overview (accounts, flagged attribution, reports) and payouts. */
export default function AdminArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  if (loading) return <Spinner />;
  if (!hasRole(account, 'admin')) return <ErrorNote>Sign in with an admin account to see this page.</ErrorNote>;
  return (
    <section>
      <AreaTabs
        label="Admin"
        path={path}
        tabs={[
          ['/admin', 'Overview'],
          ['/admin/payouts', 'Payouts'],
        ]}
      />
      {path === '/admin' ? <Overview /> : path === '/admin/payouts' ? <AdminPayouts /> : <NotFound />}
    </section>
  );
}

/** Accounts, flagged attribution, platform-wide reports. */
function Overview() {
  const [model, setModel] = useState<AttributionModel>('last_click');
  const { from, to } = useRange(30);
  const invalid = useApi<{ byReason: Record<string, number> }>('/v1/admin/attribution/invalid-tokens');
  const flags = usePolledReport<AttributionFlags>('/v1/admin/attribution/flags');
  return (
    <>
      <PageTitle>Admin</PageTitle>
      <div className="grid">
        <Accounts />
        <section className="report">
          <h2>Invalid referral tokens</h2>
          {invalid.error && <ErrorNote>{invalid.error.message}</ErrorNote>}
          {invalid.data && Object.keys(invalid.data.byReason).length === 0 && <Empty>None seen.</Empty>}
          <ul className="plain">
            {Object.entries(invalid.data?.byReason ?? {}).map(([reason, n]) => (
              <li key={reason}>
                {REASON_TEXT[`invalid_token:${reason}`] ?? reason}: <strong>{n}</strong>
              </li>
            ))}
          </ul>
          <h2>Flagged attribution</h2>
          {flags.unavailable && <p className="empty">Attribution flags are not available on this server yet.</p>}
          {flags.error && !flags.unavailable && <ErrorNote>{flags.error.message}</ErrorNote>}
          {flags.data && <FlagsView flags={flags.data} />}
        </section>
        <RecomputeJobs />
      </div>
      <ModelSwitch value={model} onChange={setModel} />
      <div className="grid">
        <TopTable title="Top creators" url={`/v1/reports/top?dimension=creator&model=${model}&from=${from}&to=${to}`} csvName="top-creators" />
        <TopTable title="Top posts" url={`/v1/reports/top?dimension=post&model=${model}&from=${from}&to=${to}`} csvName="top-posts" />
      </div>
    </>
  );
}

/** What each guard means, for people; an unknown reason shows as its code. */
const REASON_TEXT: Record<string, string> = {
  bot: 'Bot traffic',
  flood: 'Device flooding taps',
  self_referral: 'Creator buying through own tag',
  expired_token: 'Token of a removed tag',
  inactive_tag: 'Tag deactivated before the sale',
  'invalid_token:malformed': 'Malformed token',
  'invalid_token:bad_signature': 'Forged or tampered token',
  'invalid_token:unknown_key': 'Token signed with an unknown key',
  'invalid_token:unsupported_version': 'Token of an unsupported version',
  'invalid_token:product_mismatch': 'Token used on another product',
};

function FlagsView({ flags }: { flags: AttributionFlags }) {
  const byReason = new Map<string, number>();
  for (const c of flags.counts) byReason.set(c.reason, (byReason.get(c.reason) ?? 0) + c.count);
  return (
    <>
      {byReason.size === 0 ? (
        <Empty>Nothing flagged in the last 30 days.</Empty>
      ) : (
        <table aria-label="Flagged touches by reason, last 30 days">
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col" className="num">
                Last 30 days
              </th>
            </tr>
          </thead>
          <tbody>
            {[...byReason].map(([reason, n]) => (
              <tr key={reason}>
                <td>
                  {REASON_TEXT[reason] ?? reason} <code className="muted">{reason}</code>
                </td>
                <td className="num">{n}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {flags.floodedDevices.length > 0 && (
        <>
          <h3>Flooding devices</h3>
          <ul>
            {flags.floodedDevices.slice(0, 20).map((d) => (
              <li key={`${d.deviceId}-${d.minute}`}>
                <code>{d.deviceId}</code> · {formatDate(d.minute)} · {d.touches} touches
              </li>
            ))}
          </ul>
        </>
      )}
      {flags.flaggedLines.length > 0 && (
        <>
          <h3>Order lines with touches left out</h3>
          <ul>
            {flags.flaggedLines.slice(0, 20).map((l) => (
              <li key={l.lineId}>
                <code>{l.orderId}</code> · {formatDate(l.orderedAt)} · {Object.entries(l.reasons).map(([r, n]) => `${r} ${n}`).join(', ')}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
