import { randomBytes } from 'node:crypto';

/**
 * Ids are `<prefix>_<26 chars>`: a ULID (48-bit millisecond time + 80 random bits, Crockford base32), so ids sort
 * by creation time and cross-context references say what they point at (`prd_…`, `sku_…`).
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const ID_PREFIX = {
  account: 'acc',
  session: 'ses',
  merchant: 'mer',
  product: 'prd',
  variant: 'sku',
  media: 'med',
  upload: 'upl',
  review: 'rev',
  creator: 'cre',
  post: 'pst',
  tag: 'tag',
  touch: 'tch',
  event: 'evt',
  adjustment: 'adj',
  device: 'dev',
  reservation: 'rsv',
  cart: 'crt',
  cartLine: 'cln',
  checkout: 'chk',
  payment: 'pay',
  webhook: 'whk',
  order: 'ord',
  orderLine: 'oln',
  refund: 'rfd',
  return: 'ret',
  credit: 'crd',
  clientEvent: 'cev',
  commissionRule: 'cmr',
  commission: 'com',
  ledgerEntry: 'led',
  payout: 'pyo',
  payoutAccount: 'pya',
  statement: 'stm',
  recomputeJob: 'rcj',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 9; i >= 0; i--) {
    const mod = ms % 32;
    out = ALPHABET[mod] + out;
    ms = (ms - mod) / 32;
  }
  return out;
}

/** Monotonic within a process: ids minted in the same millisecond still sort in minting order. */
export function ulid(now = Date.now()): string {
  if (now === lastTime) {
    // increment the random part
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      if (lastRandom[i]! < 31) {
        lastRandom[i]!++;
        break;
      }
      lastRandom[i] = 0;
    }
  } else {
    lastTime = now;
    const bytes = randomBytes(16);
    lastRandom = Array.from({ length: 16 }, (_, i) => bytes[i]! % 32);
  }
  return encodeTime(now) + lastRandom.map((n) => ALPHABET[n]).join('');
}

export function newId(kind: IdKind, now?: number): string {
  return `${ID_PREFIX[kind]}_${ulid(now)}`;
}

export function idPattern(kind: IdKind): string {
  return `^${ID_PREFIX[kind]}_[0-9A-HJKMNP-TV-Z]{26}$`;
}

export function isId(kind: IdKind, value: string): boolean {
  return new RegExp(idPattern(kind)).test(value);
}

/**
 * A keyset list's opaque cursor for lists ordered by id: the last id shown, as base64url JSON. Decoding answers null
 * without a cursor, and 'invalid' for one that names no id of `kind` (a forged or foreign cursor is refused).
 */
export function idCursor(kind: IdKind) {
  return {
    encode: (id: string): string => encodeJsonCursor({ id }),
    decode(cursor: string | undefined): { id: string } | null | 'invalid' {
      if (cursor === undefined) return null;
      const v = decodeJsonCursor(cursor) as { id?: unknown } | null | undefined;
      return typeof v?.id === 'string' && isId(kind, v.id) ? { id: v.id } : 'invalid';
    },
  };
}

/** An opaque cursor: base64url JSON of what the list needs to go on. Clients must not build one. */
export function encodeJsonCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** What encodeJsonCursor encoded, or undefined for text that is not such a cursor (the caller checks its shape). */
export function decodeJsonCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
