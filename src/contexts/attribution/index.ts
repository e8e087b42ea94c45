// Public surface of the attribution context. CONTRACT: other contexts rely on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { ReferralClaims } from '../social/referral-token';
import type { SocialService } from '../social';
import { attributionMigrations } from './attribution.migrations';
import { createAttributionRepository } from './attribution.repository';
import { attributionRoutes } from './attribution.routes';
import { createAttributionService } from './attribution.service';

export type TouchKind = 'tap' | 'view' | 'impression';

export interface TouchInput {
  kind: TouchKind;
  accountId: string | null;
  deviceId: string;
  claims: ReferralClaims;
  occurredAt?: Date;
  /** Flagged as bot traffic at ingest: kept for the record, never credited. */
  bot?: boolean;
}

export type { AttributionModel, CommissionableCredit, CreditDelta } from './attribution.events';
export const ATTRIBUTION_MODELS = ['last_click', 'first_click', 'linear', 'time_decay', 'position'] as const;

export type InvalidTokenReason = 'malformed' | 'bad_signature' | 'unknown_key' | 'unsupported_version' | 'product_mismatch';

export interface AttributionService {
  /** Records a shopper's touch on a tag (idempotent per shopper, tag, kind and second). */
  recordTouch(input: TouchInput): Promise<void>;
  /** Records many touches in a fixed number of statements (analytics ingest); same idempotency as recordTouch. */
  recordTouches(inputs: readonly TouchInput[]): Promise<void>;
  /** Counts a forged, tampered or unverifiable token; never fails the shopper's request. */
  recordInvalidToken(reason: InvalidTokenReason, where: string): Promise<void>;
  /** Joins a device's anonymous touches to the account that signed in on it. */
  linkDevice(deviceId: string, accountId: string): Promise<void>;
  /** Touches of a shopper (by account, including linked devices, or by device), oldest first. */
  listTouches(shopper: { accountId?: string; deviceId?: string }): Promise<Array<{ id: string; kind: TouchKind; tagId: string; postId: string; creatorId: string; productId: string; occurredAt: Date; accountId: string | null; deviceId: string }>>;
  /** Invalid token counts by reason (for admins). */
  invalidTokenCounts(): Promise<Record<string, number>>;
}

export interface AttributionDeps extends ContextDeps {
  /** Social lookups, bound late by the composition root (social is built after attribution, which it records touches into). */
  social: Pick<SocialService, 'accountsOfCreators' | 'tagStates'>;
}

export function createAttributionContext(deps: AttributionDeps): ContextModule<AttributionService> {
  const service = createAttributionService(deps, createAttributionRepository(deps.db));
  return {
    name: 'attribution',
    migrations: attributionMigrations,
    service,
    routes: (app) => attributionRoutes(app, service),
    subscribe() {
      // the event is declared by identity (identity.events.ts); linking is idempotent, so redelivery is safe
      deps.outbox.subscribe('attribution.device-links', ['identity.device.linked'], async (event) => {
        await service.linkDevice(event.payload.deviceId, event.payload.accountId);
      });
    },
  };
}
