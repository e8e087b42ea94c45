// Busy buttons and downloads for the back-office areas (lazy chunks only: kept out of the shopper's first view).
import { type ButtonHTMLAttributes, type FormEvent, type ReactNode } from 'react';
import { ApiError, errorOf, formatMoney, readBody, type Earnings, type PayoutPageT } from './api';
import { Link } from './router';
import { ErrorNote, PageTitle, useBusyCall } from './ui';

/** A file download (CSV exports, statements) as a Blob, with the server's file name; failures are ApiErrors. */
export async function apiDownload(url: string): Promise<{ blob: Blob; filename: string | null }> {
  let res: Response;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'network error');
  }
  if (!res.ok) throw errorOf(res, await readBody(res));
  const filename = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? null;
  return { blob: await res.blob(), filename };
}

/** A button for slow or money-moving work: while `busy` it is disabled, aria-busy, and says what it is doing. */
export function BusyButton({ busy, busyText, children, disabled, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { busy: boolean; busyText: string }) {
  return (
    <button {...rest} disabled={busy || disabled} aria-busy={busy}>
      {busy ? (
        <>
          <span className="spinner" aria-hidden="true" /> {busyText}
        </>
      ) : (
        children
      )}
    </button>
  );
}

/**
 * Downloads a file through fetch rather than a plain link, so the button shows progress while the server builds the
 * export and a failure says what happened instead of saving an error page as a .csv.
 */
export function DownloadButton({ url, filename, children }: { url: string; filename: string; children: ReactNode }) {
  const { busy, error, run: runBusy } = useBusyCall();
  const run = () =>
    runBusy(async () => {
      const file = await apiDownload(url);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file.blob);
      a.download = file.filename ?? filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    });
  return (
    <span className="download">
      <BusyButton type="button" className="secondary small" busy={busy} busyText="Preparing file…" onClick={() => void run()}>
        {children}
      </BusyButton>
      {error && <ErrorNote>{error}</ErrorNote>}
    </span>
  );
}

/**
 * A page that is one form (a creator's profile, a merchant's shop): `save` gets the fields; while it runs the button
 * is busy, and a refusal is shown in words under the fields.
 */
export function FormPage({ title, intro, submit, save, children }: { title: string; intro?: ReactNode; submit: string; save(f: FormData): Promise<void>; children: ReactNode }) {
  const { busy, error, run } = useBusyCall();
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const fields = new FormData(e.currentTarget);
    return run(() => save(fields));
  };
  return (
    <section className="narrow">
      <PageTitle>{title}</PageTitle>
      {intro && <p>{intro}</p>}
      <form onSubmit={(e) => void onSubmit(e)} className="action-form">
        {children}
        {error && <ErrorNote>{error}</ErrorNote>}
        <BusyButton type="submit" className="primary" busy={busy} busyText="Saving…">
          {submit}
        </BusyButton>
      </form>
    </section>
  );
}

/** An area's tabs (creator, admin): links, the current one marked for people and assistive tech. */
export function AreaTabs({ label, path, tabs }: { label: string; path: string; tabs: [to: string, label: string][] }) {
  return (
    <nav className="tabs" aria-label={label}>
      {tabs.map(([to, text]) => (
        <Link key={to} to={to} aria-current={path === to ? 'page' : undefined}>
          {text}
        </Link>
      ))}
    </nav>
  );
}

/** A payout's status in words (the creator's payouts table and the admin's). */
export const PAYOUT_STATUS: Record<PayoutPageT['items'][number]['status'], string> = { processing: 'On its way', sent: 'Sent', failed: 'Refused', reversed: 'Reversed (available again)' };

/**
 * A creator's balance in one currency, bucket by bucket (the creator's panel and the admin's view of a creator), and
 * what the creator owes when a refund came after the commission was paid out (`owes` words it for the reader).
 */
export function BalanceFigures({ balance: b, availableTestId, owes }: { balance: Earnings['balances'][number]; availableTestId?: string; owes(amount: string): string }) {
  return (
    <>
      <dl className="balances">
        <div>
          <dt>Pending</dt>
          <dd>{formatMoney(b.pendingMinor, b.currency)}</dd>
        </div>
        <div>
          <dt>Available</dt>
          <dd data-testid={availableTestId}>{formatMoney(b.availableMinor, b.currency)}</dd>
        </div>
        <div>
          <dt>In transit</dt>
          <dd>{formatMoney(b.inTransitMinor, b.currency)}</dd>
        </div>
        <div>
          <dt>Paid</dt>
          <dd>{formatMoney(b.paidMinor, b.currency)}</dd>
        </div>
      </dl>
      {b.negativeCarryMinor > 0 && <p className="hint">{owes(formatMoney(b.negativeCarryMinor, b.currency))}</p>}
    </>
  );
}
