/**
 * The product, plus GET /bench/feed-naive: the same feed page as GET /v1/feed, hydrated the way an ORM with lazy
 * relations would do it — one query per post for the post, one per post for its tags, one getProductCards call per
 * tag, with no hydration cache. The skeleton, tray, rules, presentation and response schema are the product's own,
 * so the only difference measured is N+1 hydration versus one batched, cached fetch per kind of thing.
 * Benchmark only: never part of the product.
 */
import type { FastifyReply } from 'fastify';
import { createFeedshop } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { CatalogService, ProductCard } from '../../src/contexts/catalog';
import { createFeedCaches } from '../../src/contexts/social/feed/cache';
import { decodeFeedCursor } from '../../src/contexts/social/feed/cursor';
import { cardsByProduct, type Hydrated } from '../../src/contexts/social/feed/hydrate';
import { buildFeedPage } from '../../src/contexts/social/feed/pipeline';
import { FeedJson } from '../../src/contexts/social/feed/present';
import { socialRepository as repo, type Executor } from '../../src/contexts/social/social.repository';
import { sendJsonText } from '../../src/contexts/social/social.routes';
import { FeedPage, PageQuery } from '../../src/contexts/social/social.schemas';
import { AppError } from '../../src/platform/errors';
import { errorResponses } from '../../src/platform/http';

async function hydrateNaively(db: Executor, catalog: CatalogService, postIds: readonly string[]): Promise<Hydrated> {
  const posts: Hydrated['posts'] = new Map();
  const cards = new Map<string, ProductCard>();
  for (const id of postIds) {
    const [post] = await repo.hydratePosts(db, [id]);
    const tags = await repo.hydrateTags(db, [id]);
    if (post) posts.set(id, { post, tags, cards: {} });
    for (const tag of tags) {
      const card = (await catalog.getProductCards([tag.product_id])).get(tag.product_id);
      if (card) cards.set(tag.product_id, card);
    }
  }
  return { posts, cardOf: cardsByProduct(cards) };
}

const app = await createFeedshop({ config: loadConfig(process.env) });
await app.migrate();
const db = app.db as unknown as Executor;
const catalog = app.contexts.catalog.service;
const caches = createFeedCaches(app.clock);
const deps = { db, catalog, referrals: app.referrals, caches, json: new FeedJson(app.referrals, caches.tokens), hydrate: (ids: readonly string[]) => hydrateNaively(db, catalog, ids) };

app.http.get(
  '/bench/feed-naive',
  { config: { auth: 'public' }, schema: { hide: true, querystring: PageQuery, response: { 200: FeedPage, ...errorResponses() } } },
  async (request, reply) => {
    const viewer = request.principal?.accountId ?? null;
    const now = app.clock.now();
    const { cursor, limit = 10 } = request.query as { cursor?: string; limit?: number };
    const position = cursor ? decodeFeedCursor(cursor) : { position: { phase: viewer ? 'f' : 'p', after: null } as const, bound: now };
    if (!position) throw new AppError('invalid_cursor', 'The cursor is not one this server issued');
    return sendJsonText(reply as FastifyReply, await buildFeedPage(deps, viewer, position, cursor === undefined, limit, now));
  },
);

await app.http.listen({ port: app.config.port, host: app.config.host });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
