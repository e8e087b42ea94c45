import type { Feedshop } from '../app';
import { DAY, HOUR } from '../platform/clock';
import { demoImageUrl } from './media';
import { DEMO_ADMIN, DEMO_CREATORS, DEMO_MERCHANTS, DEMO_SHOPPERS, REVIEW_TEXTS } from './world';

/**
 * Seeding goes through each context's public service, never its tables: the seed is a client of the contexts like
 * any other. The demo world is small and hand-written (world.ts); `seedWorld` generates a large one for benchmarks
 * with the services' bulk import methods.
 */

export const DEMO_PASSWORD = 'feedshop-demo';

export const DEMO_LOGINS = {
  password: DEMO_PASSWORD,
  accounts: [
    { role: 'shopper', email: DEMO_SHOPPERS[0]!.email },
    { role: 'creator', email: DEMO_CREATORS[0]!.email },
    { role: 'merchant', email: DEMO_MERCHANTS[0]!.email },
    { role: 'admin', email: DEMO_ADMIN.email },
  ],
};

export interface WorldSize {
  posts: number;
  products: number;
  creators: number;
  shoppers: number;
  merchants: number;
}

/** True when no product exists yet: `start` seeds the demo world only into an empty store. */
export async function isEmpty(app: Feedshop): Promise<boolean> {
  const ids = await app.contexts.catalog.service.listProductIds({ limit: 1 });
  return ids.length === 0;
}

/** A deterministic pseudo-random generator, so a seeded world is the same on every machine. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function account(app: Feedshop, email: string, displayName: string, role: 'shopper' | 'creator' | 'merchant' | 'admin'): Promise<string> {
  const created = await app.contexts.identity.service.createAccount({ email, password: DEMO_PASSWORD, displayName, roles: [role] });
  if (!created.ok) throw new Error(`seed: ${email}: ${created.code}`);
  return created.account.id;
}

/** Seeds the hand-written demo world: 4 merchants, 21 products, 5 creators with posts and stories, 6 shoppers. */
export async function seedDemo(app: Feedshop): Promise<Record<string, number>> {
  const { catalog, social } = app.contexts;
  const random = rng(42);
  const now = app.clock.now().getTime();
  const productIds = new Map<string, string>();
  let reviews = 0;

  for (const m of DEMO_MERCHANTS) {
    const accountId = await account(app, m.email, m.displayName, 'merchant');
    const merchant = await catalog.service.upsertMerchant(accountId, { name: m.name, description: m.description });
    for (const p of m.products) {
      const product = await catalog.service.createProduct(merchant.id, {
        name: p.name,
        description: p.description,
        status: 'active',
        currency: 'USD',
        media: [
          { kind: 'image', url: demoImageUrl(p.slug, p.name), alt: p.name },
          { kind: 'image', url: demoImageUrl(`${p.slug}-detail`, `${p.name} (detail)`), alt: `${p.name}, detail` },
        ],
        variants: p.variants
          ? p.variants.map((v) => ({ title: v.title, options: v.options, priceMinor: v.priceMinor ?? p.priceMinor, stock: v.stock }))
          : [{ title: 'Standard', options: {}, priceMinor: p.priceMinor, stock: p.stock ?? 20 }],
      });
      productIds.set(p.slug, product.id);
    }
  }

  const creatorIds = new Map<string, string>();
  let posts = 0;
  let stories = 0;
  for (const [ci, c] of DEMO_CREATORS.entries()) {
    const accountId = await account(app, c.email, c.displayName, 'creator');
    const upserted = await social.service.upsertCreator(accountId, {
      handle: c.handle,
      displayName: c.displayName,
      bio: c.bio,
      avatarUrl: demoImageUrl(`avatar-${c.handle}`, c.displayName.split(' ').map((w) => w[0]).join('')),
    });
    if (!upserted.ok) throw new Error(`seed: creator ${c.handle}: ${upserted.code}`);
    const creator = upserted.creator;
    creatorIds.set(c.handle, creator.id);
    const rows = [];
    for (const [i, caption] of c.captions.entries()) {
      const tagCount = 1 + Math.floor(random() * 3);
      const tagged = pick(c.tags, tagCount, random);
      rows.push({
        creatorId: creator.id,
        kind: 'post' as const,
        // the demo's media are generated images (src/demo/media.ts): photos, so the web app shows them as images
        mediaType: 'photo' as const,
        mediaUrl: demoImageUrl(`${c.handle}-post-${i}`, caption),
        caption,
        publishedAt: new Date(now - (i * 2 + ci * 0.37 + random()) * DAY),
        score: Math.round(100 + 900 * random()),
        tags: tagged.map((slug, k) => ({ productId: productIds.get(slug)!, x: round2(0.2 + 0.6 * random()), y: round2(0.15 + 0.25 * k + 0.1 * random()) })),
      });
      posts++;
    }
    for (const [i, caption] of c.stories.entries()) {
      rows.push({
        creatorId: creator.id,
        kind: 'story' as const,
        mediaType: 'photo' as const,
        mediaUrl: demoImageUrl(`${c.handle}-story-${i}`, caption),
        caption,
        publishedAt: new Date(now - (1 + i * 3 + random()) * HOUR),
        tags: [{ productId: productIds.get(c.tags[i % c.tags.length]!)!, x: 0.5, y: 0.6 }],
      });
      stories++;
    }
    await social.service.importPosts(rows);
  }

  const shopperIds: string[] = [];
  let follows = 0;
  for (const s of DEMO_SHOPPERS) {
    const accountId = await account(app, s.email, s.displayName, 'shopper');
    shopperIds.push(accountId);
    for (const handle of s.follows) {
      const followed = await social.service.follow(accountId, creatorIds.get(handle)!);
      if (!followed.ok) throw new Error(`seed: follow ${handle}: ${followed.code}`);
      follows++;
    }
  }
  await account(app, DEMO_ADMIN.email, DEMO_ADMIN.displayName, 'admin');

  for (const productId of productIds.values()) {
    const n = Math.floor(random() * 4);
    for (const shopperId of pick(shopperIds, n, random)) {
      const r = REVIEW_TEXTS[Math.floor(random() * REVIEW_TEXTS.length)]!;
      const added = await catalog.service.addReview(productId, shopperId, r);
      if (!added.ok) throw new Error(`seed: review: ${added.code}`);
      reviews++;
    }
  }
  await app.outbox.drain();
  return { merchants: DEMO_MERCHANTS.length, products: productIds.size, creators: creatorIds.size, posts, stories, shoppers: shopperIds.length, follows, reviews };
}

/** Seeds a large generated world (benchmarks) through the services' bulk imports, in chunks. */
export async function seedWorld(app: Feedshop, size: WorldSize): Promise<Record<string, unknown>> {
  const { identity, catalog, social } = app.contexts;
  const random = rng(7);
  const now = app.clock.now().getTime();
  const started = Date.now();
  const progress = (what: string) => app.log.info({ seconds: Math.round((Date.now() - started) / 1000) }, `seed: ${what}`);
  const run = now.toString(36);

  // merchants and their catalogues
  const merchantAccounts = await identity.service.importAccounts(
    Array.from({ length: size.merchants }, (_, i) => ({ email: `merchant${i}.${run}@bench.feedshop.dev`, displayName: `Merchant ${i}`, roles: ['merchant' as const] })),
    DEMO_PASSWORD,
  );
  const productIds: string[] = [];
  const perMerchant = Math.ceil(size.products / size.merchants);
  for (const [mi, accountId] of merchantAccounts.entries()) {
    const merchant = await catalog.service.upsertMerchant(accountId, { name: `Bench Merchant ${mi}` });
    const count = Math.min(perMerchant, size.products - productIds.length);
    for (let i = 0; i < count; i += 500) {
      const batch = Array.from({ length: Math.min(500, count - i) }, (_, k) => {
        const n = productIds.length + i + k;
        const price = 500 + Math.floor(random() * 20000);
        return {
          name: `Product ${n}`,
          description: `Generated product ${n} for benchmarks.`,
          status: 'active' as const,
          currency: 'USD',
          media: [{ kind: 'image' as const, url: demoImageUrl(`bench-${n % 997}`, `Product ${n}`) }],
          variants: [
            { title: 'Standard', priceMinor: price, stock: Math.floor(random() * 40) },
            ...(random() < 0.3 ? [{ title: 'Large', priceMinor: price + 500, stock: Math.floor(random() * 10) }] : []),
          ],
        };
      });
      const created = await catalog.service.importProducts(merchant.id, batch);
      productIds.push(...created.map((c) => c.id));
    }
    progress(`${productIds.length} products`);
  }

  // creators and their posts
  const creatorAccounts = await identity.service.importAccounts(
    Array.from({ length: size.creators }, (_, i) => ({ email: `creator${i}.${run}@bench.feedshop.dev`, displayName: `Creator ${i}`, roles: ['creator' as const] })),
    DEMO_PASSWORD,
  );
  const creatorIds: string[] = [];
  for (const [i, accountId] of creatorAccounts.entries()) {
    const r = await social.service.upsertCreator(accountId, { handle: `c${i}_${run}`.slice(0, 30), displayName: `Creator ${i}` });
    if (!r.ok) throw new Error(`seed: creator ${i}: ${r.code}`);
    creatorIds.push(r.creator.id);
  }
  progress(`${creatorIds.length} creators`);
  let posts = 0;
  let tags = 0;
  const spanMs = 60 * DAY;
  while (posts < size.posts) {
    const rows = Array.from({ length: Math.min(5000, size.posts - posts) }, (_, k) => {
      const isStory = random() < 0.03;
      const publishedAt = isStory ? new Date(now - random() * 20 * HOUR) : new Date(now - random() * spanMs);
      const tagCount = 1 + Math.floor(random() * 3);
      return {
        creatorId: creatorIds[Math.floor(random() * creatorIds.length)]!,
        kind: isStory ? ('story' as const) : ('post' as const),
        mediaType: 'photo' as const,
        mediaUrl: demoImageUrl(`bench-post-${(posts + k) % 1009}`, `Post ${posts + k}`),
        caption: `Post ${posts + k}`,
        publishedAt,
        score: Math.floor(random() * 10000),
        tags: Array.from({ length: tagCount }, () => ({ productId: productIds[Math.floor(random() * productIds.length)]!, x: round2(random()), y: round2(random()) })),
      };
    });
    const imported = await social.service.importPosts(rows);
    posts += imported.postIds.length;
    tags += imported.tagIds.length;
    if (posts % 50000 < 5000) progress(`${posts} posts`);
  }

  // shoppers who follow creators
  const shopperAccounts = await identity.service.importAccounts(
    Array.from({ length: size.shoppers }, (_, i) => ({ email: `shopper${i}.${run}@bench.feedshop.dev`, displayName: `Shopper ${i}`, roles: ['shopper' as const] })),
    DEMO_PASSWORD,
  );
  const pairs: Array<{ accountId: string; creatorId: string }> = [];
  for (const accountId of shopperAccounts) {
    for (const creatorId of pick(creatorIds, Math.min(creatorIds.length, 5 + Math.floor(random() * 30)), random)) pairs.push({ accountId, creatorId });
  }
  const follows = await social.service.importFollows(pairs);
  progress(`${shopperAccounts.length} shoppers, ${follows} follows`);
  // without planner statistics the feed's popular branch scans every post (autovacuum may be minutes away)
  await social.service.analyze();
  return {
    merchants: merchantAccounts.length,
    products: productIds.length,
    creators: creatorIds.length,
    posts,
    tags,
    shoppers: shopperAccounts.length,
    follows,
    password: DEMO_PASSWORD,
    shopperEmails: Array.from({ length: Math.min(100, shopperAccounts.length) }, (_, i) => `shopper${i}.${run}@bench.feedshop.dev`),
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

function pick<T>(items: readonly T[], n: number, random: () => number): T[] {
  const copy = [...items];
  const out: T[] = [];
  while (out.length < n && copy.length > 0) out.push(copy.splice(Math.floor(random() * copy.length), 1)[0]!);
  return out;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
