// `dtrain launch` spawns its workers before the coordinator listens (their start-up overlaps the
// coordinator's), so it must know the coordinator's port in advance: with --port 0 it asks the OS for
// a free one here and the coordinator binds it a moment later.
import { createServer } from 'node:net';

/** A TCP port free on `host` right now (bound to port 0, read back, released). */
export function reserveFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no free port on ${host}`))));
    });
  });
}
