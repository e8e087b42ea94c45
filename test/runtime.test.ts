import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEMO_LOGINS } from '../src/demo/seed';

/**
 * The product as a user runs it: the real CLI in a child process, on an embedded store in a fresh data directory.
 * `start` migrates, seeds the demo world once, serves HTTP, and shuts down cleanly on SIGTERM.
 */
const CLI = ['--import', 'tsx', 'src/cli.ts'];

function startProcess(dataDir: string, port: number, logLevel = 'warn') {
  const child = spawn(process.execPath, [...CLI, 'start'], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: logLevel, DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitReady(port: number, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('server did not become ready');
}

describe('runtime: the CLI on the embedded engine', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-runtime-'));
  const port = 31000 + Math.floor(Math.random() * 2000);
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('start seeds the demo world, serves the feed with product cards, and prints the demo log-ins', async () => {
    const p = startProcess(dataDir, port);
    try {
      await waitReady(port);
      const login = await fetch(`http://127.0.0.1:${port}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'shopper@feedshop.dev', password: DEMO_LOGINS.password }),
      });
      assert.equal(login.status, 200);
      const { token } = (await login.json()) as { token: string };
      const feed = (await (await fetch(`http://127.0.0.1:${port}/v1/feed?limit=10`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
      assert.equal(feed.posts.length, 10);
      assert.ok(feed.stories.length > 0, 'the stories tray is not empty');
      const followed = new Set(['mia_styles', 'leo_at_home', 'glowbyava']);
      assert.ok(followed.has(feed.posts[0].creator.handle), 'followed creators come first');
      const tag = feed.posts[0].tags[0];
      assert.ok(tag.product.name && tag.product.priceMinor > 0 && tag.referralToken);
      const media = await fetch(`http://127.0.0.1:${port}${tag.product.imageUrl}`);
      assert.equal(media.headers.get('content-type'), 'image/svg+xml');
      assert.match(p.output(), /shopper@feedshop\.dev/);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, `exit code after SIGTERM; output:\n${p.output()}`);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('a second start on the same data directory keeps the data and does not seed again; at info it logs traffic, not probes', async () => {
    const p = startProcess(dataDir, port, 'info');
    try {
      await waitReady(port);
      const products = (await (await fetch(`http://127.0.0.1:${port}/v1/products?limit=100`)).json()) as any;
      assert.equal(products.items.length, 21, 'the 21 demo products, once');
      await fetch(`http://127.0.0.1:${port}/metrics`);
      const lines = p.output().split('\n');
      // was: ~950 lines of the edge's warm-up (GET /healthz to itself) and the probes above it, before the welcome
      assert.deepEqual(lines.filter((l) => /"url":"\/(healthz|readyz|metrics)"/.test(l)), []);
      assert.ok(lines.some((l) => /"url":"\/v1\/products\?limit=100"/.test(l)), 'the API request is logged');
      assert.ok(lines.some((l) => /edge warmed up/.test(l)));
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('migrate reports an up-to-date schema; an invalid setting stops with a message', () => {
    const migrate = spawnSync(process.execPath, [...CLI, 'migrate'], { env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '' }, encoding: 'utf8' });
    assert.equal(migrate.status, 0, migrate.stderr);
    assert.match(migrate.stdout, /up to date/);
    const bad = spawnSync(process.execPath, [...CLI, 'migrate'], { env: { ...process.env, DATA_DIR: dataDir, PORT: 'not-a-port' }, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /port/);
  });
});
