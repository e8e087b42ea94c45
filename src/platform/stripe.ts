import Stripe from 'stripe';

/**
 * The official Stripe SDK as every adapter of ours uses it: no retries of its own (an unanswered call is settled by
 * our reconcile, which replays the same idempotency key), no telemetry, and an API base the tests point at the local
 * stand-in.
 */
export function createStripeClient(opts: { secretKey: string; timeoutMs: number; apiBase?: string | undefined }): Stripe {
  const config: Record<string, unknown> = { maxNetworkRetries: 0, timeout: opts.timeoutMs, telemetry: false };
  if (opts.apiBase) {
    const url = new URL(opts.apiBase);
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'http:' ? '80' : '443');
    config.protocol = url.protocol.replace(':', '');
  }
  return new Stripe(opts.secretKey, config as ConstructorParameters<typeof Stripe>[1]);
}
