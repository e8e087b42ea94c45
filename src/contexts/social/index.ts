// Public surface of the social context.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import type { AttributionService } from '../attribution';
import type { CatalogService } from '../catalog';
import type { ReferralTokens } from './referral-token';
import './social.errors';
import { socialMigrations } from './social.migrations';
import { socialRoutes } from './social.routes';
import { createSocialService, type SocialService } from './social.service';

export type { ReferralClaims, ReferralKey, ReferralTokens, VerifyResult } from './referral-token';
export { createReferralTokens } from './referral-token';
export { loadReferralTokens, parseReferralKeys } from './referral-keys';
export type { ImportPost, SocialService } from './social.service';
export type { CreatorView, FeedPage, PostView, TagView } from './social.schemas';

export interface SocialDeps extends ContextDeps {
  catalog: CatalogService;
  referrals: ReferralTokens;
  attribution: AttributionService;
}

/** The social context: creators, follows, posts, stories, tags, and the feed read pipeline. */
export function createSocialContext(deps: SocialDeps): ContextModule<SocialService> {
  const service = createSocialService(deps);
  return {
    name: 'social',
    migrations: socialMigrations,
    service,
    routes: (app: App) => socialRoutes(app, service),
  };
}
