import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { AnyDb } from './db';
import type { Clock } from './clock';
import { sqlMigration, type ContextMigrations } from './migrations';

/**
 * The one map of event names to payload types. Each context adds its events by declaration merging in its
 * `<context>.events.ts`, so every publish and every handler is checked against the same map.
 * Names are `<context>.<entity>.<past-tense verb>`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EventMap {}

export type EventName = keyof EventMap & string;

/** One event to publish: a name and its payload, checked against each other. */
export type OutboxEvent = { [N in EventName]: { name: N; payload: EventMap[N] } }[EventName];

export interface DeliveredEvent<N extends EventName = EventName> {
  id: number;
  name: N;
  payload: EventMap[N];
  occurredAt: Date;
}

export type EventHandler<N extends EventName = EventName> = (event: DeliveredEvent<N>) => Promise<void>;

export const outboxMigrations: ContextMigrations = {
  schema: 'outbox',
  migrations: {
    '0001_init': sqlMigration(`
      CREATE TABLE outbox.subscriptions (
        subscriber text PRIMARY KEY,
        event_names text[] NOT NULL,
        registered_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE outbox.events (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        payload jsonb NOT NULL,
        occurred_at timestamptz NOT NULL
      );
      CREATE TABLE outbox.deliveries (
        subscriber text NOT NULL,
        event_id bigint NOT NULL REFERENCES outbox.events(id),
        attempts integer NOT NULL DEFAULT 0,
        available_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        last_error text,
        PRIMARY KEY (subscriber, event_id)
      );
      CREATE INDEX deliveries_pending ON outbox.deliveries (available_at, event_id) WHERE delivered_at IS NULL;
    `),
    // Deliveries are written only by the statement that writes their events (eventsFrom), and events are never
    // deleted, so the foreign key checked what that statement guarantees, one trigger query per delivery row:
    // ~40% of an event's write cost (20,000 events with their deliveries: 262 ms with it, 150-160 ms without).
    '0002_deliveries_without_fk': sqlMigration(`
      ALTER TABLE outbox.deliveries DROP CONSTRAINT IF EXISTS deliveries_event_id_fkey;
    `),
  },
};

type Executor = AnyDb | Transaction<any>;
type RawHandler = (event: { id: number; name: string; payload: unknown; occurredAt: Date }) => Promise<void>;

/**
 * Transactional outbox. `publish` writes the event in the caller's transaction, together with one delivery row per
 * subscriber, so an event exists exactly when the change it reports committed. Workers claim delivery rows with
 * FOR UPDATE SKIP LOCKED under a lease and mark them delivered after the handler succeeds: delivery is at least
 * once and never skips a row whose transaction committed late (the pitfall of reading "by increasing id").
 */
export class Outbox {
  readonly #db: AnyDb;
  readonly #clock: Clock;
  readonly #handlers = new Map<string, { names: string[]; handler: RawHandler }>();
  #wake: (() => void) | null = null;
  #stopped = false;

  constructor(db: AnyDb, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Records `name` in the transaction `trx`; it is delivered after commit to every registered subscriber. */
  async publish<N extends EventName>(trx: Executor, name: N, payload: EventMap[N]): Promise<void> {
    await sql`
      WITH x AS (SELECT ${name}::text AS name, ${JSON.stringify(payload)}::jsonb AS payload, 1 AS n), ${this.eventsFrom('x')}
      SELECT 1
    `.execute(trx);
    this.written();
  }

  /**
   * Records several events in the transaction `trx` with one statement (the batched write paths use it), in the
   * order given: ids, and so delivery order, follow the array.
   */
  async publishMany(trx: Executor, events: readonly OutboxEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (events.length === 1) return this.publish(trx, events[0]!.name, events[0]!.payload);
    await sql`
      WITH x AS (
        SELECT x.name, x.payload, x.n
        FROM ROWS FROM (jsonb_to_recordset(${JSON.stringify(events)}::jsonb) AS (name text, payload jsonb)) WITH ORDINALITY AS x(name, payload, n)
      ), ${this.eventsFrom('x')}
      SELECT 1
    `.execute(trx);
    this.written();
  }

  /**
   * Events that a statement derives in SQL from the rows it writes, recorded by that same statement (so they commit
   * exactly with those rows): CTEs to put last in its WITH list, which record every row of the CTE `source` (columns
   * `name text, payload jsonb, n`, ids following `n`) as an event, with its deliveries. Call `written()` once the
   * statement ran. The caller then builds and sends no payload of its own: a flash sale's 10,000 checkout starts
   * would each send their `started` event (and a refusal its `failed` one) next to the attempt row they repeat.
   * The payloads must have the event's declared type (EventMap); the caller's tests compare them with the ones it
   * builds in TypeScript.
   */
  eventsFrom(source: string): RawBuilder<unknown> {
    // due "now" by the injected clock, which deliverOnce compares against (the database's now() may differ in tests)
    const now = this.#clock.now();
    return sql`outbox_events AS (
        INSERT INTO outbox.events (name, payload, occurred_at)
        SELECT name, payload, ${now}::timestamptz FROM ${sql.table(source)} ORDER BY n
        RETURNING id, name
      ), outbox_deliveries AS (
        INSERT INTO outbox.deliveries (subscriber, event_id, available_at)
        SELECT s.subscriber, e.id, ${now}::timestamptz FROM outbox.subscriptions s JOIN outbox_events e ON e.name = ANY (s.event_names) OR '*' = ANY (s.event_names)
      )`;
  }

  /** Wakes this process's delivery loop after events were written by a statement of the caller's (see eventsFrom). */
  written(): void {
    this.#wake?.();
  }

  /** Declares a handler in this process. `register()` makes the subscription durable. Handlers must be idempotent. */
  subscribe<N extends EventName>(subscriber: string, names: N[], handler: EventHandler<N>): void {
    this.#handlers.set(subscriber, { names, handler: handler as unknown as RawHandler });
  }

  /** Persists this process's subscriptions so events published from any process are queued for them. */
  async register(): Promise<void> {
    for (const [subscriber, { names }] of this.#handlers) {
      await sql`
        INSERT INTO outbox.subscriptions (subscriber, event_names) VALUES (${subscriber}, ${names})
        ON CONFLICT (subscriber) DO UPDATE SET event_names = EXCLUDED.event_names
      `.execute(this.#db);
    }
  }

  /** Undelivered deliveries across all subscribers (the event backlog). */
  async backlog(): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox.deliveries WHERE delivered_at IS NULL`.execute(this.#db);
    return r.rows[0]?.n ?? 0;
  }

  /** Claims and handles up to `limit` due deliveries for this process's subscribers; returns how many it handled. */
  async deliverOnce(limit = 100, leaseMs = 30_000): Promise<number> {
    const subscribers = [...this.#handlers.keys()];
    if (subscribers.length === 0) return 0;
    const now = this.#clock.now();
    const claimed = await sql<{ subscriber: string; event_id: number; attempts: number; name: string; payload: unknown; occurred_at: Date }>`
      WITH due AS (
        SELECT subscriber, event_id FROM outbox.deliveries
        WHERE delivered_at IS NULL AND available_at <= ${now} AND subscriber = ANY (${subscribers})
        ORDER BY event_id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE outbox.deliveries d
      SET available_at = ${new Date(now.getTime() + leaseMs)}, attempts = d.attempts + 1
      FROM due, outbox.events e
      WHERE d.subscriber = due.subscriber AND d.event_id = due.event_id AND e.id = d.event_id
      RETURNING d.subscriber, d.event_id, d.attempts, e.name, e.payload, e.occurred_at
    `.execute(this.#db);
    const rows = claimed.rows.sort((a, b) => a.event_id - b.event_id);
    for (const row of rows) {
      const entry = this.#handlers.get(row.subscriber)!;
      try {
        await entry.handler({ id: row.event_id, name: row.name, payload: row.payload, occurredAt: row.occurred_at });
        await sql`UPDATE outbox.deliveries SET delivered_at = ${this.#clock.now()}, last_error = NULL
                  WHERE subscriber = ${row.subscriber} AND event_id = ${row.event_id}`.execute(this.#db);
      } catch (e) {
        // back off exponentially, capped at 10 minutes; the row stays pending until a handler succeeds
        const delay = Math.min(600_000, 1000 * 2 ** Math.min(row.attempts, 10));
        await sql`UPDATE outbox.deliveries SET available_at = ${new Date(this.#clock.now().getTime() + delay)}, last_error = ${String((e as Error).message ?? e)}
                  WHERE subscriber = ${row.subscriber} AND event_id = ${row.event_id}`.execute(this.#db);
      }
    }
    return rows.length;
  }

  /** Delivers until nothing is due (tests and the seed use it to settle). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.deliverOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  /** Runs the delivery loop until `stop()`: woken by local publishes, polling for other processes' events. */
  async run(pollMs = 500): Promise<void> {
    this.#stopped = false;
    while (!this.#stopped) {
      let n = 0;
      try {
        n = await this.deliverOnce();
      } catch {
        // the database may be briefly unavailable; try again on the next tick
      }
      if (n > 0) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        this.#wake = () => {
          clearTimeout(t);
          this.#wake = null;
          resolve();
        };
      });
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }
}
