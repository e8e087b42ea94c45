// The analytics schema in ClickHouse SQL (the same on chDB and a server): raw fact tables plus rollups kept by
// materialized views. Every table keeps a deduplication window so a re-sent block (a redelivered outbox event, a
// flush retried after the store answered too late) is stored once, in the table and in the rollups it feeds.

const DEDUP = 'SETTINGS non_replicated_deduplication_window = 10000';

/** `YYYY-MM-DD hh:mm:ss.sss` in UTC: the DateTime64 text every ClickHouse input format parses. */
export const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

export function analyticsDdl(db: string): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    // client events: ids only, never personal data
    `CREATE TABLE IF NOT EXISTS ${db}.events (
      event_id String, type LowCardinality(String), at DateTime64(3, 'UTC'), received_at DateTime64(3, 'UTC'),
      device_id String, account_id String, tag_id String, post_id String, creator_id String, product_id String,
      sku_id String, referred UInt8, bot UInt8, self_view UInt8 DEFAULT 0
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (type, at, event_id) ${DEDUP}`,
    // a store made before creators' own views were flagged; their earlier rows stay counted (0)
    `ALTER TABLE ${db}.events ADD COLUMN IF NOT EXISTS self_view UInt8 DEFAULT 0`,
    `CREATE TABLE IF NOT EXISTS ${db}.events_daily (
      day Date, type LowCardinality(String), creator_id String, post_id String, product_id String, n UInt64
    ) ENGINE = SummingMergeTree ORDER BY (day, type, creator_id, post_id, product_id) ${DEDUP}`,
    // bots and creators' views of their own tags are not counted. The view was renamed when self views were left out
    // (a view's query cannot be altered in place): the old one goes first, so no insert is counted twice
    `DROP VIEW IF EXISTS ${db}.events_daily_mv`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.events_daily_v2_mv TO ${db}.events_daily AS
      SELECT toDate(at) AS day, type, creator_id, post_id, product_id, count() AS n
      FROM ${db}.events WHERE bot = 0 AND self_view = 0 GROUP BY day, type, creator_id, post_id, product_id`,
    // order-line facts from the orders outbox; amounts signed (refunds negative)
    `CREATE TABLE IF NOT EXISTS ${db}.order_lines (
      event_id UInt64, kind LowCardinality(String), at DateTime64(3, 'UTC'), order_id String, line_id String,
      merchant_id String, product_id String, sku_id String, account_id String, currency LowCardinality(String),
      quantity Int64, net_amount_minor Int64, tag_id String, post_id String, creator_id String
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (merchant_id, at, order_id) ${DEDUP}`,
    `CREATE TABLE IF NOT EXISTS ${db}.product_merchants (product_id String, merchant_id String)
      ENGINE = ReplacingMergeTree ORDER BY product_id`,
    // credit deltas from attribution (credited, reversed, recomputed): reports only ever add them up
    `CREATE TABLE IF NOT EXISTS ${db}.credits (
      event_id UInt64, kind LowCardinality(String), at DateTime64(3, 'UTC'), order_id String, line_id String,
      merchant_id String, product_id String, currency LowCardinality(String), model LowCardinality(String),
      model_version UInt32, tag_id String, post_id String, creator_id String, amount_minor Int64, units Float64
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (model, at, post_id) ${DEDUP}`,
    // keyed by the id first: a report's second step (distinct orders of the top ids, a series of one id) reads only
    // those ids' rows through the primary index
    ...(['post', 'product'] as const).flatMap((dim) => [
      `CREATE TABLE IF NOT EXISTS ${db}.credits_${dim}_daily (
        model LowCardinality(String), day Date, currency LowCardinality(String), merchant_id String, creator_id String,
        ${dim}_id String, revenue SimpleAggregateFunction(sum, Int64), units SimpleAggregateFunction(sum, Float64),
        orders AggregateFunction(uniqExact, String)
      ) ENGINE = AggregatingMergeTree ORDER BY (model, ${dim}_id, day, merchant_id, creator_id, currency) ${DEDUP}`,
      // an order counts for a post when it was credited to it; a reversal lowers revenue, not the order count
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.credits_${dim}_daily_mv TO ${db}.credits_${dim}_daily AS
        SELECT model, toDate(at) AS day, currency, merchant_id, creator_id, ${dim}_id, sum(amount_minor) AS revenue,
          sum(units) AS units, uniqExactIfState(order_id, amount_minor > 0) AS orders
        FROM ${db}.credits GROUP BY model, day, currency, merchant_id, creator_id, ${dim}_id`,
    ]),
  ];
}
