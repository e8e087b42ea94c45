// Referral tokens (design.md §6). CONTRACT: catalog, attribution and checkout rely on these signatures.
//
// Tokens are signed when the feed is presented (one cheap HMAC per tag) rather than stored with the tag: rotating
// keys then needs no migration and no rewrite of millions of rows, and verification needs no database read.
//
// Wire format (then base64url, no padding):
//   version (1 byte) | kid length (1 byte) | kid (ASCII) | tag | post | creator | product (16 bytes each: the ULID
//   part of the prefixed id, the prefix is implied by the position) | tag created at (6 bytes, ms since epoch)
//   | HMAC-SHA256 over everything before it (32 bytes)
// With a two-character kid that is 108 bytes, 144 characters. No personal data: only ids of public things.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface ReferralClaims {
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  tagCreatedAt: Date;
  /** Key id the token was signed with. */
  kid: string;
}

export type VerifyResult =
  | { ok: true; claims: ReferralClaims }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'unknown_key' | 'unsupported_version' };

export interface ReferralTokens {
  sign(claims: Omit<ReferralClaims, 'kid'>): string;
  verify(token: string): VerifyResult;
}

export interface ReferralKey {
  kid: string;
  secret: Buffer;
}

const VERSION = 1;
const MAC_BYTES = 32;
const ID_BYTES = 16;
const TIME_BYTES = 6;
const KID = /^[A-Za-z0-9_.-]{1,32}$/;
export const MIN_SECRET_BYTES = 32;
/** Position in the token → the id prefix it stands for. */
const ID_FIELDS = [
  ['tagId', 'tag'],
  ['postId', 'pst'],
  ['creatorId', 'cre'],
  ['productId', 'prd'],
] as const;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CROCKFORD_VALUE = new Map([...CROCKFORD].map((c, i) => [c, BigInt(i)]));
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const MAX_TOKEN_CHARS = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** `tag_01J…` → the 16 bytes of its ULID; throws for anything else (a caller bug, never user input). */
function idToBytes(id: string, prefix: string, out: Buffer, offset: number): void {
  const ulid = id.startsWith(`${prefix}_`) ? id.slice(prefix.length + 1) : '';
  if (!ULID.test(ulid)) throw new TypeError(`referral token: ${JSON.stringify(id)} is not a ${prefix}_ id`);
  let n = 0n;
  for (const c of ulid) n = (n << 5n) | CROCKFORD_VALUE.get(c)!;
  for (let i = ID_BYTES - 1; i >= 0; i--) {
    out[offset + i] = Number(n & 0xffn);
    n >>= 8n;
  }
}

function bytesToId(buf: Buffer, offset: number, prefix: string): string {
  let n = 0n;
  for (let i = 0; i < ID_BYTES; i++) n = (n << 8n) | BigInt(buf[offset + i]!);
  let s = '';
  for (let i = 0; i < 26; i++) {
    s = CROCKFORD[Number(n & 31n)] + s;
    n >>= 5n;
  }
  return `${prefix}_${s}`;
}

/**
 * A key ring: the first key signs, every key verifies. Rotation is "put a new key first" (old tokens stay valid
 * while their key is listed); retiring a key makes its tokens `unknown_key`.
 */
export function createReferralTokens(keys: readonly ReferralKey[]): ReferralTokens {
  if (keys.length === 0) throw new Error('referral tokens: the key ring is empty');
  const ring = new Map<string, Buffer>();
  for (const { kid, secret } of keys) {
    if (!KID.test(kid)) throw new Error(`referral tokens: key id ${JSON.stringify(kid)} must match ${KID}`);
    if (secret.length < MIN_SECRET_BYTES) throw new Error(`referral tokens: key ${kid} is shorter than ${MIN_SECRET_BYTES} bytes`);
    if (ring.has(kid)) throw new Error(`referral tokens: key id ${kid} is listed twice`);
    ring.set(kid, secret);
  }
  const active = keys[0]!;
  const activeKid = Buffer.from(active.kid, 'ascii');
  const bodyLength = 2 + activeKid.length + ID_FIELDS.length * ID_BYTES + TIME_BYTES;

  const mac = (secret: Buffer, body: Buffer) => createHmac('sha256', secret).update(body).digest();

  return {
    sign(claims) {
      const buf = Buffer.alloc(bodyLength + MAC_BYTES);
      buf[0] = VERSION;
      buf[1] = activeKid.length;
      activeKid.copy(buf, 2);
      let o = 2 + activeKid.length;
      for (const [field, prefix] of ID_FIELDS) {
        idToBytes(claims[field], prefix, buf, o);
        o += ID_BYTES;
      }
      const ms = claims.tagCreatedAt.getTime();
      if (!Number.isInteger(ms) || ms < 0) throw new TypeError('referral token: tagCreatedAt is not a valid time');
      buf.writeUIntBE(ms, o, TIME_BYTES);
      mac(active.secret, buf.subarray(0, bodyLength)).copy(buf, bodyLength);
      return buf.toString('base64url');
    },

    verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) {
        return { ok: false, reason: 'malformed' };
      }
      const buf = Buffer.from(token, 'base64url');
      // only the canonical encoding is accepted: otherwise the unused low bits of the last character could change
      // without changing the bytes, and one token would have several spellings
      if (buf.toString('base64url') !== token || buf.length < 2) return { ok: false, reason: 'malformed' };
      if (buf[0] !== VERSION) return { ok: false, reason: 'unsupported_version' };
      const kidLength = buf[1]!;
      const bodyLen = 2 + kidLength + ID_FIELDS.length * ID_BYTES + TIME_BYTES;
      if (kidLength === 0 || buf.length !== bodyLen + MAC_BYTES) return { ok: false, reason: 'malformed' };
      const kid = buf.toString('ascii', 2, 2 + kidLength);
      const secret = KID.test(kid) ? ring.get(kid) : undefined;
      if (!secret) return { ok: false, reason: 'unknown_key' };
      const body = buf.subarray(0, bodyLen);
      if (!timingSafeEqual(mac(secret, body), buf.subarray(bodyLen))) return { ok: false, reason: 'bad_signature' };
      let o = 2 + kidLength;
      const ids: Record<string, string> = {};
      for (const [field, prefix] of ID_FIELDS) {
        ids[field] = bytesToId(buf, o, prefix);
        o += ID_BYTES;
      }
      return {
        ok: true,
        claims: {
          tagId: ids.tagId!,
          postId: ids.postId!,
          creatorId: ids.creatorId!,
          productId: ids.productId!,
          tagCreatedAt: new Date(buf.readUIntBE(o, TIME_BYTES)),
          kid,
        },
      };
    },
  };
}
