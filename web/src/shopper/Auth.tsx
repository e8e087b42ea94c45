import { useState, type FormEvent } from 'react';
import { api, messageFor, type Account } from '../api';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import { ErrorNote, PageTitle } from '../ui';

const HOME: Record<Account['roles'][number], string> = { shopper: '/', creator: '/creator', merchant: '/merchant', admin: '/admin' };

/** Sign in or sign up; afterwards each role lands on its own area (or on ?next=). */
export function AuthPage({ mode }: { mode: 'login' | 'signup' }) {
  const { setAccount, announce } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body: Record<string, string> = { email: String(f.get('email')), password: String(f.get('password')) };
    if (mode === 'signup') {
      body.displayName = String(f.get('displayName'));
      body.role = String(f.get('role'));
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ account: Account }>(mode === 'login' ? '/v1/auth/login' : '/v1/auth/signup', { method: 'POST', body });
      setAccount(r.account);
      announce(`Signed in as ${r.account.displayName}.`);
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') ? next : HOME[r.account.roles[0] ?? 'shopper']);
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="auth narrow">
      <PageTitle>{mode === 'login' ? 'Sign in' : 'Create an account'}</PageTitle>
      <form onSubmit={(e) => void submit(e)} aria-busy={busy}>
        {mode === 'signup' && (
          <>
            <label>
              Your name
              <input name="displayName" required maxLength={80} autoComplete="name" />
            </label>
            <label>
              I am a
              <select name="role" defaultValue="shopper">
                <option value="shopper">Shopper</option>
                <option value="creator">Creator</option>
                <option value="merchant">Merchant</option>
              </select>
            </label>
          </>
        )}
        <label>
          E-mail
          <input name="email" type="email" required autoComplete="email" />
        </label>
        <label>
          Password
          <input name="password" type="password" required minLength={mode === 'signup' ? 10 : 1} autoComplete={mode === 'login' ? 'current-password' : 'new-password'} />
        </label>
        {error && <ErrorNote>{error}</ErrorNote>}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Please wait…' : mode === 'login' ? 'Sign in' : 'Create account'}
        </button>
      </form>
      <p>
        {mode === 'login' ? (
          <>
            New here? <Link to="/signup">Create an account</Link>
          </>
        ) : (
          <>
            Have an account? <Link to="/login">Sign in</Link>
          </>
        )}
      </p>
    </section>
  );
}
