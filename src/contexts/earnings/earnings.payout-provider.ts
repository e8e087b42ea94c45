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

/** A transfer as the provider reports it after the fact: `reversedMinor` is the cumulative amount reversed so far. */
export interface TransferState {
  ref: string;
  /** Our payout id, from the transfer's metadata (null on a transfer we did not make). */
  payoutId: string | null;
  amountMinor: number;
  /** Uppercase ISO 4217. */
  currency: string;
  reversedMinor: number;
}

/** A connected account's state: whether it may receive transfers, and if not why. */
export interface AccountState {
  ref: string;
  canReceiveTransfers: boolean;
  reason: string | null;
}

/** A provider event about our transfers or connected accounts, already verified; other types carry neither. */
export interface ConnectEvent {
  id: string;
  type: string;
  /** When the provider created the event (orders account states delivered out of order). */
  createdAt: Date;
  transfer?: TransferState;
  account?: AccountState;
}

export type ReversalResult = { ok: true; transfer: TransferState } | { ok: false; code: 'rejected' | 'unavailable'; message: string };

export interface PayoutProvider {
  readonly name: 'simulated' | 'stripe';
  /** Whether the connected account exists and may receive transfers. */
  checkAccount(accountRef: string): Promise<AccountCheck>;
  /** Moves money from the platform to the connected account. Idempotent per idempotencyKey. */
  transfer(req: TransferRequest): Promise<TransferResult>;
  /** Takes `amountMinor` of a transfer back from the connected account; answers the transfer with its new total reversed. */
  reverseTransfer(ref: string, amountMinor: number, idempotencyKey: string): Promise<ReversalResult>;
  /**
   * Providers that post signed webhooks over HTTP (Stripe): the verified event, null when the signature is missing,
   * wrong or stale, 'not_configured' when this process has no signing secret. The simulator delivers in process.
   */
  verifyWebhook?(rawBody: string, headers: Record<string, string | string[] | undefined>): ConnectEvent | null | 'not_configured';
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
  #receiver: ((event: ConnectEvent) => Promise<unknown>) | null = null;
  /** Every event the simulator delivered, in order (tests redeliver them with `deliver`). */
  readonly events: ConnectEvent[] = [];

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
    if (accountRef.includes('invalid')) return { ok: false, code: 'account_invalid', message: `No such account: '${accountRef}'` };
    const transfers = await this.#capability(accountRef);
    return transfers === 'active' ? { ok: true } : { ok: false, code: 'account_invalid', message: `Account ${accountRef} cannot receive transfers yet (transfers capability ${transfers})` };
  }

  async transfer(req: TransferRequest): Promise<TransferResult> {
    const failure = this.#failures.shift();
    if (failure === 'unavailable') return { ok: false, code: 'unavailable', message: 'simulated timeout' };
    const transferOfKey = async () =>
      (
        await sql<{ ref: string; destination: string; currency: string; amount_minor: number }>`
          SELECT ref, destination, currency, amount_minor FROM earnings.sim_transfers WHERE idempotency_key = ${req.idempotencyKey}
        `.execute(this.#db)
      ).rows[0];
    // like Stripe: a key that made a transfer answers that transfer, whatever changed since (a refusal now, the
    // account restricted meanwhile); only a new key is checked and may be refused
    let row = await transferOfKey();
    if (!row) {
      if (failure === 'rejected') return { ok: false, code: 'rejected', message: 'simulated refusal (insufficient platform balance)' };
      if (req.destination.includes('invalid')) return { ok: false, code: 'rejected', message: `No such destination: '${req.destination}'` };
      if ((await this.#capability(req.destination)) !== 'active') return { ok: false, code: 'rejected', message: `insufficient_capabilities_for_transfer: ${req.destination}` };
      await sql`
        INSERT INTO earnings.sim_transfers (idempotency_key, ref, destination, currency, amount_minor, created_at)
        VALUES (${req.idempotencyKey}, ${`tr_sim_${ulid()}`}, ${req.destination}, ${req.currency}, ${req.amountMinor}, ${this.#clock.now()})
        ON CONFLICT (idempotency_key) DO NOTHING
      `.execute(this.#db);
      row = (await transferOfKey())!;
    }
    // like Stripe: the same key with other parameters is refused, never a second transfer
    if (row.destination !== req.destination || row.currency !== req.currency || row.amount_minor !== req.amountMinor) {
      return { ok: false, code: 'rejected', message: 'idempotency key reused with other parameters' };
    }
    if (failure === 'unavailable_after_commit') return { ok: false, code: 'unavailable', message: 'simulated timeout after the transfer was made' };
    return { ok: true, ref: row.ref };
  }

  /** Where the simulator delivers its events (the context wires the same handler the Stripe webhook route feeds). */
  setReceiver(receiver: (event: ConnectEvent) => Promise<unknown>): void {
    this.#receiver = receiver;
  }

  /** Delivers an event (again): redelivery and out-of-order delivery in tests. */
  async deliver(event: ConnectEvent): Promise<void> {
    await this.#receiver?.(event);
  }

  /**
   * Like Stripe's transfer reversal: at most what is left of the transfer, once per idempotency key; then delivers a
   * `transfer.reversed` event carrying the transfer with its cumulative reversed amount.
   */
  async reverseTransfer(ref: string, amountMinor: number, idempotencyKey: string): Promise<ReversalResult> {
    const reversed = await this.#db.transaction().execute(async (trx) => {
      const replay = await sql<{ ref: string; amount_minor: number }>`
        SELECT ref, amount_minor FROM earnings.sim_transfer_reversals WHERE idempotency_key = ${idempotencyKey}
      `.execute(trx);
      if (replay.rows[0]) return replay.rows[0].ref === ref && Number(replay.rows[0].amount_minor) === amountMinor ? 'replayed' : 'key_reused';
      const r = await sql`
        UPDATE earnings.sim_transfers SET amount_reversed = amount_reversed + ${amountMinor}
        WHERE ref = ${ref} AND amount_reversed + ${amountMinor} <= amount_minor
      `.execute(trx);
      if (Number(r.numAffectedRows ?? 0) === 0) return 'refused';
      await sql`
        INSERT INTO earnings.sim_transfer_reversals (idempotency_key, ref, amount_minor, created_at) VALUES (${idempotencyKey}, ${ref}, ${amountMinor}, ${this.#clock.now()})
      `.execute(trx);
      return 'reversed';
    });
    if (reversed === 'key_reused') return { ok: false, code: 'rejected', message: 'idempotency key reused with other parameters' };
    const transfer = await this.#transferState(ref);
    if (reversed === 'refused' || !transfer) return { ok: false, code: 'rejected', message: `No such transfer, or the amount exceeds what is left of it: '${ref}'` };
    if (reversed === 'reversed') await this.#emit('transfer.reversed', { transfer });
    return { ok: true, transfer };
  }

  /** Sets a connected account's transfers capability (what Stripe does after a review) and delivers `account.updated`. */
  async setAccountCapability(accountRef: string, transfers: 'active' | 'inactive' | 'pending'): Promise<void> {
    await sql`
      INSERT INTO earnings.sim_accounts (ref, transfers) VALUES (${accountRef}, ${transfers})
      ON CONFLICT (ref) DO UPDATE SET transfers = EXCLUDED.transfers
    `.execute(this.#db);
    await this.#emit('account.updated', {
      account: { ref: accountRef, canReceiveTransfers: transfers === 'active', reason: transfers === 'active' ? null : `transfers capability ${transfers}` },
    });
  }

  async #capability(accountRef: string): Promise<string> {
    const r = await sql<{ transfers: string }>`SELECT transfers FROM earnings.sim_accounts WHERE ref = ${accountRef}`.execute(this.#db);
    return r.rows[0]?.transfers ?? 'active';
  }

  async #transferState(ref: string): Promise<TransferState | null> {
    const r = await sql<{ idempotency_key: string; currency: string; amount_minor: number; amount_reversed: number }>`
      SELECT idempotency_key, currency, amount_minor, amount_reversed FROM earnings.sim_transfers WHERE ref = ${ref}
    `.execute(this.#db);
    const row = r.rows[0];
    // the payout id is the idempotency key the transfer was made with (our metadata on Stripe)
    return row ? { ref, payoutId: row.idempotency_key, amountMinor: Number(row.amount_minor), currency: row.currency, reversedMinor: Number(row.amount_reversed) } : null;
  }

  async #emit(type: string, body: Pick<ConnectEvent, 'transfer' | 'account'>): Promise<void> {
    const event: ConnectEvent = { id: `evt_sim_${ulid()}`, type, createdAt: this.#clock.now(), ...body };
    this.events.push(event);
    await this.deliver(event);
  }
}
