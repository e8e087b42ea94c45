// Opaque keyset cursors: base64url JSON of the phase and the last key shown. Clients must not build them; the
// server refuses anything it did not issue in shape (400 invalid_cursor).
import { decodeJsonCursor, encodeJsonCursor } from '../../../platform/ids';
import type { FeedPosition } from '../social.repository';

/** A feed cursor: where the next page starts and the time bound fixed by the first page. */
export interface FeedCursor {
  position: FeedPosition;
  bound: Date;
}

/** A creator-page cursor: the last (published_at, id) shown. */
export interface PostsCursor {
  publishedAt: Date;
  id: string;
}

const POST_ID = /^pst_[0-9A-HJKMNP-TV-Z]{26}$/;

const encode = encodeJsonCursor;
const decode = decodeJsonCursor;

/** The largest time a Date can hold (ms since epoch): past it `new Date()` is invalid, and the database refuses it. */
const MAX_TIME_MS = 8.64e15;
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TIME_MS;

export function encodeFeedCursor(c: FeedCursor): string {
  const k = c.position.after === null ? null : c.position.phase === 'f' ? [c.position.after.publishedMs, c.position.after.id] : [c.position.after.score, c.position.after.id];
  return encode({ p: c.position.phase, k, b: c.bound.getTime() });
}

export function decodeFeedCursor(cursor: string): FeedCursor | null {
  const v = decode(cursor) as { p?: unknown; k?: unknown; b?: unknown } | undefined;
  if (!v || typeof v !== 'object' || !isTime(v.b)) return null;
  const bound = new Date(v.b);
  if (v.k === null) {
    if (v.p === 'f' || v.p === 'p') return { position: { phase: v.p, after: null }, bound };
    return null;
  }
  if (!Array.isArray(v.k) || v.k.length !== 2 || typeof v.k[1] !== 'string' || !POST_ID.test(v.k[1])) return null;
  const [key, id] = v.k as [unknown, string];
  if (v.p === 'f' && isTime(key)) return { position: { phase: 'f', after: { publishedMs: key, id } }, bound };
  if (v.p === 'p' && typeof key === 'number' && Number.isFinite(key)) return { position: { phase: 'p', after: { score: key, id } }, bound };
  return null;
}

export function encodePostsCursor(c: PostsCursor): string {
  return encode({ t: c.publishedAt.getTime(), i: c.id });
}

export function decodePostsCursor(cursor: string): PostsCursor | null {
  const v = decode(cursor) as { t?: unknown; i?: unknown } | undefined;
  if (!v || typeof v !== 'object' || !isTime(v.t) || typeof v.i !== 'string' || !POST_ID.test(v.i)) return null;
  return { publishedAt: new Date(v.t), id: v.i };
}

/** A following-list cursor: the last (followed at, creator id) shown. */
export interface FollowingCursor {
  followedAt: Date;
  creatorId: string;
}

const CREATOR_ID = /^cre_[0-9A-HJKMNP-TV-Z]{26}$/;

export function encodeFollowingCursor(c: FollowingCursor): string {
  return encode({ f: c.followedAt.getTime(), c: c.creatorId });
}

export function decodeFollowingCursor(cursor: string): FollowingCursor | null {
  const v = decode(cursor) as { f?: unknown; c?: unknown } | undefined;
  if (!v || typeof v !== 'object' || !isTime(v.f) || typeof v.c !== 'string' || !CREATOR_ID.test(v.c)) return null;
  return { followedAt: new Date(v.f), creatorId: v.c };
}
