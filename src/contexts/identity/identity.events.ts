import type { Role } from '../../platform/auth';

declare module '../../platform/events' {
  interface EventMap {
    /** An account was created (sign-up, seed or CLI). */
    'identity.account.created': { accountId: string; roles: Role[] };
    /**
     * An account signed up or logged in on a device that browsed anonymously; published in the same transaction as
     * the session so attribution can carry the device's anonymous touches over to the account.
     */
    'identity.device.linked': { accountId: string; deviceId: string };
  }
}

export {};
