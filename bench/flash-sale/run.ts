/**
 * Flash-sale benchmark (docs/benchmarks.md, "Flash sale"): 10,000 "buy now" checkouts released at once against one
 * SKU, for each stock level (1, 500, 9,999), against a fresh PostgreSQL database with the simulated payment provider.
 * Three servers per stock level, one at a time, each in its own process, loaded from this process:
 *   coalesced  `feedshop api`: the hot-SKU path of design.md §5 (one statement per batch, sold-out memo) and group
 *              commit of the checkout's other writes (src/platform/batcher.ts)
 *   naive      `feedshop api` with RESERVATION_COALESCING=false GROUP_COMMIT=false: one row-locked transaction per
 *              reservation, and every other write and look-up of the checkout on its own (no group commit)
 *   hello      a Fastify hello-world answering the same requests (bench/flash-sale/hello.ts): the ceiling
 * "At once": every connection is opened first (one per shopper by default), then all requests are written in one
 * tick; the time is from that release to the last answer. After each product run the database is checked (read
 * only): orders = min(stock, requests), no oversell, stock conserved, no payment left without its order, nothing held.
 * Any violation exits with code 1.
 *
 *   npm run bench:flash-sale -- [--requests N] [--stocks 1,500,9999] [--targets hello,coalesced,naive]
 *                               [--connections N] [--warmup N]
 * env BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres): where the throw-away databases are made;
 * BENCH_CPU_PROFILE=<dir>: each product server writes a V8 CPU profile (.cpuprofile) to <dir> when it stops.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuTimeUs, killChildren, ROOT, run, spawnNode, startServer, stopServer, type Server } from '../lib/processes';

/** The issue's target: all answered within 2× the hello-world's time for the same requests. */
const TARGET_VS_HELLO = 2;
const TARGET_NAMES = ['hello', 'coalesced', 'naive'] as const;
type TargetName = (typeof TARGET_NAMES)[number];
const PATH = '/v1/checkout/buy-now';
const CARD = '4242424242424242';

// ---------------------------------------------------------------------------------------------------------------
// options

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string' },
    stocks: { type: 'string' },
    targets: { type: 'string' },
    connections: { type: 'string' },
    warmup: { type: 'string' },
  },
});

function intFlag(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

const requests = intFlag(flags.requests, 'requests', 10_000);
const connections = Math.min(requests, intFlag(flags.connections, 'connections', requests));
const warmup = intFlag(flags.warmup, 'warmup', 300);
const stocks = (flags.stocks ?? '1,500,9999').split(',').map((s) => intFlag(s.trim(), 'stocks', 0));
const targets = (flags.targets ?? TARGET_NAMES.join(',')).split(',').map((s) => s.trim()) as TargetName[];
for (const t of targets) if (!TARGET_NAMES.includes(t)) throw new Error(`unknown target ${t}; known: ${TARGET_NAMES.join(', ')}`);
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------------------------------------------------------
// load: open the connections, then release every request in one tick

interface Answer {
  status: number;
  /** The error code of a non-2xx answer (`sold_out`…), or the client error; for a 201, the checkout's status. */
  code: string | null;
  /** Milliseconds from the release to this answer. */
  ms: number;
}

interface Prepared {
  headers: http.OutgoingHttpHeaders;
  body: string;
}

function send(agent: http.Agent, port: number, method: string, path: string, req: Prepared | null, t0: number): Promise<Answer> {
  return new Promise((resolvePromise) => {
    const r = http.request({ agent, host: '127.0.0.1', port, method, path, headers: req?.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const status = res.statusCode ?? 0;
        let code: string | null = null;
        if (status === 201) code = /"status":"(\w+)"/.exec(Buffer.concat(chunks).toString())?.[1] ?? null;
        else if (status >= 300) {
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString()) as { error?: { code?: string } }).error?.code ?? null;
          } catch {
            code = 'unparseable';
          }
        }
        resolvePromise({ status, code, ms });
      });
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolvePromise({ status: 0, code: e.code ?? e.message, ms: performance.now() - t0 }));
    r.end(req?.body);
  });
}

/** `n` distinct shoppers' buy-now requests: a distinct Idempotency-Key and x-device-id each, one unit, a good card. */
function prepare(skuId: string, n: number, tag: string): Prepared[] {
  const body = JSON.stringify({ skuId, quantity: 1, paymentMethod: CARD });
  return Array.from({ length: n }, (_, i) => ({
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'idempotency-key': `flash-${tag}-${i}`,
      'x-device-id': `dev-flash-${tag}-${i}`,
    },
    body,
  }));
}

/** An agent with `connections` keep-alive sockets already open (all in flight at once, so none is reused). */
async function openConnections(port: number): Promise<http.Agent> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, keepAliveMsecs: 60_000 });
  const t0 = performance.now();
  // 10,000 connects at once can overflow the server's accept queue (a reset): such a connection is opened again
  const connect = async (): Promise<Answer> => {
    let a = await send(agent, port, 'GET', '/healthz', null, t0);
    for (let retry = 0; retry < 5 && a.status === 0 && a.code === 'ECONNRESET'; retry++) a = await send(agent, port, 'GET', '/healthz', null, t0);
    return a;
  };
  const answers = await Promise.all(Array.from({ length: connections }, connect));
  const bad = answers.filter((a) => a.status !== 200);
  if (bad.length > 0) throw new Error(`opening connections: ${bad.length} failed (${bad[0]!.status} ${bad[0]!.code})`);
  const open = Object.values(agent.freeSockets).reduce((n, s) => n + (s?.length ?? 0), 0);
  if (open !== connections) throw new Error(`opened ${open} connections, wanted ${connections}`);
  return agent;
}

/** Warm-up (not measured): JIT, the pool's connections, the catalog caches, on another SKU, 50 at a time. */
async function warm(port: number, warmSkuId: string, tag: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const reqs = prepare(warmSkuId, warmup, `warm-${tag}`);
  const answers = await Promise.all(reqs.map((r) => send(agent, port, 'POST', PATH, r, performance.now())));
  agent.destroy();
  const bad = answers.filter((a) => a.status !== 201);
  if (bad.length > 0) throw new Error(`warm-up: ${bad.length} of ${warmup} checkouts failed (${bad[0]!.status} ${bad[0]!.code})`);
}

async function release(port: number, reqs: Prepared[]): Promise<{ totalMs: number; answers: Answer[] }> {
  const agent = await openConnections(port);
  await new Promise((r) => setTimeout(r, 200)); // let the server settle after the connection storm
  const t0 = performance.now();
  const pending = reqs.map((r) => send(agent, port, 'POST', PATH, r, t0));
  const answers = await Promise.all(pending);
  const totalMs = Math.max(...answers.map((a) => a.ms));
  agent.destroy();
  return { totalMs, answers };
}

// ---------------------------------------------------------------------------------------------------------------
// verification (read-only SQL on the run's database)

interface Verification {
  /** Transactions committed in the run's database from the release to the last answer, per request (pg_stat_database). */
  commitsPerRequest: number;
  /** Checkouts the request left mid-way (answered 201 `ordered`: capture deferred) that a worker's sweeper finished. */
  leftToSweeper: number;
  /** Seconds the worker took to finish them (recovery waits for the attempt's 60 s lock to lapse). */
  sweptInS: number | null;
  orders: number;
  unitsOrdered: number;
  onHand: number;
  reserved: number;
  sold: number;
  ordersNotPaid: number;
  paymentsByStatus: Record<string, number>;
  attemptsByStatus: Record<string, number>;
  heldReservations: number;
  violations: string[];
}

/** Transactions committed so far in the database (PostgreSQL 15 flushes backends' counts within a second: wait first). */
async function commitCount(dbUrl: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 1_500));
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}

/** Checkout attempts and payments not yet at rest (the sweeper's work), whole database. */
async function unsettled(dbUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM checkout.attempts WHERE status NOT IN ('completed', 'failed') OR (status = 'failed' AND NOT undone))
             + (SELECT count(*) FROM payments.payments WHERE status IN ('pending', 'authorized')))::int AS n`,
    );
    return r.rows[0]!.n;
  } finally {
    await c.end();
  }
}

/**
 * A checkout whose capture did not answer in time is answered 201 `ordered` and finished by the sweeper (the `worker`
 * role, not running during the release, like the api-only deployment it measures). When any is left, a worker runs
 * until everything is at rest (at most 240 s), so the checks below see the end state a real deployment reaches.
 */
async function settleWithWorker(env: NodeJS.ProcessEnv, dbUrl: string): Promise<{ left: number; seconds: number | null }> {
  const left = await unsettled(dbUrl);
  if (left === 0) return { left, seconds: null };
  log(`    ${left} checkouts/payments not at rest: running a worker until they are`);
  const started = Date.now();
  const child = spawnNode(['--import', 'tsx', 'src/cli.ts', 'worker'], { ...env, SWEEP_INTERVAL_SECONDS: '1' }, 'ignore');
  try {
    while (Date.now() - started < 240_000 && (await unsettled(dbUrl)) > 0) await new Promise((r) => setTimeout(r, 2_000));
  } finally {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
  }
  return { left, seconds: (Date.now() - started) / 1000 };
}

async function verify(dbUrl: string, skuId: string, stock: number, answers: Answer[], commits: number, swept: { left: number; seconds: number | null }): Promise<Verification> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const one = async <T>(q: string, params: unknown[] = []) => (await c.query(q, params)).rows[0] as T;
    const s = await one<{ on_hand: number; reserved: number; sold: number }>('SELECT on_hand, reserved, sold FROM inventory.stock WHERE sku_id = $1', [skuId]);
    const o = await one<{ orders: number; units: number; not_paid: number }>(
      `SELECT count(DISTINCT o.id)::int AS orders, coalesce(sum(l.quantity), 0)::int AS units,
              count(DISTINCT o.id) FILTER (WHERE o.status <> 'paid')::int AS not_paid
       FROM orders.order_lines l JOIN orders.orders o ON o.id = l.order_id WHERE l.sku_id = $1`,
      [skuId],
    );
    const allOrders = await one<{ n: number }>('SELECT count(*)::int AS n FROM orders.orders');
    const byStatus = async (q: string) => Object.fromEntries((await c.query<{ k: string; n: number }>(q)).rows.map((r) => [r.k, r.n]));
    const paymentsByStatus = await byStatus('SELECT status AS k, count(*)::int AS n FROM payments.payments GROUP BY 1 ORDER BY 1');
    const attemptsByStatus = await byStatus(
      `SELECT status || CASE WHEN status = 'failed' THEN ':' || coalesce(failure_code, '?') || CASE WHEN undone THEN '' ELSE ':NOT_UNDONE' END ELSE '' END AS k,
              count(*)::int AS n FROM checkout.attempts GROUP BY 1 ORDER BY 1`,
    );
    const held = await one<{ n: number }>(`SELECT count(*)::int AS n FROM inventory.reservations WHERE status = 'held'`);

    const expected = Math.min(stock, answers.length);
    const ok = answers.filter((a) => a.status === 201).length;
    const soldOut = answers.filter((a) => a.status === 409 && a.code === 'sold_out').length;
    const v: string[] = [];
    const others = answers.filter((a) => a.status !== 201 && !(a.status === 409 && a.code === 'sold_out'));
    if (others.length > 0) {
      const kinds = new Map<string, number>();
      for (const a of others) kinds.set(`${a.status} ${a.code}`, (kinds.get(`${a.status} ${a.code}`) ?? 0) + 1);
      v.push(`${others.length} answers neither 201 nor 409 sold_out: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join(', ')}`);
    }
    if (ok !== expected) v.push(`${ok} checkouts answered 201, expected min(stock, requests) = ${expected}`);
    if (ok + soldOut !== answers.length && others.length === 0) v.push(`${ok} + ${soldOut} answers for ${answers.length} requests`);
    if (o.orders !== expected) v.push(`${o.orders} orders for the SKU, expected ${expected}`);
    if (o.units !== o.orders) v.push(`${o.units} units ordered in ${o.orders} one-unit orders`);
    if (s.sold > stock || o.units > stock) v.push(`OVERSELL: ${s.sold} sold, ${o.units} ordered, stock was ${stock}`);
    if (s.sold !== o.units) v.push(`${s.sold} units sold by inventory, ${o.units} ordered`);
    if (s.on_hand + s.sold !== stock) v.push(`stock not conserved: on hand ${s.on_hand} + sold ${s.sold} ≠ ${stock}`);
    if (s.reserved !== 0 || held.n !== 0) v.push(`${s.reserved} units still reserved, ${held.n} holds still held`);
    if (o.not_paid !== 0) v.push(`${o.not_paid} orders not paid`);
    const captured = paymentsByStatus.captured ?? 0;
    if (captured !== allOrders.n) v.push(`${captured} captured payments for ${allOrders.n} orders (all SKUs)`);
    for (const st of ['pending', 'authorized']) if (paymentsByStatus[st]) v.push(`${paymentsByStatus[st]} payments left ${st}`);
    for (const [k, n] of Object.entries(attemptsByStatus)) {
      if (k !== 'completed' && k !== 'failed:sold_out') v.push(`${n} checkout attempts ${k}`);
    }
    return {
      commitsPerRequest: commits / answers.length,
      leftToSweeper: swept.left,
      sweptInS: swept.seconds,
      orders: o.orders,
      unitsOrdered: o.units,
      onHand: s.on_hand,
      reserved: s.reserved,
      sold: s.sold,
      ordersNotPaid: o.not_paid,
      paymentsByStatus,
      attemptsByStatus,
      heldReservations: held.n,
      violations: v,
    };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// one run

interface RunResult {
  target: TargetName;
  stock: number;
  requests: number;
  connections: number;
  totalMs: number;
  successes: number;
  soldOut: number;
  other: number;
  p50SuccessMs: number | null;
  p99SuccessMs: number | null;
  p50SoldOutMs: number | null;
  p99SoldOutMs: number | null;
  /**
   * The server process's CPU time (user + system, all threads) from before the connections are opened to the last
   * answer, per request, in microseconds (Linux /proc): what an answer costs, accepting its connection included;
   * much steadier across runs than the wall-clock time.
   */
  serverCpuUsPerRequest?: number;
  /** Group-commit batches during the release, per batcher (the product's /metrics, feedshop_batch_size): how full they were. */
  batches?: BatchCounts;
  verification?: Verification;
}

/** Per batcher: how many group-commit batches ran, and how many items they carried in all. */
type BatchCounts = Record<string, { batches: number; items: number }>;

/** The product's group-commit counters (`feedshop_batch_size_count` and `_sum` per batcher) from its /metrics. */
async function batchCounters(url: string): Promise<BatchCounts> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: BatchCounts = {};
  for (const m of text.matchAll(/^feedshop_batch_size_(count|sum)\{batcher="([^"]+)"\} (\d+)/gm)) {
    const e = (out[m[2]!] ??= { batches: 0, items: 0 });
    if (m[1] === 'count') e.batches = Number(m[3]);
    else e.items = Number(m[3]);
  }
  return out;
}

/** What happened between two readings of batchCounters. */
function batchesBetween(before: BatchCounts, after: BatchCounts): BatchCounts {
  const out: BatchCounts = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { batches: 0, items: 0 };
    if (a.batches > b.batches) out[name] = { batches: a.batches - b.batches, items: a.items - b.items };
  }
  return out;
}

function pct(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(target: TargetName, stock: number, totalMs: number, answers: Answer[], cpuBefore?: number, cpuAfter?: number): RunResult {
  const ok = answers.filter((a) => a.status === 201).map((a) => a.ms);
  const so = answers.filter((a) => a.status === 409 && a.code === 'sold_out').map((a) => a.ms);
  return {
    target,
    stock,
    requests: answers.length,
    connections,
    totalMs,
    successes: ok.length,
    soldOut: so.length,
    other: answers.length - ok.length - so.length,
    p50SuccessMs: pct(ok, 50),
    p99SuccessMs: pct(ok, 99),
    p50SoldOutMs: pct(so, 50),
    p99SoldOutMs: pct(so, 99),
    ...(cpuBefore !== undefined && cpuAfter !== undefined && answers.length > 0 ? { serverCpuUsPerRequest: Math.round((cpuAfter - cpuBefore) / answers.length) } : {}),
  };
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  LOG_LEVEL: 'warn',
  PAYMENT_PROVIDER: 'simulated',
});

async function runHello(stock: number): Promise<RunResult> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'feedshop-flash-'));
  const server = await startServer('hello', ['--import', 'tsx', 'bench/flash-sale/hello.ts'], { ...baseEnv(), DATA_DIR: dataDir });
  try {
    const cpuBefore = cpuTimeUs(server.child.pid);
    const { totalMs, answers } = await release(server.port, prepare('sku_hello', requests, `hello-${stock}`));
    const r = summarize('hello', stock, totalMs, answers, cpuBefore, cpuTimeUs(server.child.pid));
    if (r.successes !== requests) throw new Error(`hello-world answered ${r.successes} of ${requests} with 201`);
    return r;
  } finally {
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runProduct(target: 'coalesced' | 'naive', stock: number): Promise<RunResult> {
  const dbName = `feedshop_flash_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${dbName}`;
  const dataDir = mkdtempSync(join(os.tmpdir(), 'feedshop-flash-'));
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    DATABASE_URL: dbUrl.toString(),
    DATA_DIR: dataDir,
    RESERVATION_COALESCING: target === 'coalesced' ? 'true' : 'false',
    GROUP_COMMIT: target === 'coalesced' ? 'true' : 'false',
  };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  let server: Server | null = null;
  try {
    const { skuId, warmSkuId } = JSON.parse((await run(['--import', 'tsx', 'bench/flash-sale/setup.ts'], { ...env, STOCK: String(stock) })).trim().split('\n').pop()!) as {
      skuId: string;
      warmSkuId: string;
    };
    // BENCH_CPU_PROFILE=<dir>: the product server writes a V8 CPU profile there when it stops (open it in Chrome DevTools)
    const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [];
    server = await startServer(target, [...profile, '--import', 'tsx', 'src/cli.ts', 'api'], env);
    await warm(server.port, warmSkuId, `${target}-${stock}`);
    const commitsBefore = await commitCount(dbUrl.toString());
    const batchesBefore = await batchCounters(server.url);
    const cpuBefore = cpuTimeUs(server.child.pid);
    const { totalMs, answers } = await release(server.port, prepare(skuId, requests, `${target}-${stock}`));
    const cpuAfter = cpuTimeUs(server.child.pid);
    const commits = (await commitCount(dbUrl.toString())) - commitsBefore - 1; // minus the first count's own
    const r = summarize(target, stock, totalMs, answers, cpuBefore, cpuAfter);
    r.batches = batchesBetween(batchesBefore, await batchCounters(server.url));
    await stopServer(server);
    server = null;
    const swept = await settleWithWorker(env, dbUrl.toString());
    r.verification = await verify(dbUrl.toString(), skuId, stock, answers, commits, swept);
    return r;
  } finally {
    if (server) await stopServer(server);
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// reporting

const log = (s: string) => console.log(s);
const ms = (n: number | null) => (n === null ? '–' : n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(0) : n.toFixed(0));
const secs = (n: number) => (n / 1000).toFixed(2);
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : null);

function fmtRow(r: RunResult): string {
  const v = r.verification;
  const orders = v ? `${v.orders}` : '–';
  const stockCol = v ? `${v.onHand} / ${v.reserved} / ${v.sold}` : '–';
  const verdict = v ? (v.violations.length === 0 ? 'ok' : `**${v.violations.length} VIOLATIONS**`) : '–';
  const commits = v ? v.commitsPerRequest.toFixed(1) : '–';
  const swept = v ? (v.leftToSweeper === 0 ? '0' : `${v.leftToSweeper} (${v.sweptInS?.toFixed(0)} s)`) : '–';
  const cpu = r.serverCpuUsPerRequest !== undefined ? String(r.serverCpuUsPerRequest) : '–';
  return `| ${r.stock} | ${r.target} | ${secs(r.totalMs)} | ${cpu} | ${r.successes} | ${ms(r.p50SuccessMs)} / ${ms(r.p99SuccessMs)} | ${r.soldOut} | ${ms(r.p50SoldOutMs)} / ${ms(r.p99SoldOutMs)} | ${orders} | ${stockCol} | ${commits} | ${swept} | ${verdict} |`;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const pgVersion = (await admin.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '?';
  await admin.end();
  log(`flash-sale benchmark: ${requests} requests over ${connections} connections, stocks ${stocks.join(', ')}, targets ${targets.join(', ')}, PostgreSQL ${pgVersion}`);

  const results: RunResult[] = [];
  for (const stock of stocks) {
    for (const target of targets) {
      const r = target === 'hello' ? await runHello(stock) : await runProduct(target, stock);
      results.push(r);
      log(fmtRow(r));
      if (r.batches && Object.keys(r.batches).length > 0) {
        log(`    batches (items / batches): ${Object.entries(r.batches).map(([name, b]) => `${name} ${b.items}/${b.batches}`).join(', ')}`);
      }
      for (const v of r.verification?.violations ?? []) log(`    VIOLATION: ${v}`);
    }
  }

  const loadAfter = os.loadavg();
  const ratios = stocks.map((stock) => {
    const of = (t: TargetName) => results.find((r) => r.stock === stock && r.target === t)?.totalMs;
    return { stock, coalescedVsHello: ratio(of('coalesced'), of('hello')), naiveVsHello: ratio(of('naive'), of('hello')), naiveVsCoalesced: ratio(of('naive'), of('coalesced')) };
  });
  const violations = results.flatMap((r) => (r.verification?.violations ?? []).map((v) => `${r.target} stock ${r.stock}: ${v}`));
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres: pgVersion,
    platform: `${os.platform()} ${os.release()}`,
  };
  const r2 = (v: number | null) => (v === null ? '–' : v.toFixed(2));
  const md = [
    `${requests} buy-now checkouts released at once over ${connections} open connections, one SKU, simulated provider, ` +
      `PostgreSQL ${pgVersion}, default pool (10). Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}; ` +
      `load average ${loadBefore[0]!.toFixed(1)} before, ${loadAfter[0]!.toFixed(1)} after.`,
    '',
    '| stock | target | all answered (s) | server CPU µs / request | 201 | p50 / p99 201 (ms) | 409 sold_out | p50 / p99 sold_out (ms) | orders | on hand / reserved / sold | commits / request | left to the sweeper | checks |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map(fmtRow),
    '',
    '| stock | coalesced / hello-world time | naive / hello-world time | naive / coalesced time |',
    '| ---: | ---: | ---: | ---: |',
    ...ratios.map(
      (x) =>
        `| ${x.stock} | ${r2(x.coalescedVsHello)}${x.coalescedVsHello === null ? '' : x.coalescedVsHello <= TARGET_VS_HELLO ? ' (met)' : ' (**not met**)'} | ${r2(x.naiveVsHello)} | ${r2(x.naiveVsCoalesced)} |`,
    ),
    '',
    `Target: all ${requests} answered within ${TARGET_VS_HELLO}× the hello-world's time. Hard requirement: zero oversell and orders = min(stock, ${requests}): ` +
      (violations.length === 0 ? 'held in every run.' : `**VIOLATED** (${violations.length}).`),
  ].join('\n');

  log('\n--- Markdown for docs/benchmarks.md ---\n' + md + '\n---');
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `flash-sale-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt, requests, connections, warmup, stocks, targets, machine, loadBefore, loadAfter, results, ratios, violations }, null, 2));
  log(`raw results: ${relative(ROOT, file)}`);
  if (violations.length > 0) {
    for (const v of violations) console.error(`VIOLATION ${v}`);
    process.exitCode = 1;
  }
}


main().catch((e) => {
  console.error(e);
  killChildren();
  process.exit(1);
});
