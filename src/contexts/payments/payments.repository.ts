import { sql, type Kysely, type Transaction } from 'kysely';
import { Batcher } from '../../platform/batcher';
import { insertJsonRows, type AnyDb } from '../../platform/db';
import type { PaymentStatus } from './index';

export interface PaymentRow {
  id: string;
  checkout_id: string;
  account_id: string | null;
  provider: 'simulated' | 'stripe';
  provider_ref: string | null;
  payment_method: string;
  status: PaymentStatus;
  currency: string;
  amount_minor: number;
  captured_minor: number;
  refunded_minor: number;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RefundRow {
  id: string;
  payment_id: string;
  key: string;
  amount_minor: number;
  reason: string;
  status: 'pending' | 'succeeded' | 'failed';
  provider_ref: string | null;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookEventRow {
  id: string;
  provider: string;
  provider_event_id: string;
  event_type: string;
  payment_id: string | null;
  raw_body: string;
  received_at: Date;
}

export interface PaymentsTables {
  'payments.payments': PaymentRow;
  'payments.refunds': RefundRow;
  'payments.webhook_events': WebhookEventRow;
}

export type Trx = Transaction<PaymentsTables>;
type Executor = Kysely<PaymentsTables> | Trx;

/** All SQL of the payments context (the simulator keeps its own, in payments.simulator.ts). */
export class PaymentsRepository {
  readonly db: Kysely<PaymentsTables>;

  constructor(db: AnyDb) {
    this.db = db as unknown as Kysely<PaymentsTables>;
  }

  // Concurrent checkouts' look-ups and pending inserts are batched (src/platform/batcher.ts): one statement per batch,
  // each caller still reads the database as it is after its own earlier writes.
  readonly #byId = new Batcher<string, PaymentRow | undefined>(async (ids) => {
    const rows = await this.db.selectFrom('payments.payments').selectAll().where('id', 'in', [...new Set(ids)]).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id));
  }, { name: 'payments.by_id' });

  readonly #byCheckout = new Batcher<string, PaymentRow | undefined>((ids) => this.#findByCheckouts(ids), { name: 'payments.by_checkout' });

  readonly #pending = new Batcher<PaymentRow, PaymentRow>(async (rows) => {
    const inserted = (await sql<{ id: string }>`${insertJsonRows('payments.payments', rows)} ON CONFLICT (checkout_id) DO NOTHING RETURNING id`.execute(this.db)).rows;
    // a row inserted is stored as given (every column is written): it is not read back
    const insertedIds = new Set(inserted.map((r) => r.id));
    const byCheckout = new Map<string, PaymentRow>();
    for (const r of rows) if (insertedIds.has(r.id)) byCheckout.set(r.checkout_id, r);
    // a checkout that already had its payment (a retry, or twice in this batch) gets that one: read only those
    const missing = [...new Set(rows.filter((r) => !byCheckout.has(r.checkout_id)).map((r) => r.checkout_id))];
    if (missing.length > 0) for (const r of await this.#findByCheckouts(missing)) if (r) byCheckout.set(r.checkout_id, r);
    return rows.map((row) => {
      const r = byCheckout.get(row.checkout_id);
      if (!r) throw new Error(`payment of ${row.checkout_id} not found after insert`);
      return r;
    });
  }, { name: 'payments.insert_pending' });

  async #findByCheckouts(checkoutIds: readonly string[]): Promise<Array<PaymentRow | undefined>> {
    const rows = await this.db.selectFrom('payments.payments').selectAll().where('checkout_id', 'in', [...new Set(checkoutIds)]).execute();
    const byCheckout = new Map(rows.map((r) => [r.checkout_id, r]));
    return checkoutIds.map((id) => byCheckout.get(id));
  }

  /** Inserts the pending payment of a checkout, or returns the one already there (one payment per checkout). */
  insertPending(row: PaymentRow): Promise<PaymentRow> {
    return this.#pending.submit(row);
  }

  findById(id: string): Promise<PaymentRow | undefined> {
    return this.#byId.submit(id);
  }

  findByCheckout(checkoutId: string): Promise<PaymentRow | undefined> {
    return this.#byCheckout.submit(checkoutId);
  }

  /** Finds the payment a webhook speaks of: by our id (from the metadata we sent) or by the provider's reference. */
  async findIdForWebhook(trx: Trx, provider: string, paymentId: string | null, ref: string | null): Promise<string | undefined> {
    const r = await sql<{ id: string }>`
      SELECT id FROM payments.payments
      WHERE provider = ${provider} AND (id = ${paymentId} OR (${ref}::text IS NOT NULL AND provider_ref = ${ref}))
      LIMIT 1
    `.execute(trx);
    return r.rows[0]?.id;
  }

  /** Locks one payment for a short read-merge-write (never held across a provider call). */
  async lock(trx: Trx, id: string): Promise<PaymentRow | undefined> {
    return trx.selectFrom('payments.payments').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  }

  /** Locks several payments, in id order (two batches locking overlapping sets cannot deadlock). */
  async lockMany(trx: Trx, ids: readonly string[]): Promise<PaymentRow[]> {
    return trx.selectFrom('payments.payments').selectAll().where('id', 'in', [...ids]).orderBy('id').forUpdate().execute();
  }

  /** Writes what merging an observation changed, for several payments in one statement. */
  async updateMany(trx: Trx, rows: ReadonlyArray<Pick<PaymentRow, 'id' | 'status' | 'provider_ref' | 'captured_minor' | 'refunded_minor' | 'failure_code' | 'updated_at'>>): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(({ id, status, provider_ref, captured_minor, refunded_minor, failure_code, updated_at }) => ({
      id,
      status,
      provider_ref,
      captured_minor,
      refunded_minor,
      failure_code,
      updated_at,
    }));
    await sql`
      UPDATE payments.payments p
      SET status = x.status, provider_ref = x.provider_ref, captured_minor = x.captured_minor, refunded_minor = x.refunded_minor,
          failure_code = x.failure_code, updated_at = x.updated_at
      FROM jsonb_to_recordset(${JSON.stringify(values)}::jsonb) AS x(id text, status text, provider_ref text, captured_minor bigint,
        refunded_minor bigint, failure_code text, updated_at timestamptz)
      WHERE p.id = x.id
    `.execute(trx);
  }

  /** Payments whose authorization outcome is still unknown since before `before` (the sweeper settles them). */
  /**
   * Payments given up because the provider did not answer (failed as provider_unavailable / provider_timeout) and
   * created since `since`: an authorize request still on its way may yet land for them.
   */
  async listGivenUpSince(since: Date, limit: number): Promise<PaymentRow[]> {
    return this.db
      .selectFrom('payments.payments')
      .selectAll()
      .where('status', '=', 'failed')
      .where('failure_code', 'in', ['provider_unavailable', 'provider_timeout'])
      .where('created_at', '>', since)
      .orderBy('created_at')
      .limit(limit)
      .execute();
  }

  /** Remembers the provider's reference of a payment we gave up (its late authorization was found and voided). */
  async setProviderRef(id: string, ref: string, at: Date): Promise<void> {
    await this.db.updateTable('payments.payments').set({ provider_ref: ref, updated_at: at }).where('id', '=', id).where('provider_ref', 'is', null).execute();
  }

  async listStalePending(before: Date, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('payments.payments')
      .select('checkout_id')
      .where('status', '=', 'pending')
      .where('created_at', '<', before)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map((r) => r.checkout_id);
  }

  // ---- refunds

  async findRefundByKey(key: string, db: Executor = this.db): Promise<RefundRow | undefined> {
    return db.selectFrom('payments.refunds').selectAll().where('key', '=', key).executeTakeFirst();
  }

  /** Refunds still counting against the captured amount (asked for or done). */
  async openRefundTotal(trx: Trx, paymentId: string): Promise<number> {
    const r = await sql<{ total: number }>`
      SELECT coalesce(sum(amount_minor), 0)::bigint AS total FROM payments.refunds
      WHERE payment_id = ${paymentId} AND status IN ('pending', 'succeeded')
    `.execute(trx);
    return Number(r.rows[0]?.total ?? 0);
  }

  /** Records a refund request; false when its key already exists. */
  async insertRefund(trx: Trx, row: RefundRow): Promise<boolean> {
    const r = await trx.insertInto('payments.refunds').values(row).onConflict((oc) => oc.column('key').doNothing()).returning('id').executeTakeFirst();
    return r !== undefined;
  }

  async finishRefund(trx: Trx, key: string, set: Pick<RefundRow, 'status' | 'provider_ref' | 'failure_code' | 'updated_at'>): Promise<void> {
    await trx.updateTable('payments.refunds').set(set).where('key', '=', key).where('status', '=', 'pending').execute();
  }

  async listPendingRefunds(paymentId: string): Promise<RefundRow[]> {
    return this.db.selectFrom('payments.refunds').selectAll().where('payment_id', '=', paymentId).where('status', '=', 'pending').orderBy('created_at').execute();
  }

  async listStaleRefundPayments(before: Date, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('payments.refunds')
      .select('payment_id')
      .distinct()
      .where('status', '=', 'pending')
      .where('created_at', '<', before)
      .limit(limit)
      .execute();
    return rows.map((r) => r.payment_id);
  }

  // ---- webhook inbox

  /** Stores a webhook once; false when this provider event was already received (a redelivery). */
  async insertWebhookEvent(trx: Trx, row: WebhookEventRow): Promise<boolean> {
    const r = await trx
      .insertInto('payments.webhook_events')
      .values(row)
      .onConflict((oc) => oc.columns(['provider', 'provider_event_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return r !== undefined;
  }

  async setWebhookPayment(trx: Trx, id: string, paymentId: string): Promise<void> {
    await trx.updateTable('payments.webhook_events').set({ payment_id: paymentId }).where('id', '=', id).execute();
  }
}

export function createPaymentsRepository(db: AnyDb): PaymentsRepository {
  return new PaymentsRepository(db);
}
