import { sql } from 'kysely';
import type { Clock } from '../../platform/clock';
import type { AnyDb } from '../../platform/db';
import { ulid } from '../../platform/ids';

/**
 * What a payout provider must offer. Two implementations: the simulator below (quickstart and tests) and the Stripe
 * Connect adapter (earnings.stripe.ts). A transfer always carries our idempotency key (the payout id), so replaying it
 * after a timeout or a crash returns the first transfer and can never pay twice.
 */

export interface TransferRequest {
  amountMinor: number;
  currency: string;
  /** The creator's connected account (`acct_…`). */
  destination: string;
  idempotencyKey: string;
  metadata: Record<string, string>;
}

export type TransferResult =
  | { ok: true; ref: string }
  /**
   * rejected: the provider refused and moved nothing (the money stays ours to pay later);
   * unavailable: no definite answer (timeout, 5xx): the transfer may or may not exist, replay the same key later.
   */
  | { ok: false; code: 'rejected' | 'unavailable'; message: string };

export type AccountCheck = { ok: true } | { ok: false; code: 'account_invalid' | 'unavailable'; message: string };

export interface PayoutProvider {
  readonly name: 'simulated' | 'stripe';
  /** Whether the connected account exists and may receive transfers. */
  checkAccount(accountRef: string): Promise<AccountCheck>;
  /** Moves money from the platform to the connected account. Idempotent per idempotencyKey. */
  transfer(req: TransferRequest): Promise<TransferResult>;
}

/**
 * The built-in simulated provider. Its books (one transfer per idempotency key) live in `earnings.sim_transfers`, so a
 * replay after our crash finds the first transfer, in any process. Tests steer it: `failNext('rejected' | 'unavailable',
 * n)` makes the next n transfers fail that way ('unavailable_after_commit' records the transfer and then answers like a
 * timeout: the crash-between-call-and-commit case), and an account ref containing `invalid` is refused.
 */
export class SimulatedPayoutProvider implements PayoutProvider {
  readonly name = 'simulated' as const;
  readonly #db: AnyDb;
  readonly #clock: Clock;
  #failures: Array<'rejected' | 'unavailable' | 'unavailable_after_commit'> = [];

  constructor(db: AnyDb, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Makes the next `count` transfers fail in the given way (tests). */
  failNext(mode: 'rejected' | 'unavailable' | 'unavailable_after_commit', count = 1): void {
    for (let i = 0; i < count; i++) this.#failures.push(mode);
  }

  /** Transfers recorded by the simulator (its books, as the provider's dashboard would show them). */
  async transfers(): Promise<Array<{ idempotencyKey: string; ref: string; destination: string; currency: string; amountMinor: number }>> {
    const r = await sql<{ idempotency_key: string; ref: string; destination: string; currency: string; amount_minor: number }>`
      SELECT idempotency_key, ref, destination, currency, amount_minor FROM earnings.sim_transfers ORDER BY created_at, ref
    `.execute(this.#db);
    return r.rows.map((x) => ({ idempotencyKey: x.idempotency_key, ref: x.ref, destination: x.destination, currency: x.currency, amountMinor: x.amount_minor }));
  }

  async checkAccount(accountRef: string): Promise<AccountCheck> {
    return accountRef.includes('invalid') ? { ok: false, code: 'account_invalid', message: `No such account: '${accountRef}'` } : { ok: true };
  }

  async transfer(req: TransferRequest): Promise<TransferResult> {
    const failure = this.#failures.shift();
    if (failure === 'rejected') return { ok: false, code: 'rejected', message: 'simulated refusal (insufficient platform balance)' };
    if (failure === 'unavailable') return { ok: false, code: 'unavailable', message: 'simulated timeout' };
    if (req.destination.includes('invalid')) return { ok: false, code: 'rejected', message: `No such destination: '${req.destination}'` };
    await sql`
      INSERT INTO earnings.sim_transfers (idempotency_key, ref, destination, currency, amount_minor, created_at)
      VALUES (${req.idempotencyKey}, ${`tr_sim_${ulid()}`}, ${req.destination}, ${req.currency}, ${req.amountMinor}, ${this.#clock.now()})
      ON CONFLICT (idempotency_key) DO NOTHING
    `.execute(this.#db);
    const row = (
      await sql<{ ref: string; destination: string; currency: string; amount_minor: number }>`
        SELECT ref, destination, currency, amount_minor FROM earnings.sim_transfers WHERE idempotency_key = ${req.idempotencyKey}
      `.execute(this.#db)
    ).rows[0]!;
    // like Stripe: the same key with other parameters is refused, never a second transfer
    if (row.destination !== req.destination || row.currency !== req.currency || row.amount_minor !== req.amountMinor) {
      return { ok: false, code: 'rejected', message: 'idempotency key reused with other parameters' };
    }
    if (failure === 'unavailable_after_commit') return { ok: false, code: 'unavailable', message: 'simulated timeout after the transfer was made' };
    return { ok: true, ref: row.ref };
  }
}
