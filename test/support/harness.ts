import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createFeedshop, type Feedshop } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { Role } from '../../src/platform/auth';
import { ManualClock, type Clock } from '../../src/platform/clock';
import { openDatabase, type Database } from '../../src/platform/db';

export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<{ database: Database; dispose(): Promise<void> }>;
}

const pglite: Backend = {
  name: 'pglite',
  async open() {
    const database = await openDatabase({ pgliteDir: 'memory://' });
    return { database, dispose: async () => {} };
  },
};

function postgres(url: string): Backend {
  return {
    name: 'postgres',
    async open() {
      // a fresh database per suite: suites run in parallel and never see each other's rows
      const name = `feedshop_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const u = new URL(url);
      u.pathname = `/${name}`;
      const database = await openDatabase({ url: u.toString(), poolSize: 10 });
      return {
        database,
        dispose: async () => {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          await c.end();
        },
      };
    },
  };
}

/**
 * The backends every database suite runs on: PGlite always, and PostgreSQL when TEST_DATABASE_URL is set.
 * On CI a missing TEST_DATABASE_URL is a failure, never a silent skip.
 */
export function backends(): Backend[] {
  const url = process.env.TEST_DATABASE_URL;
  if (!url && process.env.CI === 'true') throw new Error('CI=true but TEST_DATABASE_URL is not set: the PostgreSQL suite would be skipped');
  const only = process.env.TEST_BACKEND;
  const list = [pglite, ...(url ? [postgres(url)] : [])];
  return only ? list.filter((b) => b.name === only) : list;
}

export interface InjectOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  token?: string | undefined;
  body?: unknown;
  /** Raw payload (for malformed JSON tests). */
  payload?: string;
  headers?: Record<string, string>;
}

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface TestApp {
  app: Feedshop;
  clock: Clock;
  backend: Backend['name'];
  request<T = any>(opts: InjectOptions): Promise<Response<T>>;
  /** Signs up (or, for admin, creates) an account with the role and returns its bearer token and id. */
  signUp(role: Role, name?: string): Promise<{ token: string; accountId: string; email: string }>;
  close(): Promise<void>;
}

let counter = 0;

export async function startTestApp(
  backend: Backend,
  opts: { clock?: Clock; config?: Partial<Config> } = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-test-'));
  const config = loadConfig(
    {},
    {
      logLevel: 'silent',
      dataDir,
      referralKeys: `k1:${randomBytes(32).toString('base64url')}`,
      ...opts.config,
    },
  );
  const { database, dispose } = await backend.open();
  const clock = opts.clock ?? new ManualClock();
  const app = await createFeedshop({ config, clock, database });
  await app.migrate();

  const request = async <T>(o: InjectOptions): Promise<Response<T>> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const res = await app.http.inject({
      method: o.method ?? 'GET',
      url: o.url,
      headers,
      ...(o.payload !== undefined ? { payload: o.payload } : o.body !== undefined ? { payload: o.body as object } : {}),
    });
    let body: unknown = res.body;
    if ((res.headers['content-type'] ?? '').toString().includes('json') && res.body.length > 0) body = res.json();
    return { status: res.statusCode, body: body as T, headers: res.headers };
  };

  const signUp = async (role: Role, name?: string) => {
    const n = ++counter;
    const email = `${role}${n}-${randomBytes(3).toString('hex')}@example.test`;
    const password = 'correct horse battery staple';
    const displayName = name ?? `${role} ${n}`;
    if (role === 'admin') {
      const created = await app.contexts.identity.service.createAccount({ email, password, displayName, roles: ['admin'] });
      if (!created.ok) throw new Error(created.code);
    } else {
      const res = await request({ method: 'POST', url: '/v1/auth/signup', body: { email, password, displayName, role } });
      if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const res = await request<any>({ method: 'POST', url: '/v1/auth/login', body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { token: res.body.token as string, accountId: res.body.account.id as string, email };
  };

  return {
    app,
    clock,
    backend: backend.name,
    request,
    signUp,
    async close() {
      await app.close();
      await dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A merchant account with its merchant profile: the seller most tests need. */
export interface ShopOwner {
  token: string;
  accountId: string;
  email: string;
  merchantId: string;
}

const uniq = () => randomBytes(4).toString('hex');

/** Signs up a merchant and creates its merchant profile through the API; returns its bearer token, account and merchant ids. */
export async function shopOwner(t: TestApp): Promise<ShopOwner> {
  const account = await t.signUp('merchant');
  const res = await t.request<{ id: string }>({ method: 'PUT', url: '/v1/merchants/me', token: account.token, body: { name: `Shop ${uniq()}` } });
  if (res.status !== 201) throw new Error(`merchant profile failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...account, merchantId: res.body.id };
}

/**
 * Creates, through the API, an active product of `owner` with one variant at `priceMinor` and `stock` units on hand
 * (currency EUR unless given); returns its product and SKU ids.
 */
export async function activeProduct(
  t: TestApp,
  owner: { token: string },
  opts: { priceMinor: number; stock: number; currency?: string },
): Promise<{ productId: string; skuId: string }> {
  const res = await t.request<{ id: string }>({
    method: 'POST',
    url: '/v1/merchant/products',
    token: owner.token,
    body: { name: `Thing ${uniq()}`, status: 'active', currency: opts.currency ?? 'EUR', variants: [{ title: 'One', priceMinor: opts.priceMinor, stock: opts.stock }] },
  });
  if (res.status !== 201) throw new Error(`product creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  const detail = await t.request<{ variants: { id: string }[] }>({ url: `/v1/products/${res.body.id}`, token: owner.token });
  return { productId: res.body.id, skuId: detail.body.variants[0]!.id };
}

/** A creator account with its creator profile: signs up and creates the profile through the API. */
export interface ProfiledCreator {
  token: string;
  accountId: string;
  email: string;
  /** The creator profile's id (what posts, credits and earnings name). */
  id: string;
  handle: string;
}

/** Signs up a creator and creates its profile through the API (`handle` and display name unique unless given). */
export async function creatorProfile(t: TestApp, opts: { handle?: string; displayName?: string } = {}): Promise<ProfiledCreator> {
  const account = await t.signUp('creator');
  const handle = opts.handle ?? `c_${uniq()}`;
  const res = await t.request<{ id: string }>({ method: 'PUT', url: '/v1/creators/me', token: account.token, body: { handle, displayName: opts.displayName ?? `Creator ${handle}` } });
  if (res.status !== 200) throw new Error(`creator profile failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...account, id: res.body.id, handle };
}

/** A shipping address checkout accepts. */
export const SHIPPING = { name: 'Ada Shopper', line1: '1 Feed Street', city: 'Berlin', postalCode: '10115', country: 'DE' } as const;

/** Runs the outbox's subscribers until they are quiet (twice: a handler's own events too) and flushes analytics' ingest buffer. */
export async function settleEvents(t: TestApp): Promise<void> {
  await t.app.outbox.drain();
  await t.app.outbox.drain();
  await t.app.contexts.analytics.service.flush();
}
