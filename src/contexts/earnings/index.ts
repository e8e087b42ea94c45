// Public surface of the earnings context (design.md §2, §7): commission rules, commissions, the creator ledger and
// payouts. CONTRACT: the composition root and the web app rely on these signatures.
import { ConfigError } from '../../config';
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import type { CatalogService } from '../catalog';
import type { SocialService } from '../social';
import { earningsMigrations } from './earnings.migrations';
import { SimulatedPayoutProvider, type PayoutProvider } from './earnings.payout-provider';
import { earningsRoutes } from './earnings.routes';
import { createEarningsService, type EarningsServiceImpl } from './earnings.service';
import { StripeConnectPayoutProvider } from './earnings.stripe';
import './earnings.errors';
import './earnings.events';

export type * from './earnings.events';
export type { Balance, EarningsServiceImpl, LedgerEntryView, PayoutAccountView, PayoutView } from './earnings.service';
export type { Discrepancy } from './earnings.repository';
export type { AccountState, ConnectEvent, PayoutProvider, TransferRequest, TransferResult, TransferState } from './earnings.payout-provider';
export { SimulatedPayoutProvider } from './earnings.payout-provider';
export { StripeConnectPayoutProvider } from './earnings.stripe';

export interface EarningsDeps extends ContextDeps {
  /** accountsOfCreators: whether a creator id exists (the admin support view answers 404 otherwise). */
  social: Pick<SocialService, 'getCreatorByAccount' | 'accountsOfCreators'>;
  /** getProductCards: a merchant may only set rates on its own products. */
  catalog: Pick<CatalogService, 'getMerchantByAccount' | 'getProductCards'>;
}

export interface EarningsService {
  /** Creator balances per currency, derived from the ledger. */
  balances(creatorId: string): Promise<Array<{ currency: string; pendingMinor: number; availableMinor: number; paidMinor: number }>>;
}

export interface EarningsOptions {
  /** Use this payout provider instead of the one config.payoutProvider names (tests). */
  provider?: PayoutProvider;
  /** How long a provider call may take before its outcome counts as unknown. Default 10 s. */
  providerTimeoutMs?: number;
}

/** The context plus its payout provider (tests steer the simulator through it). */
export interface EarningsContext extends ContextModule<EarningsServiceImpl> {
  readonly provider: PayoutProvider;
}

export function createEarningsContext(deps: EarningsDeps, options: EarningsOptions = {}): EarningsContext {
  const { config } = deps;
  let provider: PayoutProvider;
  if (options.provider) provider = options.provider;
  else if (config.payoutProvider === 'stripe') {
    if (!config.stripeSecretKey) throw new ConfigError('PAYOUT_PROVIDER=stripe needs STRIPE_SECRET_KEY (a platform key with Connect enabled)');
    provider = new StripeConnectPayoutProvider({
      secretKey: config.stripeSecretKey,
      apiBase: config.stripeApiBase,
      timeoutMs: options.providerTimeoutMs ?? 10_000,
      webhookSecrets: config.stripeConnectWebhookSecret?.split(',') ?? [],
      nowSeconds: () => Math.floor(deps.clock.now().getTime() / 1000),
    });
  } else provider = new SimulatedPayoutProvider(deps.db, deps.clock);
  const service = createEarningsService(deps, provider);
  // the simulator delivers its transfer and account events in process, to the handler the Stripe webhook route feeds
  if (provider instanceof SimulatedPayoutProvider) provider.setReceiver((event) => service.applyConnectEvent(event, JSON.stringify(event)));
  return {
    name: 'earnings',
    migrations: earningsMigrations,
    service,
    provider,
    routes: (app: App) => earningsRoutes(app, service, deps),
    subscribe: () =>
      deps.outbox.subscribe('earnings.commissions', ['attribution.line.credited', 'attribution.line.reversed', 'orders.order.delivered'], (event) =>
        service.handle(event.name, event.payload),
      ),
    sweep: () => service.sweep(),
  };
}
