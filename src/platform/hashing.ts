import cryptoModule, { createHash } from 'node:crypto';

// crypto.hash (Node ≥ 20.12): one call, no Hash object; hot paths hash on every request (session tokens, idempotency)
const oneShot = (cryptoModule as { hash?: (algorithm: string, data: string, encoding: 'hex' | 'base64url') => string }).hash;

/** SHA-256 of a UTF-8 string, encoded. */
export function sha256(text: string, encoding: 'hex' | 'base64url'): string {
  return oneShot ? oneShot('sha256', text, encoding) : createHash('sha256').update(text).digest(encoding);
}
