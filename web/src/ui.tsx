import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, messageFor, newIdempotencyKey } from './api';
import { Link } from './router';

/** Loads a URL; reload() refetches. Errors come back as a sentence for people. */
export function useApi<T>(url: string | null, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<{ message: string; code?: string; status?: number } | null>(null);
  const [loading, setLoading] = useState(!!url);
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!url) return;
    const ctl = new AbortController();
    setLoading(true);
    api<T>(url, { signal: ctl.signal }).then(
      (d) => {
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if ((e as Error).name === 'AbortError') return;
        setError({ message: messageFor(e), code: (e as { code?: string }).code, status: (e as { status?: number }).status });
        setLoading(false);
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, n, ...deps]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  // data the page got otherwise (the answer of a change it made) replaces the loaded data and any failure to load it
  const replace = useCallback((d: T) => {
    setData(d);
    setError(null);
  }, []);
  return { data, error, loading, reload, setData: replace };
}

/**
 * A money-moving call under an Idempotency-Key kept for a retry of the same attempt: `run(attempt, call)` reuses the
 * key while `attempt` (what the request carries) is unchanged and the last failure is one of `retrySameKey` (after
 * which the first may still have completed), and renews it otherwise. Busy state and the failure in words come with it.
 */
export function useKeptKeyCall(retrySameKey: ReadonlySet<string>) {
  const { busy, error, run: runBusy } = useBusyCall();
  const key = useRef<{ key: string; attempt: string } | null>(null);
  const run = <T,>(attempt: string, call: (key: string) => Promise<T>): Promise<T | undefined> => {
    if (!key.current || key.current.attempt !== attempt) key.current = { key: newIdempotencyKey(), attempt };
    const kept = key.current.key;
    return runBusy(
      async () => {
        const result = await call(kept);
        key.current = null;
        return result;
      },
      (err) => {
        if (!(err instanceof ApiError && retrySameKey.has(err.code))) key.current = null;
      },
    );
  };
  return { busy, error, run };
}

/**
 * A person's action (a form sent, a file prepared): `busy` while `run(call)` runs, and its failure in words, cleared
 * when the next run starts (`onError` sees the failure first). Answers the call's result, or undefined if it failed.
 */
export function useBusyCall() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async <T,>(call: () => Promise<T>, onError?: (err: unknown) => void): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await call();
    } catch (err) {
      onError?.(err);
      setError(messageFor(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** Refetches every `ms` while mounted (new sales appear without a reload). */
export function useInterval(fn: () => void, ms: number) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const id = setInterval(() => ref.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function ErrorNote({ children }: { children: ReactNode }) {
  return (
    <p className="error" role="alert">
      {children}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** The page heading takes focus on navigation, so screen readers hear where they landed. */
export function PageTitle({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
    document.title = `${typeof children === 'string' ? children : 'feedshop'} · feedshop`;
  }, [children]);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-title">
      {children}
    </h1>
  );
}


/** A path no page answers (a mistyped or stale link): says so and offers a way back. */
export function NotFound() {
  return (
    <section>
      <PageTitle>Page not found</PageTitle>
      <p>
        <Link to="/">Back to the feed</Link>
      </p>
    </section>
  );
}
