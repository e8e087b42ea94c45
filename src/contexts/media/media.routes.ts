import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { hasRole, requirePrincipal } from '../../platform/auth';
import { AppError, notFound } from '../../platform/errors';
import { errorResponses, matchesIfNoneMatch, notModified, type App } from '../../platform/http';
import { IMAGE_TYPES, MEDIA_TYPES, VIDEO_TYPES } from './media.formats';
import { ExistingMediaObject, FileResponse, MediaFileHeaders, MediaFileParams, MediaListQuery, MediaObjectView, MediaPage, RangeResponse, UploadBody } from './media.schemas';
import { mediaUrlOf, OBJECT_RECHECK_MS, UNSUPPORTED_TYPE_MESSAGE, type MediaLimits, type MediaObject, type MediaService } from './media.service';
import type { ByteRange } from './media.store';

const tags = ['media'];
const EMPTY = Buffer.alloc(0);
/** Files never change (a new upload is a new object), so every cache may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/**
 * An open-ended range (`bytes=N-`) is answered with at most this much. A browser playing a video asks `bytes=N-`
 * first and at every seek, then reads on with the next range; answering the rest of a 64 MiB file each time would
 * read it all from the store for a few seconds of playback.
 */
export const OPEN_RANGE_BYTES = 4 * 1024 * 1024;

const viewOf = (object: MediaObject): MediaObjectView => ({
  id: object.id,
  url: mediaUrlOf(object.id),
  contentType: object.contentType,
  size: object.size,
  sha256: object.sha256,
});

const UPLOADERS = ['creator', 'merchant', 'admin'] as const;

/** POST, GET /v1/media and DELETE /v1/media/{id} (registered under /v1 by the composition root). */
export async function mediaRoutes(app: App, service: MediaService, limits: MediaLimits): Promise<void> {
  // The upload's body is the file: its own parsers, in a scope of its own, so every other route keeps the edge's
  // JSON-only parsing. Each kind of file has its own body limit (Fastify refuses a larger body with 413 as it reads,
  // or before, from Content-Length); any other type is refused unread.
  await app.register(async (scope) => {
    const upload = scope as App;
    upload.removeAllContentTypeParsers();
    const asIs = (_request: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body);
    upload.addContentTypeParser([...IMAGE_TYPES], { parseAs: 'buffer', bodyLimit: limits.mediaImageMaxBytes }, asIs);
    upload.addContentTypeParser([...VIDEO_TYPES], { parseAs: 'buffer', bodyLimit: limits.mediaVideoMaxBytes }, asIs);
    upload.addContentTypeParser('*', (_request, _payload, done) => done(new AppError('unsupported_media_type', UNSUPPORTED_TYPE_MESSAGE)));

    upload.post(
      '/media',
      {
        config: { auth: UPLOADERS },
        schema: {
          tags,
          summary: 'Upload a photo or a video',
          description:
            `The body is the file itself, with its type as Content-Type (${MEDIA_TYPES.join(', ')}); its first bytes must be that format ` +
            `(else 400 \`media_type_mismatch\`). At most ${limits.mediaImageMaxBytes} bytes for an image and ${limits.mediaVideoMaxBytes} for a video (413). ` +
            'The answer\'s `url` is a path on this server, valid as a post\'s `mediaUrl` and a product\'s media `url`. The same file uploaded again by the same account is the same object (200 instead of 201).',
          consumes: [...MEDIA_TYPES],
          body: UploadBody,
          response: {
            201: MediaObjectView,
            200: ExistingMediaObject,
            ...errorResponses(401, 403, 409),
          },
        },
      },
      async (request, reply) => {
        const result = await service.upload(requirePrincipal(request).accountId, request.headers['content-type'] ?? '', request.body ?? EMPTY);
        if (!result.ok) throw new AppError(result.code, result.message, result.details);
        return reply.code(result.created ? 201 : 200).send(viewOf(result.object));
      },
    );
  });

  app.get(
    '/media',
    {
      config: { auth: UPLOADERS },
      schema: {
        tags,
        summary: 'Your uploads, newest first',
        description: 'Keyset pages (`nextCursor`), with the bytes your uploads use in all and your quota.',
        querystring: MediaListQuery,
        response: { 200: MediaPage, ...errorResponses(401, 403) },
      },
    },
    async (request): Promise<MediaPage> => {
      const result = await service.list(requirePrincipal(request).accountId, request.query);
      if (!result.ok) throw new AppError('invalid_cursor', 'The cursor is not one this list issued');
      const items = result.items.map((o) => ({ ...viewOf(o), createdAt: o.createdAt.toISOString() }));
      return { items, nextCursor: result.nextCursor, usedBytes: result.usedBytes, quotaBytes: result.quotaBytes };
    },
  );

  app.delete(
    '/media/:id',
    {
      config: { auth: UPLOADERS },
      schema: {
        tags,
        summary: 'Delete one of your uploads',
        description:
          `Its uploader (or an admin) deletes it: \`/media/{id}\` answers 404 from then on (every process within ${OBJECT_RECHECK_MS / 1000} s; copies already in browsers and CDNs are theirs to expire). ` +
          "Someone else's upload, or one deleted already, is 404 like an unknown id. While the uploader's live posts or stories use it as their `mediaUrl`, " +
          'or their products among their media, it is 409 `media_in_use` with `details: { postIds, productIds }`.',
        params: MediaFileParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const result = await service.remove({ accountId: principal.accountId, admin: hasRole(principal, 'admin') }, request.params.id);
      if (!result.ok) throw result.code === 'not_found' ? notFound('Media', request.params.id) : new AppError(result.code, result.message, result.details);
      return reply.code(204).send(null);
    },
  );
}

/** GET /media/:id, outside /v1 like every file the pages load: public, immutable, ranges for video. */
export async function mediaFileRoutes(app: App, service: MediaService): Promise<void> {
  app.get(
    '/media/:id',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'An uploaded file',
        description:
          'Served with its stored Content-Type, a strong `ETag` (its SHA-256; `If-None-Match` answers 304) and `Cache-Control: ' + IMMUTABLE + '`. ' +
          'One `Range` answers 206 with `Content-Range`; a range past the end 416. An unknown or deleted id is 404.',
        params: MediaFileParams,
        headers: MediaFileHeaders,
        response: { 200: FileResponse, 206: RangeResponse, 304: Type.Null({ description: 'Not modified: you have this file' }), ...errorResponses(404, 416) },
      },
    },
    async (request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      const object = await service.find(request.params.id);
      if (!object) throw notFound('Media', request.params.id);
      const etag = `"${object.sha256}"`;
      // If-None-Match is decided before Range (RFC 9110 §13.2.2); only answers with the file say it may be kept
      const keep = () => reply.header('etag', etag).header('cache-control', IMMUTABLE);
      if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return notModified(keep() as FastifyReply);
      const range = request.headers['if-range'] === undefined || request.headers['if-range'] === etag ? rangeOf(request.headers.range, object.size) : 'whole';
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${object.size}`);
        throw new AppError('range_not_satisfiable', `The file has ${object.size} bytes: the range asks for none of them`, { size: object.size });
      }
      const part = range === 'whole' ? undefined : { start: range.start, end: range.open ? Math.min(range.end, range.start + OPEN_RANGE_BYTES - 1) : range.end };
      // the bytes are read before any header says they may be kept: they may be gone (deleted through another process)
      const body = request.method === 'HEAD' ? EMPTY : await service.read(object, part);
      if (!body) throw notFound('Media', request.params.id);
      keep().header('accept-ranges', 'bytes').type(object.contentType);
      if (part) reply.code(206).header('content-range', `bytes ${part.start}-${part.end}/${object.size}`);
      if (request.method !== 'HEAD') return reply.send(body);
      // a HEAD: only the length, the file is not read (Fastify would say the length of no body)
      reply.hijack();
      reply.raw.writeHead(reply.statusCode, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'content-length': part ? part.end - part.start + 1 : object.size });
      reply.raw.end();
      return reply;
    },
  );
}

/**
 * The one range a Range header asks for, clipped to the file. 'whole' when there is none or it is not one we take
 * (several ranges, another unit, bad syntax: RFC 9110 lets a server answer those with the whole file);
 * 'unsatisfiable' when it starts past the end or asks for an empty suffix.
 */
export function rangeOf(header: string | undefined, size: number): (ByteRange & { open: boolean }) | 'whole' | 'unsatisfiable' {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return 'whole';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1, open: false };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return 'whole';
  if (start >= size) return 'unsatisfiable';
  return m[2] === '' ? { start, end: size - 1, open: true } : { start, end: Math.min(Number(m[2]), size - 1), open: false };
}
