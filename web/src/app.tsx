import { Component, lazy, Suspense, useCallback, type ReactNode } from 'react';
import { Link, useLocation } from './router';
import { hasRole, SessionProvider, useSession } from './session';
import { NotFound, Spinner } from './ui';
import { Feed } from './shopper/Feed';
import { AuthPage } from './shopper/Auth';
import { CartPage } from './shopper/Cart';
import { OrderPage, OrdersPage } from './shopper/Orders';

// Creator, merchant and admin areas are separate chunks: a shopper never downloads them.
const CreatorArea = lazy(() => import('./creator/CreatorArea'));
const MerchantArea = lazy(() => import('./merchant/MerchantArea'));
const AdminArea = lazy(() => import('./admin/AdminArea'));

export function App() {
  return (
    <SessionProvider>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const { account, logout, status, dismissStatus, cartUnits } = useSession();
  const topbar = useTopbarHeight();
  const { path, entry } = useLocation();
  const navLink = (to: string, label: string, extra?: ReactNode) => (
    <Link to={to} aria-current={path === to || (to !== '/' && path.startsWith(`${to}/`)) ? 'page' : undefined}>
      {label}
      {extra}
    </Link>
  );
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar" ref={topbar}>
        <Link to="/" className="brand">
          feedshop
        </Link>
        <nav aria-label="Main">
          {navLink('/', 'Feed')}
          {navLink(
            '/cart',
            'Cart',
            // the number is shown; the link's name says what it counts ("Cart, 3 items")
            !!cartUnits && (
              <>
                <span className="cart-count" aria-hidden="true" data-testid="cart-count">
                  {cartUnits}
                </span>
                <span className="visually-hidden">
                  , {cartUnits} item{cartUnits === 1 ? '' : 's'}
                </span>
              </>
            ),
          )}
          {account && navLink('/orders', 'Orders')}
          {hasRole(account, 'creator') && navLink('/creator', 'Creator')}
          {hasRole(account, 'merchant') && navLink('/merchant', 'Merchant')}
          {hasRole(account, 'admin') && navLink('/admin', 'Admin')}
          {account ? (
            <button type="button" className="link" onClick={() => void logout()}>
              Sign out
            </button>
          ) : (
            navLink('/login', 'Sign in')
          )}
        </nav>
      </header>
      <main id="main">
        <ErrorBoundary key={path}>
          <Suspense fallback={<Spinner />}>
            <Route path={path} entry={entry} />
          </Suspense>
        </ErrorBoundary>
      </main>
      {/* under the top bar, not over the bottom of the screen where a phone's main buttons are (the sheet's, Pay);
          the strip around it lets taps through (CSS), the message itself can be closed */}
      <div className="toast">
        <div className={status ? 'toast-body' : 'toast-body idle'}>
          <p role="status" aria-live="polite" aria-atomic="true">
            {status}
          </p>
          {status && (
            <button type="button" className="toast-close" aria-label="Dismiss message" onClick={dismissStatus}>
              ×
            </button>
          )}
        </div>
      </div>
    </>
  );
}

/** Keeps `--topbar-height` (the sticky top bar wraps on a phone) for what is placed under it: the toast. */
function useTopbarHeight() {
  return useCallback((el: HTMLElement | null) => {
    if (!el) return;
    const ro = new ResizeObserver(() => document.documentElement.style.setProperty('--topbar-height', `${el.offsetHeight}px`));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
}

function Route({ path, entry }: { path: string; entry: string }) {
  // one feed per history entry: the Feed link is a new visit (the first page), back to an entry shows what it showed
  if (path === '/') return <Feed key={entry} />;
  if (path === '/login') return <AuthPage mode="login" />;
  if (path === '/signup') return <AuthPage mode="signup" />;
  if (path === '/cart') return <CartPage />;
  if (path === '/orders') return <OrdersPage />;
  const order = /^\/orders\/([^/]+)$/.exec(path);
  if (order) return <OrderPage id={order[1]!} />;
  const under = (area: string) => path === area || path.startsWith(`${area}/`);
  if (under('/creator')) return <CreatorArea />;
  if (under('/merchant')) return <MerchantArea />;
  if (under('/admin')) return <AdminArea />;
  return <NotFound />;
}

/** A page that throws (or a lazy chunk that fails to load) shows a way out instead of a blank screen. */
class ErrorBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  override componentDidCatch(error: unknown) {
    console.error(error);
  }
  override render() {
    if (!this.state.failed) return this.props.children;
    return (
      <section role="alert">
        <h1>Something went wrong on this page</h1>
        <p>
          Reload the page to try again, or go <Link to="/">back to the feed</Link>.
        </p>
      </section>
    );
  }
}
