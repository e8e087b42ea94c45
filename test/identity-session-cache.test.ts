import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IdentityRepository } from '../src/contexts/identity/identity.repository';
import { createIdentityService } from '../src/contexts/identity/identity.service';
import type { Role } from '../src/platform/auth';
import { ManualClock } from '../src/platform/clock';
import type { ContextDeps } from '../src/platform/context';
import { sha256 } from '../src/platform/hashing';

// The session cache in front of the database (identity.service.ts, SessionCache): entries served ≤ 2 s, refreshed
// ahead in one statement for many tokens, and a log-out in this process never undone by a read in flight. The
// repository is a stand-in whose reads the test answers by hand, and the cache's process time is the test's.

type Row = Awaited<ReturnType<IdentityRepository['findLiveSessions']>>[number];

function world() {
  const clock = new ManualClock('2026-03-01T10:00:00Z');
  let monotonic = 0;
  /** Live sessions by token hash, as the database has them. */
  const live = new Map<string, Row>();
  /** Reads asked of the database, each answered when the test calls answer() (or at once when auto). */
  const reads: Array<{ hashes: string[]; answer: () => void }> = [];
  let auto = true;
  const repo = {
    findLiveSessions: (hashes: readonly string[]) =>
      new Promise<Row[]>((resolve) => {
        const snapshot = hashes.flatMap((h) => (live.has(h) ? [live.get(h)!] : []));
        const read = { hashes: [...hashes], answer: () => resolve(snapshot) };
        reads.push(read);
        if (auto) read.answer();
      }),
    revokeSession: async (sessionId: string) => {
      for (const [hash, row] of live) if (row.session_id === sessionId) live.delete(hash);
    },
  } as unknown as IdentityRepository;
  const deps = { clock } as unknown as ContextDeps;
  const service = createIdentityService(deps, repo, { monotonicNow: () => monotonic });
  const session = (token: string, sessionId: string, roles: Role[] = ['shopper']) =>
    live.set(sha256(token, 'hex'), { token_hash: sha256(token, 'hex'), session_id: sessionId, account_id: `acc_${sessionId}`, roles, expires_at: new Date('2026-03-02T10:00:00Z') });
  return {
    clock,
    live,
    reads,
    service,
    session,
    advance: (ms: number) => (monotonic += ms),
    manual: () => (auto = false),
    /** Lets the promise callbacks of answered reads run. */
    settle: () => new Promise((r) => setImmediate(r)),
  };
}

describe('identity session cache', () => {
  it('answers a token from the cache within 2 s, and re-reads the ones in use together, ahead of expiry', async () => {
    const w = world();
    for (const t of ['a', 'b', 'c']) {
      w.session(`token-${t}`, `ses_${t}`);
      assert.equal((await w.service.authenticate(`token-${t}`))?.sessionId, `ses_${t}`);
    }
    assert.equal(w.reads.length, 3);
    w.advance(500);
    await w.service.authenticate('token-a');
    assert.equal(w.reads.length, 3, 'a young entry is served with no read');
    // second half of the entries' life: served, and re-read in the background
    w.advance(600);
    assert.equal((await w.service.authenticate('token-a'))?.sessionId, 'ses_a');
    await w.settle();
    assert.deepEqual(w.reads[3]!.hashes, [sha256('token-a', 'hex')]);
    // at most one background read per 250 ms: the tokens used meanwhile wait, and go in one statement
    w.advance(50);
    await w.service.authenticate('token-b');
    await w.service.authenticate('token-c');
    await w.settle();
    assert.equal(w.reads.length, 4);
    w.advance(250);
    await w.service.authenticate('token-b');
    await w.settle();
    assert.equal(w.reads.length, 5);
    assert.deepEqual(w.reads[4]!.hashes.sort(), [sha256('token-b', 'hex'), sha256('token-c', 'hex')].sort());
    // 2 s after the first reads, when they would have expired: served, with no read at all
    w.advance(600);
    for (const t of ['a', 'b', 'c']) assert.equal((await w.service.authenticate(`token-${t}`))?.sessionId, `ses_${t}`);
    assert.equal(w.reads.length, 5);
  });

  it('stops honouring a session revoked by another process at its next re-read, and within 2 s at most', async () => {
    const w = world();
    w.session('token-a', 'ses_a');
    w.session('token-c', 'ses_c');
    assert.ok(await w.service.authenticate('token-a'));
    assert.ok(await w.service.authenticate('token-c'));
    w.live.delete(sha256('token-a', 'hex')); // logged out elsewhere: no local eviction here
    w.advance(1100);
    assert.ok(await w.service.authenticate('token-a'), 'still cached: other processes may honour it for ≤ 2 s');
    await w.settle();
    assert.equal(await w.service.authenticate('token-a'), null, 'the re-read dropped it');
    // a token never used in its second half is not re-read: it expires at 2 s and is read again
    w.live.delete(sha256('token-c', 'hex'));
    w.advance(1000);
    assert.equal(await w.service.authenticate('token-c'), null);
  });

  it('never lets a read in flight undo a log-out in this process', async () => {
    const w = world();
    w.session('token-a', 'ses_a');
    assert.ok(await w.service.authenticate('token-a'));
    w.manual();
    // a background re-read starts and reads the session while it is still live...
    w.advance(1100);
    assert.ok(await w.service.authenticate('token-a'));
    assert.equal(w.reads.length, 2);
    // ...the session is logged out here before that read answers...
    await w.service.logOut('ses_a');
    w.reads[1]!.answer();
    await w.settle();
    // ...and the stale answer is not stored: the next request reads the database, which says revoked
    const after = w.service.authenticate('token-a');
    assert.equal(w.reads.length, 3, 'read again, not answered from the cache');
    w.reads[2]!.answer();
    assert.equal(await after, null);
  });

  it('does not share a read begun before a log-out with requests made after it', async () => {
    const w = world();
    w.session('token-a', 'ses_a');
    w.manual();
    const before = w.service.authenticate('token-a');
    await w.service.logOut('ses_a');
    const afterLogOut = w.service.authenticate('token-a');
    assert.equal(w.reads.length, 2, 'the request after the log-out reads again');
    w.reads[0]!.answer();
    w.reads[1]!.answer();
    assert.ok(await before, 'the request made before the log-out may still pass');
    assert.equal(await afterLogOut, null);
  });

  it('shares one read among concurrent requests with the same unknown token', async () => {
    const w = world();
    w.session('token-a', 'ses_a');
    w.manual();
    const all = [1, 2, 3].map(() => w.service.authenticate('token-a'));
    assert.equal(w.reads.length, 1);
    w.reads[0]!.answer();
    for (const p of await Promise.all(all)) assert.equal(p?.sessionId, 'ses_a');
  });

  it('refuses a session past its expiry (business time) even while cached', async () => {
    const w = world();
    w.session('token-a', 'ses_a');
    assert.ok(await w.service.authenticate('token-a'));
    w.clock.set('2026-03-02T10:00:01Z');
    w.live.delete(sha256('token-a', 'hex')); // the database no longer answers it as live either
    assert.equal(await w.service.authenticate('token-a'), null);
  });
});
