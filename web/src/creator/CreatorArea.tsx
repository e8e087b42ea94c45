import { useMemo, useState, type FormEvent } from 'react';
import { api, formatDate, formatMoney, messageFor, newIdempotencyKey, type AttributionModel, type CreatorView, type OwnCreatorProfileT, type Earnings, type PayoutPageT, type PostView, type StatementListT, type PayoutAccountView } from '../api';
import { FunnelReport, ModelSwitch, POLL_MS, RevenueChart, TopTable, useRange } from '../reports';
import { useLocation } from '../router';
import { hasRole, useSession } from '../session';
import { AreaTabs, BalanceFigures, BusyButton, DownloadButton, FormPage, PAYOUT_STATUS } from '../actions';
import { NewPost } from './NewPost';
import { YourPosts } from './YourPosts';
import { Empty, ErrorNote, NotFound, PageTitle, Spinner, useApi, useInterval } from '../ui';

/** The creator's area: dashboard (attributed sales, funnel, revenue, earnings, payouts, statements) and posting. */
export default function CreatorArea() {
  const { account, loading } = useSession();
  const { path } = useLocation();
  // `{ creator: null }` before the profile is set up (GET /v1/creators/me would answer a 404 the console logs)
  const profile = useApi<OwnCreatorProfileT>(hasRole(account, 'creator') ? '/v1/creator/profile' : null);
  const saved = (creator: CreatorView) => profile.setData({ creator });
  if (loading) return <Spinner />;
  if (!hasRole(account, 'creator')) return <ErrorNote>Sign in with a creator account to see this page.</ErrorNote>;
  if (profile.error) return <ErrorNote>{profile.error.message}</ErrorNote>;
  if (!profile.data) return <Spinner />;
  const me = profile.data.creator;
  if (!me) return <ProfileForm current={null} onSaved={saved} />;
  return (
    <section>
      <AreaTabs
        label="Creator"
        path={path}
        tabs={[
          ['/creator', 'Dashboard'],
          ['/creator/new', 'New post'],
          ['/creator/posts', 'Your posts'],
          ['/creator/profile', 'Profile'],
        ]}
      />
      {path === '/creator/new' ? (
        <NewPost />
      ) : path === '/creator/posts' ? (
        <YourPosts me={me} />
      ) : path === '/creator/profile' ? (
        <ProfileForm current={me} onSaved={saved} />
      ) : path === '/creator' ? (
        <Dashboard me={me} />
      ) : (
        <NotFound />
      )}
    </section>
  );
}

/** The creator profile (handle, name, bio): set up once before anything else, edited under Profile. */
function ProfileForm({ current, onSaved }: { current: CreatorView | null; onSaved(c: CreatorView): void }) {
  const { account, announce } = useSession();
  const save = async (f: FormData) => {
    const body = { handle: String(f.get('handle')).trim().toLowerCase(), displayName: String(f.get('displayName')).trim(), bio: String(f.get('bio') ?? '').trim() };
    const saved = await api<CreatorView>('/v1/creators/me', { method: 'PUT', body });
    announce(current ? 'Profile saved.' : `Welcome, @${saved.handle}. Your profile is set up.`);
    onSaved(saved);
  };
  return (
    <FormPage
      title={current ? 'Your profile' : 'Set up your creator profile'}
      intro={!current && 'Shoppers see your handle and name on every post. You can change them later.'}
      submit={current ? 'Save profile' : 'Create profile'}
      save={save}
    >
      <label>
        Handle
        <input name="handle" required pattern="[a-z0-9_]{3,30}" maxLength={30} defaultValue={current?.handle ?? ''} autoCapitalize="none" aria-describedby="handle-hint" />
      </label>
      <p id="handle-hint" className="hint">
        3 to 30 lowercase letters, digits or _; shown as @handle.
      </p>
      <label>
        Display name
        <input name="displayName" required maxLength={80} defaultValue={current?.displayName ?? account?.displayName ?? ''} />
      </label>
      <label>
        Bio (optional)
        <textarea name="bio" maxLength={500} rows={2} defaultValue={current?.bio ?? ''} />
      </label>
    </FormPage>
  );
}

function Dashboard({ me }: { me: CreatorView }) {
  const [model, setModel] = useState<AttributionModel>('last_click');
  const { from, to } = useRange(30);
  const posts = useApi<{ posts: PostView[] }>(`/v1/creators/${me.id}/posts?limit=50`);
  // the newest 50 name most report rows in one request; an older post is left to the reports' own look-up by id
  // (GET /v1/posts/:id, once per id). An untitled post is said in words: its id used to show.
  const captions = useMemo(() => new Map((posts.data?.posts ?? []).map((p) => [p.id, p.caption || 'Untitled post'])), [posts.data]);
  const label = (id: string) => captions.get(id);
  return (
    <>
      <PageTitle>Creator dashboard</PageTitle>
      <ModelSwitch value={model} onChange={setModel} />
      <div className="grid">
        <TopTable title="Posts by attributed revenue" url={`/v1/reports/top?dimension=post&model=${model}&from=${from}&to=${to}`} label={label} testId="top-posts" csvName="top-posts" />
        <RevenueChart url={`/v1/reports/timeseries?granularity=day&model=${model}&from=${from}&to=${to}`} />
        <FunnelReport url={`/v1/reports/funnel?by=post&from=${from}&to=${to}`} label={label} />
        <EarningsPanel />
      </div>
    </>
  );
}

function EarningsPanel() {
  const earnings = useApi<Earnings>('/v1/creator/earnings');
  const payouts = useApi<PayoutPageT>('/v1/creator/payouts');
  const statements = useApi<StatementListT>('/v1/creator/statements');
  // `{ account: null }` until one is saved (a 200, not a 404 the console would log on every visit)
  const account = useApi<PayoutAccountView | { account: null }>('/v1/creator/payout-account');
  const saved = account.data && 'accountId' in account.data ? account.data : null;
  useInterval(earnings.reload, POLL_MS);
  useInterval(statements.reload, POLL_MS);
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const request = async (currency: string) => {
    setBusy(currency);
    setNote(null);
    try {
      const p = await api<{ amountMinor: number; currency: string; status: string }>('/v1/creator/payouts', { method: 'POST', idempotencyKey: newIdempotencyKey(), body: { currency } });
      setNote({ ok: true, text: `Payout of ${formatMoney(p.amountMinor, p.currency)} ${p.status === 'sent' ? 'sent' : 'requested; it is on its way'}.` });
      earnings.reload();
      payouts.reload();
    } catch (e) {
      setNote({ ok: false, text: messageFor(e) });
    } finally {
      setBusy(null);
    }
  };
  if (earnings.error?.status === 404)
    return (
      <section className="report">
        <h2>Earnings</h2>
        <p className="empty">Earnings are not available on this server yet.</p>
      </section>
    );
  const minimum = earnings.data?.minimumPayoutMinor ?? 0;
  return (
    <section className="report" data-testid="earnings">
      <h2>Earnings</h2>
      {earnings.loading && !earnings.data && <Spinner />}
      {earnings.error && <ErrorNote>{earnings.error.message}</ErrorNote>}
      {earnings.data && earnings.data.balances.length === 0 && <Empty>No earnings yet. Your commission on each sale through your tags shows here.</Empty>}
      {earnings.data?.balances.map((b) => (
        <div key={b.currency} className="balance-card">
          <BalanceFigures
            balance={b}
            availableTestId={`available-${b.currency}`}
            owes={(amount) => `You owe ${amount}: a sale was refunded after its commission was paid out. Your next commissions cover it before your next payout.`}
          />
          <BusyButton type="button" className="primary" busy={busy === b.currency} busyText="Requesting payout…" disabled={busy !== null || b.availableMinor < minimum || saved?.canReceiveTransfers === false} onClick={() => void request(b.currency)}>
            Request payout ({b.currency})
          </BusyButton>
          {b.availableMinor < minimum && <p className="hint">Payouts start at {formatMoney(minimum, b.currency)} available. Commissions become available after the return window.</p>}
        </div>
      ))}
      {earnings.data?.nextPayoutAt && <p className="muted">Next scheduled payout {formatDate(earnings.data.nextPayoutAt)}.</p>}
      {note && (note.ok ? <p role="status" className="success">{note.text}</p> : <ErrorNote>{note.text}</ErrorNote>)}
      {/* not before the saved account is known: the form would offer "Save account" to a creator who has one, and a late
          answer to that read could undo a save made meanwhile */}
      {(account.data !== undefined || account.error) && <PayoutAccountForm current={saved} onSaved={(a) => account.setData(a)} />}
      <h3>Payouts</h3>
      {payouts.data && payouts.data.items.length === 0 && <Empty>No payouts yet.</Empty>}
      {payouts.data && payouts.data.items.length > 0 && (
        <table data-testid="payouts">
          <thead>
            <tr>
              <th scope="col">Requested</th>
              <th scope="col" className="num">
                Amount
              </th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {payouts.data.items.map((p) => (
              <tr key={p.id}>
                <td>{formatDate(p.createdAt)}</td>
                <td className="num">{formatMoney(p.amountMinor, p.currency)}</td>
                <td>
                  <span className={`pill ${p.status}`}>{PAYOUT_STATUS[p.status]}</span>
                  {p.status === 'sent' && p.reversedMinor > 0 && <span className="hint"> {formatMoney(p.reversedMinor, p.currency)} reversed (available again)</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Statements</h3>
      {statements.data && statements.data.items.length === 0 && <Empty>No statements yet. A statement appears for each month with activity.</Empty>}
      <ul className="plain">
        {statements.data?.items.map((s) => (
          <li key={s.month}>
            <DownloadButton url={s.url} filename={`statement-${s.month}.csv`}>
              Statement {s.month} (CSV, {s.entries} entries)
            </DownloadButton>
          </li>
        ))}
      </ul>
    </section>
  );
}


function PayoutAccountForm({ current, onSaved }: { current: PayoutAccountView | null; onSaved(a: PayoutAccountView): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const accountId = String(new FormData(e.currentTarget).get('accountId')).trim();
    setBusy(true);
    setError(null);
    try {
      onSaved(await api<PayoutAccountView>('/v1/creator/payout-account', { method: 'PUT', body: { accountId } }));
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="row payout-account" onSubmit={(e) => void save(e)}>
      <label>
        Payout account
        <input name="accountId" defaultValue={current?.accountId ?? ''} key={current?.accountId ?? ''} required pattern="acct_[A-Za-z0-9]{1,64}" placeholder="acct_…" />
      </label>
      <BusyButton type="submit" busy={busy} busyText="Checking account…">
        {current ? 'Change account' : 'Save account'}
      </BusyButton>
      {current?.canReceiveTransfers && <p className="hint">Payouts go to {current.accountId}.</p>}
      {current && !current.canReceiveTransfers && (
        <ErrorNote>
          {current.accountId} cannot receive transfers ({current.restrictedReason}). Payouts wait until your account is fixed with the provider; your balance stays available.
        </ErrorNote>
      )}
      {error && <ErrorNote>{error}</ErrorNote>}
    </form>
  );
}
