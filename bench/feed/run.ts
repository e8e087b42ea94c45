/**
 * Feed benchmark (docs/benchmarks.md, "Feed"). Seeds a fresh PostgreSQL database through the CLI, then loads three
 * servers, one at a time, each in its own process, from this process (autocannon):
 *   product  `feedshop api`: GET /v1/feed (the pipeline: skeleton → hydrate → rules → present)
 *   hello    a Fastify hello-world: the ceiling of the framework on this machine, measured in the same run
 *   static   the same hello-world process answering a product feed page's bytes, captured in this run, with no work
 *            behind them: the floor for a page of that size (needs the product target, which captures the page)
 *   naive    the same feed page computed with N+1 queries (bench/feed/naive-server.ts), for contrast
 * Every result is reported as a ratio to the ceiling measured in the same run (style.md, habit 6).
 *
 *   npm run bench:feed -- [--posts N] [--products N] [--creators N] [--shoppers N] [--merchants N] [--quick]
 *                         [--targets product,hello,static,naive] [--keep-db] [--db NAME] [--duration S]
 *   --keep-db  keeps the seeded database and writes its seed summary to bench/results/NAME.seed.json;
 *   --db NAME  reuses such a database (no seeding, not dropped): for iterating on one world.
 * env BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres): where the throw-away database is made.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { cpuTimeUs, killChildren, ROOT, run, startServer, stopServer, type Server } from '../lib/processes';

const TARGET_FEED_VS_HELLO = 0.4;
const TARGET_P99_AT_HALF_MS = 20;
const CONCURRENCIES = [1, 16, 64] as const;
const HALF_RATE_CONNECTIONS = 8;
const TARGET_NAMES = ['product', 'hello', 'static', 'naive'] as const;
type TargetName = (typeof TARGET_NAMES)[number];

// ---------------------------------------------------------------------------------------------------------------
// options

const { values: flags } = parseArgs({
  options: {
    posts: { type: 'string' },
    products: { type: 'string' },
    creators: { type: 'string' },
    shoppers: { type: 'string' },
    merchants: { type: 'string' },
    quick: { type: 'boolean', default: false },
    targets: { type: 'string' },
    'keep-db': { type: 'boolean', default: false },
    db: { type: 'string' },
    duration: { type: 'string' },
  },
});

function intFlag(name: keyof typeof flags, fallback: number): number {
  const v = flags[name];
  if (v === undefined || typeof v === 'boolean') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

const quick = flags.quick === true;
const posts = intFlag('posts', quick ? 2_000 : 100_000);
const products = intFlag('products', quick ? 500 : 10_000);
const size = {
  posts,
  products,
  // at least 100 creators: with fewer, every shopper follows nearly all of them and the world is degenerate
  creators: intFlag('creators', Math.max(100, Math.round(posts / 100))),
  shoppers: intFlag('shoppers', quick ? 200 : 1_000),
  merchants: intFlag('merchants', Math.max(5, Math.round(products / 100))),
};
const durationS = intFlag('duration', quick ? 3 : 10);
const warmupS = quick ? 1 : 3;
const targets = (flags.targets ?? TARGET_NAMES.join(',')).split(',').map((s) => s.trim()) as TargetName[];
for (const t of targets) if (!TARGET_NAMES.includes(t)) throw new Error(`unknown target ${t}; known: ${TARGET_NAMES.join(', ')}`);

const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------------------------------------------------------
// load

interface Measure {
  target: TargetName;
  connections: number;
  /** The rate asked for (half-max runs); absent means "as fast as it goes". */
  overallRate?: number;
  durationS: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** autocannon's own p99 (whole ms; corrected for coordinated omission when a rate is asked). */
  autocannonP99: number;
  non200: number;
  errors: number;
  timeouts: number;
  /** Requests the server itself counted during the run (a cross-check of the load generator's figure). */
  serverCounted?: number;
  /**
   * The server process's CPU time (all its threads: GC helpers too) per answered request, in microseconds: what a
   * page costs, much less sensitive to the other load on the machine than req/s (Linux /proc only).
   */
  serverCpuUsPerRequest?: number;
  /** The 1-minute load average at the end of the run (other work on the same cores). */
  loadAverage: number;
}

type Requests = autocannon.Request[];

/**
 * How many requests the server has answered so far, by its own count: the product's HTTP histogram at /metrics,
 * the hello-world's counter. It proves the load generator's figure is real requests (no pipelining, no miscount).
 */
async function serverCount(target: TargetName, url: string): Promise<number | undefined> {
  try {
    if (target === 'hello' || target === 'static') return ((await (await fetch(`${url}/count`)).json()) as { count: number }).count;
    const text = await (await fetch(`${url}/metrics`)).text();
    const route = target === 'naive' ? '/bench/feed-naive' : '/v1/feed';
    let n = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('feedshop_http_request_duration_seconds_count{') && line.includes(`route="${route}"`)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  } catch {
    return undefined;
  }
}

/** The server under load (its CPU time is read around each run). */
let serverPid: number | undefined;

async function serve(name: TargetName, args: string[], env: NodeJS.ProcessEnv): Promise<Server> {
  // BENCH_CPU_PROFILE=<dir>: the product server writes a V8 CPU profile there when it stops
  const profile = process.env.BENCH_CPU_PROFILE && name === 'product' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [];
  const server = await startServer(name, [...profile, ...args], env, 90_000);
  serverPid = server.child.pid;
  return server;
}

async function measure(target: TargetName, url: string, requests: Requests, connections: number, seconds: number, overallRate?: number): Promise<Measure> {
  const countBefore = await serverCount(target, url);
  const cpuBefore = cpuTimeUs(serverPid);
  // without a callback autocannon answers an EventEmitter that is also a promise of the result
  const instance = autocannon({
    url,
    connections,
    // one request in flight per connection, for every target alike (autocannon's default, stated so it stays so)
    pipelining: 1,
    duration: seconds,
    requests,
    ...(overallRate ? { overallRate } : {}),
  }) as unknown as EventEmitter & Promise<autocannon.Result>;
  // autocannon's histogram keeps whole milliseconds; a feed page answers in less, so keep our own sub-ms samples
  const latencies: number[] = [];
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status === 200) latencies.push(ms);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  // every status other than 200 is a failure (a 204 or a 304 would mean we measured something else)
  let non200 = result.statusCodeStats ? 0 : result.non2xx;
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) if (code !== '200') non200 += stat.count ?? 0;
  const total = result.requests.total;
  const countAfter = await serverCount(target, url);
  const cpuAfter = cpuTimeUs(serverPid);
  return {
    target,
    connections,
    ...(overallRate ? { overallRate } : {}),
    durationS: result.duration,
    requests: total,
    rps: Math.round(total / result.duration),
    p50: pct(50),
    p99: pct(99),
    max: pct(100),
    autocannonP99: result.latency.p99,
    non200,
    errors: result.errors,
    timeouts: result.timeouts,
    ...(countBefore !== undefined && countAfter !== undefined ? { serverCounted: countAfter - countBefore } : {}),
    ...(cpuBefore !== undefined && cpuAfter !== undefined && total > 0 ? { serverCpuUsPerRequest: Math.round((cpuAfter - cpuBefore) / total) } : {}),
    loadAverage: os.loadavg()[0]!,
  };
}

/**
 * Feed requests: each connection signs in as the next shopper (round-robin over the tokens) for three first pages,
 * then follows the third page's `nextCursor` to page 2, so a quarter of the requests walk the keyset.
 */
function feedRequests(path: string, tokens: string[]): Requests {
  let next = 0;
  const CURSOR = /"nextCursor":"([^"]+)"/;
  type Ctx = { token?: string; cursor?: string | null };
  const firstPage = (capture: boolean): autocannon.Request => ({
    method: 'GET',
    path,
    setupRequest: (req, context) => {
      const ctx = context as Ctx;
      ctx.token = tokens[next++ % tokens.length]!;
      return { ...req, headers: { ...req.headers, authorization: `Bearer ${ctx.token}` } };
    },
    ...(capture
      ? {
          onResponse: (status: number, body: string, context: object) => {
            (context as Ctx).cursor = status === 200 ? (CURSOR.exec(body)?.[1] ?? null) : null;
          },
        }
      : {}),
  });
  const secondPage: autocannon.Request = {
    method: 'GET',
    path,
    setupRequest: (req, context) => {
      const ctx = context as Ctx;
      const sep = path.includes('?') ? '&' : '?';
      const p = ctx.cursor ? `${path}${sep}cursor=${encodeURIComponent(ctx.cursor)}` : path;
      return { ...req, path: p, headers: { ...req.headers, authorization: `Bearer ${ctx.token}` } };
    },
  };
  return [firstPage(false), firstPage(false), firstPage(true), secondPage];
}

/** Finds the best rate at each concurrency (after a warm-up that is not reported). */
async function sweep(target: TargetName, url: string, requests: Requests): Promise<Measure[]> {
  await measure(target, url, requests, 16, warmupS);
  const out: Measure[] = [];
  for (const c of CONCURRENCIES) {
    const m = await measure(target, url, requests, c, durationS);
    log(`  ${target.padEnd(7)} c=${String(c).padStart(2)}  ${fmtRow(m)}`);
    out.push(m);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// reporting

const log = (s: string) => console.log(s);
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const fmtRow = (m: Measure) =>
  `${String(m.rps).padStart(6)} req/s (${m.requests} sent, ${m.serverCounted ?? '?'} counted by the server)  p50 ${fmtMs(m.p50)} ms  p99 ${fmtMs(m.p99)} ms  server CPU ${m.serverCpuUsPerRequest ?? '?'} µs/req  load ${m.loadAverage.toFixed(1)}${m.non200 + m.errors + m.timeouts > 0 ? `  FAILED: ${m.non200} non-200, ${m.errors} errors, ${m.timeouts} timeouts` : ''}`;
const best = (ms: Measure[]) => ms.reduce((a, b) => (b.rps > a.rps ? b : a));
const failed = (m: Measure) => m.non200 + m.errors + m.timeouts > 0;

// ---------------------------------------------------------------------------------------------------------------
// main

interface Summary {
  shopperEmails?: string[];
  password?: string;
  [k: string]: unknown;
}

function parseSummary(stdout: string): Summary {
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error(`seed printed no JSON summary:\n${stdout.slice(-2000)}`);
  return JSON.parse(stdout.slice(start, end + 1)) as Summary;
}

async function logIn(url: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 200 || !body.token) throw new Error(`log-in of ${email} failed: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** One page as a shopper sees it, to check the target answers what we think it answers before loading it. */
async function probe(url: string, path: string, token: string): Promise<{ posts: number; tags: number; bytes: number; nextCursor: boolean; text: string }> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { posts?: Array<{ tags?: unknown[] }>; nextCursor?: string | null };
  const items = body.posts ?? [];
  return { posts: items.length, tags: items.reduce((n, i) => n + (i.tags?.length ?? 0), 0), bytes: Buffer.byteLength(text), nextCursor: !!body.nextCursor, text };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const reuse = flags.db;
  const dbName = reuse ?? `feedshop_bench_${startedAt.getTime().toString(36)}`;
  const seedFile = join(ROOT, 'bench', 'results', `${dbName}.seed.json`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${dbName}`;
  const dataDir = mkdtempSync(join(os.tmpdir(), 'feedshop-bench-'));
  const pageFile = join(dataDir, 'feed-page.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: dbUrl.toString(),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // one key ring for the seed and every server, so the tokens the seed signs verify everywhere
    REFERRAL_KEYS: `bench:${randomBytes(32).toString('base64url')}`,
    // the bench logs in up to 100 shoppers from one IP in a few seconds
    LOGIN_MAX_ATTEMPTS: '100000',
  };

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const pgVersion = (await admin.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '?';
  if (!reuse) await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  log(`feed benchmark: database ${dbName} on ${dbUrl.host}, world ${JSON.stringify(size)}, ${durationS} s per run${quick ? ' (--quick)' : ''}`);

  const results: Measure[] = [];
  let server: Server | null = null;
  const extra: Record<string, unknown> = {};
  try {
    // the hello-world alone needs no world (useful to check the load generator: --targets hello)
    let summary: Summary = { shopperEmails: [], password: '' };
    if (reuse) {
      summary = JSON.parse(readFileSync(seedFile, 'utf8')) as Summary;
      log(`reusing database ${dbName} (${seedFile})`);
    } else if (targets.some((t) => t !== 'hello')) {
      const seedStarted = Date.now();
      const seedArgs = ['seed', ...Object.entries(size).flatMap(([k, v]) => [`--${k}`, String(v)])];
      summary = parseSummary(await run(['--import', 'tsx', 'src/cli.ts', ...seedArgs], env));
      extra.seedSeconds = (Date.now() - seedStarted) / 1000;
      extra.seedSummary = { ...summary, shopperEmails: summary.shopperEmails?.length };
      // a freshly bulk-loaded database has no planner statistics until autovacuum gets to it (a minute or more):
      // without them the feed's popular branch scans every post. A live database always has them.
      const c = new pg.Client({ connectionString: dbUrl.toString() });
      await c.connect();
      await c.query('ANALYZE');
      await c.end();
      log(`seeded in ${(extra.seedSeconds as number).toFixed(1)} s (then ANALYZE)`);
      if (!summary.shopperEmails?.length || !summary.password) throw new Error('the seed summary has no shopperEmails/password to log in with');
      if (flags['keep-db']) {
        mkdirSync(dirname(seedFile), { recursive: true });
        writeFileSync(seedFile, JSON.stringify(summary));
      }
    }
    const emails = (summary.shopperEmails ?? []).slice(0, 100);

    let tokens: string[] = [];
    if (targets.includes('product')) {
      server = await serve('product', ['--import', 'tsx', 'src/cli.ts', 'api'], env);
      tokens = await Promise.all(emails.map((e) => logIn(server!.url, e, summary.password!)));
      const page = await probe(server.url, '/v1/feed', tokens[0]!);
      extra.productPage = { ...page, text: undefined };
      writeFileSync(pageFile, page.text);
      log(`product: a feed page has ${page.posts} posts, ${page.tags} tags, ${page.bytes} bytes; next page: ${page.nextCursor}`);
      const sweepResults = await sweep('product', server.url, feedRequests('/v1/feed', tokens));
      results.push(...sweepResults);
      const max = best(sweepResults);
      const half = Math.max(1, Math.floor(max.rps / 2));
      // autocannon enforces a rate per connection per one-second window (each connection sends its share back to
      // back, then waits for the next second), so the connections' bursts coincide: with 64 connections half the
      // max rate would arrive as one burst per second. 8 connections keep the burst small and the load sustained.
      const m = await measure('product', server.url, feedRequests('/v1/feed', tokens), HALF_RATE_CONNECTIONS, durationS, half);
      log(`  product at half max (${half} req/s asked)  ${fmtRow(m)}`);
      results.push(m);
      await stopServer(server);
      server = null;
    }

    if (targets.includes('hello')) {
      server = await serve('hello', ['--import', 'tsx', 'bench/feed/hello.ts'], env);
      results.push(...(await sweep('hello', server.url, [{ method: 'GET', path: '/' }])));
      await stopServer(server);
      server = null;
    }

    if (targets.includes('static')) {
      if (!targets.includes('product')) throw new Error('the static target serves a page the product target captures: add product to --targets');
      server = await serve('static', ['--import', 'tsx', 'bench/feed/hello.ts'], { ...env, PAGE_FILE: pageFile });
      const page = await probe(server.url, '/page', tokens[0]!);
      log(`static: the captured page, ${page.bytes} bytes`);
      results.push(...(await sweep('static', server.url, [{ method: 'GET', path: '/page' }])));
      await stopServer(server);
      server = null;
    }

    if (targets.includes('naive')) {
      server = await serve('naive', ['--import', 'tsx', 'bench/feed/naive-server.ts'], env);
      if (tokens.length === 0) tokens = await Promise.all(emails.map((e) => logIn(server!.url, e, summary.password!)));
      const page = await probe(server.url, '/bench/feed-naive', tokens[0]!);
      extra.naivePage = { ...page, text: undefined };
      log(`naive: a page has ${page.posts} posts, ${page.tags} tags, ${page.bytes} bytes`);
      results.push(...(await sweep('naive', server.url, feedRequests('/bench/feed-naive', tokens))));
      await stopServer(server);
      server = null;
    }
  } finally {
    if (server) await stopServer(server);
    if (!flags['keep-db'] && !reuse) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    } else log(`kept database ${dbName}`);
    rmSync(dataDir, { recursive: true, force: true });
  }

  report({ startedAt, dbName, pgVersion, results, extra });
}

function report(run: { startedAt: Date; dbName: string; pgVersion: string; results: Measure[]; extra: Record<string, unknown> }): void {
  const { results } = run;
  const sweepOf = (t: TargetName) => results.filter((m) => m.target === t && m.overallRate === undefined);
  const maxOf = (t: TargetName) => (sweepOf(t).length ? best(sweepOf(t)) : null);
  const product = maxOf('product');
  const hello = maxOf('hello');
  const naive = maxOf('naive');
  const staticPage = maxOf('static');
  const halfRun = results.find((m) => m.target === 'product' && m.overallRate !== undefined) ?? null;
  const ratio = (a: Measure | null, b: Measure | null) => (a && b ? a.rps / b.rps : null);
  const ratios = {
    feedVsHello: ratio(product, hello),
    p99AtHalfMaxMs: halfRun?.p99 ?? null,
    naiveVsPipeline: ratio(naive, product),
    staticVsHello: ratio(staticPage, hello),
    feedVsStatic: ratio(product, staticPage),
  };
  const anyFailed = results.some(failed);
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres: run.pgVersion,
    platform: `${os.platform()} ${os.release()}`,
  };

  const rows = results.map(
    (m) =>
      `| ${m.target}${m.overallRate !== undefined ? ` at half max (${m.overallRate}/s asked)` : ''} | ${m.connections} | ${m.rps} | ${m.requests} (${m.serverCounted ?? '?'}) | ${fmtMs(m.p50)} | ${fmtMs(m.p99)} | ${m.serverCpuUsPerRequest ?? '?'} | ${m.loadAverage.toFixed(1)} | ${failed(m) ? `**${m.non200} non-200, ${m.errors} errors, ${m.timeouts} timeouts**` : '0'} |`,
  );
  const verdict = (v: number | null, ok: (v: number) => boolean, f: (v: number) => string, target: string) =>
    v === null ? 'not measured' : `${f(v)} (target ${target}: ${ok(v) ? 'met' : 'NOT met'})`;
  const md = [
    `World: ${size.posts} posts, ${size.products} products, ${size.creators} creators, ${size.shoppers} shoppers, ${size.merchants} merchants` +
      ` (seeded in ${typeof run.extra.seedSeconds === 'number' ? run.extra.seedSeconds.toFixed(0) : '?'} s). ${durationS} s per run.`,
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres};` +
      ' servers, PostgreSQL and the load generator share the cores.',
    '',
    '| target | connections | req/s | requests (server-counted) | p50 ms | p99 ms | server CPU µs/req | load avg | failed responses |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
    `- feed / hello-world throughput: ${verdict(ratios.feedVsHello, (v) => v >= TARGET_FEED_VS_HELLO, (v) => v.toPrecision(2), `≥ ${TARGET_FEED_VS_HELLO.toFixed(2)}`)}`,
    `- feed p99 at half its max rate: ${verdict(ratios.p99AtHalfMaxMs, (v) => v <= TARGET_P99_AT_HALF_MS, (v) => `${fmtMs(v)} ms`, `≤ ${TARGET_P99_AT_HALF_MS} ms`)}`,
    `- naive (N+1) / pipeline throughput: ${ratios.naiveVsPipeline === null ? 'not measured' : ratios.naiveVsPipeline.toPrecision(2)}`,
    `- static page (the same bytes, no work) / hello-world throughput: ${ratios.staticVsHello === null ? 'not measured' : `${ratios.staticVsHello.toPrecision(2)} (the most any page of this size can reach)`}`,
    `- feed / static page throughput: ${ratios.feedVsStatic === null ? 'not measured' : ratios.feedVsStatic.toPrecision(2)}`,
    ...(anyFailed
      ? ['', `**Runs with failed responses (not valid as throughput figures): ${results.filter(failed).map((m) => `${m.target} c=${m.connections}`).join(', ')}.**`]
      : []),
  ].join('\n');

  log('\n' + md.split('\n').filter((l) => !l.startsWith('| ---')).join('\n'));
  log('\n--- Markdown for docs/benchmarks.md ---\n' + md + '\n---');

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `feed-${run.startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt: run.startedAt, size, durationS, quick, machine, results, ratios, anyFailed, ...run.extra }, null, 2));
  log(`raw results: ${relative(ROOT, file)}`);
  if (anyFailed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  killChildren();
  process.exit(1);
});
