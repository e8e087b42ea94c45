import type { FastifyRequest } from 'fastify';
import { AppError } from './errors';

export const ROLES = ['shopper', 'creator', 'merchant', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: resolved once per request from a session cookie or a bearer token. */
export interface Principal {
  accountId: string;
  sessionId: string;
  roles: readonly Role[];
}

/**
 * Every route declares who may call it; a route without a declaration fails at startup.
 * - 'public': anyone, signed in or not (the principal is still resolved when credentials are sent);
 * - 'authenticated': any signed-in account;
 * - a list of roles: a signed-in account holding at least one of them.
 * Ownership (a merchant's own products, a creator's own posts) is checked by the service, not here.
 */
export type RouteAuth = 'public' | 'authenticated' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** Anonymous browsing identity: `x-device-id` header or the `fs_device` cookie (issued when absent). */
    deviceId: string;
    /** The request named its device (header or cookie); false when the edge minted `deviceId` for this request. */
    deviceNamed: boolean;
  }
}

export const SESSION_COOKIE = 'fs_session';
export const DEVICE_COOKIE = 'fs_device';

/** Resolves a session token to a principal; provided by the identity context. */
export type Authenticator = (token: string) => Promise<Principal | null>;

export function hasRole(principal: Principal | null, ...roles: Role[]): boolean {
  return principal !== null && principal.roles.some((r) => roles.includes(r));
}

/** The signed-in principal, or a 401. */
export function requirePrincipal(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthenticated', 'Sign in to do this');
  return request.principal;
}

export function checkRouteAuth(auth: RouteAuth, principal: Principal | null): void {
  if (auth === 'public') return;
  if (!principal) throw new AppError('unauthenticated', 'Sign in to do this');
  if (auth === 'authenticated') return;
  if (!principal.roles.some((r) => auth.includes(r))) {
    throw new AppError('forbidden', `This needs one of the roles: ${auth.join(', ')}`);
  }
}
