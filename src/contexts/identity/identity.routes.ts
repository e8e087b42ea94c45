import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { requirePrincipal, SESSION_COOKIE } from '../../platform/auth';
import { AppError } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import { Account, AccountPage, ListAccountsQuery, LogInBody, SessionResponse, SignUpBody } from './identity.schemas';
import type { AccountSummary, IdentityServiceImpl, NewSession } from './identity.service';

export interface IdentityRouteOptions {
  cookieSecure: boolean;
  sessionTtlHours: number;
}

/** GET /v1/auth/session: the signed-in account or null. */
const SessionState = Type.Object({ account: Type.Union([Account, Type.Null()]) }, { additionalProperties: false });

const presentAccount = (a: AccountSummary) => ({ ...a, createdAt: a.createdAt.toISOString() });

export async function identityRoutes(app: App, service: IdentityServiceImpl, opts: IdentityRouteOptions): Promise<void> {
  // the web uses the HTTP-only cookie (not readable by scripts); API clients use the token from the body
  const answerSession = (reply: FastifyReply, s: NewSession) => {
    reply.setCookie(SESSION_COOKIE, s.token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: opts.cookieSecure,
      path: '/',
      maxAge: opts.sessionTtlHours * 3600,
    });
    return { account: presentAccount(s.account), token: s.token, expiresAt: s.expiresAt.toISOString() };
  };

  app.post(
    '/auth/signup',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['identity'],
        summary: 'Create an account and sign in',
        body: SignUpBody,
        response: { 201: SessionResponse, ...errorResponses(409) },
      },
    },
    async (request, reply) => {
      const result = await service.signUp({ ...request.body, deviceId: request.deviceId });
      if (!result.ok) throw new AppError('email_taken', 'An account with this e-mail already exists');
      return reply.code(201).send(answerSession(reply, result));
    },
  );

  app.post(
    '/auth/login',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['identity'],
        summary: 'Sign in with e-mail and password',
        description: 'Failed attempts are limited per e-mail and per client IP; over the limit the answer is 429 with Retry-After.',
        body: LogInBody,
        response: { 200: SessionResponse, ...errorResponses(401, 429) },
      },
    },
    async (request, reply) => {
      const result = await service.logIn({ ...request.body, ip: request.ip, deviceId: request.deviceId });
      if (result.ok) return answerSession(reply, result);
      if (result.code === 'rate_limited') {
        reply.header('retry-after', String(result.retryAfterSeconds));
        throw new AppError('rate_limited', 'Too many failed log-ins; try again later', { retryAfterSeconds: result.retryAfterSeconds });
      }
      throw new AppError('invalid_credentials', 'E-mail or password is wrong');
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { auth: 'authenticated' },
      schema: {
        tags: ['identity'],
        summary: 'Sign out: revoke this session and clear the cookie',
        response: { 204: Type.Null({ description: 'Signed out' }), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await service.logOut(requirePrincipal(request).sessionId);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { auth: 'authenticated' },
      schema: {
        tags: ['identity'],
        summary: 'The signed-in account',
        response: { 200: Account, ...errorResponses(401) },
      },
    },
    async (request) => {
      const account = await service.getAccount(requirePrincipal(request).accountId);
      if (!account) throw new AppError('unauthenticated', 'Sign in to do this');
      return presentAccount(account);
    },
  );

  app.get(
    '/auth/session',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['identity'],
        summary: 'Who is signed in: the account, or null when no one is (200 either way)',
        description: 'For a page that must ask without knowing: `GET /v1/me` answers 401 when signed out, which browsers log as an error.',
        response: { 200: SessionState },
      },
    },
    async (request) => {
      const account = request.principal ? await service.getAccount(request.principal.accountId) : null;
      return { account: account ? presentAccount(account) : null };
    },
  );

  app.get(
    '/admin/accounts',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['identity'],
        summary: 'List accounts, newest first',
        querystring: ListAccountsQuery,
        response: { 200: AccountPage, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const result = await service.listAccounts(request.query);
      if (!result.ok) throw new AppError('invalid_cursor', 'The cursor is not one this list issued');
      return { items: result.items.map(presentAccount), nextCursor: result.nextCursor };
    },
  );
}
