import { createServer } from 'node:net';

/**
 * A port the OS says is free right now. Fixed ranges collide with this machine's services (RabbitMQ's epmd listens
 * on 4369), so benchmarks never pick ports themselves.
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}
