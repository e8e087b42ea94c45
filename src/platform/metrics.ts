import client from 'prom-client';

/**
 * One registry per app instance (tests build several apps in one process). Contexts add their own counters
 * through `counter()` so every figure is exported at /metrics.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  readonly #counters = new Map<string, client.Counter<string>>();

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'feedshop_' });
    this.httpDuration = new client.Histogram({
      name: 'feedshop_http_request_duration_seconds',
      help: 'HTTP request latency by route; its _count is the request rate',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
  }

  /** A gauge whose value is read when /metrics is scraped. */
  gauge(name: string, help: string, read: () => number | Promise<number>): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  histogram(name: string, help: string, labelNames: string[], buckets: number[]): client.Histogram<string> {
    return new client.Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  counter(name: string, help: string, labelNames: string[] = []): client.Counter<string> {
    let c = this.#counters.get(name);
    if (!c) {
      c = new client.Counter({ name, help, labelNames, registers: [this.registry] });
      this.#counters.set(name, c);
    }
    return c;
  }
}
