import { Type } from 'typebox';

export const WebhookParams = Type.Object(
  { provider: Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$', description: 'simulated or stripe (the configured provider)' }) },
  { additionalProperties: false },
);

/** The raw JSON body exactly as signed by the provider (it is verified byte for byte, then parsed). */
export const WebhookBody = Type.String({ description: 'The provider event, raw JSON as signed' });

export const WebhookAck = Type.Object(
  {
    received: Type.Boolean(),
    duplicate: Type.Boolean({ description: 'true when this event was already received: nothing changed' }),
  },
  { additionalProperties: false },
);
