// End-to-end support: the real server (PGlite or PostgreSQL, demo world, built web app) on a free port and Debian
// Chromium driven by playwright-core. One server and one browser per test file; each journey opens its own browser context.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { seedDemo, DEMO_PASSWORD } from '../../src/demo/seed';
import { DEMO_CREATORS, DEMO_MERCHANTS, DEMO_SHOPPERS } from '../../src/demo/world';
import { systemClock } from '../../src/platform/clock';
import type { Config } from '../../src/config';
import { ensureWebBuilt } from '../../src/web';
import { backends, startTestApp, type Backend, type TestApp } from './harness';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/**
 * Why the browser suite cannot run here, or null when it can. On CI a missing Chromium is a failure (thrown), never
 * a skip; locally the suite skips with this reason.
 */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  const reason = `Chromium not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH or apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${reason}; the browser tests must run`);
  return reason;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface WebServer {
  t: TestApp;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * The app as `npm start` runs it (demo world, outbox worker), on PGlite, listening on a free local port. `config`
 * overrides settings the way environment variables would (e.g. `earningsHoldDays: 0` = EARNINGS_HOLD_DAYS=0).
 */
export async function startWebServer(config: Partial<Config> = {}, backend: Backend = backends()[0]!): Promise<WebServer> {
  await ensureWebBuilt();
  const t = await startTestApp(backend, { clock: systemClock, config });
  await seedDemo(t.app);
  void t.app.outbox.run(100);
  await t.app.http.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.http.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { t, baseUrl: `http://127.0.0.1:${address.port}`, close: () => t.close() };
}

/**
 * One server and one browser for the suite around it: started before its tests (then handed to `use`), closed after
 * them.
 */
export function useWebSuite(backend: Backend, config: Partial<Config>, use: (server: WebServer, browser: Browser) => void): void {
  let server: WebServer | undefined;
  let browser: Browser | undefined;
  before(async () => {
    [server, browser] = await Promise.all([startWebServer(config, backend), launchBrowser()]);
    use(server, browser);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
}

export const DEMO = {
  password: DEMO_PASSWORD,
  shopper: DEMO_SHOPPERS[0]!.email,
  shopper2: DEMO_SHOPPERS[1]!.email,
  creator: DEMO_CREATORS[0]!.email,
  merchant: DEMO_MERCHANTS[0]!.email,
};

/** A phone-sized browser context (the shopper app is mobile-first). */
export function newPhoneContext(browser: Browser, baseUrl: string): Promise<BrowserContext> {
  return browser.newContext({ baseURL: baseUrl, viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, hasTouch: true, isMobile: true });
}

/** Signs in through the UI. */
export async function signIn(page: Page, email: string, password = DEMO_PASSWORD): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
}

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  await page.addScriptTag({ path: join(process.cwd(), 'node_modules/axe-core/axe.min.js') });
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

/** Logs in through the API (setup steps that are not what a test is about) and returns the bearer token. */
export async function apiLogin(t: TestApp, email: string): Promise<string> {
  const res = await t.request<{ token: string }>({ method: 'POST', url: '/v1/auth/login', body: { email, password: DEMO_PASSWORD } });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

/** Text of a file the page downloaded (a CSV export) after `click()`. */
export async function downloadedText(page: Page, click: () => Promise<void>): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

/** Console errors and warnings and uncaught exceptions of a page from now on (`allow` drops expected ones, e.g. an aborted request). */
export function consoleErrors(page: Page, allow: RegExp | null = null): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warning') && !(allow && allow.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Nothing is wider than the phone (no sideways scrolling at 390 px). */
export async function assertFitsPhone(page: Page): Promise<void> {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390 px`);
}

/**
 * Every visible button and select in `scope` is a touch target of at least 44 × 44 CSS px (WCAG 2.5.5), e.g. the
 * "Remove" buttons of cart lines and tags at 390 px. Answers how many were measured, so a test can check it found some.
 */
export async function assertTapTargets(page: Page, scope = 'body'): Promise<number> {
  const measured = await page.locator(scope).evaluateAll((roots) =>
    roots.flatMap((root) =>
      [...root.querySelectorAll('button, select')].flatMap((el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') return [];
        const name = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim().replace(/\s+/g, ' ');
        return [{ name: `${el.tagName.toLowerCase()} "${name}"`, width: r.width, height: r.height }];
      }),
    ),
  );
  const small = measured.filter((m) => m.width < 43.99 || m.height < 43.99).map((m) => `${m.name} is ${Math.round(m.width)} × ${Math.round(m.height)} px`);
  assert.deepEqual(small, [], `touch targets under 44 × 44 px in ${scope}`);
  return measured.length;
}

/** Fills the pay form's card and shipping fields (a test card that succeeds unless another is given). */
export async function fillPayment(page: Page, card = '4242424242424242'): Promise<void> {
  await page.getByLabel('Card number').fill(card);
  await page.getByLabel('Full name').fill('Test Shopper');
  await page.getByLabel('Address', { exact: true }).fill('1 Market Street');
  await page.getByLabel('City').fill('Lisbon');
  await page.getByLabel('Postal code').fill('1100-001');
}
