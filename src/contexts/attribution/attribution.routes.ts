import type { App } from '../../platform/http';
import { errorResponses } from '../../platform/http';
import type { AttributionService } from './index';
import { InvalidTokenCountsQuery, InvalidTokenCountsResponse } from './attribution.schemas';

export async function attributionRoutes(app: App, service: AttributionService): Promise<void> {
  app.get(
    '/admin/attribution/invalid-tokens',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['attribution'],
        summary: 'Invalid referral tokens seen, by reason',
        description: 'Forged, tampered or unverifiable tokens never block a purchase; they are counted here.',
        querystring: InvalidTokenCountsQuery,
        response: { 200: InvalidTokenCountsResponse, ...errorResponses(401, 403) },
      },
    },
    async () => ({ byReason: await service.invalidTokenCounts() }),
  );
}
