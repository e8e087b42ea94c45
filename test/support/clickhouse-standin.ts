// A local stand-in for ClickHouse's HTTP interface, backed by chDB (the same engine) in a CHILD process: the test
// process already holds its own chDB data directory, and libchdb binds one per process. It speaks what
// @clickhouse/client sends and reads: POST/GET with the query in the `query` URL parameter and/or the body (an
// INSERT's rows follow in the body), `database`, `default_format`, `query_id`, `param_<name>` query parameters and
// any other URL parameter as a setting; it answers with X-ClickHouse-Query-Id / -Format / -Timezone / -Summary,
// gzip when asked (enable_http_compression=1 + Accept-Encoding), and errors the way ClickHouse does: HTTP status by
// exception code, `X-ClickHouse-Exception-Code`, body `Code: N. DB::Exception: … (NAME) (version …)`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

export interface ClickHouseStandIn {
  /** http://127.0.0.1:<port> (the port survives stop/start). */
  url: string;
  /** Stops the server process (the data directory stays): the store is "down". */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const CHILD_FLAG = 'FEEDSHOP_CLICKHOUSE_STANDIN_CHILD';
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Starts the stand-in in a child process over `dataDir`; resolves once it listens. */
export async function startClickHouseStandIn(dataDir: string): Promise<ClickHouseStandIn> {
  let port = 0;
  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_FLAG]: JSON.stringify({ dataDir, port }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(c);
    c.once('exit', () => running.delete(c));
    let out = '';
    port = await new Promise<number>((resolve, reject) => {
      c.stdout!.on('data', (d) => {
        out += d;
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      c.stderr!.on('data', (d) => (out += d));
      c.once('exit', (code) => reject(new Error(`clickhouse stand-in exited (${code}): ${out}`)));
    });
    child = c;
  };
  await launch();
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  };
  return { url: `http://127.0.0.1:${port}`, stop, start: launch, close: stop };
}

// ---------------------------------------------------------------- the child: an HTTP server over a chDB session

// the HTTP interface's own parameters; every other URL parameter is a setting
const HTTP_PARAMS = new Set(['query', 'database', 'default_format', 'query_id', 'user', 'password', 'quota_key', 'session_id', 'session_timeout', 'session_check', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query', 'role']);
// settings that only shape the HTTP exchange (handled here, meaningless to the engine)
const HTTP_SETTINGS = /^(enable_http_compression|http_.*|send_progress_in_http_headers|cancel_http_readonly_queries_on_client_close|max_http_get_redirects)$/;
const STATUS_BY_CODE: Record<number, number> = {
  // ClickHouse's exceptionCodeToHTTPStatus
  6: 400, 27: 400, 53: 400, 62: 400, 117: 400, 26: 400, 36: 400, 38: 400, 41: 400, 72: 400, 130: 400,
  46: 404, 47: 404, 50: 404, 60: 404, 63: 404, 73: 404, 81: 404, 115: 404,
  164: 403, 497: 403, 516: 401, 194: 401, 192: 401,
  48: 501, 202: 503,
};
const WRITE = /^\s*(INSERT|CREATE|DROP|ALTER|TRUNCATE|RENAME|OPTIMIZE|SYSTEM|KILL|DETACH|ATTACH|GRANT|REVOKE|SET|USE|DELETE|UPDATE)\b/i;
const INSERT = /^\s*INSERT\s+INTO\s+(?:TABLE\s+)?([\w.`"]+)\s*(?:\(([^)]*)\))?\s*(?:SETTINGS\s+(.*?)\s+)?FORMAT\s+(\w+)[ \t]*\n?/is;
const TRAILING_FORMAT = /\bFORMAT\s+(\w+)\s*;?\s*$/i;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly name_: string,
    message: string,
  ) {
    super(message);
  }
}

async function runChild(dataDir: string, wantedPort: number): Promise<void> {
  const { Session } = await import('chdb');
  mkdirSync(dataDir, { recursive: true });
  const session = new Session(dataDir);
  const version = '26.7.2.1';
  let queue: Promise<unknown> = Promise.resolve();
  let current = 'default';

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const settingValue = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);

  async function execute(req: IncomingMessage, body: Buffer, url: URL) {
    const p = url.searchParams;
    let text = p.get('query') ?? '';
    let data = '';
    const bodyText = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
    if (req.method === 'POST') {
      if (text) data = bodyText;
      else text = bodyText;
    }
    if (!text.trim()) throw new HttpError(62, 'SYNTAX_ERROR', 'Empty query');
    if (req.method === 'GET' && WRITE.test(text)) {
      throw new HttpError(164, 'READONLY', 'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries');
    }
    const database = p.get('database') ?? (req.headers['x-clickhouse-database'] as string | undefined) ?? 'default';
    if (database !== current) {
      await session.queryAsync(`USE \`${database.replace(/`/g, '')}\``);
      current = database;
    }
    const params: Record<string, string> = {};
    const settings: Record<string, string> = {};
    for (const [k, v] of p) {
      if (k.startsWith('param_')) params[k.slice(6)] = v;
      else if (!HTTP_PARAMS.has(k) && !HTTP_SETTINGS.test(k)) settings[k] = v;
    }

    const ins = INSERT.exec(text);
    if (ins) {
      const [head, table, cols, , format] = ins;
      const rows = `${text.slice(head!.length)}${data}`;
      const qualified = table!.includes('.') ? table! : `${database}.${table}`;
      const r = await session.insert({
        table: qualified.replace(/[`"]/g, ''),
        values: Buffer.from(rows),
        format: format as 'JSONEachRow',
        ...(cols ? { columns: cols.split(',').map((c) => c.trim().replace(/[`"]/g, '')) } : {}),
        settings,
      });
      return { output: Buffer.alloc(0), format: format!, summary: { read_rows: 0, read_bytes: 0, written_rows: r.rowsWritten, written_bytes: r.bytesWritten, result_rows: 0, result_bytes: 0, elapsed_ns: Math.round(r.elapsed * 1e9) } };
    }

    const fmt = TRAILING_FORMAT.exec(text)?.[1] ?? p.get('default_format') ?? (req.headers['x-clickhouse-format'] as string | undefined) ?? 'TabSeparated';
    let sql = text;
    const settingList = Object.entries(settings);
    if (/^\s*(SELECT|WITH)\b/i.test(sql) && settingList.length > 0 && !/\bSETTINGS\b/i.test(sql)) {
      const clause = ` SETTINGS ${settingList.map(([k, v]) => `${k} = ${settingValue(v)}`).join(', ')}`;
      const m = TRAILING_FORMAT.exec(sql);
      sql = m ? `${sql.slice(0, m.index)}${clause} ${m[0]}` : `${sql}${clause}`;
    }
    const r = Object.keys(params).length > 0 ? await session.queryBindAsync(sql, params, { format: fmt }) : await session.queryAsync(sql, { format: fmt });
    const output = Buffer.from(r.bytes());
    const resultRows = /JSONEachRow|CSV|TSV|TabSeparated/.test(fmt) ? output.toString('utf8').split('\n').filter(Boolean).length : 0;
    return { output, format: fmt, summary: { read_rows: r.rowsRead, read_bytes: r.bytesRead, written_rows: 0, written_bytes: 0, result_rows: resultRows, result_bytes: output.length, elapsed_ns: Math.round(r.elapsed * 1e9) } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const queryId = url.searchParams.get('query_id') ?? randomUUID();
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    const body = await readBody(req);
    const common = { 'x-clickhouse-query-id': queryId, 'x-clickhouse-timezone': 'UTC', 'x-clickhouse-server-display-name': 'clickhouse-standin' };
    try {
      if (url.pathname !== '/') throw new HttpError(0, 'UNKNOWN', `There is no handle ${url.pathname}`);
      const run = queue.then(() => execute(req, body, url));
      queue = run.catch(() => undefined);
      const { output, format, summary } = await run;
      const json = /^JSON/i.test(format);
      let payload = output;
      const headers: Record<string, string> = {
        ...common,
        'x-clickhouse-format': format,
        'x-clickhouse-summary': JSON.stringify(Object.fromEntries(Object.entries({ ...summary, total_rows_to_read: 0 }).map(([k, v]) => [k, String(v)]))),
        'content-type': json ? 'application/json; charset=UTF-8' : 'text/tab-separated-values; charset=UTF-8',
      };
      if (url.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        payload = gzipSync(output);
        headers['content-encoding'] = 'gzip';
      }
      res.writeHead(200, headers).end(payload);
    } catch (e) {
      const err = e as Error & { clickhouseCode?: number };
      const code = e instanceof HttpError ? e.code : (err.clickhouseCode ?? Number(/Code: (\d+)/.exec(err.message)?.[1] ?? 1001));
      const name = e instanceof HttpError ? e.name_ : (/\(([A-Z0-9_]+)\)\s*$/.exec(err.message)?.[1] ?? 'STD_EXCEPTION');
      // chDB nests the same exception text; ClickHouse answers it once
      let message = err.message.replace(/^(Code: \d+\. DB::Exception: )+/, '').replace(/\s*\(version [^)]*\)\.?/g, '').replace(/\s*\([A-Z0-9_]+\)\s*$/, '');
      message = message.replace(/\s*\([A-Z0-9_]+\)\s*$/, '').replace(/\.\s*$/, '');
      const status = url.pathname !== '/' ? 404 : (STATUS_BY_CODE[code] ?? 500);
      res
        .writeHead(status, { ...common, 'x-clickhouse-exception-code': String(code), 'content-type': 'text/plain; charset=UTF-8' })
        .end(`Code: ${code}. DB::Exception: ${message}. (${name}) (version ${version})\n`);
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 10_000;
  server.listen(wantedPort, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void queue.finally(() => {
      session.close();
      process.exit(0);
    });
  });
}

if (process.env[CHILD_FLAG]) {
  const { dataDir, port } = JSON.parse(process.env[CHILD_FLAG]!) as { dataDir: string; port: number };
  delete process.env[CHILD_FLAG];
  void runChild(dataDir, port);
}
