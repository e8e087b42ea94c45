// HTTP types of the media context: each schema is the validator, the TypeScript type and the OpenAPI entry.
import { Type, type Static } from 'typebox';
import { idPattern } from '../../platform/ids';
import { MEDIA_TYPES, type MediaType } from './media.formats';

const ContentType = Type.Unsafe<MediaType>({ type: 'string', enum: [...MEDIA_TYPES] });

const mediaObject = {
  id: Type.String({ pattern: idPattern('upload') }),
  url: Type.String({ description: 'Where the file is served (`/media/{id}`): use it as a post\'s `mediaUrl` or a product\'s media `url`' }),
  contentType: ContentType,
  size: Type.Integer({ minimum: 1, description: 'Bytes' }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the bytes, hex; also the ETag it is served with' }),
};
export const MediaObjectView = Type.Object(mediaObject, { description: 'Stored' });
/** The answer to an upload of a file its account had uploaded already. */
export const ExistingMediaObject = Type.Object(mediaObject, { description: 'You had uploaded this file already: the same object' });
export type MediaObjectView = Static<typeof MediaObjectView>;

export const MediaListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor from the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  { additionalProperties: false },
);

export const MediaItemView = Type.Object({ ...mediaObject, createdAt: Type.String({ format: 'date-time' }) });
export const MediaPage = Type.Object({
  items: Type.Array(MediaItemView, { description: 'Your uploads, newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  usedBytes: Type.Integer({ minimum: 0, description: 'Bytes of all your uploads (what the quota counts)' }),
  quotaBytes: Type.Integer({ minimum: 0, description: 'What your uploads may take in all (MEDIA_QUOTA_BYTES)' }),
});
export type MediaPage = Static<typeof MediaPage>;

/**
 * The upload's body is the file itself, as the route's own parsers hand it over (a Buffer). The schema documents it
 * and checks nothing: a schema without a type accepts any value, and what can be checked of a file (its type, its
 * size, that it is not empty) is checked by the parsers and the service.
 */
export const UploadBody = Type.Unsafe<Buffer | undefined>({ format: 'binary', description: 'The file\'s raw bytes (not multipart, not base64)' });

/** Any string: an id that is not a media id is a file that does not exist (404), not a malformed request. */
export const MediaFileParams = Type.Object({ id: Type.String() });

export const MediaFileHeaders = Type.Object({
  range: Type.Optional(Type.String({ description: 'One range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix` (more than one: the whole file)' })),
  'if-none-match': Type.Optional(Type.String({ description: 'The ETag you have: 304 when it is still this file (it always is: files never change)' })),
  'if-range': Type.Optional(Type.String({ description: 'Answer the range only while the ETag is this one, else the whole file' })),
});

/** A file in the answer: its bytes, under its stored Content-Type. */
const Bytes = Object.fromEntries(MEDIA_TYPES.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]));
const servedHeaders = {
  etag: { type: 'string', description: 'Strong: the SHA-256 of the bytes, quoted' },
  'cache-control': { type: 'string', description: '`public, max-age=31536000, immutable`' },
  'accept-ranges': { type: 'string', description: '`bytes`' },
};

export const FileResponse = Type.Unsafe({ description: 'The whole file', headers: servedHeaders, content: Bytes });
export const RangeResponse = Type.Unsafe({
  description: 'The requested range of the file (an open-ended range of a large file may end sooner: read `Content-Range`)',
  headers: { ...servedHeaders, 'content-range': { type: 'string', description: '`bytes start-end/size`' } },
  content: Bytes,
});
