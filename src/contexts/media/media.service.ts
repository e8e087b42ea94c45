import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock';
import type { AnyDb } from '../../platform/db';
import { idCursor, isId, newId } from '../../platform/ids';
import { ByteBudgetLru } from './media.cache';
import type { RemoveFailure, UploadFailure } from './media.errors';
import { isMediaType, isVideoType, MEDIA_TYPES, sniffMediaType, type MediaType } from './media.formats';
import { MediaRepository, type ObjectRow } from './media.repository';
import { DatabaseMediaStore, type ByteRange, type MediaStore } from './media.store';

/** An uploaded file: who uploaded what, and the hash that addresses its bytes in the store. */
export interface MediaObject {
  id: string;
  ownerAccountId: string;
  contentType: MediaType;
  size: number;
  sha256: string;
  createdAt: Date;
}

export type UploadResult = { ok: true; object: MediaObject; created: boolean } | ({ ok: false } & UploadFailure);
export type RemoveResult = { ok: true } | ({ ok: false } & RemoveFailure);
export type ListResult = { ok: true; items: MediaObject[]; nextCursor: string | null; usedBytes: number; quotaBytes: number } | { ok: false; code: 'invalid_cursor' };

/**
 * Who shows an account's file, asked of the contexts that store media URLs (social, catalog) through their public
 * surfaces: only the owner's own posts and products count (anyone may link any URL; another account's link must not
 * keep the owner from deleting their file).
 */
export interface MediaUses {
  /** The ids of the account's live posts and stories whose media URL is `url`. */
  postIdsUsing(accountId: string, url: string): Promise<string[]>;
  /** The ids of the account's products that have `url` among their media. */
  productIdsUsing(accountId: string, url: string): Promise<string[]>;
}

export interface MediaLimits {
  mediaImageMaxBytes: number;
  mediaVideoMaxBytes: number;
  mediaQuotaBytes: number;
}

export interface MediaServiceDeps {
  db: AnyDb;
  clock: Clock;
  config: MediaLimits;
  uses: MediaUses;
  /** Where the bytes go; the database store when not given. */
  store?: MediaStore;
}

/** Bytes of served files kept per process, and the largest file kept (bigger ones, videos, are read per range). */
export const MEDIA_CACHE_BYTES = 32 * 1024 * 1024;
const CACHEABLE_BYTES = MEDIA_CACHE_BYTES / 4;
/** What an object's description weighs in its cache (an estimate: a few short strings and a date). */
const OBJECT_WEIGHT = 256;
/**
 * How long a process serves an object's description before reading it again: a file deleted through another process
 * is served by this one for at most this long (the deleting process forgets it at once).
 */
export const OBJECT_RECHECK_MS = 5_000;

export const UNSUPPORTED_TYPE_MESSAGE = `Send the file as one of: ${MEDIA_TYPES.join(', ')}`;

const toObject = (row: ObjectRow): MediaObject => ({
  id: row.id,
  ownerAccountId: row.owner_account_id,
  contentType: row.content_type,
  size: row.size,
  sha256: row.sha256,
  createdAt: row.created_at,
});

const sliceOf = (bytes: Buffer, range?: ByteRange) => (range ? bytes.subarray(range.start, range.end + 1) : bytes);

/** Where a file is served: what posts and products store, and how their use of it is found. */
export const mediaUrlOf = (id: string) => `/media/${id}`;

/** The uploads list's cursor: the last upload id shown. */
const cursor = idCursor('upload');

/** "1 product", "2 products", or nothing for none (a refusal's sentence). */
const count = (n: number, one: string, many: string) => (n === 0 ? '' : n === 1 ? `1 ${one}` : `${n} ${many}`);

/** Thrown inside an upload's transaction to roll it back: the exact quota check refused it. */
class OverQuota extends Error {}

export class MediaService {
  private readonly repo: MediaRepository;
  private readonly store: MediaStore;
  /** Descriptions by id (4,096 of them) with when they were read, so a file served from memory costs no query at all. */
  private readonly objects = new ByteBudgetLru<{ object: MediaObject; readAt: number }>(4096 * OBJECT_WEIGHT);
  /** Look-ups by id under way: concurrent requests for a file whose description is due share one read. */
  private readonly finding = new Map<string, Promise<MediaObject | null>>();
  /** Contents by hash: two accounts' objects of the same file share one entry. */
  private readonly contents = new ByteBudgetLru<Buffer>(MEDIA_CACHE_BYTES);
  /** Reads of whole contents under way: concurrent first requests for one file share one read. */
  private readonly reading = new Map<string, Promise<Buffer | null>>();

  constructor(private readonly deps: MediaServiceDeps) {
    this.repo = new MediaRepository(deps.db);
    this.store = deps.store ?? new DatabaseMediaStore(deps.db, deps.clock);
  }

  /** The largest upload accepted for the type. */
  maxBytesFor(type: MediaType): number {
    return isVideoType(type) ? this.deps.config.mediaVideoMaxBytes : this.deps.config.mediaImageMaxBytes;
  }

  /**
   * Stores a file for its owner once its first bytes prove the declared type. The same content uploaded again by the
   * same owner is the same object (`created: false`). The object, its bytes and the owner's usage are written in one
   * transaction, so an object never exists without its content and an account's files never pass its quota.
   */
  async upload(ownerAccountId: string, declaredType: string, bytes: Buffer): Promise<UploadResult> {
    if (bytes.length === 0) return { ok: false, code: 'empty_body', message: 'The body is empty: send the file itself as the body' };
    const type = declaredType.split(';')[0]!.trim().toLowerCase();
    if (!isMediaType(type)) return { ok: false, code: 'unsupported_media_type', message: UNSUPPORTED_TYPE_MESSAGE };
    const limitBytes = this.maxBytesFor(type);
    if (bytes.length > limitBytes) return { ok: false, code: 'body_too_large', message: `A ${type} file may be at most ${limitBytes} bytes`, details: { limitBytes } };
    const detected = sniffMediaType(bytes);
    if (detected !== type) {
      const looks = detected ? `it looks like ${detected}` : 'it is none of the accepted formats';
      return { ok: false, code: 'media_type_mismatch', message: `The file is not ${type}: ${looks}`, details: { declared: type, detected } };
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { db } = this.repo;
    const owned = await this.repo.findByContent(db, ownerAccountId, sha256);
    if (owned) return { ok: true, object: toObject(owned), created: false };
    // a first check refuses most uploads past the quota before their bytes are written; the exact one is in the
    // transaction (concurrent uploads of one account may each pass this one)
    const usedBytes = await this.repo.bytesOwned(db, ownerAccountId);
    if (usedBytes + bytes.length > this.deps.config.mediaQuotaBytes) return this.overQuota(usedBytes);
    const now = this.deps.clock.now();
    const row = { id: newId('upload', now.getTime()), owner_account_id: ownerAccountId, sha256, content_type: type, size: bytes.length, created_at: now };
    let inserted: ObjectRow | undefined;
    try {
      // the object, its bytes and the account's usage change together, locking in this order (a delete does too)
      inserted = await db.transaction().execute(async (tx) => {
        const object = await this.repo.insertUnlessOwned(tx, row);
        if (!object) return undefined;
        await this.store.put(tx, sha256, bytes);
        if (!(await this.repo.addUsage(tx, ownerAccountId, bytes.length, this.deps.config.mediaQuotaBytes))) throw new OverQuota();
        return object;
      });
    } catch (e) {
      if (e instanceof OverQuota) return this.overQuota(await this.repo.bytesOwned(db, ownerAccountId));
      throw e;
    }
    // undefined: a concurrent upload of the same file by the same owner won
    const object = toObject(inserted ?? (await this.repo.findByContent(db, ownerAccountId, sha256))!);
    // the uploader's preview usually asks for it next
    if (bytes.length <= CACHEABLE_BYTES) this.contents.set(sha256, bytes, bytes.length);
    return { ok: true, object, created: inserted !== undefined };
  }

  private overQuota(usedBytes: number): UploadResult {
    const quotaBytes = this.deps.config.mediaQuotaBytes;
    return { ok: false, code: 'media_quota_exceeded', message: `This file would take your uploads past ${quotaBytes} bytes (${usedBytes} used)`, details: { quotaBytes, usedBytes } };
  }

  /** One page of the account's own uploads, newest first, with the bytes they use and the quota. */
  async list(ownerAccountId: string, f: { cursor?: string | undefined; limit: number }): Promise<ListResult> {
    const after = cursor.decode(f.cursor);
    if (after === 'invalid') return { ok: false, code: 'invalid_cursor' };
    const [rows, usedBytes] = await Promise.all([this.repo.listOwned(ownerAccountId, after?.id, f.limit + 1), this.repo.bytesOwned(this.repo.db, ownerAccountId)]);
    const page = rows.slice(0, f.limit).map(toObject);
    const nextCursor = rows.length > f.limit ? cursor.encode(page[page.length - 1]!.id) : null;
    return { ok: true, items: page, nextCursor, usedBytes, quotaBytes: this.deps.config.mediaQuotaBytes };
  }

  /**
   * Deletes an upload for its owner (or an admin): the object, the account's usage of it, and its bytes when no other
   * object names them, in one transaction. Refused while the owner's live posts or products show it; anyone else's,
   * and an id deleted already, are not_found (existence is not revealed).
   */
  async remove(caller: { accountId: string; admin: boolean }, id: string): Promise<RemoveResult> {
    const notFound = { ok: false, code: 'not_found' } as const;
    const row = isId('upload', id) ? await this.repo.findById(id) : undefined;
    if (!row || (row.owner_account_id !== caller.accountId && !caller.admin)) return notFound;
    const url = mediaUrlOf(id);
    const [postIds, productIds] = await Promise.all([this.deps.uses.postIdsUsing(row.owner_account_id, url), this.deps.uses.productIdsUsing(row.owner_account_id, url)]);
    if (postIds.length > 0 || productIds.length > 0) {
      const uses = [count(postIds.length, 'post or story', 'posts or stories'), count(productIds.length, 'product', 'products')].filter(Boolean).join(' and ');
      return { ok: false, code: 'media_in_use', message: `This file is shown by ${uses}: change or delete them first`, details: { postIds, productIds } };
    }
    const removed = await this.repo.db.transaction().execute(async (tx) => {
      const object = await this.repo.deleteObject(tx, id);
      if (!object) return null;
      const bytesGone = await this.store.release(tx, object.sha256);
      await this.repo.subtractUsage(tx, object.owner_account_id, object.size);
      return { bytesGone };
    });
    // a concurrent delete of the same id won
    if (!removed) return notFound;
    this.forget(id);
    if (removed.bytesGone) this.contents.delete(row.sha256);
    return { ok: true };
  }

  /** Drops the description, and a look-up under way (whose answer may predate a delete) is not kept. */
  private forget(id: string): void {
    this.objects.delete(id);
    this.finding.delete(id);
  }

  /**
   * The object with this id, or null (also for a string that is not a media id). A description read within the last
   * OBJECT_RECHECK_MS is answered from memory; an older one is read again, once for all the requests asking.
   */
  async find(id: string): Promise<MediaObject | null> {
    if (!isId('upload', id)) return null;
    const now = this.deps.clock.now().getTime();
    const cached = this.objects.get(id);
    if (cached && now - cached.readAt < OBJECT_RECHECK_MS) return cached.object;
    const pending = this.finding.get(id);
    if (pending) return pending;
    const lookUp: Promise<MediaObject | null> = this.repo.findById(id).then(
      (row) => {
        const object = row ? toObject(row) : null;
        // kept only while no delete in this process happened meanwhile (forget() dropped the look-up)
        if (this.finding.get(id) === lookUp) {
          this.finding.delete(id);
          if (object) this.objects.set(id, { object, readAt: now }, OBJECT_WEIGHT);
          else this.objects.delete(id);
        }
        return object;
      },
      (e: unknown) => {
        if (this.finding.get(id) === lookUp) this.finding.delete(id);
        throw e;
      },
    );
    this.finding.set(id, lookUp);
    return lookUp;
  }

  /**
   * The object's bytes, or the range of them; null when they are gone (the object was deleted by another process,
   * which this one's description of it did not know yet: it is forgotten). Files up to a quarter of the cache are read
   * whole once and then served from memory; larger ones are read per range from the store.
   */
  async read(object: MediaObject, range?: ByteRange): Promise<Buffer | null> {
    const cached = this.contents.get(object.sha256);
    if (cached) return sliceOf(cached, range);
    if (object.size > CACHEABLE_BYTES) return this.readStored(object, range);
    let whole = this.reading.get(object.sha256);
    if (!whole) {
      whole = this.readStored(object).then((bytes) => {
        if (bytes) this.contents.set(object.sha256, bytes, bytes.length);
        return bytes;
      });
      const forget = () => this.reading.delete(object.sha256);
      whole.then(forget, forget);
      this.reading.set(object.sha256, whole);
    }
    const bytes = await whole;
    return bytes && sliceOf(bytes, range);
  }

  private async readStored(object: MediaObject, range?: ByteRange): Promise<Buffer | null> {
    const bytes = await this.store.read(object.sha256, range);
    if (!bytes) this.forget(object.id);
    return bytes;
  }
}
