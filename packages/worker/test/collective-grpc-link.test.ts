// The 'grpc' transport's Peer/Link: its hand-written codec speaks the proto's wire format and keeps
// the payload aligned where grpc-js delivers it; a ring opens ONE Link per link and generation
// (not a call per collective), closes it when the ring closes (no leak), and a new generation
// opens a new one; a Peer server that closes ends its links, so the successor fails by name.
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLostError } from '@dtrain/shared/errors';
import { loadDtrainProto } from '@dtrain/shared/proto';
import type { Collective, PeerServer } from '../src/collective/api';
import { codecStats, encodeChunkId, type OutgoingChunk } from '../src/collective/gradient-chunk-codec';
import { createRingCollective, startPeerServer } from '../src/collective/index';
import type { GrpcPeerServer } from '../src/collective/peer-server';
import {
  deserializeLinkFrame,
  deserializeLinkRequest,
  serializeLinkFrame,
  serializeLinkFrameForSend,
  serializeLinkRequest,
} from '../src/collective/transport/grpc-link-codec';

interface LinkMethod {
  requestSerialize: (value: object) => Buffer;
  requestDeserialize: (bytes: Buffer) => Record<string, unknown>;
  responseSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => Record<string, unknown>;
}

/** proto-loader's codec of Peer/Link (the generated types predate it). */
const proto = (loadDtrainProto() as unknown as { dtrain: { v1: { Peer: { service: { Link: LinkMethod } } } } })
  .dtrain.v1.Peer.service.Link;

/** What grpc-js does on receive: a fresh 5-byte-prefixed frame, message = frame.subarray(5). */
function asGrpcDelivers(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]).subarray(5);
}

function chunkOf(jobId: string, step: number, offset: number, length: number, data: Float32Array): OutgoingChunk {
  return { idBytes: encodeChunkId({ jobId, generation: 4, step, senderRank: 1 }), round: 1, segment: 1, offset, length, data };
}

describe('Peer/Link codec', () => {
  it('chunk frames decode with proto-loader and back, payload aligned for every header size', () => {
    const data = Float32Array.from({ length: 40_000 }, (_, i) => i * 0.5 - 3);
    const before = { ...codecStats };
    let cases = 0;
    for (const jobId of ['', 'a', 'ab', 'abc', 'job-with-a-longer-name']) {
      for (const [offset, length] of [[0, 1], [3, 31], [100, 16_000], [0, 40_000]]) {
        for (const step of [0, -1, 7, 2 ** 33]) {
          const bytes = Buffer.from(serializeLinkFrame({ kind: 'chunk', chunk: chunkOf(jobId, step, offset, length, data) }));
          const viaProto = proto.responseDeserialize(bytes) as { kind: string; chunk: { id: unknown; offset: number; payload: Buffer } };
          expect(viaProto.kind).toBe('chunk');
          expect(viaProto.chunk.id).toEqual({ jobId, generation: 4, step, senderRank: 1 });
          expect(viaProto.chunk.payload.length).toBe(length * 4);
          const frame = deserializeLinkFrame(asGrpcDelivers(bytes));
          if (frame.kind !== 'chunk') throw new Error(`decoded a ${frame.kind} frame`);
          expect(frame.chunk.id).toEqual({ jobId, generation: 4, step, senderRank: 1 });
          expect([frame.chunk.offset, frame.chunk.length, frame.chunk.payloadBytes]).toEqual([offset, length, length * 4]);
          expect(Array.from(frame.chunk.payload!.subarray(0, 3))).toEqual(Array.from(data.subarray(offset, offset + Math.min(3, length))));
          expect(frame.chunk.payload![length - 1]).toBe(data[offset + length - 1]);
          cases++;
        }
      }
    }
    expect(codecStats.alignedPayloads - before.alignedPayloads).toBe(cases);
    expect(codecStats.copiedPayloads - before.copiedPayloads).toBe(0);
  });

  it('the deferred send message writes the same bytes where grpc-js frames it (float32 and fp16)', () => {
    const data = Float32Array.from({ length: 5000 }, (_, i) => i / 7 - 100);
    for (const encoding of [undefined, 1 as const]) {
      for (const [offset, length] of [[0, 1], [5, 4995], [17, 333]]) {
        const chunk = { ...chunkOf('job-d', 9, offset, length, data), encoding };
        const expected = Buffer.from(serializeLinkFrame({ kind: 'chunk', chunk }));
        const deferred = serializeLinkFrameForSend({ kind: 'chunk', chunk });
        // grpc-js's server serializeMessage: allocUnsafe(byteLength + 5), then copy(frame, 5).
        const frame = Buffer.allocUnsafe(deferred.byteLength + 5);
        expect(deferred.copy(frame, 5)).toBe(expected.length);
        expect(frame.subarray(5)).toEqual(expected);
      }
    }
  });

  it('end, error and request messages round-trip through proto-loader (negative steps too)', () => {
    expect(proto.responseDeserialize(serializeLinkFrame({ kind: 'end', step: -1 }))).toMatchObject({ kind: 'endStep', endStep: -1 });
    expect(deserializeLinkFrame(proto.responseSerialize({ endStep: 0 }))).toEqual({ kind: 'end', step: 0 });
    const error = { kind: 'error' as const, step: 12, code: 9, details: 'dtrain:{"code":"X","message":"é"}' };
    expect(proto.responseDeserialize(serializeLinkFrame(error))).toMatchObject({ kind: 'error', error: { step: 12, code: 9, details: error.details } });
    expect(deserializeLinkFrame(proto.responseSerialize({ error: { step: -1, code: 10, details: 'x' } }))).toEqual({ kind: 'error', step: -1, code: 10, details: 'x' });
    const pull = { id: { jobId: 'j', generation: 3, step: -1, senderRank: 2 }, totalLength: 1000, encoding: 1, early: true };
    expect(proto.requestDeserialize(serializeLinkRequest({ kind: 'pull', pull }))).toMatchObject({ kind: 'pull', pull });
    expect(deserializeLinkRequest(proto.requestSerialize({ pull }))).toEqual({ kind: 'pull', pull });
    expect(deserializeLinkRequest(proto.requestSerialize({ cancelStep: 0 }))).toEqual({ kind: 'cancel', step: 0 });
    expect(proto.requestDeserialize(serializeLinkRequest({ kind: 'cancel', step: 5 }))).toMatchObject({ kind: 'cancelStep', cancelStep: 5 });
    expect(() => deserializeLinkFrame(Buffer.alloc(0))).toThrow(/no chunk, end_step or error/);
  });
});

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function twoServers(): Promise<GrpcPeerServer[]> {
  const servers = [await startPeerServer({ host: '127.0.0.1', port: 0 }), await startPeerServer({ host: '127.0.0.1', port: 0 })];
  cleanup.push(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  return servers as GrpcPeerServer[];
}

function ringOf(servers: PeerServer[], generation: number): Collective[] {
  const ring = servers.map((s) => s.address);
  return servers.map((s, rank) => createRingCollective(s, {
    jobId: 'job-link', generation, rank, worldSize: 2, ring, chunkBytes: 4096, timeoutMs: 20_000, transport: 'grpc',
  }));
}

async function allReduceBoth(ring: Collective[], length: number, step: number): Promise<Float32Array[]> {
  const buffers = ring.map((_, rank) => Float32Array.from({ length }, (_, i) => (rank + 1) * i + step));
  await Promise.all(ring.map((c, rank) => c.allReduceSum(buffers[rank], step)));
  return buffers;
}

describe('Peer/Link lifecycle', () => {
  it('one Link per ring link for many collectives; closed with the ring; a new generation opens a new one', async () => {
    const servers = await twoServers();
    expect(servers.map((s) => s.openLinks)).toEqual([0, 0]);
    const gen1 = ringOf(servers, 1);
    for (let step = 0; step < 6; step++) {
      const [a, b] = await allReduceBoth(gen1, 10_001, step);
      expect(a[10_000]).toBe(3 * 10_000 + 2 * step);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
    // Each rank is served by its successor's one Link (broadcast too), not a call per collective.
    await Promise.all(gen1.map((c) => c.broadcast(new Float32Array(100).fill(2), -1, 0)));
    expect(servers.map((s) => s.openLinks)).toEqual([1, 1]);
    await Promise.all(gen1.map((c) => c.close()));
    await expect.poll(() => servers.map((s) => s.openLinks), { timeout: 10_000 }).toEqual([0, 0]);
    const gen2 = ringOf(servers, 2);
    const [a] = await allReduceBoth(gen2, 33, 100);
    expect(a[32]).toBe(3 * 32 + 200);
    expect(servers.map((s) => s.openLinks)).toEqual([1, 1]);
    await Promise.all(gen2.map((c) => c.close()));
  });

  it('a predecessor whose Peer server closes mid-collective is named by its successor', async () => {
    const servers = await twoServers();
    const ring = ringOf(servers, 1);
    await allReduceBoth(ring, 100, 0);
    // Rank 0 never joins step 1; rank 1 pulls from it over the open Link, then rank 0's server closes.
    const pending = ring[1].allReduceSum(new Float32Array(100), 1);
    const failure = pending.catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await servers[0].close();
    const err = await failure;
    expect(err).toBeInstanceOf(PeerLostError);
    expect((err as PeerLostError).peerRank).toBe(0);
    expect((err as PeerLostError).message).toMatch(/peer server closing/);
    await Promise.all(ring.map((c) => c.close()));
  });
});
