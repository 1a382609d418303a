// The receiving rank's HTTP/2 window must really be 16 MiB: observed on the wire by a TCP proxy
// that parses the frames the puller (gRPC client) sends to its predecessor's PeerServer.
import { connect, createServer, type Server } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createRingCollective, startPeerServer, FLOW_CONTROL_WINDOW_BYTES } from '../src/collective/index';
import type { Collective, PeerServer } from '../src/collective/api';

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_SETTINGS = 0x4;
const FRAME_WINDOW_UPDATE = 0x8;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const FLAG_ACK = 0x1;
const DEFAULT_WINDOW_BYTES = 65_535;

interface Observed {
  initialWindowSize: number[];
  connectionWindowIncrements: number[];
}

/** Forwards bytes both ways and decodes the client-to-server HTTP/2 frames. */
function framePeekingProxy(target: { host: string; port: number }, observed: Observed): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    client.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      if (!prefaceSeen) {
        if (pending.length < HTTP2_PREFACE.length) return;
        expect(pending.subarray(0, HTTP2_PREFACE.length)).toEqual(HTTP2_PREFACE);
        pending = pending.subarray(HTTP2_PREFACE.length);
        prefaceSeen = true;
      }
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3];
        const flags = pending[4];
        const streamId = pending.readUInt32BE(5) & 0x7fffffff;
        const body = pending.subarray(9, 9 + length);
        if (type === FRAME_SETTINGS && !(flags & FLAG_ACK)) {
          for (let i = 0; i + 6 <= body.length; i += 6) {
            if (body.readUInt16BE(i) === SETTINGS_INITIAL_WINDOW_SIZE) observed.initialWindowSize.push(body.readUInt32BE(i + 2));
          }
        } else if (type === FRAME_WINDOW_UPDATE && streamId === 0) {
          observed.connectionWindowIncrements.push(body.readUInt32BE(0) & 0x7fffffff);
        }
        pending = pending.subarray(9 + length);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it('the puller advertises a 16 MiB stream window and opens the connection window to 16 MiB', async () => {
  const servers: PeerServer[] = [await startPeerServer({ host: '127.0.0.1', port: 0 }), await startPeerServer({ host: '127.0.0.1', port: 0 })];
  cleanup.push(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const observed: Observed = { initialWindowSize: [], connectionWindowIncrements: [] };
  const proxy = await framePeekingProxy({ host: '127.0.0.1', port: servers[0].port }, observed);
  cleanup.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const proxyAddress = proxy.address();
  if (proxyAddress === null || typeof proxyAddress === 'string') throw new Error('proxy has no port');
  const base = { jobId: 'job-window', generation: 3, worldSize: 2, chunkBytes: 1 << 20, timeoutMs: 10_000 };
  // Rank 1 pulls from rank 0 through the proxy; rank 0 pulls from rank 1 directly.
  const collectives: Collective[] = [
    createRingCollective(servers[0], { ...base, rank: 0, ring: [servers[0].address, servers[1].address] }),
    createRingCollective(servers[1], { ...base, rank: 1, ring: [`127.0.0.1:${proxyAddress.port}`, servers[1].address] }),
  ];
  cleanup.push(async () => {
    await Promise.all(collectives.map((c) => c.close()));
  });
  const length = 3_000_001;
  const buffers = [0, 1].map((rank) => Float32Array.from({ length }, (_, i) => (i % 997) * (rank + 1)));
  const stats = await Promise.all(collectives.map((c, rank) => c.allReduceSum(buffers[rank], 7)));
  for (const buffer of buffers) {
    for (let i = 0; i < length; i += 9973) expect(buffer[i]).toBe((i % 997) * 3);
    expect(buffer[length - 1]).toBe(((length - 1) % 997) * 3);
  }
  expect(stats[0].bytesSent + stats[1].bytesSent).toBe(2 * length * 4);

  expect(observed.initialWindowSize).toEqual([FLOW_CONTROL_WINDOW_BYTES]);
  // The first connection WINDOW_UPDATE lifts the 64 KiB default to the full 16 MiB.
  expect(observed.connectionWindowIncrements[0]).toBe(FLOW_CONTROL_WINDOW_BYTES - DEFAULT_WINDOW_BYTES);
});
