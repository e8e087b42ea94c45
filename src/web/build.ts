// Builds the single-page app with Vite when web/dist is missing or older than its sources. `npm start` and the
// browser tests call it, so a clean clone works with no separate build step. Run directly: `tsx src/web/build.ts`
// (builds when stale; `--force` always).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = join(ROOT, 'web');
export const WEB_DIST = join(WEB, 'dist');

/** Newest modification time under a path (files only). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

/** True when web/dist/index.html is missing or older than any web source or the server schemas it types against. */
export function webBuildIsStale(): boolean {
  const built = join(WEB_DIST, 'index.html');
  if (!existsSync(built)) return true;
  const sources = Math.max(newest(join(WEB, 'src')), newest(join(WEB, 'index.html')), newest(join(WEB, 'vite.config.ts')));
  return sources > statSync(built).mtimeMs;
}

let building: Promise<void> | undefined;

/** Builds web/dist when it is missing or stale (or always with force); concurrent callers share one build. */
export async function ensureWebBuilt(opts: { force?: boolean } = {}): Promise<{ built: boolean }> {
  if (!opts.force && !webBuildIsStale()) return { built: false };
  building ??= (async () => {
    const { build } = await import('vite');
    await build({ configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' });
  })().finally(() => {
    building = undefined;
  });
  await building;
  return { built: true };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  ensureWebBuilt({ force: process.argv.includes('--force') }).then(
    ({ built }) => console.error(built ? `web app built in ${Date.now() - started} ms → ${WEB_DIST}` : 'web app is up to date'),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
