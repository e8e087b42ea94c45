// Public surface of the analytics context (design.md §2, §3, §8). CONTRACT: the composition root and the web app
// rely on these signatures; the analytics work fills in the implementation behind them.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { AttributionService } from '../attribution';
import type { CatalogService } from '../catalog';
import type { SocialService } from '../social';
import type { ReferralTokens } from '../social/referral-token';

export interface AnalyticsDeps extends ContextDeps {
  attribution: AttributionService;
  referrals: ReferralTokens;
  social: Pick<SocialService, 'getCreatorByAccount'>;
  catalog: Pick<CatalogService, 'getMerchantByAccount'>;
}

export interface AnalyticsService {
  /** Appends everything accepted so far to the store now (tests, shutdown); resolves when it is stored. */
  flush(): Promise<void>;
}

export function createAnalyticsContext(deps: AnalyticsDeps): ContextModule<AnalyticsService> {
  void deps;
  return {
    name: 'analytics',
    migrations: { schema: 'analytics', migrations: {} },
    service: { flush: async () => undefined },
  };
}
