// Client events for the funnel (impression, tag_tap, product_view, add_to_cart, checkout_started), sent in batches to
// POST /v1/events. Losing a batch is acceptable, blocking the shopper is not: failures (a 404 while the route does
// not exist yet included) are dropped silently.
export type ClientEventType = 'impression' | 'tag_tap' | 'product_view' | 'add_to_cart' | 'checkout_started';

export interface ClientEvent {
  id: string;
  type: ClientEventType;
  at: string;
  referralToken?: string;
  productId?: string;
  postId?: string;
  skuId?: string;
}

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAX_BATCH = 50;
const FLUSH_MS = 2000;

/** A ULID with the clientEvent prefix: the id lets the server drop a batch sent twice. */
function eventId(): string {
  let time = Date.now();
  let t = '';
  for (let i = 0; i < 10; i++) {
    t = ALPHABET[time % 32]! + t;
    time = Math.floor(time / 32);
  }
  const rand = crypto.getRandomValues(new Uint8Array(16));
  let r = '';
  for (const b of rand) r += ALPHABET[b % 32];
  return `cev_${t}${r}`;
}

let queue: ClientEvent[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
let disabled = false;

/** Queues one event; it leaves with the next batch (every 2 s, at 50 events, or when the page is hidden). */
export function track(type: ClientEventType, fields: Omit<ClientEvent, 'id' | 'type' | 'at'> = {}): void {
  if (disabled) return;
  queue.push({ id: eventId(), type, at: new Date().toISOString(), ...fields });
  if (queue.length >= MAX_BATCH) flush(false);
  else timer ??= setTimeout(() => flush(false), FLUSH_MS);
}

/** Sends what is queued: with sendBeacon when the page is going away, otherwise fetch with keepalive. */
export function flush(leaving: boolean): void {
  if (timer) clearTimeout(timer);
  timer = undefined;
  if (queue.length === 0) return;
  const batch = queue.splice(0, MAX_BATCH);
  const body = JSON.stringify({ events: batch });
  if (leaving && typeof navigator.sendBeacon === 'function') {
    navigator.sendBeacon('/v1/events', new Blob([body], { type: 'application/json' }));
  } else {
    fetch('/v1/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body, keepalive: true, credentials: 'same-origin' })
      .then((res) => {
        // no events route on this server (yet): stop queueing instead of retrying forever
        if (res.status === 404) disabled = true;
      })
      .catch(() => {});
  }
  if (queue.length > 0) timer = setTimeout(() => flush(false), FLUSH_MS);
}

export function installEventFlush(): void {
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush(true);
  });
  window.addEventListener('pagehide', () => flush(true));
}

export function resetForTests(): void {
  queue = [];
  disabled = false;
}
