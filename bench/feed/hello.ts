// The ceiling of the feed benchmark: the same framework (Fastify 5) answering a small JSON, no database, no auth.
// With PAGE_FILE it also answers GET /page with that file's bytes as they are (the `static` target: a real feed
// page's bytes with no work behind them, the floor for a page of that size).
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const app = Fastify({ logger: process.env.LOG_LEVEL ? { level: process.env.LOG_LEVEL } : false });
let count = 0;
app.get('/', async () => {
  count++;
  return { hello: 'world', items: [1, 2, 3] };
});
const page = process.env.PAGE_FILE ? readFileSync(process.env.PAGE_FILE) : null;
if (page) {
  app.get('/page', (_request, reply) => {
    count++;
    reply.header('content-type', 'application/json; charset=utf-8').send(page);
  });
}
// the bench reads it before and after each run to check the load generator's count against the server's
app.get('/count', async () => ({ count }));
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port: Number(process.env.PORT ?? 3100), host: process.env.HOST ?? '127.0.0.1' });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
