// Public surface of the payments context. CONTRACT: checkout and orders rely on these signatures.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../../config';
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import { paymentsMigrations } from './payments.migrations';
import type { PaymentProvider } from './payments.provider';
import { createPaymentsRepository } from './payments.repository';
import { paymentsRoutes, webhookStatus } from './payments.routes';
import { createPaymentsService, type PaymentsServiceImpl } from './payments.service';
import { PaymentSimulator, SimulatedProvider, type SimulatorOptions } from './payments.simulator';
import { StripeProvider } from './payments.stripe';
import './payments.errors';
import './payments.events';

export type { PaymentsServiceImpl, WebhookResult } from './payments.service';
export type { PaymentSimulator } from './payments.simulator';
export { signSimulatedWebhook, SIM_SIGNATURE_HEADER } from './payments.simulator';

export type PaymentStatus = 'pending' | 'authorized' | 'captured' | 'voided' | 'partially_refunded' | 'refunded' | 'failed';

export interface PaymentView {
  id: string;
  checkoutId: string;
  provider: string;
  providerRef: string | null;
  status: PaymentStatus;
  currency: string;
  amountMinor: number;
  capturedMinor: number;
  refundedMinor: number;
  failureCode: string | null;
}

export type PaymentFailure = 'card_declined' | 'insufficient_funds' | 'provider_timeout' | 'provider_unavailable';

export interface PaymentsService {
  /**
   * Authorizes `amountMinor` for a checkout (manual capture). Idempotent per checkoutId: the provider idempotency key
   * derives from it, so a retry after a crash or timeout returns the same authorization, never a second one.
   * Never called inside a database transaction.
   */
  authorize(input: { checkoutId: string; amountMinor: number; currency: string; paymentMethod: string; accountId: string | null }): Promise<{ ok: true; payment: PaymentView } | { ok: false; code: PaymentFailure; payment: PaymentView | null }>;
  /** Captures an authorized payment (all of it unless amountMinor is given). Idempotent. */
  capture(paymentId: string, amountMinor?: number): Promise<{ ok: true; payment: PaymentView } | { ok: false; code: 'not_capturable' | PaymentFailure }>;
  /** Cancels an uncaptured authorization. Idempotent (voiding a voided payment is ok). */
  void(paymentId: string): Promise<{ ok: true; payment: PaymentView } | { ok: false; code: 'not_voidable' | PaymentFailure }>;
  /** Refunds part or all of a captured payment; idempotent per `key` (e.g. `ord_…:refund:1`). */
  refund(paymentId: string, amountMinor: number, key: string, reason: string): Promise<{ ok: true; payment: PaymentView } | { ok: false; code: 'not_refundable' | 'amount_exceeds_captured' | PaymentFailure }>;
  getPayment(paymentId: string): Promise<PaymentView | null>;
  findByCheckout(checkoutId: string): Promise<PaymentView | null>;
  /** Settles a payment whose outcome is unknown (timeout, crash) by asking the provider; returns its final view. */
  reconcile(checkoutId: string): Promise<PaymentView | null>;
}

export interface PaymentsOptions {
  /** How long a provider call may take before its outcome counts as unknown (provider_timeout). Default 10 s. */
  providerTimeoutMs?: number;
  /** Simulator behaviour (slow card delay, webhook timing); default slow delay is twice the timeout. */
  simulator?: Partial<SimulatorOptions>;
}

/**
 * The simulator's webhook signing secret: SIMULATED_WEBHOOK_SECRET, or a development secret generated once into
 * `${dataDir}/keys/` (mode 0600) so every process of this data directory shares it.
 */
function simulatedWebhookSecret(config: Config): string {
  if (config.simulatedWebhookSecret) return config.simulatedWebhookSecret;
  const dir = join(config.dataDir, 'keys');
  const file = join(dir, 'simulated-webhook-secret');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx' fails when the file exists, so two processes starting together end up with the same secret
    writeFileSync(file, `whsec_sim_${randomBytes(24).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return readFileSync(file, 'utf8').trim();
}

export function createPaymentsContext(deps: ContextDeps, options: PaymentsOptions = {}): ContextModule<PaymentsServiceImpl> {
  const { config, clock } = deps;
  const timeoutMs = options.providerTimeoutMs ?? 10_000;
  let provider: PaymentProvider;
  let simulator: PaymentSimulator | null = null;
  if (config.paymentProvider === 'stripe') {
    if (!config.stripeSecretKey) throw new ConfigError('PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET to accept webhooks)');
    provider = new StripeProvider({
      secretKey: config.stripeSecretKey,
      webhookSecret: config.stripeWebhookSecret,
      apiBase: config.stripeApiBase,
      timeoutMs,
      nowSeconds: () => Math.floor(clock.now().getTime() / 1000),
    });
  } else {
    simulator = new PaymentSimulator(deps.db, clock, simulatedWebhookSecret(config), { slowDelayMs: timeoutMs * 2, ...options.simulator });
    provider = new SimulatedProvider(simulator, { timeoutMs });
  }
  const service = createPaymentsService(deps, createPaymentsRepository(deps.db), provider, {
    simulator,
    staleAfterMs: Math.max(60_000, timeoutMs * 3),
  });
  // the simulator posts its webhooks through the same handler (and signature check) as the HTTP route
  simulator?.setReceiver(async (rawBody, headers) => ({ status: webhookStatus(await service.handleWebhook('simulated', rawBody, headers)) }));
  return {
    name: 'payments',
    migrations: paymentsMigrations,
    service,
    routes: (app: App) => paymentsRoutes(app, service),
    sweep: () => service.sweep(),
  };
}
