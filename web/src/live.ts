import { useEffect, useState } from 'react';
import type { Availability } from './api';

export interface LiveLevel {
  available: number;
  availability: Availability;
}

export interface Live {
  skus: Map<string, LiveLevel>;
  products: Map<string, Availability>;
}

/** The stream takes at most this many ids of each kind (the server refuses more). */
const MAX_IDS = 50;

/**
 * Live availability over one server-sent event stream (GET /v1/live/availability): per SKU (`availability` events)
 * and per product (`product` events, the best of its SKUs). The browser reconnects by itself after a drop.
 */
export function useLive(skuIds: readonly string[], productIds: readonly string[] = []): Live {
  const [live, setLive] = useState<Live>(() => ({ skus: new Map(), products: new Map() }));
  const skus = [...new Set(skuIds)].slice(0, MAX_IDS).sort().join(',');
  const products = [...new Set(productIds)].slice(0, MAX_IDS).sort().join(',');
  useEffect(() => {
    if ((!skus && !products) || typeof EventSource === 'undefined') return;
    const q = new URLSearchParams();
    if (skus) q.set('skuIds', skus);
    if (products) q.set('productIds', products);
    const source = new EventSource(`/v1/live/availability?${q.toString().replace(/%2C/g, ',')}`);
    source.addEventListener('availability', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { skuId: string } & LiveLevel;
      setLive((prev) => ({ ...prev, skus: new Map(prev.skus).set(d.skuId, { available: d.available, availability: d.availability }) }));
    });
    source.addEventListener('product', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { productId: string; availability: Availability };
      setLive((prev) => ({ ...prev, products: new Map(prev.products).set(d.productId, d.availability) }));
    });
    return () => source.close();
  }, [skus, products]);
  return live;
}
