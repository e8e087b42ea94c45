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

/**
 * One `availability` event's data: a SKU whose sellable count or band changed (and every watched SKU on connect). A SKU
 * not for sale (archived, or of a product that is not active) reads `available: 0, sold_out`, as product sheets and
 * cards count only the variants for sale.
 */
export const AvailabilityEvent = Type.Object({
  skuId: Type.String(),
  available: Type.Integer(),
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
});

/**
 * A `product` event's data: a product whose availability (its best SKU for sale) changed, and every watched one on
 * connect; a product that is not active (draft, archived) is sold out.
 */
export const ProductAvailabilityEvent = Type.Object({
  productId: Type.String(),
  availability: Type.Union([Type.Literal('in_stock'), Type.Literal('low'), Type.Literal('sold_out')]),
});

export interface LiveDeps {
  inventory: Pick<InventoryService, 'getStockLevels'>;
  /**
   * Without it, productIds are ignored and every SKU's stock is streamed as it stands (SKU streams still work); with
   * it, a SKU that is not for sale (archived, or its product is) reads as sold out.
   */
  catalog?: Pick<CatalogService, 'getProductCards' | 'getVariantsForSale'>;
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

  /**
   * One batched read for the union of the streams' SKUs and one for whether they are for sale (and one for their
   * products); each stream gets only what changed since it last heard.
   */
  private async push(streams: Stream[]): Promise<void> {
    if (streams.length === 0) return;
    const skuIds = [...new Set(streams.flatMap((s) => s.skuIds))];
    const productIds = this.deps.catalog ? [...new Set(streams.flatMap((s) => s.productIds))] : [];
    const catalog = this.deps.catalog;
    const [levels, cards, variants] = await Promise.all([
      skuIds.length > 0 ? this.deps.inventory.getStockLevels(skuIds) : undefined,
      productIds.length > 0 ? catalog!.getProductCards(productIds) : undefined,
      skuIds.length > 0 && catalog ? catalog.getVariantsForSale(skuIds) : undefined,
    ]);
    for (const s of streams) {
      if (s.raw.destroyed) continue;
      for (const skuId of s.skuIds) {
        const level = levels?.get(skuId);
        if (!level) continue;
        // as on cards and product sheets, stock of a SKU that cannot be bought counts for nothing
        const sellable = !variants || variants.get(skuId)?.productStatus === 'active';
        const available = sellable ? Math.max(0, level.available) : 0;
        const availability = sellable ? level.availability : 'sold_out';
        send(s, skuId, 'availability', { skuId, available, availability }, `${available}:${availability}`);
      }
      for (const productId of this.deps.catalog ? s.productIds : []) {
        const card = cards?.get(productId);
        if (!card) continue;
        const availability = card.status === 'active' ? card.availability : 'sold_out';
        send(s, productId, 'product', { productId, availability }, availability);
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
          'Server-sent events: `availability` with `{ skuId, available, availability }` for each watched SKU (`0`, `sold_out` once it is not for sale: archived, or its product is), `product` with `{ productId, availability }` for each watched product (the best of its SKUs for sale; `sold_out` when the product is not active). Each API process reads the stock of what its open streams watch once per second (one batched query), so streams work behind any number of processes.',
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
