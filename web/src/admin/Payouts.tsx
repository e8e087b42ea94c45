import { useEffect, useRef, useState, type FormEvent } from 'react';
import { BalanceFigures, BusyButton, PAYOUT_STATUS } from '../actions';
import { api, formatDate, formatMoney, type Earnings, type PayoutPageT, type PayoutT, type ReconcileViewT } from '../api';
import { navigate, useLocation } from '../router';
import { useSession } from '../session';
import { Empty, ErrorNote, PageTitle, Spinner, useApi, useKeptKeyCall } from '../ui';

const STATUSES = ['', 'processing', 'sent', 'failed', 'reversed'] as const;
type Status = (typeof STATUSES)[number];
/** What the creator id field accepts (its `pattern`); anything else in the address is not a filter. */
const CREATOR_ID = /^cre_[A-Za-z0-9]+$/;
/** Failures after which the same reversal may be retried under the same key (the first may have reached the provider). */
const RETRY_SAME_KEY = new Set(['network', 'payout_provider_unavailable', 'idempotency_in_progress']);
const CHECK_TEXT: Record<string, string> = {
  commission_booked: 'Commission entries do not add up',
  commission_reversals: 'Commission reversals do not add up',
  commission_pending: 'Pending commission misplaced',
  move_nets_to_zero: 'A move does not net to zero',
  payout_ledger: 'Payout entries do not match its status',
  payout_reversals: 'Payout reversals not booked back',
  paid_vs_payouts: 'Paid does not match the payouts',
  ledger_vs_commissions: 'Ledger does not match the commissions',
  pending_not_negative: 'Pending below zero',
  balances_vs_ledger: 'Stored balance differs from the ledger',
};

/** Every payout (by status and creator), the books' reconciliation, and taking back part or all of a sent payout. */
export function AdminPayouts() {
  // the filters live in the address (/admin/payouts?status=sent&creatorId=cre_…): a reload, a shared link and back
  // to this page keep them. Anything else there is ignored, as the merchant's order filter does.
  const { query: address } = useLocation();
  const asked = address.get('status') ?? '';
  const status: Status = (STATUSES as readonly string[]).includes(asked) ? (asked as Status) : '';
  const askedCreator = (address.get('creatorId') ?? '').trim();
  const creatorId = CREATOR_ID.test(askedCreator) ? askedCreator : '';
  const show = (next: { status: Status; creatorId: string }) => {
    const q = new URLSearchParams({ ...(next.status ? { status: next.status } : {}), ...(next.creatorId ? { creatorId: next.creatorId } : {}) }).toString();
    navigate(q ? `/admin/payouts?${q}` : '/admin/payouts', { replace: true });
  };
  const query = new URLSearchParams({ limit: '50', ...(status ? { status } : {}), ...(creatorId ? { creatorId } : {}) });
  const payouts = useApi<PayoutPageT>(`/v1/admin/payouts?${query}`);
  const reconcile = useApi<ReconcileViewT>(`/v1/admin/earnings/reconcile${creatorId ? `?${new URLSearchParams({ creatorId })}` : ''}`);
  const [reversing, setReversing] = useState<PayoutT | null>(null);
  // reversals made here: each changes the creator's balances, which are read again
  const [reversals, setReversals] = useState(0);
  const filter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    show({ status, creatorId: String(new FormData(e.currentTarget).get('creatorId') ?? '').trim() });
  };
  const reversed = (p: PayoutT) => {
    payouts.setData({ ...payouts.data!, items: payouts.data!.items.map((x) => (x.id === p.id ? p : x)) });
    setReversing(null);
    setReversals((n) => n + 1);
    reconcile.reload();
  };
  return (
    <>
      <PageTitle>Payouts</PageTitle>
      <section className="report" aria-labelledby="reconcile-title">
        <h2 id="reconcile-title">Reconciliation</h2>
        {reconcile.loading && !reconcile.data && <Spinner label="Checking the books…" />}
        {reconcile.error && <ErrorNote>{reconcile.error.message}</ErrorNote>}
        {reconcile.data && (
          <div data-testid="reconcile">
            {reconcile.data.ok ? (
              <p className="success">The books balance: ledger, commissions and payouts agree to the cent.</p>
            ) : (
              <>
                <p className="error">{reconcile.data.discrepancies.length} discrepancies found.</p>
                <table aria-label="Discrepancies">
                  <thead>
                    <tr>
                      <th scope="col">Check</th>
                      <th scope="col">Creator</th>
                      <th scope="col">Subject</th>
                      <th scope="col" className="num">Expected</th>
                      <th scope="col" className="num">Actual</th>
                    </tr>
                  </thead>
                  <tbody>
                    {reconcile.data.discrepancies.map((d, i) => (
                      <tr key={i}>
                        <td>
                          {CHECK_TEXT[d.check] ?? d.check} <code className="muted">{d.check}</code>
                        </td>
                        <td className="ids"><code>{d.creatorId}</code></td>
                        <td className="ids">{d.subject ? <code>{d.subject}</code> : '—'}</td>
                        <td className="num">{d.currency ? formatMoney(d.expectedMinor, d.currency) : d.expectedMinor}</td>
                        <td className="num">{d.currency ? formatMoney(d.actualMinor, d.currency) : d.actualMinor}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )}
          </div>
        )}
        <BusyButton type="button" className="secondary small" busy={reconcile.loading && !!reconcile.data} busyText="Checking…" onClick={reconcile.reload}>
          Check again
        </BusyButton>
      </section>
      <section className="report" aria-labelledby="payouts-title">
        <h2 id="payouts-title">All payouts</h2>
        <form className="row" onSubmit={filter} aria-label="Filter payouts">
          <label>
            Status
            <select value={status} onChange={(e) => show({ status: e.target.value as Status, creatorId })}>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s ? PAYOUT_STATUS[s] : 'All'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Creator id
            <input name="creatorId" defaultValue={creatorId} key={creatorId} placeholder="cre_…" pattern="cre_[A-Za-z0-9]+" title="A creator id, e.g. cre_01J…" />
          </label>
          <button type="submit">Filter</button>
        </form>
        {payouts.loading && !payouts.data && <Spinner />}
        {payouts.error && <ErrorNote>{payouts.error.message}</ErrorNote>}
        {payouts.data && payouts.data.items.length === 0 && <Empty>No payouts match.</Empty>}
        {payouts.data && payouts.data.items.length > 0 && (
          <table data-testid="admin-payouts">
            <thead>
              <tr>
                <th scope="col">Payout</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {payouts.data.items.map((p) => (
                <tr key={p.id}>
                  <td className="ids">
                    <code>{p.id}</code>
                    <div className="muted">
                      creator <code>{p.creatorId}</code> · {formatDate(p.createdAt)}
                    </div>
                  </td>
                  <td className="num">{formatMoney(p.amountMinor, p.currency)}</td>
                  <td>
                    <span className={`pill ${p.status}`}>{PAYOUT_STATUS[p.status]}</span>
                    {p.reversedMinor > 0 && p.status === 'sent' && <span className="hint"> {formatMoney(p.reversedMinor, p.currency)} reversed</span>}
                    {p.failureCode && <span className="hint"> ({p.failureCode})</span>}
                  </td>
                  <td>
                    {p.status === 'sent' && p.amountMinor > p.reversedMinor && (
                      <button type="button" className="small" aria-label={`Reverse payout ${p.id}`} onClick={() => setReversing(p)}>
                        Reverse…
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {creatorId && <CreatorBalances key={creatorId} creatorId={creatorId} version={reversals} />}
      {reversing && <ReverseForm key={reversing.id} payout={reversing} onDone={reversed} onCancel={() => setReversing(null)} />}
    </>
  );
}

/**
 * One creator's balances (the support view), shown with the payouts filtered to them: what a refund after a payout
 * left them owing (the carry) is netted from their next commissions, and the admin sees it here.
 */
function CreatorBalances({ creatorId, version }: { creatorId: string; version: number }) {
  const earnings = useApi<Earnings>(`/v1/admin/creators/${encodeURIComponent(creatorId)}/earnings`, [version]);
  return (
    <section className="report" aria-labelledby="creator-balances-title" data-testid="creator-balances">
      <h2 id="creator-balances-title">Creator balances</h2>
      <p className="ids muted">
        <code>{creatorId}</code>
      </p>
      {earnings.loading && !earnings.data && <Spinner />}
      {earnings.error && <ErrorNote>{earnings.error.message}</ErrorNote>}
      {earnings.data && earnings.data.balances.length === 0 && <Empty>No earnings yet.</Empty>}
      {earnings.data?.balances.map((b) => (
        // the creator's own panel's layout (it wraps on a phone, where a five-column table would scroll)
        <div key={b.currency} className="balance-card" data-testid={`creator-balance-${b.currency}`}>
          <h3>{b.currency}</h3>
          <BalanceFigures balance={b} owes={(amount) => `Owes ${amount}: refunded after it was paid out. Netted from the next commissions before any payout.`} />
        </div>
      ))}
    </section>
  );
}

/**
 * Takes back part or all of a sent payout. The Idempotency-Key is kept for a retry of the same amount after a lost
 * answer or an unavailable provider (the provider call carries it: never two reversals), renewed otherwise.
 */
function ReverseForm({ payout: p, onDone, onCancel }: { payout: PayoutT; onDone(p: PayoutT): void; onCancel(): void }) {
  const { announce } = useSession();
  const left = p.amountMinor - p.reversedMinor;
  const { busy, error, run } = useKeptKeyCall(RETRY_SAME_KEY);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (busy) return;
    const amountMinor = Math.round(Number(new FormData(e.currentTarget).get('amount')) * 100);
    const after = await run(String(amountMinor), (key) => api<PayoutT>(`/v1/admin/payouts/${p.id}/reversals`, { method: 'POST', idempotencyKey: key, body: { amountMinor } }));
    if (!after) return;
    announce(`Reversed ${formatMoney(amountMinor, p.currency)} of payout ${p.id}: it is available to the creator again.`);
    onDone(after);
  };
  return (
    <form className="action-form report" onSubmit={(e) => void submit(e)} aria-labelledby="reverse-title" aria-busy={busy}>
      <h2 id="reverse-title" ref={heading} tabIndex={-1}>
        Reverse payout <code>{p.id}</code>
      </h2>
      <p className="hint">
        {formatMoney(p.amountMinor, p.currency)} sent{p.reversedMinor > 0 && `, ${formatMoney(p.reversedMinor, p.currency)} already reversed`}. The amount is taken back from the creator's
        connected account and becomes available to them again (the next payout pays it).
      </p>
      <label>
        Amount to take back ({p.currency})
        <input name="amount" type="number" required min="0.01" max={(left / 100).toFixed(2)} step="0.01" defaultValue={(left / 100).toFixed(2)} disabled={busy} />
      </label>
      {error && <ErrorNote>{error}</ErrorNote>}
      <div className="actions">
        <BusyButton type="submit" className="danger" busy={busy} busyText="Reversing…">
          Reverse
        </BusyButton>
        <button type="button" disabled={busy} onClick={onCancel}>
          Keep it
        </button>
      </div>
    </form>
  );
}
