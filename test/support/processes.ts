// Helpers for tests that run the real CLI as child processes (crash matrix, multi-process races): free ports, a
// spawned `feedshop` command with its output kept for failure messages, readiness, fresh PostgreSQL databases.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../bench/lib/ports';
import pg from 'pg';

export { freePort };

export const CLI = ['--import', 'tsx', 'src/cli.ts'];

// every process started here dies with the test process, even when a test is cut short (timeout, cancelled run)
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface CliProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Resolves when the process is gone, with its exit code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** Kills it (SIGKILL) if still running; safe to call twice. */
  kill(): void;
}

/**
 * Starts `node --import tsx src/cli.ts <command>` with `env` on top of this process's environment. DATABASE_URL and
 * FEEDSHOP_CRASH_AT from the parent never leak in: the caller says which store and which crash point it wants.
 */
export function startCli(command: string, port: number, env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [...CLI, command], {
    env: { ...process.env, DATABASE_URL: '', FEEDSHOP_CRASH_AT: '', LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    exited,
    output: () => output,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Waits until the process answers /readyz with 200 (migrated, store reachable); fails early if it exits. */
export async function waitReady(p: CliProcess, timeoutMs = 120_000): Promise<void> {
  let gone = false;
  void p.exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`process exited before it was ready:\n${p.output()}`);
    try {
      const r = await fetch(`${p.baseUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`process not ready after ${timeoutMs} ms:\n${p.output()}`);
}

/** A JSON request to a running process; the body is parsed when the answer is JSON. */
export async function call<T = any>(
  p: Pick<CliProcess, 'baseUrl'>,
  method: string,
  url: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${p.baseUrl}${url}`, { method, headers, signal: AbortSignal.timeout(60_000), ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  const body = (res.headers.get('content-type') ?? '').includes('json') && text.length > 0 ? JSON.parse(text) : text;
  return { status: res.status, body: body as T, headers: res.headers };
}

/** A fresh, empty PostgreSQL database next to `adminUrl`'s; `drop()` removes it (forcing out leftover sessions). */
export async function createDatabase(adminUrl: string, prefix = 'feedshop_test'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
