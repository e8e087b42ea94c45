import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, type Account, type CartView } from './api';

interface Session {
  account: Account | null;
  loading: boolean;
  setAccount(a: Account | null): void;
  logout(): Promise<void>;
  /** A short status sentence read out by screen readers (and shown as a toast). */
  announce(message: string): void;
  status: string;
  /** Hides the status now (the toast's close button). */
  dismissStatus(): void;
  /** Units in the cart (anonymous or signed in), for the top bar; null until the first answer. */
  cartUnits: number | null;
  /** The cart a change answered (add, quantity, remove): the count follows it without another request. */
  cartChanged(cart: CartView): void;
  /** Reads the cart again (after a checkout emptied it). */
  refreshCart(): void;
}

export const unitsIn = (cart: CartView) => cart.lines.reduce((n, l) => n + l.quantity, 0);

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [account, setAccount] = useState<Account | null>(null);
  const [loading, setLoading] = useState(true);
  const [status, setStatus] = useState('');
  useEffect(() => {
    // /v1/auth/session answers 200 with null when signed out: /v1/me would answer 401, an error in every anonymous
    // visitor's console
    api<{ account: Account | null }>('/v1/auth/session')
      .then((s) => setAccount(s.account), () => {})
      .finally(() => setLoading(false));
  }, []);
  const [cartUnits, setCartUnits] = useState<number | null>(null);
  const cartChanged = useCallback((cart: CartView) => setCartUnits(unitsIn(cart)), []);
  const refreshCart = useCallback(() => {
    api<CartView>('/v1/cart').then(cartChanged, () => {});
  }, [cartChanged]);
  // once the session is known, and again when it changes: on sign-in the server merges the device's anonymous cart
  // into the account's before it answers this read (the request names the device by its cookie), so one read shows it
  useEffect(() => {
    if (loading) return;
    let stopped = false;
    api<CartView>('/v1/cart').then(
      (cart) => {
        if (!stopped) cartChanged(cart);
      },
      () => {},
    );
    return () => {
      stopped = true;
    };
  }, [loading, account?.id, cartChanged]);
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
  const dismissStatus = useCallback(() => {
    clearTimeout(hide.current);
    setStatus('');
  }, []);
  return <SessionContext.Provider value={{ account, loading, setAccount, logout, announce, status, dismissStatus, cartUnits, cartChanged, refreshCart }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

export function hasRole(account: Account | null, role: Account['roles'][number]): boolean {
  return !!account && account.roles.includes(role);
}
