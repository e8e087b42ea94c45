import { Component, lazy, Suspense, type ReactNode } from 'react';
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
  const { account, logout, status, cartUnits } = useSession();
  const { path } = useLocation();
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
      <header className="topbar">
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
            <Route path={path} />
          </Suspense>
        </ErrorBoundary>
      </main>
      <div className="toast" role="status" aria-live="polite" aria-atomic="true">
        {status}
      </div>
    </>
  );
}

function Route({ path }: { path: string }) {
  if (path === '/') return <Feed />;
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
