// Public surface of the earnings context (design.md §2, §7): commission rules, commissions, the creator ledger and
// payouts. CONTRACT: the composition root and the web app rely on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { CatalogService } from '../catalog';
import type { SocialService } from '../social';

export interface EarningsDeps extends ContextDeps {
  social: Pick<SocialService, 'getCreatorByAccount'>;
  catalog: Pick<CatalogService, 'getMerchantByAccount'>;
}

export interface EarningsService {
  /** Creator balances per currency, derived from the ledger. */
  balances(creatorId: string): Promise<Array<{ currency: string; pendingMinor: number; availableMinor: number; paidMinor: number }>>;
}

export function createEarningsContext(deps: EarningsDeps): ContextModule<EarningsService> {
  void deps;
  return {
    name: 'earnings',
    migrations: { schema: 'earnings', migrations: {} },
    service: { balances: async () => [] },
  };
}
