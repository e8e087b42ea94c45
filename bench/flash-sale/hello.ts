// The ceiling of the flash-sale benchmark: bench/feed/hello.ts (Fastify 5, a small JSON, no database, no auth) with
// the checkout's route added, so it answers the very requests the product gets (same method, path, headers, JSON
// body parsed) without doing any of the work.
import Fastify from 'fastify';

const app = Fastify({ logger: process.env.LOG_LEVEL ? { level: process.env.LOG_LEVEL } : false });
let count = 0;
app.post('/v1/checkout/buy-now', async (_request, reply) => {
  count++;
  return reply.code(201).send({ checkoutId: 'chk_hello', status: 'completed', orders: [], totalMinor: 4900, currency: 'EUR' });
});
app.get('/count', async () => ({ count }));
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port: Number(process.env.PORT ?? 3100), host: process.env.HOST ?? '127.0.0.1' });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
