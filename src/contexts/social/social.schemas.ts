// HTTP types of the social context: each schema is the validator, the TypeScript type and the OpenAPI entry.
import { Type, type Static, type TSchema } from 'typebox';
import { idPattern } from '../../platform/ids';
import { MEDIA_URL_PATTERN } from '../../platform/http';

/** `T | null` as one JSON-schema type list (`["string","null"]`), which fast-json-stringify serializes fastest. */
function Nullable<T extends TSchema & { type: string }>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
}

const DateTime = Type.String({ format: 'date-time' });
const MediaUrl = Type.String({ minLength: 1, maxLength: 2048, pattern: MEDIA_URL_PATTERN, description: 'Absolute http(s) URL or a path on this server' });

export const CreatorId = Type.String({ pattern: idPattern('creator') });
export const PostId = Type.String({ pattern: idPattern('post') });
export const TagId = Type.String({ pattern: idPattern('tag') });
export const ProductId = Type.String({ pattern: idPattern('product') });
export const Handle = Type.String({ pattern: '^[a-z0-9_]{3,30}$', description: 'Lowercase letters, digits and _, 3 to 30 long' });

// ---- creators ----

export const CreatorProfileBody = Type.Object(
  {
    handle: Handle,
    displayName: Type.String({ minLength: 1, maxLength: 80 }),
    bio: Type.Optional(Type.String({ maxLength: 500 })),
    avatarUrl: Type.Optional(Nullable(MediaUrl)),
  },
  { additionalProperties: false },
);
export type CreatorProfileInput = Static<typeof CreatorProfileBody>;

export const CreatorView = Type.Object({
  id: CreatorId,
  handle: Type.String(),
  displayName: Type.String(),
  bio: Type.String(),
  avatarUrl: Nullable(Type.String()),
  followerCount: Type.Integer(),
  createdAt: DateTime,
  following: Type.Boolean({ description: 'Whether the signed-in caller follows this creator (false when anonymous)' }),
});
export type CreatorView = Static<typeof CreatorView>;

/** The caller's own profile or null until it is set up: a 200 either way (a 404 is logged in the browser's console). */
export const OwnCreatorProfile = Type.Object(
  { creator: Type.Union([CreatorView, Type.Null({ description: 'no creator profile yet (PUT /v1/creators/me sets it up)' })]) },
  { additionalProperties: false },
);

export const CreatorSummary = Type.Object({
  id: CreatorId,
  handle: Type.String(),
  displayName: Type.String(),
  avatarUrl: Nullable(Type.String()),
});
export type CreatorSummary = Static<typeof CreatorSummary>;

export const FollowState = Type.Object({ creatorId: CreatorId, following: Type.Boolean(), followerCount: Type.Integer() });
export type FollowState = Static<typeof FollowState>;

export const FollowingPage = Type.Object({ creators: Type.Array(CreatorView), nextCursor: Nullable(Type.String()) });

// ---- posts, tags, feed ----

export const TagInput = Type.Object(
  {
    productId: ProductId,
    x: Type.Number({ minimum: 0, maximum: 1, description: 'Horizontal position, 0 (left) to 1 (right)' }),
    y: Type.Number({ minimum: 0, maximum: 1, description: 'Vertical position, 0 (top) to 1 (bottom)' }),
  },
  { additionalProperties: false },
);
export type TagInput = Static<typeof TagInput>;

/** The most active tags a post or story carries, whether given at creation or added later (409 too_many_tags). */
export const MAX_TAGS_PER_POST = 20;

export const PostKind = Type.Union([Type.Literal('post'), Type.Literal('story')]);
export const MediaType = Type.Union([Type.Literal('photo'), Type.Literal('video')]);

export const CreatePostBody = Type.Object(
  {
    kind: Type.Optional(PostKind),
    mediaType: MediaType,
    mediaUrl: MediaUrl,
    caption: Type.Optional(Type.String({ maxLength: 2200 })),
    tags: Type.Optional(Type.Array(TagInput, { maxItems: MAX_TAGS_PER_POST, description: 'Each product at most once (409 duplicate_tag with `details.productIds`)' })),
  },
  { additionalProperties: false },
);
export type CreatePostInput = Static<typeof CreatePostBody>;

/** What a creator may change on a published post or story: the caption (media and tags are the post's own). */
export const UpdatePostBody = Type.Object({ caption: Type.String({ maxLength: 2200 }) }, { additionalProperties: false });
export type UpdatePostInput = Static<typeof UpdatePostBody>;

export const ProductCardView = Type.Object({
  id: ProductId,
  name: Type.String(),
  priceMinor: Type.Integer(),
  currency: Type.String(),
  imageUrl: Nullable(Type.String()),
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
});

export const TagView = Type.Object({
  id: TagId,
  x: Type.Number(),
  y: Type.Number(),
  referralToken: Type.String({ description: 'Signed; pass it as ?ref= when the shopper opens the product' }),
  product: ProductCardView,
});
export type TagView = Static<typeof TagView>;

export const PostView = Type.Object({
  id: PostId,
  kind: PostKind,
  creator: CreatorSummary,
  mediaType: MediaType,
  mediaUrl: Type.String(),
  caption: Type.String(),
  publishedAt: DateTime,
  expiresAt: Nullable(DateTime),
  tags: Type.Array(TagView),
});
export type PostView = Static<typeof PostView>;

export const StoryTrayEntry = Type.Object({
  creator: CreatorSummary,
  storyCount: Type.Integer({ minimum: 1, description: "How many stories of this creator are live (more than `stories` holds when they do not fit in one page)" }),
  stories: Type.Array(PostView, { description: 'Live stories with their tags, in watch order (oldest first)' }),
});
export type StoryTrayEntry = Static<typeof StoryTrayEntry>;

export const StoryTraySummary = Type.Object({
  creator: CreatorSummary,
  followed: Type.Boolean({ description: 'Whether the caller follows this creator (followed creators come first)' }),
  storyIds: Type.Array(PostId, { description: 'The first live stories to watch (oldest first), at most 10: `storyCount` says how many are live' }),
  storyCount: Type.Integer({ minimum: 1, description: 'How many stories of this creator are live' }),
  cover: Type.Object({ mediaType: MediaType, mediaUrl: Type.String() }, { description: 'Media of the first story to watch' }),
  latestAt: Type.String({ format: 'date-time', description: 'When the newest of these stories was published' }),
});
export type StoryTraySummary = Static<typeof StoryTraySummary>;

export const FeedPage = Type.Object({
  posts: Type.Array(PostView),
  stories: Type.Array(StoryTraySummary, {
    description: 'The stories tray, on the first page only: creators with live stories. Opening it (GET /v1/stories) gives the stories with their tags and product cards.',
  }),
  nextCursor: Nullable(Type.String()),
});
export type FeedPage = Static<typeof FeedPage>;

export const StoriesPage = Type.Object({
  stories: Type.Array(StoryTrayEntry, {
    description: 'Creators with live stories, followed first, each with their first stories to watch (tags, product cards, tokens); with `creatorId`, that creator alone',
  }),
  nextCursor: Nullable(Type.String({ description: "With `creatorId`: where that creator's next stories start (null: no more)" })),
});
export type StoriesPage = Static<typeof StoriesPage>;

export const PostsPage = Type.Object({ posts: Type.Array(PostView), nextCursor: Nullable(Type.String()) });
export type PostsPage = Static<typeof PostsPage>;

// ---- params and query strings ----

export const PageQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 10 })),
  },
  { additionalProperties: false },
);
export const NoQuery = Type.Object({}, { additionalProperties: false });
export const StoriesQuery = Type.Object(
  {
    creatorId: Type.Optional({ ...CreatorId, description: "One creator's live stories, page by page (opening their ring), instead of the tray" }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page (with creatorId)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 10, description: 'Stories per page (with creatorId)' })),
  },
  { additionalProperties: false },
);
export const IdOrHandleParams = Type.Object(
  { idOrHandle: Type.String({ minLength: 3, maxLength: 40, description: 'A creator id (cre_…) or handle' }) },
  { additionalProperties: false },
);
export const CreatorParams = Type.Object({ id: CreatorId }, { additionalProperties: false });
export const PostParams = Type.Object({ id: PostId }, { additionalProperties: false });
export const TagParams = Type.Object({ id: TagId }, { additionalProperties: false });
