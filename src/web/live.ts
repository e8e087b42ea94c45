import type { FastifyBaseLogger } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Type } from 'typebox';
import { errorResponses, type App } from '../platform/http';
import { idPattern } from '../platform/ids';
import type { CatalogService } from '../contexts/catalog';
import type { InventoryService } from '../contexts/inventory';

/** How often a process reads the stock of the SKUs its open streams watch (one batched query per tick). */
export const LIVE_POLL_MS = 1000;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_TICKS = 15;
const MAX_SKUS = 50;

/** A comma-separated list of 1 to MAX_SKUS ids of one kind. */
const idList = (kind: 'variant' | 'product') => {
  const one = idPattern(kind).replace(/^\^|\$$/g, '');
  return `^${one}(,${one}){0,${MAX_SKUS - 1}}$`;
};

export const LiveAvailabilityQuery = Type.Object(
  {
    skuIds: Type.Optional(Type.String({ pattern: idList('variant'), description: `Comma-separated SKU ids (1 to ${MAX_SKUS})` })),
    productIds: Type.Optional(
      Type.String({ pattern: idList('product'), description: `Comma-separated product ids (1 to ${MAX_SKUS}): \`product\` events with the best availability of the product's SKUs` }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** One `availability` event's data: a SKU whose sellable count or band changed (and every watched SKU on connect). */
export const AvailabilityEvent = Type.Object({
  skuId: Type.String(),
  available: Type.Integer(),
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
});

/** A `product` event's data: a product whose availability (its best SKU) changed, and every watched one on connect. */
export const ProductAvailabilityEvent = Type.Object({
  productId: Type.String(),
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
});

export interface LiveDeps {
  inventory: Pick<InventoryService, 'getStockLevels'>;
  /** Without it, productIds are ignored (SKU streams still work). */
  catalog?: Pick<CatalogService, 'getProductCards'>;
  log: FastifyBaseLogger;
}

interface Stream {
  skuIds: string[];
  productIds: string[];
  sent: Map<string, string>;
  raw: ServerResponse;
}

/**
 * The streams open in this process. It holds no truth: every tick reads the stock from the database, so any number of
 * API processes each serve their own clients and all see every process's sales.
 */
class AvailabilityHub {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private ticks = 0;

  constructor(private readonly deps: LiveDeps) {}

  async open(stream: Stream): Promise<void> {
    this.streams.add(stream);
    stream.raw.on('close', () => this.remove(stream));
    try {
      await this.push([stream]);
    } catch (err) {
      this.remove(stream);
      throw err;
    }
    this.timer ??= setInterval(() => void this.tick(), LIVE_POLL_MS);
  }

  closeAll(): void {
    for (const s of this.streams) s.raw.end();
    this.streams.clear();
    this.stop();
  }

  private remove(stream: Stream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // a slow database skips a tick rather than piling queries up
    this.ticking = true;
    try {
      await this.push([...this.streams]);
      if (++this.ticks % HEARTBEAT_TICKS === 0) for (const s of this.streams) s.raw.write(': ping\n\n');
    } catch (err) {
      this.deps.log.warn({ err }, 'live availability poll failed');
    } finally {
      this.ticking = false;
    }
  }

  /** One batched read for the union of the streams' SKUs (and one for their products); each stream gets only what changed since it last heard. */
  private async push(streams: Stream[]): Promise<void> {
    if (streams.length === 0) return;
    const skuIds = [...new Set(streams.flatMap((s) => s.skuIds))];
    const productIds = this.deps.catalog ? [...new Set(streams.flatMap((s) => s.productIds))] : [];
    const [levels, cards] = await Promise.all([
      skuIds.length > 0 ? this.deps.inventory.getStockLevels(skuIds) : undefined,
      productIds.length > 0 ? this.deps.catalog!.getProductCards(productIds) : undefined,
    ]);
    for (const s of streams) {
      if (s.raw.destroyed) continue;
      for (const skuId of s.skuIds) {
        const level = levels?.get(skuId);
        if (level) send(s, skuId, 'availability', { skuId, available: Math.max(0, level.available), availability: level.availability }, `${level.available}:${level.availability}`);
      }
      for (const productId of this.deps.catalog ? s.productIds : []) {
        const card = cards?.get(productId);
        if (card) send(s, productId, 'product', { productId, availability: card.availability }, card.availability);
      }
    }
  }
}

/** Writes one event unless the stream was already told this state of this id. */
function send(s: Stream, id: string, event: string, data: object, state: string): void {
  if (s.sent.get(id) === state) return;
  s.sent.set(id, state);
  s.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** GET /v1/live/availability: a server-sent event stream of the watched SKUs' availability. */
export function registerLiveAvailability(http: App, deps: LiveDeps): void {
  const hub = new AvailabilityHub(deps);
  // open streams never go idle: end them first, or closing the server would wait for them forever
  http.addHook('preClose', async () => hub.closeAll());
  http.get(
    '/v1/live/availability',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['web'],
        summary: 'Live availability of SKUs and products (text/event-stream): the current state on connect, then each change',
        description:
          'Server-sent events: `availability` with `{ skuId, available, availability }` for each watched SKU, `product` with `{ productId, availability }` for each watched product. Each API process reads the stock of what its open streams watch once per second (one batched query), so streams work behind any number of processes.',
        querystring: LiveAvailabilityQuery,
        response: { 200: { description: 'An event stream (text/event-stream)', content: { 'text/event-stream': { schema: Type.Union([AvailabilityEvent, ProductAvailabilityEvent]) } } }, ...errorResponses() },
      },
    },
    async (request, reply) => {
      const list = (v: string | undefined) => [...new Set(v ? v.split(',') : [])];
      const skuIds = list(request.query.skuIds);
      const productIds = list(request.query.productIds);
      reply.hijack();
      const headers = { ...reply.getHeaders() } as Record<string, string | number | string[]>;
      reply.raw.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      reply.raw.write(`retry: 3000\n\n`);
      try {
        await hub.open({ skuIds, productIds, sent: new Map(), raw: reply.raw });
      } catch (err) {
        // the first read failed: end the stream, the browser reconnects after `retry`
        request.log.warn({ err }, 'live availability stream could not start');
        reply.raw.end();
      }
    },
  );
}
