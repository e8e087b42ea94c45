import { AppError, statusForCode } from '../../platform/errors';
import { errorResponses, withRawJsonBodies, type App } from '../../platform/http';
import { PAYMENTS_ERROR_MESSAGES } from './payments.errors';
import { WebhookAck, WebhookBody, WebhookParams } from './payments.schemas';
import type { PaymentsServiceImpl } from './payments.service';

const tags = ['payments'];

export async function paymentsRoutes(app: App, service: PaymentsServiceImpl): Promise<void> {
  // signatures cover the exact bytes sent: the body arrives as the string received
  await withRawJsonBodies(app, (scope) => {
    scope.post(
      '/payments/webhooks/:provider',
      {
        config: { auth: 'public' },
        schema: {
          tags,
          summary: 'Receive a payment provider webhook (signature-verified, applied once)',
          params: WebhookParams,
          body: WebhookBody,
          response: { 200: WebhookAck, ...errorResponses(404) },
        },
      },
      async (request) => {
        const result = await service.handleWebhook(request.params.provider, request.body, request.headers);
        if (!result.ok) throw new AppError(result.code, PAYMENTS_ERROR_MESSAGES[result.code]);
        return { received: true, duplicate: result.duplicate };
      },
    );
  });
}

/** The HTTP status a webhook sender would see for a handler result (the simulator's in-process delivery). */
export function webhookStatus(result: Awaited<ReturnType<PaymentsServiceImpl['handleWebhook']>>): number {
  return result.ok ? 200 : statusForCode(result.code);
}
