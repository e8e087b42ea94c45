import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { FastifyReply } from 'fastify';
import type { App } from '../platform/http';
import { WEB_DIST } from './build';

/** Paths that belong to the server: a miss there is a JSON 404, never the app's index.html. */
const SERVER_PREFIXES = ['/v1', '/docs', '/openapi.json', '/media', '/healthz', '/readyz', '/metrics'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>feedshop</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>The web app is not built yet</h1>
<p>Build it with <code>npm run build:web</code> (or <code>npx tsx src/web/build.ts</code>), then reload.
<code>npm start</code> builds it for you when it is missing or stale.</p>
<p>The API is served meanwhile: <a href="/docs">API reference</a>.</p></body></html>`;

function isServerPath(path: string): boolean {
  return SERVER_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

function sendIndex(reply: FastifyReply) {
  const index = join(WEB_DIST, 'index.html');
  reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8');
  if (!existsSync(index)) return reply.code(200).send(NOT_BUILT);
  return reply.send(readFileSync(index));
}

/**
 * Serves web/dist: files by path (hashed /assets/* are immutable, cached a year; the rest revalidate), any other
 * extension-less path is a client route and gets index.html. Reads from disk on each request so a rebuild shows up
 * without a restart.
 */
export function registerStatic(http: App): void {
  http.get('/', { config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => sendIndex(reply));
  http.get('/*', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) => {
    let path: string;
    try {
      path = decodeURIComponent(request.url.split('?')[0]!);
    } catch {
      return reply.code(404).send({ error: { code: 'route_not_found', message: 'Malformed path' } });
    }
    if (isServerPath(path)) {
      return reply.code(404).send({ error: { code: 'route_not_found', message: `No route ${request.method} ${path}` } });
    }
    const file = normalize(join(WEB_DIST, path));
    if (file.startsWith(WEB_DIST + sep) && existsSync(file) && statSync(file).isFile()) {
      const immutable = path.startsWith('/assets/');
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      reply.type(TYPES[extname(file)] ?? 'application/octet-stream');
      return reply.send(readFileSync(file));
    }
    if (extname(path) !== '') return reply.code(404).send({ error: { code: 'not_found', message: `No file ${path}` } });
    return sendIndex(reply);
  });
}
