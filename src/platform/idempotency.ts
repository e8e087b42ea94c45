import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from './clock';
import { Batcher } from './batcher';
import { sha256 } from './hashing';
import type { AnyDb } from './db';
import { AppError, errorBody, registerErrorCodes } from './errors';
import { sqlMigration, type ContextMigrations } from './migrations';

/**
 * `Idempotency-Key` with Stripe's contract, for every money-moving route of any context:
 * - same scope + key + request → the first answer (a second run never happens, also while the first is running:
 *   the second caller waits for it, up to `waitMs`, then gets 409 `idempotency_in_progress`);
 * - same scope + key, different request → 422 `idempotency_key_reused`;
 * - a route that requires a key and got none → 400 `idempotency_key_required`.
 * The claim is one row inserted with ON CONFLICT DO NOTHING, so it holds across processes. A claim whose lock has
 * expired (the process running it crashed) is taken over by the next caller with the same request. The flow behind
 * a key must itself be resumable (checkout finds its attempt by the key), because a takeover runs it again.
 */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

registerErrorCodes({ idempotency_key_required: 400, idempotency_key_reused: 422, idempotency_in_progress: 409 });

export const idempotencyMigrations: ContextMigrations = {
  schema: 'idempotency',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE idempotency.keys (
        scope text NOT NULL CHECK (char_length(scope) BETWEEN 1 AND 200),
        key text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
        request_hash text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'done')),
        -- who runs the claim now: a takeover changes it, so a slow former owner cannot overwrite the answer
        owner text NOT NULL,
        response_status integer CHECK (response_status BETWEEN 100 AND 599),
        response_body jsonb,
        created_at timestamptz NOT NULL,
        locked_until timestamptz NOT NULL,
        finished_at timestamptz,
        PRIMARY KEY (scope, key),
        CHECK ((status = 'done') = (response_status IS NOT NULL AND finished_at IS NOT NULL))
      );
      CREATE INDEX keys_by_age ON idempotency.keys (created_at);
    `),
  },
};

export interface IdempotencyDeps {
  db: AnyDb;
  clock: Clock;
}

export interface IdempotencyRequest {
  /** Who is calling (`acc_…` or `dev_…`, see idempotencyScope): keys never collide across callers. */
  scope: string;
  key: string;
  /** What identifies the request (route + body); hashed, so the same key with another request is refused. */
  request: unknown;
  /** How long a claim is considered alive before another caller may take it over (default 60 s). */
  lockMs?: number;
  /** How long a concurrent duplicate waits for the first run to finish before answering 409 (default 10 s). */
  waitMs?: number;
}

export interface IdempotentAnswer {
  status: number;
  body: unknown;
  /** True when the answer is the stored one of an earlier request. */
  replayed: boolean;
}

/** The caller part of a scope: the account when signed in, else the device. */
export function idempotencyScope(request: Pick<FastifyRequest, 'principal' | 'deviceId'>): string {
  return request.principal?.accountId ?? request.deviceId;
}

/** The request's `Idempotency-Key`, or a 400 `idempotency_key_required` (1–255 printable characters). */
export function requireIdempotencyKey(request: Pick<FastifyRequest, 'headers'>): string {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (typeof key !== 'string' || key.trim() === '') {
    throw new AppError('idempotency_key_required', 'This request moves money: send an Idempotency-Key header (e.g. a UUID)');
  }
  if (key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new AppError('validation_failed', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
  }
  return key;
}

/** The key a run holds. */
export interface IdempotencyClaim {
  scope: string;
  key: string;
}

/** How long a repeat of a request that is still running waits for its answer before 409 idempotency_in_progress. */
export const IDEMPOTENCY_WAIT_MS = 10_000;

/** 422: the key was used with another request. */
export const keyReused = () =>
  new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different request; use a new key for a new request');

/** 409: the request that holds the key has no answer yet. */
export const stillInProgress = (message = 'A request with this Idempotency-Key is still being processed; retry shortly') =>
  new AppError('idempotency_in_progress', message, { retryAfterSeconds: 1 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Between two looks at a request that is still running (the `attempt`-th wait): 409 idempotency_in_progress once
 * `deadline` (Date.now() time) has passed, else a pause of 25 ms doubling up to 250 ms.
 */
export async function waitForRunning(deadline: number, attempt: number): Promise<void> {
  if (Date.now() >= deadline) throw stillInProgress();
  await sleep(Math.min(25 * 2 ** attempt, 250));
}

/**
 * Sends a refusal (a 4xx AppError other than 429) as a money-moving route's answer is sent: the same status and body
 * the error handler would give, without the trip through the framework's error path (~10% of a sold-out answer's
 * CPU in a flash sale went there). Anything else is thrown on, to the error handler (which logs 5xx and sets
 * Retry-After on 429).
 */
export function sendRefusal(request: FastifyRequest, reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof AppError && e.status < 500 && e.status !== 429) {
    request.log.info({ code: e.code }, 'request refused');
    return reply.code(e.status).send(errorBody(e));
  }
  throw e;
}

/**
 * An answer not to keep for replay (a provider that did not answer): thrown inside a `replyIdempotent` run, it
 * releases the key, so a retry with the same key runs again, and reaches the caller as its AppError.
 */
export class RetryLater extends Error {
  constructor(readonly appError: AppError) {
    super(appError.message);
  }
}

/**
 * A money-moving route's whole idempotency dance: requires the `Idempotency-Key`, runs `run` at most once per caller
 * and key (the request's params and body must match), answers a repeat with the first status and body plus the
 * header `idempotent-replayed: true`.
 */
export async function replyIdempotent(
  deps: IdempotencyDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  action: string,
  run: (claim: IdempotencyClaim) => Promise<{ status: number; body: unknown }>,
): Promise<FastifyReply> {
  const key = requireIdempotencyKey(request);
  const scope = idempotencyScope(request);
  try {
    const answer = await withIdempotency(deps, { scope, key, request: { action, params: request.params, body: request.body } }, () => run({ scope, key }));
    if (answer.replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(answer.status).send(answer.body);
  } catch (e) {
    if (e instanceof RetryLater) throw e.appError;
    // a refusal (sold out, declined…) is this request's stored answer: sent like its replays are
    return sendRefusal(request, reply, e);
  }
}

/** A hash that does not depend on the order of object keys. */
export function requestHash(request: unknown): string {
  const text = canonicalJson(request);
  return sha256(text, 'base64url');
}


function canonicalJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(v[i]);
    return `${out}]`;
  }
  // keys in code-unit order, undefined members left out (as JSON.stringify does); one string built, no entry arrays
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 16) keys.sort();
  // a request body's few keys are sorted in place: Array#sort allocates a work copy per call (~1.6 KB per flash-sale
  // request, hashed once each)
  else for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  let out = '{';
  for (const k of keys) {
    if (o[k] === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(o[k])}`;
  }
  return `${out}}`;
}

interface KeyRow {
  request_hash: string;
  status: 'running' | 'done';
  owner: string;
  response_status: number | null;
  response_body: unknown;
  locked_until: Date;
}

/** Claim owners: unique across processes by a random prefix per process, within one by a counter (no RNG call per request). */
const OWNER_PREFIX = randomBytes(12).toString('base64url');
let ownerSeq = 0;

/**
 * Runs `run` at most once per (scope, key) and answers every repeat with its stored result. An AppError thrown by
 * `run` is a result too (stored as its error body); any other exception releases the claim so a retry may run again.
 */
export async function withIdempotency(
  deps: IdempotencyDeps,
  req: IdempotencyRequest,
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<IdempotentAnswer> {
  const { db, clock } = deps;
  const hash = requestHash(req.request);
  const lockMs = req.lockMs ?? 60_000;
  const waitMs = req.waitMs ?? IDEMPOTENCY_WAIT_MS;
  const owner = `${OWNER_PREFIX}${(++ownerSeq).toString(36)}`;
  const deadline = Date.now() + waitMs;

  for (let attempt = 0; ; attempt++) {
    const now = clock.now();
    const lockedUntil = new Date(now.getTime() + lockMs);
    const claimed = await batchersOf(db).claim.submit({ scope: req.scope, key: req.key, request_hash: hash, owner, created_at: now, locked_until: lockedUntil });
    if (claimed) return { ...(await runClaimed(deps, req, owner, run)), replayed: false };

    const existing = await sql<KeyRow>`
      SELECT request_hash, status, owner, response_status, response_body, locked_until
      FROM idempotency.keys WHERE scope = ${req.scope} AND key = ${req.key}
    `.execute(db);
    const row = existing.rows[0];
    if (!row) continue; // released by a failed run in between: claim again
    if (row.request_hash !== hash) throw keyReused();
    if (row.status === 'done') return { status: row.response_status!, body: row.response_body, replayed: true };
    if (new Date(row.locked_until).getTime() <= now.getTime()) {
      // the process running it is gone (its lock lapsed): take the claim over, exactly one caller wins
      const taken = await sql<{ owner: string }>`
        UPDATE idempotency.keys SET owner = ${owner}, locked_until = ${lockedUntil}
        WHERE scope = ${req.scope} AND key = ${req.key} AND status = 'running' AND owner = ${row.owner}
        RETURNING owner
      `.execute(db);
      if (taken.rows.length === 1) return { ...(await runClaimed(deps, req, owner, run)), replayed: false };
      continue;
    }
    await waitForRunning(deadline, attempt);
  }
}

async function runClaimed(
  deps: IdempotencyDeps,
  req: IdempotencyRequest,
  owner: string,
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<{ status: number; body: unknown }> {
  let answer: { status: number; body: unknown };
  try {
    answer = await run();
  } catch (err) {
    if (!(err instanceof AppError)) {
      // unexpected: nothing definite to replay, so let a retry run again
      await sql`DELETE FROM idempotency.keys WHERE scope = ${req.scope} AND key = ${req.key} AND owner = ${owner} AND status = 'running'`
        .execute(deps.db)
        .catch(() => undefined);
      throw err;
    }
    answer = { status: err.status, body: errorBody(err) };
    await store(deps, req, owner, answer);
    throw err;
  }
  await store(deps, req, owner, answer);
  return answer;
}

async function store(deps: IdempotencyDeps, req: IdempotencyRequest, owner: string, answer: { status: number; body: unknown }): Promise<void> {
  await batchersOf(deps.db).store.submit({
    scope: req.scope,
    key: req.key,
    owner,
    response_status: answer.status,
    response_body: answer.body ?? null,
    finished_at: deps.clock.now(),
  });
}

interface ClaimRow {
  scope: string;
  key: string;
  request_hash: string;
  owner: string;
  created_at: Date;
  locked_until: Date;
}

interface StoreRow {
  scope: string;
  key: string;
  owner: string;
  response_status: number;
  response_body: unknown;
  finished_at: Date;
}

/**
 * The two writes every idempotent request makes, group-committed (src/platform/batcher.ts): a flash sale's 10,000
 * claims are a few multi-row INSERTs, not 10,000 commits. One pair per database handle.
 */
const batchers = new WeakMap<AnyDb, { claim: Batcher<ClaimRow, boolean>; store: Batcher<StoreRow, void> }>();

function batchersOf(db: AnyDb) {
  let b = batchers.get(db);
  if (!b) {
    b = {
      // a claim is won by the row whose owner comes back (a key twice in one batch: the first wins, the other waits)
      claim: new Batcher(async (rows) => {
        const r = await sql<{ owner: string }>`
          INSERT INTO idempotency.keys (scope, key, request_hash, status, owner, created_at, locked_until)
          SELECT x.scope, x.key, x.request_hash, 'running', x.owner, x.created_at, x.locked_until
          FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
            AS x(scope text, key text, request_hash text, owner text, created_at timestamptz, locked_until timestamptz)
          ORDER BY x.scope, x.key -- one lock order for every batch: two batches sharing keys wait, never deadlock
          ON CONFLICT (scope, key) DO NOTHING
          RETURNING owner
        `.execute(db);
        const won = new Set(r.rows.map((row) => row.owner));
        return rows.map((row) => won.has(row.owner));
      }, { name: 'idempotency.claim' }),
      // only the claim's current owner may store its answer (a takeover changes the owner)
      store: new Batcher(async (rows) => {
        await sql`
          UPDATE idempotency.keys k
          SET status = 'done', response_status = x.response_status, response_body = COALESCE(x.response_body, 'null'::jsonb), finished_at = x.finished_at
          FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
            AS x(scope text, key text, owner text, response_status integer, response_body jsonb, finished_at timestamptz)
          WHERE k.scope = x.scope AND k.key = x.key AND k.owner = x.owner AND k.status = 'running'
        `.execute(db);
        return rows.map(() => undefined);
      }, { name: 'idempotency.store' }),
    };
    batchers.set(db, b);
  }
  return b;
}

/** Forgets answers older than `maxAgeMs` (Stripe keeps keys 24 hours); running claims are kept. */
export async function pruneIdempotencyKeys(deps: IdempotencyDeps, maxAgeMs = 24 * 3_600_000): Promise<number> {
  const r = await sql`DELETE FROM idempotency.keys WHERE status = 'done' AND created_at < ${new Date(deps.clock.now().getTime() - maxAgeMs)}`.execute(deps.db);
  return Number(r.numAffectedRows ?? 0);
}
