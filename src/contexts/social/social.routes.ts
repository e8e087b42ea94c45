import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { requirePrincipal } from '../../platform/auth';
import { AppError } from '../../platform/errors';
import { errorResponses, type App } from '../../platform/http';
import type { SocialService } from './social.service';
import {
  CreatePostBody,
  CreatorParams,
  CreatorProfileBody,
  CreatorView,
  FeedPage,
  FollowingPage,
  FollowState,
  IdOrHandleParams,
  NoQuery,
  OwnCreatorProfile,
  PageQuery,
  PostParams,
  PostsPage,
  PostView,
  StoriesPage,
  StoriesQuery,
  TagInput,
  TagParams,
  TagView,
  UpdatePostBody,
} from './social.schemas';

const tags = ['social'];
const Empty = Type.Null({ description: 'No content' });

/** A failed service result becomes the one error shape; the status comes from the code's registration. */
function orThrow<T extends { ok: boolean }>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) {
    const { code, message, details } = result as unknown as { code: string; message: string; details?: unknown };
    throw new AppError(code, message, details);
  }
  return result as Extract<T, { ok: true }>;
}

/**
 * Sends a JSON document that is already text or UTF-8 bytes as is: Fastify serializes nothing for a string or a
 * Buffer with a JSON content type. (The route's response schema still documents it; the typed reply would only
 * accept the object form.)
 */
export function sendJsonText(reply: FastifyReply, json: string | Buffer): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

export async function socialRoutes(app: App, service: SocialService): Promise<void> {
  /** The caller's creator profile id; creator actions need a profile first (409 creator_profile_required). */
  async function requireCreatorId(request: FastifyRequest): Promise<string> {
    const creator = await service.getCreatorByAccount(requirePrincipal(request).accountId);
    if (!creator) throw new AppError('creator_profile_required', 'Create your creator profile first (PUT /v1/creators/me)');
    return creator.id;
  }

  // ---- creators ----

  app.put(
    '/creators/me',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Create or update your creator profile', querystring: NoQuery, body: CreatorProfileBody, response: { 200: CreatorView, ...errorResponses(401, 403, 409) } },
    },
    async (request) => orThrow(await service.upsertCreator(requirePrincipal(request).accountId, request.body)).creator,
  );

  app.get(
    '/creators/me',
    { config: { auth: ['creator'] }, schema: { tags, summary: 'Your creator profile', querystring: NoQuery, response: { 200: CreatorView, ...errorResponses(401, 403, 404) } } },
    async (request) => {
      const creator = await service.getCreatorByAccount(requirePrincipal(request).accountId);
      if (!creator) throw new AppError('not_found', 'You have no creator profile yet (PUT /v1/creators/me)');
      return creator;
    },
  );

  // the same profile, or null before it is set up: the web app's first visit to the dashboard asks this one, since
  // the 404 above (kept for existing clients) is logged as an error in the browser's console
  app.get(
    '/creator/profile',
    {
      config: { auth: ['creator'] },
      schema: {
        tags,
        summary: 'Your creator profile, or { creator: null } until you set it up',
        description: 'As `GET /v1/creators/me`, but 200 `{ "creator": null }` instead of a 404 before `PUT /v1/creators/me`.',
        querystring: NoQuery,
        response: { 200: OwnCreatorProfile, ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ creator: await service.getCreatorByAccount(requirePrincipal(request).accountId) }),
  );

  app.get(
    '/creators/:idOrHandle',
    {
      config: { auth: 'public' },
      schema: { tags, summary: 'A creator by id or handle', params: IdOrHandleParams, querystring: NoQuery, response: { 200: CreatorView, ...errorResponses(404) } },
    },
    async (request) => {
      const creator = await service.getCreator(request.params.idOrHandle, request.principal?.accountId ?? null);
      if (!creator) throw new AppError('not_found', `Creator ${request.params.idOrHandle} was not found`);
      return creator;
    },
  );

  app.get(
    '/creators/:id/posts',
    {
      config: { auth: 'public' },
      schema: { tags, summary: "A creator's posts, newest first", params: CreatorParams, querystring: PageQuery, response: { 200: PostsPage, ...errorResponses(404) } },
    },
    async (request) => orThrow(await service.listCreatorPosts(request.params.id, request.query.cursor, request.query.limit ?? 10)).page,
  );

  app.put(
    '/creators/:id/follow',
    {
      config: { auth: 'authenticated' },
      schema: { tags, summary: 'Follow a creator (idempotent)', params: CreatorParams, querystring: NoQuery, response: { 200: FollowState, ...errorResponses(401, 404) } },
    },
    async (request) => orThrow(await service.follow(requirePrincipal(request).accountId, request.params.id)).state,
  );

  app.delete(
    '/creators/:id/follow',
    {
      config: { auth: 'authenticated' },
      schema: { tags, summary: 'Unfollow a creator (idempotent)', params: CreatorParams, querystring: NoQuery, response: { 200: FollowState, ...errorResponses(401, 404) } },
    },
    async (request) => orThrow(await service.unfollow(requirePrincipal(request).accountId, request.params.id)).state,
  );

  app.get(
    '/me/following',
    {
      config: { auth: 'authenticated' },
      schema: { tags, summary: 'Creators you follow, most recent first', querystring: PageQuery, response: { 200: FollowingPage, ...errorResponses(401) } },
    },
    async (request) => {
      const { creators, nextCursor } = orThrow(await service.listFollowing(requirePrincipal(request).accountId, request.query.cursor, request.query.limit ?? 10));
      return { creators, nextCursor };
    },
  );

  // ---- posts and tags ----

  app.post(
    '/posts',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Publish a post or story with product tags (each product at most once: 409 duplicate_tag)', querystring: NoQuery, body: CreatePostBody, response: { 201: PostView, ...errorResponses(401, 403, 409) } },
    },
    async (request, reply) => {
      const creatorId = await requireCreatorId(request);
      const { post } = orThrow(await service.createPost(creatorId, request.body));
      return reply.code(201).send(post);
    },
  );

  app.get(
    '/posts/:id',
    { config: { auth: 'public' }, schema: { tags, summary: 'A post or live story', params: PostParams, querystring: NoQuery, response: { 200: PostView, ...errorResponses(404) } } },
    async (request) => {
      const post = await service.getPost(request.params.id);
      if (!post) throw new AppError('not_found', `Post ${request.params.id} was not found`);
      return post;
    },
  );

  app.delete(
    '/posts/:id',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Delete your post', params: PostParams, querystring: NoQuery, response: { 204: Empty, ...errorResponses(401, 403, 404, 409) } },
    },
    async (request, reply) => {
      orThrow(await service.deletePost(await requireCreatorId(request), request.params.id));
      return reply.code(204).send(null);
    },
  );

  app.patch(
    '/posts/:id',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Edit the caption of your post or live story', params: PostParams, querystring: NoQuery, body: UpdatePostBody, response: { 200: PostView, ...errorResponses(401, 403, 404, 409) } },
    },
    async (request) => orThrow(await service.editCaption(await requireCreatorId(request), request.params.id, request.body.caption)).post,
  );

  app.post(
    '/posts/:id/tags',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Tag a product on your post (20 active tags at most, as at publishing: 409 too_many_tags; a product already tagged on it: 409 duplicate_tag)', params: PostParams, querystring: NoQuery, body: TagInput, response: { 201: TagView, ...errorResponses(401, 403, 404, 409) } },
    },
    async (request, reply) => {
      const { tag } = orThrow(await service.addTag(await requireCreatorId(request), request.params.id, request.body));
      return reply.code(201).send(tag);
    },
  );

  app.delete(
    '/tags/:id',
    {
      config: { auth: ['creator'] },
      schema: { tags, summary: 'Remove a tag from your post (it leaves every feed)', params: TagParams, querystring: NoQuery, response: { 204: Empty, ...errorResponses(401, 403, 404, 409) } },
    },
    async (request, reply) => {
      orThrow(await service.deactivateTag(await requireCreatorId(request), request.params.id));
      return reply.code(204).send(null);
    },
  );

  // ---- feed ----

  app.get(
    '/feed',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'The feed: followed creators first, then popular posts; stories tray on the first page',
        querystring: PageQuery,
        response: { 200: FeedPage, ...errorResponses() },
      },
    },
    // The page comes as UTF-8 JSON (assembled from cached fragments): sent as is, not serialized again. The response
    // schema above still documents it, and test/feed.test.ts validates pages against it. Its memory is reused for a
    // later page once the response has been handed to the OS ('finish': the socket no longer reads the bytes).
    async (request, reply) => {
      const { page } = orThrow(await service.getFeed(request.principal?.accountId ?? null, request.query.cursor, request.query.limit ?? 10));
      reply.raw.once('finish', () => service.recycleFeedPage(page));
      return sendJsonText(reply as FastifyReply, page);
    },
  );

  app.get(
    '/stories',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary:
          "The opened stories tray: up to 20 creators with live stories (followed first), each with their first 10 stories to watch, tags and product cards; with creatorId, that creator's live stories page by page",
        querystring: StoriesQuery,
        response: { 200: StoriesPage, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { creatorId, cursor, limit } = request.query;
      if (creatorId !== undefined) return orThrow(await service.getCreatorStories(creatorId, cursor, limit ?? 10)).page;
      // a cursor pages one creator's stories: without creatorId it names nothing
      if (cursor !== undefined) throw new AppError('invalid_cursor', 'A stories cursor pages one creator: send it with that creatorId');
      return { stories: await service.getStoryTray(request.principal?.accountId ?? null), nextCursor: null };
    },
  );
}
