import { sql, type Generated, type Kysely, type Transaction } from 'kysely';
import type { Role } from '../../platform/auth';
import type { AnyDb } from '../../platform/db';

export interface IdentityTables {
  'identity.accounts': {
    id: string;
    email: string;
    display_name: string;
    roles: Role[];
    password_hash: string;
    created_at: Date;
  };
  'identity.sessions': {
    id: string;
    account_id: string;
    token_hash: string;
    device_id: string | null;
    created_at: Date;
    expires_at: Date;
    revoked_at: Date | null;
  };
  'identity.login_failures': {
    id: Generated<number>;
    email: string;
    ip: string;
    failed_at: Date;
    /** An attempt whose password is being checked: it counts against its e-mail, not yet against its IP. */
    pending: Generated<boolean>;
    /** A later log-in to the e-mail succeeded: the failure no longer counts against the e-mail, still against its IP. */
    email_cleared: Generated<boolean>;
  };
}

type Db = Kysely<IdentityTables>;
export type Executor = Db | Transaction<IdentityTables>;
export type AccountRow = IdentityTables['identity.accounts'];
export type SessionRow = IdentityTables['identity.sessions'];

const ACCOUNT_COLUMNS = ['id', 'email', 'display_name', 'roles', 'created_at'] as const;
export type AccountView = Pick<AccountRow, (typeof ACCOUNT_COLUMNS)[number]>;

/**
 * Failures since `since` for the e-mail (attempts still being checked included) and for the IP (known failures only),
 * with the oldest of each (to compute Retry-After).
 */
async function countIn(exec: Executor, email: string, ip: string, since: Date) {
  const r = await sql<{ by_email: number; oldest_email: Date | null; by_ip: number; oldest_ip: Date | null }>`
    SELECT
      (SELECT count(*)::int FROM identity.login_failures WHERE email = ${email} AND failed_at > ${since} AND NOT email_cleared) AS by_email,
      (SELECT min(failed_at) FROM identity.login_failures WHERE email = ${email} AND failed_at > ${since} AND NOT email_cleared) AS oldest_email,
      (SELECT count(*)::int FROM identity.login_failures WHERE ip = ${ip} AND failed_at > ${since} AND NOT pending) AS by_ip,
      (SELECT min(failed_at) FROM identity.login_failures WHERE ip = ${ip} AND failed_at > ${since} AND NOT pending) AS oldest_ip
  `.execute(exec);
  return r.rows[0]!;
}

/** All SQL of the identity context. */
export function createIdentityRepository(anyDb: AnyDb) {
  const db = anyDb as unknown as Db;

  return {
    db,

    /** Inserts the account unless the e-mail is taken; true when inserted. */
    async insertAccount(trx: Executor, row: AccountRow): Promise<boolean> {
      const inserted = await trx
        .insertInto('identity.accounts')
        .values(row)
        .onConflict((oc) => oc.column('email').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    /** Multi-row insert skipping taken e-mails; returns the ids inserted. */
    async insertAccounts(trx: Executor, rows: AccountRow[]): Promise<string[]> {
      if (rows.length === 0) return [];
      const inserted = await trx
        .insertInto('identity.accounts')
        .values(rows)
        .onConflict((oc) => oc.column('email').doNothing())
        .returning('id')
        .execute();
      return inserted.map((r) => r.id);
    },

    async findAccountByEmail(email: string): Promise<AccountRow | undefined> {
      return db.selectFrom('identity.accounts').selectAll().where('email', '=', email).executeTakeFirst();
    },

    async findAccountsByIds(ids: readonly string[]): Promise<AccountView[]> {
      if (ids.length === 0) return [];
      return db.selectFrom('identity.accounts').select(ACCOUNT_COLUMNS).where('id', '=', sql<string>`ANY (${[...ids]}::text[])`).execute();
    },

    /** Newest first, keyset on id (ULIDs sort by creation time): no page repeats or skips rows while others are added. */
    /**
     * Accounts newest first; `search`: an e-mail starting with it or a display name containing it, either case (a
     * scan of the accounts, fine for the admin's look-ups; an index would be trigram or text_pattern_ops).
     */
    async listAccounts(q: { role?: Role | undefined; search?: string | undefined; beforeId?: string | undefined; limit: number }): Promise<AccountView[]> {
      let query = db.selectFrom('identity.accounts').select(ACCOUNT_COLUMNS).orderBy('id', 'desc').limit(q.limit);
      if (q.role) query = query.where(sql<boolean>`${q.role} = ANY (roles)`);
      if (q.search) {
        const like = q.search.replace(/[\\%_]/g, (c) => `\\${c}`);
        query = query.where(sql<boolean>`(email LIKE ${`${like.toLowerCase()}%`} OR display_name ILIKE ${`%${like}%`})`);
      }
      if (q.beforeId) query = query.where('id', '<', q.beforeId);
      return query.execute();
    },

    async insertSession(trx: Executor, row: SessionRow): Promise<void> {
      await trx.insertInto('identity.sessions').values(row).execute();
    },

    /**
     * The live sessions among these token hashes, with their accounts' roles: one statement for all of them (a
     * unique-index look-up each). The query behind every authenticated request not answered from the cache.
     */
    async findLiveSessions(tokenHashes: readonly string[], now: Date): Promise<Array<{ token_hash: string; session_id: string; account_id: string; roles: Role[]; expires_at: Date }>> {
      if (tokenHashes.length === 0) return [];
      return db
        .selectFrom('identity.sessions as s')
        .innerJoin('identity.accounts as a', 'a.id', 's.account_id')
        .select(['s.token_hash', 's.id as session_id', 's.account_id', 'a.roles', 's.expires_at'])
        .where('s.token_hash', '=', sql<string>`ANY (${[...tokenHashes]}::text[])`)
        .where('s.revoked_at', 'is', null)
        .where('s.expires_at', '>', now)
        .execute();
    },

    async revokeSession(sessionId: string, now: Date): Promise<void> {
      await db.updateTable('identity.sessions').set({ revoked_at: now }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
    },


    /**
     * Counts the e-mail's and the IP's recent failures and, when both are under `max`, records this attempt against
     * the e-mail as pending (a success clears it, a wrong password makes it a failure), atomically per e-mail: the
     * count and the insert hold a transaction-scoped advisory lock on the e-mail, so concurrent guesses at one account
     * cannot all pass one count. The IP limit counts known failures only (many people may sign in at once behind one
     * address). Forgets failures that fell out of the window, so the table stays small.
     */
    async claimAttempt(email: string, ip: string, now: Date, windowStart: Date, max: number) {
      return db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(hashtext(${`login-email:${email}`}))`.execute(trx);
        await trx.deleteFrom('identity.login_failures').where('failed_at', '<=', windowStart).execute();
        const counted = await countIn(trx, email, ip, windowStart);
        const allowed = counted.by_email < max && counted.by_ip < max;
        const claim = allowed
          ? await trx.insertInto('identity.login_failures').values({ email, ip, failed_at: now, pending: true }).returning('id').executeTakeFirstOrThrow()
          : null;
        return { allowed, claimId: claim?.id ?? null, ...counted };
      });
    },

    /** The pending attempt's password was wrong: it now counts against its IP too. */
    async markFailed(claimId: number): Promise<void> {
      await db.updateTable('identity.login_failures').set({ pending: false }).where('id', '=', claimId).execute();
    },

    /**
     * A successful log-in clears the e-mail's failures, not the IP's: one good password must not reset a scanner, so
     * the rows stay, counted against their IPs until they leave the window. This attempt's own claim, still pending,
     * never counts against its IP.
     */
    async clearEmailFailures(email: string): Promise<void> {
      await db.updateTable('identity.login_failures').set({ email_cleared: true }).where('email', '=', email).where('email_cleared', '=', false).execute();
    },
  };
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;
