import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock';
import type { AnyDb } from '../../platform/db';
import { isId, newId } from '../../platform/ids';
import { ByteBudgetLru } from './media.cache';
import type { UploadFailure } from './media.errors';
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

export interface MediaLimits {
  mediaImageMaxBytes: number;
  mediaVideoMaxBytes: number;
  mediaQuotaBytes: number;
}

export interface MediaServiceDeps {
  db: AnyDb;
  clock: Clock;
  config: MediaLimits;
  /** Where the bytes go; the database store when not given. */
  store?: MediaStore;
}

/** Bytes of served files kept per process, and the largest file kept (bigger ones, videos, are read per range). */
export const MEDIA_CACHE_BYTES = 32 * 1024 * 1024;
const CACHEABLE_BYTES = MEDIA_CACHE_BYTES / 4;
/** What an object's description weighs in its cache (an estimate: a few short strings and a date). */
const OBJECT_WEIGHT = 256;

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

export class MediaService {
  private readonly repo: MediaRepository;
  private readonly store: MediaStore;
  /** Descriptions by id (4,096 of them), so a file served from memory costs no query at all. */
  private readonly objects = new ByteBudgetLru<MediaObject>(4096 * OBJECT_WEIGHT);
  /** Contents by hash: two accounts' objects of the same file share one entry. */
  private readonly contents = new ByteBudgetLru<Buffer>(MEDIA_CACHE_BYTES);
  /** Reads of whole contents under way: concurrent first requests for one file share one read. */
  private readonly reading = new Map<string, Promise<Buffer>>();

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
   * same owner is the same object (`created: false`); the bytes are stored before the object that names them, so an
   * object never exists without its content.
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
    const owned = await this.repo.findByContent(ownerAccountId, sha256);
    if (owned) return { ok: true, object: toObject(owned), created: false };
    // checked before each new file (concurrent uploads of one account may pass it by their own sizes)
    const quotaBytes = this.deps.config.mediaQuotaBytes;
    const usedBytes = await this.repo.bytesOwned(ownerAccountId);
    if (usedBytes + bytes.length > quotaBytes) {
      return { ok: false, code: 'media_quota_exceeded', message: `This file would take your uploads past ${quotaBytes} bytes (${usedBytes} used)`, details: { quotaBytes, usedBytes } };
    }
    await this.store.put(sha256, bytes);
    const now = this.deps.clock.now();
    const row = { id: newId('upload', now.getTime()), owner_account_id: ownerAccountId, sha256, content_type: type, size: bytes.length, created_at: now };
    const inserted = await this.repo.insertUnlessOwned(row);
    const object = toObject(inserted ?? (await this.repo.findByContent(ownerAccountId, sha256))!);
    // the uploader's preview usually asks for it next
    if (bytes.length <= CACHEABLE_BYTES) this.contents.set(sha256, bytes, bytes.length);
    return { ok: true, object, created: inserted !== undefined };
  }

  /** The object with this id, or null (also for a string that is not a media id). */
  async find(id: string): Promise<MediaObject | null> {
    if (!isId('upload', id)) return null;
    const cached = this.objects.get(id);
    if (cached) return cached;
    const row = await this.repo.findById(id);
    if (!row) return null;
    const object = toObject(row);
    this.objects.set(id, object, OBJECT_WEIGHT);
    return object;
  }

  /**
   * The object's bytes, or the range of them. Files up to a quarter of the cache are read whole once and then served
   * from memory; larger ones are read per range from the store.
   */
  async read(object: MediaObject, range?: ByteRange): Promise<Buffer> {
    const cached = this.contents.get(object.sha256);
    if (cached) return sliceOf(cached, range);
    if (object.size > CACHEABLE_BYTES) return this.readStored(object.sha256, range);
    let whole = this.reading.get(object.sha256);
    if (!whole) {
      whole = this.readStored(object.sha256).then((bytes) => {
        this.contents.set(object.sha256, bytes, bytes.length);
        return bytes;
      });
      const forget = () => this.reading.delete(object.sha256);
      whole.then(forget, forget);
      this.reading.set(object.sha256, whole);
    }
    return sliceOf(await whole, range);
  }

  private async readStored(sha256: string, range?: ByteRange): Promise<Buffer> {
    const bytes = await this.store.read(sha256, range);
    // an object is recorded only after its bytes are stored, and stored bytes are never deleted
    if (!bytes) throw new Error(`media content ${sha256} is missing from the store`);
    return bytes;
  }
}
