import { randomFillSync } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Type, type TSchema } from 'typebox';
import { AppError, errorBody, statusForCode } from './errors';
import { type Authenticator, checkRouteAuth, DEVICE_COOKIE, SESSION_COOKIE, type RouteAuth } from './auth';
import type { Metrics } from './metrics';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface RouteEntry {
  method: string;
  url: string;
  auth: RouteAuth;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every /v1 route with who may call it (the authorization matrix test walks it). */
    routeTable: RouteEntry[];
    /** True while listenWarm() warms the edge: /readyz answers 503 meanwhile. */
    warmingUp: boolean;
  }
}

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorBody', title: 'Error' },
);

/** The preValidation of a /v1 route that declares no body (see the onRoute hook): a parsed JSON body must be empty. */
function refuseBody(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const body: unknown = request.body;
  // parsed JSON only: a string, a Buffer or a stream is a raw body of the route's own
  if (body === null || typeof body !== 'object' || !(Array.isArray(body) || Object.getPrototypeOf(body) === Object.prototype)) return done();
  const fields = Array.isArray(body) ? [] : Object.keys(body);
  if (!Array.isArray(body) && fields.length === 0) return done();
  done(
    new AppError('validation_failed', 'Invalid body: this request takes no body', Array.isArray(body)
      ? [{ in: 'body', path: '/', message: 'must be empty' }]
      : fields.map((field) => ({ in: 'body', path: '/', message: 'must NOT have additional properties', field }))),
  );
}

/** The query string of a route that takes none (see the onRoute hook). */
const NO_QUERY = Type.Object({}, { additionalProperties: false });

const STATUS_TEXT: Record<number, string> = {
  400: 'The request is malformed or invalid',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict with the current state',
  412: 'Precondition failed',
  413: 'Body too large',
  415: 'Unsupported media type',
  429: 'Too many requests',
};

/** Error responses for a route's schema, so the OpenAPI document lists them. */
/**
 * A media URL a post or a product may carry: an absolute http(s) URL, or a path on this server (one leading slash:
 * `//host/…` would be another host), without whitespace, double quotes or angle brackets.
 */
export const MEDIA_URL_PATTERN = '^(https?://[^\\s"<>]+|/(?!/)[^\\s"<>]*)$';

/** Whether an If-None-Match header names `etag` (or is `*`), by the weak comparison RFC 9110 asks for (`W/` matches too). */
export function matchesIfNoneMatch(ifNoneMatch: string | undefined, etag: string): boolean {
  return ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => ['*', etag, `W/${etag}`].includes(tag.trim()));
}

/** A 304: no body and no representation headers (a `null` body would be sent as JSON: type and length 4). */
export function notModified(reply: FastifyReply): FastifyReply {
  return reply.code(304).send();
}

/**
 * Registers routes whose signature covers the exact bytes sent (webhooks) on a scope where an application/json body
 * stays the string received; the parser is encapsulated in that scope, so every other route still gets parsed JSON.
 */
export async function withRawJsonBodies(app: App, routes: (scope: App) => void): Promise<void> {
  await app.register(async (plugin) => {
    const scope = plugin as App;
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    routes(scope);
  });
}

export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, ...statuses]) out[s] = Type.Ref('ErrorBody', { description: STATUS_TEXT[s] ?? 'Error' });
  return out;
}

export interface HttpOptions {
  logLevel: string;
  bodyLimit: number;
  cookieSecure: boolean;
  trustProxy: boolean;
  metrics: Metrics;
  authenticate: Authenticator;
  /** Answers /readyz: throws when a dependency is not ready. */
  ready: () => Promise<void>;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const DEVICE_ID = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * Request ids and new device ids: ULID-shaped (10 characters of millisecond time, 16 random), like ids.ts's ulid(),
 * but minted on every request, so cheaper: the time part is encoded once per millisecond and the random characters
 * come from a pool of crypto-random bytes refilled 4 KiB at a time (ulid()'s per-id arrays and joins showed in
 * the feed's profile). They need not sort within a millisecond, only be unique: 80 random bits each.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ID_POOL_BYTES = 4096;
const idPool = Buffer.alloc(ID_POOL_BYTES);
let idPoolAt = ID_POOL_BYTES;
let idTimeMs = -1;
const idText = Buffer.alloc(26);
function edgeId(): string {
  const now = Date.now();
  if (now !== idTimeMs) {
    idTimeMs = now;
    let ms = now;
    for (let i = 9; i >= 0; i--) {
      const mod = ms % 32;
      idText[i] = CROCKFORD.charCodeAt(mod);
      ms = (ms - mod) / 32;
    }
  }
  if (idPoolAt + 16 > ID_POOL_BYTES) {
    randomFillSync(idPool);
    // each byte becomes one character (its low 5 bits): 80 random bits per id
    for (let i = 0; i < ID_POOL_BYTES; i++) idPool[i] = CROCKFORD.charCodeAt(idPool[i]! & 31);
    idPoolAt = 0;
  }
  idPool.copy(idText, 10, idPoolAt, idPoolAt + 16);
  idPoolAt += 16;
  return idText.toString('latin1', 0, 26);
}

/**
 * A request Node's HTTP parser refused before Fastify saw it (headers over 16 KiB, a malformed request line, a
 * request that timed out), answered on the socket in the one error shape, then closed.
 */
function writeClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const [code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? ['headers_too_large', 'The request headers are larger than 16 KiB']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request_timeout', 'The request was not received in time']
        : ['bad_request', 'The request could not be parsed as HTTP'];
  const status = statusForCode(code);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * The HTTP edge: schema validation (bodies are never coerced; unknown fields are refused), one error shape,
 * request ids, who-may-call enforcement, metrics and the OpenAPI document generated from the route schemas.
 */
export async function createHttpServer(opts: HttpOptions): Promise<App> {
  const app = Fastify({
    logger: opts.logLevel === 'silent' ? false : { level: opts.logLevel },
    bodyLimit: opts.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: edgeId,
    ajv: { customOptions: {} },
    return503OnClosing: true,
    trustProxy: opts.trustProxy,
    forceCloseConnections: 'idle',
    // errors the router meets before any route runs answer in the one error shape too: a path it cannot decode (a
    // broken %-escape) or whose id is longer than any id names no resource
    frameworkErrors: (error, _request, reply) => {
      const path = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const body = { error: path ? { code: 'route_not_found', message: 'Malformed or over-long path' } : { code: 'bad_request', message: error.message } };
      void (reply as unknown as FastifyReply).code(statusForCode(body.error.code)).send(body);
    },
    clientErrorHandler: writeClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const strictAjv = addFormats(new Ajv({ allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false, strictNumbers: true }));
  const coercingAjv = addFormats(new Ajv({ allErrors: true, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false, strictNumbers: true }));
  for (const ajv of [strictAjv, coercingAjv]) ajv.addSchema(ErrorBody);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema));
  app.addSchema(ErrorBody);
  // Fastify parses text/plain by default; the API speaks JSON only, so anything else is a 415, not a 400 later.
  app.removeContentTypeParser('text/plain');

  // cookies are parsed by the edge's own onRequest hook below (one hook per request instead of two)
  await app.register(cookie, { hook: false });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'feedshop API',
        version: '1',
        description: 'Shop without leaving the feed. Every error answers `{ error: { code, message, details? } }`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Session token from POST /v1/auth/login' },
          cookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
    },
    // name shared schemas by their $id (components/schemas/ErrorBody), not Fastify's default def-0, def-1…
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const auth = (route.config as { auth?: RouteAuth } | undefined)?.auth ?? 'public';
      const who = auth === 'public' ? 'anyone' : auth === 'authenticated' ? 'any signed-in account' : `roles: ${auth.join(', ')}`;
      const s = { ...(schema as Record<string, unknown>) };
      s.description = [s.description, `**Who may call:** ${who}.`].filter(Boolean).join('\n\n');
      if (s.body && s.response) s.response = { ...errorResponses(413, 415), ...(s.response as Record<number, unknown>) };
      if (auth !== 'public') s.security = [{ bearer: [] }, { cookie: [] }];
      s.operationId ??= operationIdOf([route.method].flat()[0]!, url);
      return { schema: s as never, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.decorate('warmingUp', false);
  app.addHook('onRoute', (route) => {
    const url = route.url;
    if (url.startsWith('/v1') && route.config?.auth === undefined) {
      throw new Error(`route ${route.method} ${url} does not declare who may call it (config.auth)`);
    }
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD' && url.startsWith('/v1')) routeTable.push({ method, url, auth: route.config!.auth! });
    }
    // unknown query fields are refused as unknown body fields are: a /v1 route that declares no query string takes none
    if (url.startsWith('/v1') && route.schema && route.schema.querystring === undefined) route.schema.querystring = NO_QUERY;
    // and one that declares no body takes none: a JSON body with fields is refused, never silently ignored (`{}` and
    // no body at all are the same request); a raw body (webhooks, uploads) is the route's own business
    if (url.startsWith('/v1') && route.schema && route.schema.body === undefined) {
      route.preValidation = [...[route.preValidation ?? []].flat(), refuseBody];
    }
  });

  app.decorateRequest('principal', null);
  app.decorateRequest('deviceId', '');
  app.decorateRequest('deviceNamed', false);
  // A new device's cookie, as reply.setCookie would write it (same attributes, same order), pre-serialized: only
  // the id changes, and it needs no encoding. Set as a header, it merges with cookies routes set through the plugin.
  const deviceCookieTail = app
    .serializeCookie(DEVICE_COOKIE, '-', { path: '/', httpOnly: true, sameSite: 'lax', secure: opts.cookieSecure, maxAge: 400 * 86400 })
    .slice(`${DEVICE_COOKIE}=-`.length);
  // The edge's one onRequest hook, callback-style (no promise of its own): cookies, request and device ids, the
  // principal, who may call.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const rawCookies = request.headers.cookie;
    // a new object per request (@fastify/cookie's rule: handlers may write to it)
    const cookies = rawCookies ? app.parseCookie(rawCookies) : {};
    request.cookies = cookies;
    const header = request.headers['x-device-id'];
    const fromCookie = cookies[DEVICE_COOKIE];
    let device = typeof header === 'string' && DEVICE_ID.test(header) ? header : fromCookie && DEVICE_ID.test(fromCookie) ? fromCookie : undefined;
    request.deviceNamed = device !== undefined;
    if (!device) {
      device = `dev_${edgeId()}`;
      // only the API keeps a device (touches, carts): files and pages outside it are publicly cacheable, and a
      // shared cache must never hand one visitor's device id to others
      if (request.url.startsWith('/v1/')) reply.header('set-cookie', `${DEVICE_COOKIE}=${device}${deviceCookieTail}`);
    }
    request.deviceId = device;
    const authz = request.headers.authorization;
    const token = authz?.startsWith('Bearer ') ? authz.slice(7).trim() : cookies[SESSION_COOKIE];
    if (!token) {
      authorize(request, done);
      return;
    }
    opts.authenticate(token).then((principal) => {
      request.principal = principal;
      authorize(request, done);
    }, done);
  });

  app.addHook('onResponse', (request, reply, done) => {
    opts.metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'route_not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` } });
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, request, reply) => {
    const body = toErrorBody(err);
    const status = body.status;
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code }, 'request refused');
    if (status === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '60');
    reply.code(status).send({ error: body.error });
  });

  // probes and scrapes (a load balancer every few seconds, Prometheus, the edge's own warm-up of ~500 requests at
  // start) log at warn and above only (their errors), so a log at `info` shows the traffic and not the plumbing
  const quiet = { logLevel: 'warn' } as const;
  app.get('/healthz', { ...quiet, config: { auth: 'public' }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { ...quiet, config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    try {
      if (app.warmingUp) throw new Error('warming up');
      await opts.ready();
      return { status: 'ready' };
    } catch (e) {
      return reply.code(503).send({ error: { code: 'unavailable', message: `not ready: ${(e as Error).message}` } });
    }
  });
  app.get('/metrics', { ...quiet, config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());

  return app;
}

/** Warm-up bounds (see listenWarm). */
const WARM_UP = { inFlight: 4, perScavenge: 128, scavenges: 2, maxMs: 5000 } as const;

/**
 * Listens, then serves GET /healthz to itself over loopback, a few requests at a time, until at least
 * WARM_UP.scavenges young-generation collections have each come after WARM_UP.perScavenge requests or more (at most
 * WARM_UP.maxMs); /readyz answers 503 until then. Why: for each allocation site (an object or array literal), V8
 * decides once whether to allocate its objects straight in the old generation: at the first scavenge after the site
 * made 100 objects since the previous one, "yes" if 85% of them are still alive (and the young generation is at its
 * largest), else "no". A fresh process whose first requests are a burst that waits (the benchmark's 100 concurrent
 * log-ins, each waiting for scrypt; cold caches behind a busy load balancer) gets "yes" for Node's and Fastify's
 * per-request sites (IncomingMessage, ServerResponse, the request, the reply, their header objects): every request
 * then allocates them in the old generation, where they die, and they keep what they point to alive through
 * scavenges (~100 MB/s promoted, a full collection every ~1.3 s on the feed). V8 revisits the decisions only when a
 * full collection finds less than 10% of the old generation alive, which the feed's caches never allow. Quick
 * requests with few in flight get the "no" first, and it is kept. Measured on the feed at 64 connections: minor GC
 * ~10 → ~4 µs of pause per page, ~10 µs of CPU per page.
 */
export async function listenWarm(app: App, options: { port: number; host: string }): Promise<void> {
  app.warmingUp = true;
  try {
    await app.listen(options);
    const address = app.server.address();
    if (address === null || typeof address === 'string') return;
    const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
    const url = `http://${address.family === 'IPv6' ? `[${host}]` : host}:${address.port}/healthz`;
    let scavenges = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
    });
    observer.observe({ entryTypes: ['gc'] });
    const started = performance.now();
    const deadline = started + WARM_UP.maxMs;
    let requests = 0;
    let counted = 0;
    let seen = scavenges;
    let sinceScavenge = 0;
    try {
      while (counted < WARM_UP.scavenges && performance.now() < deadline) {
        const batch: Array<Promise<ArrayBuffer>> = [];
        for (let i = 0; i < WARM_UP.inFlight; i++) batch.push(fetch(url).then((r) => r.arrayBuffer()));
        await Promise.all(batch);
        requests += WARM_UP.inFlight;
        sinceScavenge += WARM_UP.inFlight;
        if (scavenges !== seen) {
          if (sinceScavenge >= WARM_UP.perScavenge) counted++;
          seen = scavenges;
          sinceScavenge = 0;
        }
      }
      app.log.info({ requests, scavenges: counted, ms: Math.round(performance.now() - started) }, 'edge warmed up');
    } catch (err) {
      app.log.warn({ err }, 'edge warm-up stopped early');
    } finally {
      observer.disconnect();
    }
  } finally {
    app.warmingUp = false;
  }
}

/** Who-may-call enforcement for the request's route, as the last step of the onRequest hook. */
function authorize(request: FastifyRequest, done: (err?: Error) => void): void {
  const auth = request.routeOptions.config?.auth;
  try {
    if (auth !== undefined) checkRouteAuth(auth, request.principal);
  } catch (err) {
    done(err as Error);
    return;
  }
  done();
}

function toErrorBody(err: FastifyError | AppError | Error): { status: number; error: { code: string; message: string; details?: unknown } } {
  if (err instanceof AppError) {
    return { status: err.status, ...errorBody(err) };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const details = fe.validation.map((v) => ({
      in: fe.validationContext,
      path: v.instancePath || '/',
      message: v.message,
      ...(v.params && 'additionalProperty' in v.params ? { field: v.params.additionalProperty } : {}),
    }));
    return { status: 400, error: { code: 'validation_failed', message: `Invalid ${fe.validationContext ?? 'request'}: ${fe.message}`, details } };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, error: { code: 'malformed_json', message: 'The body is not valid JSON' } };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, error: { code: 'body_too_large', message: 'The body is larger than this endpoint accepts' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 415, error: { code: 'unsupported_media_type', message: 'Unsupported Content-Type: send one this operation documents (application/json for the API)' } };
  }
  // the database refuses text with a NUL character (U+0000: 22021 as a parameter, 22P05 inside jsonb), which JSON and
  // %00 in a URL can carry into any text field: the input's fault, and the failed statement changed nothing
  if (fe.code === '22021' || fe.code === '22P05') {
    return { status: 400, error: { code: 'validation_failed', message: 'Text may not contain the NUL character (\\u0000)' } };
  }
  if (err instanceof SyntaxError || fe.statusCode === 400) {
    return { status: 400, error: { code: 'malformed_json', message: 'The body is not valid JSON' } };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, error: { code: 'bad_request', message: fe.message } };
  }
  return { status: statusForCode('internal'), error: { code: 'internal', message: 'Something went wrong on our side; it has been logged' } };
}

/**
 * The OpenAPI operationId of a route, from its method and path, for client generators (`GET /v1/products/:id` →
 * `getProductsById`, `POST /v1/checkout/buy-now` → `postCheckoutBuyNow`): unique as long as method and path are,
 * which platform-http.test.ts checks for every documented route.
 */
export function operationIdOf(method: string, url: string): string {
  const pascal = (word: string) => word.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  const parts = url
    .replace(/^\/v1(?=\/|$)/, '')
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By${pascal(segment.slice(1))}` : pascal(segment)));
  return method.toLowerCase() + (parts.join('') || 'Root');
}
