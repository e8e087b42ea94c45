import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Principal, Role } from '../../platform/auth';
import type { Clock } from '../../platform/clock';
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
 * Per-process cache of resolved session tokens, by token hash. Every request authenticates, so a hit saves a query.
 * An entry is served for at most CACHE_TTL_MS after it was read from the database: that bounds how long ANOTHER
 * process may still honour a token revoked (logged out) elsewhere; a log-out evicts this process's entries at once.
 * Freshness is process time (monotonic); session expiry is business time (the injected clock), checked on every hit.
 */
const CACHE_TTL_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;

type LiveSession = Awaited<ReturnType<IdentityRepository['findLiveSessions']>>[number];

/**
 * The session cache (see CACHE_TTL_MS). Refresh-ahead: an entry used in the second half of its life is still served,
 * and re-read in the background together with every other such entry, in one statement, at most once per
 * CACHE_TTL_MS / 8; so sessions in use never expire under load, and cost one statement every second or so in all
 * instead of one per token every 2 s on the request path. A re-read drops the tokens it no longer finds live
 * (revoked or expired elsewhere). Concurrent misses of one token share one read. A log-out in this process
 * (`forgetSession`) bumps a generation: a read that was in flight across it is not stored, so it can never bring
 * back a session this process has just revoked, and requests after it read the database again.
 */
class SessionCache {
  readonly #entries = new Map<string, { principal: Principal; sessionExpiresAt: number; loaded: number }>();
  readonly #stale = new Set<string>();
  readonly #pending = new Map<string, Promise<Principal | null>>();
  #refreshing = false;
  #lastRefresh = -Infinity;
  #generation = 0;

  constructor(
    private readonly read: (tokenHashes: string[]) => Promise<LiveSession[]>,
    private readonly clock: Clock,
    private readonly monotonicNow: () => number,
  ) {}

  /** The principal of a token hash, or null when no live session has it. */
  get(tokenHash: string): Promise<Principal | null> {
    const now = this.monotonicNow();
    const hit = this.#entries.get(tokenHash);
    if (hit !== undefined && hit.loaded + CACHE_TTL_MS > now && hit.sessionExpiresAt > this.clock.now().getTime()) {
      if (hit.loaded + CACHE_TTL_MS / 2 <= now) {
        this.#stale.add(tokenHash);
        this.#refreshAhead(now);
      }
      return Promise.resolve(hit.principal);
    }
    if (hit !== undefined) this.#entries.delete(tokenHash);
    return this.#pending.get(tokenHash) ?? this.#readNow(tokenHash);
  }

  /** After a log-out in this process: the session's entries go, and no read in flight is stored or shared. */
  forgetSession(sessionId: string): void {
    this.#generation++;
    this.#pending.clear();
    for (const [key, entry] of this.#entries) {
      if (entry.principal.sessionId === sessionId) {
        this.#entries.delete(key);
        this.#stale.delete(key);
      }
    }
  }

  #readNow(tokenHash: string): Promise<Principal | null> {
    // entries waiting for a background re-read go along: one statement instead of two
    const hashes = [tokenHash, ...this.#stale];
    this.#stale.clear();
    const generation = this.#generation;
    const reading = this.read(hashes)
      .then((rows) => this.#store(hashes, rows, generation).get(tokenHash) ?? null)
      .finally(() => {
        if (this.#pending.get(tokenHash) === reading) this.#pending.delete(tokenHash);
      });
    this.#pending.set(tokenHash, reading);
    return reading;
  }

  #refreshAhead(now: number): void {
    if (this.#refreshing || now - this.#lastRefresh < CACHE_TTL_MS / 8) return;
    const hashes = [...this.#stale];
    this.#stale.clear();
    this.#refreshing = true;
    this.#lastRefresh = now;
    const generation = this.#generation;
    this.read(hashes)
      .then((rows) => this.#store(hashes, rows, generation))
      .catch(() => {
        /* the entries expire and are read on the request path; that read reports the error */
      })
      .finally(() => {
        this.#refreshing = false;
      });
  }

  /** Stores a read of `hashes` (unless a log-out happened since it began) and answers its principals by hash. */
  #store(hashes: readonly string[], rows: readonly LiveSession[], generation: number): Map<string, Principal> {
    const found = new Map<string, Principal>();
    const loaded = this.monotonicNow();
    const store = generation === this.#generation;
    for (const row of rows) {
      const principal: Principal = { accountId: row.account_id, sessionId: row.session_id, roles: row.roles };
      found.set(row.token_hash, principal);
      if (!store) continue;
      this.#entries.delete(row.token_hash);
      if (this.#entries.size >= CACHE_MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(row.token_hash, { principal, sessionExpiresAt: row.expires_at.getTime(), loaded });
    }
    if (store) for (const hash of hashes) if (!found.has(hash)) this.#entries.delete(hash);
    return found;
  }
}

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

/** `monotonicNow`: the session cache's process time (tests move it; performance.now by default). */
export function createIdentityService(deps: ContextDeps, repo: IdentityRepository, options: { monotonicNow?: () => number } = {}) {
  const { clock, config, outbox } = deps;
  const sessions = new SessionCache((hashes) => repo.findLiveSessions(hashes, clock.now()), clock, options.monotonicNow ?? (() => performance.now()));

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

  return {
    /** Resolves a session token to its principal, or null when unknown, expired or revoked (cached ≤ 2 s, see SessionCache). */
    authenticate(token: string): Promise<Principal | null> {
      return sessions.get(hashToken(token));
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
      sessions.forgetSession(sessionId);
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
    async listAccounts(q: { role?: Role | undefined; q?: string | undefined; cursor?: string | undefined; limit: number }): Promise<{ ok: true; items: AccountSummary[]; nextCursor: string | null } | ListFailure> {
      let beforeId: string | undefined;
      if (q.cursor !== undefined) {
        beforeId = Buffer.from(q.cursor, 'base64url').toString();
        if (!isId('account', beforeId)) return { ok: false, code: 'invalid_cursor' };
      }
      const rows = await repo.listAccounts({ role: q.role, search: q.q?.trim(), beforeId, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const nextCursor = rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null;
      return { ok: true, items: page.map(toSummary), nextCursor };
    },
  };
}

export type IdentityServiceImpl = ReturnType<typeof createIdentityService>;
