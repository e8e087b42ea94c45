// Busy buttons and downloads for the back-office areas (lazy chunks only: kept out of the shopper's first view).
import { useState, type ButtonHTMLAttributes, type ReactNode } from 'react';
import { ApiError, errorOf, messageFor, readBody } from './api';
import { ErrorNote } from './ui';

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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const file = await apiDownload(url);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file.blob);
      a.download = file.filename ?? filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    } catch (e) {
      setError(messageFor(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="download">
      <BusyButton type="button" className="secondary small" busy={busy} busyText="Preparing file…" onClick={() => void run()}>
        {children}
      </BusyButton>
      {error && <ErrorNote>{error}</ErrorNote>}
    </span>
  );
}
