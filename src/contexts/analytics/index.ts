// Public surface of the analytics context (design.md §2, §3, §8). CONTRACT: the composition root and the web app
// rely on these signatures; the analytics work fills in the implementation behind them.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { AttributionService } from '../attribution';
import type { CatalogService } from '../catalog';
import type { SocialService } from '../social';
import type { ReferralTokens } from '../social/referral-token';
import { analyticsRoutes } from './analytics.routes';
import { createAnalyticsService, FACT_EVENTS, type AnalyticsServiceImpl } from './analytics.service';
import './analytics.errors';

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

export type { AnalyticsServiceImpl } from './analytics.service';
export type { Scope } from './analytics.reports';
export { isBot } from './analytics.service';

export function createAnalyticsContext(deps: AnalyticsDeps): ContextModule<AnalyticsServiceImpl> {
  const service = createAnalyticsService(deps);
  return {
    name: 'analytics',
    // the facts live in ClickHouse (analytics.clickhouse.ts); no PostgreSQL tables
    migrations: { schema: 'analytics', migrations: {} },
    service,
    routes: (app) => analyticsRoutes(app, service, deps.clock),
    subscribe() {
      // written synchronously, deduplicated by outbox event id: a redelivery or a retry after a failure adds nothing
      deps.outbox.subscribe('analytics.facts', [...FACT_EVENTS], (event) => service.recordFacts(event));
    },
    close: () => service.close(),
  };
}
