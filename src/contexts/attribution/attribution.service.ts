import type { ContextDeps } from '../../platform/context';
import { newId } from '../../platform/ids';
import type { AttributionService, InvalidTokenReason, TouchInput } from './index';
import type { AttributionRepository } from './attribution.repository';
import { INVALID_TOKEN_REASONS } from './attribution.schemas';

/** Touches are kept to the second: that is the grain at which an identical retry is recognised. */
function toSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export function createAttributionService(deps: ContextDeps, repo: AttributionRepository): AttributionService {
  const invalidTotal = deps.metrics.counter('feedshop_referral_invalid_total', 'Referral tokens refused (forged, tampered, unverifiable), by reason', ['reason']);

  return {
    /** Stores the touch as a fact; retrying the same touch (device, tag, kind, second) stores it once. */
    async recordTouch(input: TouchInput): Promise<void> {
      const now = deps.clock.now();
      const { claims } = input;
      await repo.insertTouch({
        id: newId('touch', now.getTime()),
        kind: input.kind,
        account_id: input.accountId,
        device_id: input.deviceId,
        tag_id: claims.tagId,
        post_id: claims.postId,
        creator_id: claims.creatorId,
        product_id: claims.productId,
        tag_created_at: claims.tagCreatedAt,
        occurred_at: toSecond(input.occurredAt ?? now),
        key_id: claims.kid,
        recorded_at: now,
      });
    },

    /** Interim: one insert per touch (the attribution work replaces this with one batched statement). */
    async recordTouches(inputs) {
      for (const input of inputs) await this.recordTouch(input);
    },

    /** Counts the refusal (per UTC day, reason and place, and in Prometheus); a counting failure is logged, never thrown. */
    async recordInvalidToken(reason: InvalidTokenReason, where: string): Promise<void> {
      invalidTotal.inc({ reason });
      try {
        await repo.incrementInvalidToken(deps.clock.now().toISOString().slice(0, 10), reason, where);
      } catch (err) {
        deps.log.warn({ err, reason, where }, 'could not count an invalid referral token');
      }
    },

    /** After it returns, every anonymous touch of the device belongs to the account; calling it again changes nothing. */
    async linkDevice(deviceId: string, accountId: string): Promise<void> {
      await repo.linkDevice(deviceId, accountId, deps.clock.now());
    },

    /** The shopper's touches oldest first, including anonymous ones from devices linked to the account. */
    async listTouches(shopper) {
      const rows = await repo.listTouches(shopper);
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        tagId: r.tag_id,
        postId: r.post_id,
        creatorId: r.creator_id,
        productId: r.product_id,
        occurredAt: new Date(r.occurred_at),
        accountId: r.account_id,
        deviceId: r.device_id,
      }));
    },

    /** Totals since counting began, one entry per known reason (zero when never seen). */
    async invalidTokenCounts(): Promise<Record<string, number>> {
      const out: Record<string, number> = Object.fromEntries(INVALID_TOKEN_REASONS.map((r) => [r, 0]));
      for (const row of await repo.sumInvalidTokensByReason()) out[row.reason] = Number(row.total);
      return out;
    },
  };
}
