// A slow link must not be mistaken for a lost peer: grpc-js reports 'cancelled' on every closed
// server stream, also after a normal end, while this rank may still wait on its predecessor.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createRingCollective, startPeerServer } from '../src/collective/index';
import type { Collective, PeerServer } from '../src/collective/api';

const LINK_BYTES_PER_MS = 400; // ~0.4 MB/s, from server to client only

const proxySockets = new Set<Socket>();

function throttlingProxy(targetPort: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    proxySockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      upstream.pause();
      client.write(data);
      setTimeout(() => upstream.resume(), Math.ceil(data.length / LINK_BYTES_PER_MS));
    });
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it('completes over a slow link although the fast direction finished long before', async () => {
  const servers: PeerServer[] = await Promise.all([0, 1].map(() => startPeerServer({ host: '127.0.0.1', port: 0 })));
  cleanup.push(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const proxy = await throttlingProxy(servers[1].port);
  cleanup.push(async () => {
    for (const socket of proxySockets) socket.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  });
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const base = { jobId: 'job-slow', generation: 1, worldSize: 2, chunkBytes: 64 * 1024, timeoutMs: 10_000 };
  // Rank 0 pulls from rank 1 through the slow proxy; rank 1 pulls from rank 0 directly.
  const collectives: Collective[] = [
    createRingCollective(servers[0], { ...base, rank: 0, ring: [servers[0].address, `127.0.0.1:${address.port}`] }),
    createRingCollective(servers[1], { ...base, rank: 1, ring: [servers[0].address, servers[1].address] }),
  ];
  cleanup.push(async () => {
    await Promise.all(collectives.map((c) => c.close()));
  });
  const length = 200_000; // 400 KB per round through the slow link: ~1 s each
  const buffers = [0, 1].map((rank) => Float32Array.from({ length }, (_, i) => (i % 101) + 1000 * rank));
  const stats = await Promise.all(collectives.map((c, rank) => c.allReduceSum(buffers[rank], 0)));
  for (const buffer of buffers) {
    for (let i = 0; i < length; i += 997) expect(buffer[i]).toBe(2 * (i % 101) + 1000);
  }
  expect(stats[0].seconds).toBeGreaterThan(0);
  expect(stats[0].bytesSent + stats[1].bytesSent).toBe(2 * length * 4);
});
