import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Principal, Role } from '../../platform/auth';
import { sha256 } from '../../platform/hashing';
import type { ContextDeps } from '../../platform/context';
import { isId, newId } from '../../platform/ids';
import type { ListFailure, LogInFailure, SignUpFailure } from './identity.errors';
import { burnPasswordCheck, hashPassword, verifyPassword } from './identity.passwords';
import type { AccountView, Executor, IdentityRepository } from './identity.repository';
import './identity.events';

export interface AccountSummary {
  id: string;
  email: string;
  displayName: string;
  roles: Role[];
  createdAt: Date;
}

export type SignUpRole = Exclude<Role, 'admin'>;

/** A new session: the token exists only in this value (and the client); the database keeps its SHA-256. */
export interface NewSession {
  token: string;
  expiresAt: Date;
  account: AccountSummary;
}

/**
 * Per-process cache of resolved tokens. Every request authenticates, so a hit saves a query; entries live at most
 * CACHE_TTL_MS, which bounds how long ANOTHER process may still honour a token revoked elsewhere (log-out evicts
 * the local entry at once). Freshness is process time; session expiry is business time (the injected clock).
 */
const CACHE_TTL_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;

const toSummary = (row: AccountView): AccountSummary => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  roles: row.roles,
  createdAt: row.created_at,
});

const normalizeEmail = (email: string) => email.trim().toLowerCase();
// every request authenticates: one-shot hashing (see hashing.ts)
const hashToken = (token: string) => sha256(token, 'hex');
const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');

export function createIdentityService(deps: ContextDeps, repo: IdentityRepository) {
  const { clock, config, outbox } = deps;
  const cache = new Map<string, { principal: Principal; sessionExpiresAt: number; freshUntil: number }>();

  async function insertAccount(trx: Executor, input: { email: string; passwordHash: string; displayName: string; roles: Role[] }): Promise<AccountSummary | null> {
    const row = {
      id: newId('account'),
      email: normalizeEmail(input.email),
      display_name: input.displayName,
      roles: [...new Set(input.roles)],
      password_hash: input.passwordHash,
      created_at: clock.now(),
    };
    if (!(await repo.insertAccount(trx, row))) return null;
    await outbox.publish(trx, 'identity.account.created', { accountId: row.id, roles: row.roles });
    return toSummary(row);
  }

  async function startSession(trx: Executor, account: AccountSummary, deviceId: string | undefined): Promise<NewSession> {
    const token = randomBytes(32).toString('base64url');
    const now = clock.now();
    const expiresAt = new Date(now.getTime() + config.sessionTtlHours * 3_600_000);
    await repo.insertSession(trx, {
      id: newId('session'),
      account_id: account.id,
      token_hash: hashToken(token),
      device_id: deviceId ?? null,
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
    });
    // same transaction as the session: the device's anonymous touches move to the account exactly when it signs in
    if (deviceId) await outbox.publish(trx, 'identity.device.linked', { accountId: account.id, deviceId });
    return { token, expiresAt, account };
  }

  function remember(tokenHash: string, principal: Principal, sessionExpiresAt: Date): void {
    if (cache.size >= CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(tokenHash, { principal, sessionExpiresAt: sessionExpiresAt.getTime(), freshUntil: performance.now() + CACHE_TTL_MS });
  }

  return {
    /** Resolves a session token to its principal, or null when unknown, expired or revoked (one indexed query, cached ≤ 2 s). */
    async authenticate(token: string): Promise<Principal | null> {
      const tokenHash = hashToken(token);
      const now = clock.now();
      const hit = cache.get(tokenHash);
      if (hit && hit.freshUntil > performance.now() && hit.sessionExpiresAt > now.getTime()) return hit.principal;
      if (hit) cache.delete(tokenHash);
      const row = await repo.findLiveSession(tokenHash, now);
      if (!row) return null;
      const principal: Principal = { accountId: row.account_id, sessionId: row.session_id, roles: row.roles };
      remember(tokenHash, principal, row.expires_at);
      return principal;
    },

    /** Creates an account with a scrypt-hashed password and announces it; a taken e-mail (any case) is refused. */
    async createAccount(input: { email: string; password: string; displayName: string; roles: Role[] }): Promise<{ ok: true; account: AccountSummary } | SignUpFailure> {
      const passwordHash = await hashPassword(input.password);
      const account = await repo.db.transaction().execute((trx) => insertAccount(trx, { ...input, passwordHash }));
      return account ? { ok: true, account } : { ok: false, code: 'email_taken' };
    },

    /**
     * Bulk-creates accounts that share one password (seeding large worlds: hashing once instead of per account);
     * e-mails already taken are skipped. Returns the ids created, in input order.
     */
    async importAccounts(rows: ReadonlyArray<{ email: string; displayName: string; roles: Role[] }>, password: string): Promise<string[]> {
      const passwordHash = await hashPassword(password);
      const now = clock.now();
      return repo.db.transaction().execute(async (trx) => {
        const created: string[] = [];
        for (let i = 0; i < rows.length; i += 1000) {
          const chunk = rows.slice(i, i + 1000).map((r) => ({
            id: newId('account'),
            email: normalizeEmail(r.email),
            display_name: r.displayName,
            roles: [...new Set(r.roles)],
            password_hash: passwordHash,
            created_at: now,
          }));
          const inserted = new Set(await repo.insertAccounts(trx, chunk));
          for (const row of chunk) {
            if (!inserted.has(row.id)) continue;
            created.push(row.id);
            await outbox.publish(trx, 'identity.account.created', { accountId: row.id, roles: row.roles });
          }
        }
        return created;
      });
    },

    /** Creates a non-admin account and its first session atomically, linking the browsing device to the account. */
    async signUp(input: { email: string; password: string; displayName: string; role: SignUpRole; deviceId?: string | undefined }): Promise<({ ok: true } & NewSession) | SignUpFailure> {
      const passwordHash = await hashPassword(input.password);
      const session = await repo.db.transaction().execute(async (trx) => {
        const account = await insertAccount(trx, { ...input, passwordHash, roles: [input.role] });
        return account ? startSession(trx, account, input.deviceId) : null;
      });
      return session ? { ok: true, ...session } : { ok: false, code: 'email_taken' };
    },

    /**
     * Password log-in. Unknown e-mail and wrong password give the same answer after the same scrypt work; more than
     * config.loginMaxAttempts failures per e-mail or per IP within the window are refused before any password check.
     */
    async logIn(input: { email: string; password: string; ip: string; deviceId?: string | undefined }): Promise<({ ok: true } & NewSession) | LogInFailure> {
      const email = normalizeEmail(input.email);
      const now = clock.now();
      const windowMs = config.loginWindowSeconds * 1000;
      const windowStart = new Date(now.getTime() - windowMs);
      // the attempt counts as a failure from here (atomically with the check) until the password proves right
      const failures = await repo.claimAttempt(email, input.ip, now, windowStart, config.loginMaxAttempts);
      const blockedSince = [
        failures.by_email >= config.loginMaxAttempts ? failures.oldest_email : null,
        failures.by_ip >= config.loginMaxAttempts ? failures.oldest_ip : null,
      ].filter((d): d is Date => d !== null);
      if (!failures.allowed) {
        // blocked until the oldest counted failure leaves the window (the later of the two limits)
        const until = (blockedSince.length > 0 ? Math.max(...blockedSince.map((d) => new Date(d).getTime())) : now.getTime()) + windowMs;
        return { ok: false, code: 'rate_limited', retryAfterSeconds: Math.max(1, Math.ceil((until - now.getTime()) / 1000)) };
      }

      const account = await repo.findAccountByEmail(email);
      const valid = account ? await verifyPassword(input.password, account.password_hash) : (await burnPasswordCheck(input.password), false);
      if (!account || !valid) {
        if (failures.claimId !== null) await repo.markFailed(failures.claimId);
        return { ok: false, code: 'invalid_credentials' };
      }
      await repo.clearEmailFailures(email);
      const session = await repo.db.transaction().execute((trx) => startSession(trx, toSummary(account), input.deviceId));
      return { ok: true, ...session };
    },

    /** Revokes the session everywhere (other processes may honour it for up to 2 s from their cache) and evicts it here. */
    async logOut(sessionId: string): Promise<void> {
      await repo.revokeSession(sessionId, clock.now());
      for (const [key, entry] of cache) if (entry.principal.sessionId === sessionId) cache.delete(key);
    },

    /** The account, or null when it does not exist. */
    async getAccount(id: string): Promise<AccountSummary | null> {
      const [row] = await repo.findAccountsByIds([id]);
      return row ? toSummary(row) : null;
    },

    /** Accounts by id in one query; unknown ids are absent from the map. */
    async getAccounts(ids: readonly string[]): Promise<Map<string, AccountSummary>> {
      const rows = await repo.findAccountsByIds([...new Set(ids)]);
      return new Map(rows.map((r) => [r.id, toSummary(r)]));
    },

    /** One page of accounts, newest first, optionally of one role; `nextCursor` is null on the last page. */
    async listAccounts(q: { role?: Role | undefined; cursor?: string | undefined; limit: number }): Promise<{ ok: true; items: AccountSummary[]; nextCursor: string | null } | ListFailure> {
      let beforeId: string | undefined;
      if (q.cursor !== undefined) {
        beforeId = Buffer.from(q.cursor, 'base64url').toString();
        if (!isId('account', beforeId)) return { ok: false, code: 'invalid_cursor' };
      }
      const rows = await repo.listAccounts({ role: q.role, beforeId, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const nextCursor = rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null;
      return { ok: true, items: page.map(toSummary), nextCursor };
    },
  };
}

export type IdentityServiceImpl = ReturnType<typeof createIdentityService>;
