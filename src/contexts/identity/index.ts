// Public surface of the identity context. CONTRACT: other contexts rely on these signatures.
import type { Authenticator, Role } from '../../platform/auth';
import type { ContextDeps, ContextModule } from '../../platform/context';
import { identityMigrations } from './identity.migrations';
import { createIdentityRepository } from './identity.repository';
import { identityRoutes } from './identity.routes';
import { createIdentityService, type AccountSummary, type NewSession, type SignUpRole } from './identity.service';
import type { ListFailure, LogInFailure, SignUpFailure } from './identity.errors';
import './identity.events';

export type { AccountSummary, NewSession, SignUpRole } from './identity.service';

export interface IdentityService {
  authenticate: Authenticator;
  /** Creates an account (used by sign-up and by the seed; admins only via the seed/CLI). */
  createAccount(input: { email: string; password: string; displayName: string; roles: Role[] }): Promise<{ ok: true; account: AccountSummary } | SignUpFailure>;
  /** Bulk account creation sharing one password (large seeded worlds). */
  importAccounts(rows: ReadonlyArray<{ email: string; displayName: string; roles: Role[] }>, password: string): Promise<string[]>;
  /** Sign-up: a non-admin account and its first session, created together. */
  signUp(input: { email: string; password: string; displayName: string; role: SignUpRole; deviceId?: string | undefined }): Promise<({ ok: true } & NewSession) | SignUpFailure>;
  /** Password log-in; returns a session token. */
  logIn(input: { email: string; password: string; ip: string; deviceId?: string | undefined }): Promise<({ ok: true } & NewSession) | LogInFailure>;
  /** Revokes a session. */
  logOut(sessionId: string): Promise<void>;
  getAccount(id: string): Promise<AccountSummary | null>;
  getAccounts(ids: readonly string[]): Promise<Map<string, AccountSummary>>;
  listAccounts(q: { role?: Role | undefined; cursor?: string | undefined; limit: number }): Promise<{ ok: true; items: AccountSummary[]; nextCursor: string | null } | ListFailure>;
}

export function createIdentityContext(deps: ContextDeps): ContextModule<IdentityService> {
  const service = createIdentityService(deps, createIdentityRepository(deps.db));
  return {
    name: 'identity',
    migrations: identityMigrations,
    service,
    routes: (app) => identityRoutes(app, service, { cookieSecure: deps.config.cookieSecure, sessionTtlHours: deps.config.sessionTtlHours }),
  };
}
