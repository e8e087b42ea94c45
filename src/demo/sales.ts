// Demo sales: a few purchases made through the public API exactly as shoppers make them (feed → tap with the tag's
// referral token → buy now with the simulator's success card), some shipped and delivered by their merchants, so a
// fresh `npm start` opens with orders to follow, credited posts on the creators' dashboards and pending earnings.
import type { Feedshop } from '../app';
import { DEMO_PASSWORD } from './seed';
import { DEMO_MERCHANTS, DEMO_SHOPPERS } from './world';

const CARD = '4242424242424242';
const SHIPPING = { name: 'Demo Shopper', line1: '1 Market Street', city: 'Lisbon', postalCode: '1100-001', country: 'PT' };

interface FeedTag {
  referralToken: string;
  product: { id: string; availability: string };
}

/** Purchases per demo shopper; every other order is shipped, some of those delivered. Running it again changes nothing. */
export async function seedDemoSales(app: Feedshop, perShopper = 2): Promise<{ orders: number; shipped: number; delivered: number }> {
  async function call<T>(method: 'GET' | 'POST', url: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await app.http.inject({
      method,
      url,
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    if (res.statusCode >= 300) throw new Error(`demo sales: ${method} ${url} answered ${res.statusCode}: ${res.body}`);
    return res.json() as T;
  }
  const logIn = async (email: string) => (await call<{ token: string }>('POST', '/v1/auth/login', null, { email, password: DEMO_PASSWORD })).token;

  const merchantTokens = new Map<string, string>();
  for (const m of DEMO_MERCHANTS) {
    const token = await logIn(m.email);
    merchantTokens.set((await call<{ id: string }>('GET', '/v1/merchants/me', token)).id, token);
  }

  const placed: Array<{ id: string; merchantId: string }> = [];
  for (const [si, s] of DEMO_SHOPPERS.entries()) {
    const token = await logIn(s.email);
    const feed = await call<{ posts: Array<{ tags: FeedTag[] }> }>('GET', '/v1/feed?limit=20', token);
    const tags = feed.posts.flatMap((p) => p.tags).filter((t) => t.product.availability === 'in_stock');
    // a different slice of the feed per shopper, so the sales spread over posts and creators
    for (let k = 0; k < perShopper && tags.length > 0; k++) {
      const tag = tags[(si * 3 + k * 5) % tags.length]!;
      const detail = await call<{ variants: Array<{ id: string; availability: string }> }>('GET', `/v1/products/${tag.product.id}?ref=${encodeURIComponent(tag.referralToken)}`, token);
      const variant = detail.variants.find((v) => v.availability === 'in_stock');
      if (!variant) continue;
      const checkout = await call<{ orders: Array<{ id: string; merchantId: string }> }>(
        'POST',
        '/v1/checkout/buy-now',
        token,
        { skuId: variant.id, quantity: 1, referralToken: tag.referralToken, paymentMethod: CARD, shipping: SHIPPING },
        { 'idempotency-key': `demo-sale-${si}-${k}` },
      );
      placed.push(...checkout.orders);
    }
  }

  let shipped = 0;
  let delivered = 0;
  for (const [i, order] of placed.entries()) {
    if (i % 2 === 1) continue;
    const token = merchantTokens.get(order.merchantId)!;
    let { status } = await call<{ status: string }>('GET', `/v1/merchant/orders/${order.id}`, token);
    if (status === 'paid') ({ status } = await call<{ status: string }>('POST', `/v1/merchant/orders/${order.id}/ship`, token, { carrier: 'DemoPost', trackingNumber: `DP${String(100000 + i)}` }));
    if (status === 'shipped' && i % 3 === 0) ({ status } = await call<{ status: string }>('POST', `/v1/merchant/orders/${order.id}/deliver`, token));
    if (status === 'shipped' || status === 'delivered') shipped++;
    if (status === 'delivered') delivered++;
  }
  await app.outbox.drain();
  return { orders: placed.length, shipped, delivered };
}
