import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, type Account } from './api';

interface Session {
  account: Account | null;
  loading: boolean;
  setAccount(a: Account | null): void;
  logout(): Promise<void>;
  /** A short status sentence read out by screen readers (and shown as a toast). */
  announce(message: string): void;
  status: string;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [account, setAccount] = useState<Account | null>(null);
  const [loading, setLoading] = useState(true);
  const [status, setStatus] = useState('');
  useEffect(() => {
    api<Account>('/v1/me')
      .then(setAccount, (e) => {
        if (!(e instanceof ApiError) || e.status !== 401) console.warn(e);
      })
      .finally(() => setLoading(false));
  }, []);
  const logout = useCallback(async () => {
    await api('/v1/auth/logout', { method: 'POST' }).catch(() => {});
    setAccount(null);
  }, []);
  const hide = useRef<ReturnType<typeof setTimeout>>(undefined);
  const announce = useCallback((m: string) => {
    setStatus('');
    clearTimeout(hide.current);
    // a changed text node is what screen readers announce; clear first so the same sentence twice is read twice
    requestAnimationFrame(() => setStatus(m));
    hide.current = setTimeout(() => setStatus(''), 6000);
  }, []);
  return <SessionContext.Provider value={{ account, loading, setAccount, logout, announce, status }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

export function hasRole(account: Account | null, role: Account['roles'][number]): boolean {
  return !!account && account.roles.includes(role);
}
