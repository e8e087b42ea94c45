// Child processes for the benchmark runners: one-shot commands (seeding), servers started on a free port and
// awaited on /readyz, and clean-up of everything still running when the runner is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports';

export { freePort };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const children = new Set<ChildProcess>();

/** Starts `node <args>` in the repository root; it is killed with the runner (see killChildren). */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, stdio: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', stdio, stdio] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Keeps the last 200 chunks of a process's output, for failure messages. */
function remember(output: string[], chunk: Buffer): void {
  output.push(chunk.toString());
  if (output.length > 200) output.splice(0, output.length - 200);
}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr on a non-zero exit. */
export function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnNode(args, env);
    let stdout = '';
    const stderr: string[] = [];
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => remember(stderr, c));
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`${args.join(' ')} exited with ${code ?? signal}:\n${stderr.join('')}\n${stdout.slice(-2000)}`));
    });
  });
}

export interface Server {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  output: string[];
}

/** Starts a server process on a free port and waits until it answers /readyz (or fails with its output). */
export async function startServer(name: string, args: string[], env: NodeJS.ProcessEnv, readyTimeoutMs = 180_000): Promise<Server> {
  const port = await freePort();
  const child = spawnNode(args, { ...env, PORT: String(port), HOST: '127.0.0.1' });
  const output: string[] = [];
  child.stdout!.on('data', (c: Buffer) => remember(output, c));
  child.stderr!.on('data', (c: Buffer) => remember(output, c));
  let exited: string | null = null;
  child.on('exit', (code, signal) => (exited = String(code ?? signal)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} server exited (${exited}) before it was ready:\n${output.join('')}`);
    if (Date.now() > deadline) throw new Error(`${name} server not ready after ${readyTimeoutMs / 1000} s:\n${output.join('')}`);
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { name, port, url, child, output };
}

/** SIGTERM (graceful shutdown), then SIGKILL after 15 s. */
export async function stopServer(server: Pick<Server, 'child'>): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** CPU time used so far by a process (user + system, all threads), in microseconds; undefined off Linux. */
export function cpuTimeUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100 on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** Stops everything still running (a runner that fails calls it before exiting). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGTERM');
}

// on Ctrl-C, nothing the runner started is left behind
process.once('SIGINT', () => {
  killChildren();
  process.exit(130);
});
