import { join } from 'node:path';
import { Compile } from 'typebox/compile';
import type { DeliveredEvent, EventName } from '../../platform/events';
import type { AnalyticsDeps } from './index';
import type { TouchInput, TouchKind } from '../attribution';
import { analyticsDdl, chTime } from './analytics.clickhouse';
import { createReports, type Scope } from './analytics.reports';
import { ClientEvent, type ClientEventType, type IngestAnswer, type RejectCode } from './analytics.schemas';
import { Spool, type SpoolSegment } from './analytics.spool';
import { openStore, StoreUnavailableError, type OpenedStore } from './analytics.store';

/** One stored client event (the `events` table's columns). */
export interface EventRow extends Record<string, unknown> {
  table?: never;
  event_id: string;
  type: ClientEventType;
  at: string;
  received_at: string;
  device_id: string;
  account_id: string;
  tag_id: string;
  post_id: string;
  creator_id: string;
  product_id: string;
  sku_id: string;
  referred: 0 | 1;
  bot: 0 | 1;
  /** A creator's own tag seen or tapped by that creator (signed in): kept, left out of the funnels. */
  self_view: 0 | 1;
}

/** Tables written through the spool; a row without `table` is a client event (the spool's original format). */
const SPOOLED_TABLES = ['events', 'product_merchants'] as const;
type SpooledRow = EventRow | ({ table: 'product_merchants' } & Record<string, unknown>);

export interface IngestInput {
  events: unknown[];
  deviceId: string;
  accountId: string | null;
  /** The signed-in account's roles (a creator's own views are told apart); none when anonymous. */
  roles: readonly string[];
  userAgent: string | undefined;
}

// Well-known crawler and script tokens. Not "Headless": our own browser tests run HeadlessChrome.
const BOT_UA = /bot\b|bot\/|crawler|spider|slurp|facebookexternalhit|embedly|curl\/|wget\/|python-requests|python-urllib|go-http-client|java\/|libwww|httpclient|scrapy|okhttp/i;
/** True when the User-Agent names a crawler or a script (kept, flagged, excluded from reports and credit). */
export const isBot = (ua: string | undefined): boolean => !ua || BOT_UA.test(ua);

const TOUCH_OF: Partial<Record<ClientEventType, TouchKind>> = { tag_tap: 'tap', product_view: 'view', impression: 'impression' };
const MAX_AGE_MS = 7 * 86_400_000;
const MAX_SKEW_MS = 5 * 60_000;
const SEEN_LIMIT = 100_000;
// compiled once: ingest checks every event of every batch
const clientEvent = Compile(ClientEvent);

/**
 * The analytics context's engine: client events are validated, spooled and buffered, then written to the store in
 * batches; outbox facts (orders, credits, products) are written synchronously in their handlers (the outbox retries
 * a handler that throws); reports read the rollups. The store is opened on first use.
 */
export function createAnalyticsService(deps: AnalyticsDeps) {
  const { config, clock, log, metrics } = deps;
  const flushFailures = metrics.counter('feedshop_analytics_flush_failures_total', 'Failed attempts to write buffered client events to the store');
  const accepted = metrics.counter('feedshop_analytics_events_total', 'Client events accepted, by type and bot flag', ['type', 'bot']);

  // ---- the store, opened lazily (most processes and tests never touch it); a failed open is retried next time
  let opening: Promise<OpenedStore> | undefined;
  const open = (): Promise<OpenedStore> => {
    opening ??= (async () => {
      const opened = await openStore(config);
      try {
        for (const ddl of analyticsDdl(opened.database)) await opened.store.exec(ddl);
      } catch (e) {
        await opened.store.close();
        throw e;
      }
      return opened;
    })().catch((e) => {
      opening = undefined;
      // a store that cannot be opened is unavailable to its callers (reports answer 503), whatever the reason
      throw e instanceof StoreUnavailableError ? e : new StoreUnavailableError(`the analytics store could not be opened: ${(e as Error).message}`, { cause: e });
    });
    return opening;
  };

  // ---- client events (and product owners): spool (write-ahead), pending segments, one flush at a time
  const spool = new Spool<SpooledRow>(join(config.dataDir, 'analytics', 'spool'));
  // what an earlier process accepted but never saw stored is replayed first
  const pending: SpoolSegment<SpooledRow>[] = spool.leftovers();
  const seen = new Map<string, true>();
  let flushChain: Promise<void> = Promise.resolve();

  metrics.gauge('feedshop_analytics_buffer_rows', 'Client events accepted but not yet stored', () => bufferedRows());
  metrics.gauge('feedshop_analytics_spool_bytes', 'Bytes of spooled client events awaiting the store', () => spool.bytes);
  const bufferedRows = () => spool.pendingRows + pending.reduce((n, s) => n + s.rows.length, 0);

  async function flushOnce(): Promise<void> {
    const seg = spool.rotate();
    if (seg) pending.push(seg);
    if (pending.length === 0) return;
    const { store, database } = await open();
    while (pending.length > 0) {
      const s = pending[0]!;
      // a segment's rows and their order are fixed (they are the file), so its chunk tokens are stable across
      // retries and restarts: a chunk the store took before an error is not stored twice
      for (const table of SPOOLED_TABLES) {
        const rows = s.rows.filter((r) => (r.table ?? 'events') === table).map(({ table: _t, ...row }) => row);
        for (let i = 0, c = 0; i < rows.length; i += config.analyticsBatchSize, c++) {
          await store.insertRows(`${database}.${table}`, rows.slice(i, i + config.analyticsBatchSize), `spool:${s.name}:${table}:${c}`);
        }
      }
      spool.confirm(s);
      pending.shift();
    }
  }
  const flush = (): Promise<void> => {
    const run = flushChain.then(flushOnce);
    flushChain = run.catch(() => undefined);
    return run;
  };
  const background = () =>
    void flush().catch((err) => {
      flushFailures.inc();
      log.warn({ err }, 'analytics flush failed; events stay spooled and are retried');
    });
  const timer = setInterval(() => {
    if (bufferedRows() > 0) background();
  }, config.analyticsFlushMs);
  timer.unref();

  function checkEvent(raw: unknown, now: number): { ok: true; event: ClientEvent; at: Date } | { ok: false; code: RejectCode } {
    if (!clientEvent.Check(raw)) return { ok: false, code: 'invalid_event' };
    const event = raw as ClientEvent;
    const t = Date.parse(event.at);
    if (!/^\d{4}-\d\d-\d\dT/.test(event.at) || Number.isNaN(t)) return { ok: false, code: 'invalid_event' };
    if (t < now - MAX_AGE_MS || t > now + MAX_SKEW_MS) return { ok: false, code: 'time_out_of_range' };
    const hasSubject =
      event.type === 'checkout_started' ||
      event.referralToken !== undefined ||
      (event.type === 'impression' && event.postId !== undefined) ||
      (event.type !== 'impression' && event.type !== 'tag_tap' && (event.productId !== undefined || event.skuId !== undefined)) ||
      (event.type === 'tag_tap' && event.postId !== undefined);
    if (!hasSubject) return { ok: false, code: 'missing_subject' };
    // a small clock skew ahead is clamped: the event cannot have happened after we received it
    return { ok: true, event, at: new Date(Math.min(t, now)) };
  }

  const remember = (key: string) => {
    seen.set(key, true);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.keys().next().value!);
  };

  return {
    flush,

    /**
     * Validates a batch of client events, forwards referred taps, views and impressions to attribution, and appends
     * the rest to the spool before answering: an accepted event is never lost and a retried one is not counted twice.
     */
    async ingest(input: IngestInput): Promise<IngestAnswer> {
      const now = clock.now();
      const bot = isBot(input.userAgent);
      const rows: EventRow[] = [];
      const touches: TouchInput[] = [];
      // refused tokens per reason: a batch of 500 forged tokens is one counter statement, not 500 (a public route)
      const invalid = new Map<Parameters<typeof deps.attribution.recordInvalidToken>[0], number>();
      const refuse = (reason: Parameters<typeof deps.attribution.recordInvalidToken>[0]) => invalid.set(reason, (invalid.get(reason) ?? 0) + 1);
      const rejected: IngestAnswer['rejected'] = [];
      const inBatch = new Set<string>();
      let duplicates = 0;
      input.events.forEach((raw, index) => {
        const checked = checkEvent(raw, now.getTime());
        if (!checked.ok) return void rejected.push({ index, code: checked.code });
        const { event, at } = checked;
        const key = `${input.deviceId}:${event.id}`;
        if (seen.has(key) || inBatch.has(key)) return void duplicates++;
        inBatch.add(key);
        let claims = null;
        if (event.referralToken !== undefined) {
          const v = deps.referrals.verify(event.referralToken);
          if (!v.ok) refuse(v.reason);
          else if (event.productId !== undefined && v.claims.productId !== event.productId) refuse('product_mismatch');
          else claims = v.claims;
        }
        rows.push({
          event_id: event.id,
          type: event.type,
          at: chTime(at),
          received_at: chTime(now),
          device_id: input.deviceId,
          account_id: input.accountId ?? '',
          tag_id: claims?.tagId ?? '',
          post_id: claims?.postId ?? event.postId ?? '',
          creator_id: claims?.creatorId ?? '',
          product_id: event.productId ?? claims?.productId ?? '',
          sku_id: event.skuId ?? '',
          referred: claims ? 1 : 0,
          bot: bot ? 1 : 0,
          self_view: 0,
        });
        const kind = TOUCH_OF[event.type];
        if (claims && kind) touches.push({ kind, accountId: input.accountId, deviceId: input.deviceId, claims, occurredAt: at, bot });
      });
      // a creator looking at their own tags is not an audience: their views are flagged and left out of the funnels,
      // as attribution leaves their purchases out (self_referral). Known only when the token names the creator and
      // the creator is signed in; the touches still go to attribution, which flags them itself when crediting
      if (input.accountId && input.roles.includes('creator') && rows.some((r) => r.creator_id !== '')) {
        const viewer = await deps.social.getCreatorByAccount(input.accountId);
        if (viewer) for (const r of rows) if (r.creator_id === viewer.id) r.self_view = 1;
      }
      // touches first: recordTouches is idempotent, so a failure here (answered 5xx) is safely retried by the client
      if (touches.length > 0) await deps.attribution.recordTouches(touches);
      await Promise.all([...invalid].map(([reason, n]) => deps.attribution.recordInvalidToken(reason, 'events', n)));
      spool.append(rows);
      const perType = new Map<string, number>();
      for (const r of rows) {
        remember(`${r.device_id}:${r.event_id}`);
        perType.set(r.type, (perType.get(r.type) ?? 0) + 1);
      }
      for (const [type, n] of perType) accepted.inc({ type, bot: String(bot ? 1 : 0) }, n);
      if (spool.pendingRows >= config.analyticsBatchSize) background();
      return { accepted: rows.length, duplicates, rejected };
    },

    /**
     * Stores outbox facts: order lines and credits synchronously, deduplicated by event id (a failure throws, so the
     * outbox retries it); product owners through the spool (a ReplacingMergeTree: a repeat is harmless, and a seed
     * of thousands of products must not become thousands of one-row inserts).
     */
    async recordFacts(event: DeliveredEvent<EventName>): Promise<void> {
      const { product_merchants: owners, ...facts } = factRows(event);
      if (Object.keys(facts).length > 0) {
        const { store, database } = await open();
        for (const [table, rows] of Object.entries(facts)) await store.insertRows(`${database}.${table}`, rows, `outbox:${event.id}:${table}`);
      }
      if (owners) spool.append(owners.map((r) => ({ table: 'product_merchants' as const, ...r })));
    },

    reports: createReports(open),

    /** The scope a caller's figures are limited to (admin: all; creator: own; merchant: own products; else none). */
    async scopeOf(principal: { accountId: string; roles: readonly string[] }): Promise<Scope> {
      if (principal.roles.includes('admin')) return { kind: 'all' };
      if (principal.roles.includes('creator')) {
        const c = await deps.social.getCreatorByAccount(principal.accountId);
        if (c) return { kind: 'creator', id: c.id };
      }
      if (principal.roles.includes('merchant')) {
        const m = await deps.catalog.getMerchantByAccount(principal.accountId);
        if (m) return { kind: 'merchant', id: m.id };
      }
      return { kind: 'none' };
    },

    /** Stores what is buffered (when the store answers) and releases the store. Unstored events stay spooled. */
    async close(): Promise<void> {
      clearInterval(timer);
      try {
        await flush();
      } catch (err) {
        log.warn({ err }, 'analytics: events left in the spool at shutdown; they are replayed on next start');
      }
      spool.close();
      if (opening) await (await opening.catch(() => undefined))?.store.close();
      opening = undefined;
    },
  };
}

export type AnalyticsServiceImpl = ReturnType<typeof createAnalyticsService>;

type Row = Record<string, unknown>;

/** The rows an outbox event adds, by table. */
function factRows(event: DeliveredEvent<EventName>): Record<string, Row[]> {
  const out: Record<string, Row[]> = {};
  const add = (table: string, row: Row) => (out[table] ??= []).push(row);
  const e = event as DeliveredEvent<any>;
  const p = e.payload;
  switch (event.name) {
    case 'catalog.product.updated':
      add('product_merchants', { product_id: p.productId, merchant_id: p.merchantId });
      break;
    case 'orders.order.placed':
    case 'orders.order.paid':
    case 'orders.order.cancelled':
    case 'orders.order.refunded': {
      const kind = event.name.split('.')[2]!;
      // a refund's facts are the refunded amounts, negative; the other transitions record the lines as they stand
      const lines =
        kind === 'refunded'
          ? (p.refundedLines as any[]).map((l) => ({ ...l, skuId: '', quantity: -l.quantity, netAmountMinor: -l.netAmountMinor }))
          : (p.lines as any[]);
      for (const l of lines) {
        add('order_lines', {
          event_id: event.id,
          kind,
          at: chTime(new Date(p.at)),
          order_id: p.orderId,
          line_id: l.lineId,
          merchant_id: p.merchantId,
          product_id: l.productId,
          sku_id: l.skuId ?? '',
          account_id: p.accountId ?? '',
          currency: p.currency,
          quantity: l.quantity,
          net_amount_minor: l.netAmountMinor,
          tag_id: l.attribution?.tagId ?? '',
          post_id: l.attribution?.postId ?? '',
          creator_id: l.attribution?.creatorId ?? '',
        });
        add('product_merchants', { product_id: l.productId, merchant_id: p.merchantId });
      }
      break;
    }
    case 'attribution.line.credited':
    case 'attribution.line.reversed':
    case 'attribution.line.recomputed':
      add('product_merchants', { product_id: p.productId, merchant_id: p.merchantId });
      for (const c of p.credits as any[]) {
        add('credits', {
          event_id: event.id,
          kind: event.name.split('.')[2],
          at: chTime(new Date(p.orderedAt)),
          order_id: p.orderId,
          line_id: p.lineId,
          merchant_id: p.merchantId,
          product_id: p.productId,
          currency: p.currency,
          model: c.model,
          model_version: c.modelVersion,
          tag_id: c.tagId,
          post_id: c.postId,
          creator_id: c.creatorId,
          amount_minor: c.amountMinor,
          units: c.units,
        });
      }
      break;
  }
  return out;
}

/** The outbox events analytics stores as facts. */
export const FACT_EVENTS = [
  'catalog.product.updated',
  'orders.order.placed',
  'orders.order.paid',
  'orders.order.cancelled',
  'orders.order.refunded',
  'attribution.line.credited',
  'attribution.line.reversed',
  'attribution.line.recomputed',
] as const satisfies readonly EventName[];
