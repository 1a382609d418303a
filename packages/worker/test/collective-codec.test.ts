// The hand-written GradientChunk codec must speak the proto's wire format both ways and hand the
// receiver an aligned (zero-copy) payload the way grpc-js frames messages.
import { describe, expect, it } from 'vitest';
import { loadDtrainProto } from '@dtrain/shared/proto';
import {
  codecStats,
  deserializeGradientChunk,
  encodeChunkId,
  serializeGradientChunk,
  ENCODING_FLOAT16,
  type OutgoingChunk,
} from '../src/collective/gradient-chunk-codec';
import { fromHalfBits, toHalfBits } from '../src/collective/half-float';
import { allReducePlan, broadcastPlan, segmentRange } from '../src/collective/ring-plan';

const method = loadDtrainProto().dtrain.v1.Peer.service.Pull;

/** What grpc-js does on receive: a fresh 5-byte-prefixed frame, message = frame.subarray(5). */
function asGrpcDelivers(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]).subarray(5);
}

function outgoing(jobId: string, step: number, offset: number, length: number, data: Float32Array): OutgoingChunk {
  return { idBytes: encodeChunkId({ jobId, generation: 12, step, senderRank: 3 }), round: 5, segment: 2, offset, length, data };
}

describe('GradientChunk codec', () => {
  it('is decoded by proto-loader with every field intact (incl. step -1 and a non-minimal varint)', () => {
    const data = Float32Array.from({ length: 50 }, (_, i) => i * 1.5 - 7);
    for (const jobId of ['', 'j', 'job-123', 'x'.repeat(200)]) {
      const bytes = serializeGradientChunk(outgoing(jobId, -1, 10, 20, data));
      const decoded = method.responseDeserialize(bytes);
      expect(decoded.id).toEqual({ jobId, generation: 12, step: -1, senderRank: 3 });
      expect([decoded.round, decoded.segment, decoded.offset, decoded.length]).toEqual([5, 2, 10, 20]);
      const payload = Buffer.from(decoded.payload);
      expect(payload.length).toBe(80);
      expect(Array.from(new Float32Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + 80)))).toEqual(Array.from(data.subarray(10, 30)));
    }
  });

  it('decodes what proto-loader encodes (payload copied when unaligned)', () => {
    const values = Float32Array.from([1, -2, 3.25, 1e6]);
    const bytes = method.responseSerialize({
      id: { jobId: 'job-x', generation: 2 ** 40, step: 123456789012, senderRank: 7 },
      round: 1, segment: 4, offset: 1_000_000, length: 4,
      payload: Buffer.from(values.buffer),
    });
    const chunk = deserializeGradientChunk(asGrpcDelivers(bytes));
    expect(chunk.id).toEqual({ jobId: 'job-x', generation: 2 ** 40, step: 123456789012, senderRank: 7 });
    expect([chunk.round, chunk.segment, chunk.offset, chunk.length, chunk.payloadBytes]).toEqual([1, 4, 1_000_000, 4, 16]);
    expect(Array.from(chunk.payload!)).toEqual(Array.from(values));
  });

  it('places the payload 4-byte aligned where grpc-js delivers it, for any header size', () => {
    const data = Float32Array.from({ length: 300_000 }, (_, i) => i);
    const before = { ...codecStats };
    let cases = 0;
    for (const jobId of ['', 'a', 'ab', 'abc', 'abcd', 'job-with-a-longer-name']) {
      for (const [offset, length] of [[0, 1], [1, 127], [128, 16_384], [100_000, 200_000], [299_999, 1]]) {
        for (const step of [0, 1, -1, 2 ** 33]) {
          const chunk = deserializeGradientChunk(asGrpcDelivers(serializeGradientChunk(outgoing(jobId, step, offset, length, data))));
          expect(chunk.payload!.byteOffset % 4).toBe(0);
          expect(chunk.payload!.length).toBe(length);
          expect(chunk.payload![0]).toBe(offset);
          expect(chunk.payload![length - 1]).toBe(offset + length - 1);
          expect(chunk.id!.step).toBe(step);
          cases++;
        }
      }
    }
    expect(codecStats.alignedPayloads - before.alignedPayloads).toBe(cases);
    expect(codecStats.copiedPayloads - before.copiedPayloads).toBe(0);
  });

  it('FLOAT16 chunks: proto-loader reads encoding 1 and a half payload; the float32 bytes carry no encoding field', () => {
    const data = Float32Array.from({ length: 50 }, (_, i) => i * 1.5 - 7);
    for (const jobId of ['', 'j', 'job-123', 'x'.repeat(200)]) {
      const chunk = { ...outgoing(jobId, -1, 10, 20, data), encoding: ENCODING_FLOAT16 } as const;
      const bytes = serializeGradientChunk(chunk);
      const decoded = method.responseDeserialize(bytes);
      expect(decoded.id).toEqual({ jobId, generation: 12, step: -1, senderRank: 3 });
      expect([decoded.round, decoded.segment, decoded.offset, decoded.length, decoded.encoding]).toEqual([5, 2, 10, 20, 1]);
      const payload = Buffer.from(decoded.payload);
      expect(payload.length).toBe(40);
      // i * 1.5 - 7 for i < 50 is exact in half precision.
      expect(Array.from({ length: 20 }, (_, i) => fromHalfBits(payload.readUInt16LE(2 * i)))).toEqual(Array.from(data.subarray(10, 30)));
      const f32 = serializeGradientChunk(outgoing(jobId, -1, 10, 20, data), false);
      expect(method.responseDeserialize(f32).encoding).toBe(0);
      // Same header but the 2-byte encoding field, up to 3 bytes of alignment padding either way.
      expect(Math.abs(bytes.length - (f32.length - 40 + 2))).toBeLessThanOrEqual(3);
      expect(f32.includes(Buffer.from([0x38, 0x01]))).toBe(false);
    }
  });

  it('FLOAT16 chunks round-trip through the hand-written decoder, aligned, and from proto-loader bytes', () => {
    const data = Float32Array.from({ length: 100_000 }, (_, i) => (i % 2048) - 1024);
    const before = { ...codecStats };
    let cases = 0;
    for (const jobId of ['', 'a', 'ab', 'abc', 'abcd']) {
      for (const [offset, length] of [[0, 1], [1, 127], [128, 16_384], [99_999, 1]]) {
        for (const reuse of [true, false]) {
          const bytes = serializeGradientChunk({ ...outgoing(jobId, 7, offset, length, data), encoding: ENCODING_FLOAT16 }, reuse);
          const chunk = deserializeGradientChunk(asGrpcDelivers(bytes));
          expect(chunk.encoding).toBe(ENCODING_FLOAT16);
          expect(chunk.payload).toBeNull();
          expect(chunk.payloadBytes).toBe(2 * length);
          expect(chunk.halfPayload!.byteOffset % 2).toBe(0);
          expect(chunk.halfPayload!.length).toBe(length);
          expect(fromHalfBits(chunk.halfPayload![0])).toBe(data[offset]);
          expect(fromHalfBits(chunk.halfPayload![length - 1])).toBe(data[offset + length - 1]);
          cases++;
        }
      }
    }
    expect(codecStats.alignedPayloads - before.alignedPayloads).toBe(cases);
    // proto-loader's encoding puts the payload wherever: still decoded (copied when unaligned).
    const half = Buffer.alloc(8);
    [1, -2, 0.5, 65504].forEach((v, i) => half.writeUInt16LE(toHalfBits(v), 2 * i));
    const foreign = method.responseSerialize({ id: { jobId: 'jx' }, length: 4, payload: half, encoding: 1 });
    for (const pad of [0, 1]) {
      const framed = Buffer.concat([Buffer.alloc(5 + pad), foreign]).subarray(5 + pad);
      const chunk = deserializeGradientChunk(framed);
      expect(Array.from(chunk.halfPayload!, fromHalfBits)).toEqual([1, -2, 0.5, 65504]);
    }
  });

  it('reports a payload whose size is not a multiple of 4 instead of misreading it', () => {
    const bytes = method.responseSerialize({ id: { jobId: 'j' }, length: 1, payload: Buffer.from([1, 2, 3]) });
    const chunk = deserializeGradientChunk(asGrpcDelivers(bytes));
    expect(chunk.payloadBytes).toBe(3);
    expect(chunk.payload).toBeNull();
  });
});

describe('ring plan', () => {
  it('splits into N segments differing by at most one, covering the buffer', () => {
    for (const [length, n] of [[10, 3], [2, 4], [0, 3], [7, 7], [1_000_003, 4]]) {
      const ranges = [...Array(n).keys()].map((s) => segmentRange(length, n, s));
      expect(ranges.reduce((sum, r) => sum + r.length, 0)).toBe(length);
      expect(Math.max(...ranges.map((r) => r.length)) - Math.min(...ranges.map((r) => r.length))).toBeLessThanOrEqual(1);
      ranges.forEach((r, s) => expect(r.start).toBe(s === 0 ? 0 : ranges[s - 1].start + ranges[s - 1].length));
    }
  });

  it('every rank sends in round k+1 what it received in round k, and ends owning the full sum', () => {
    // Simulate the plan with sets of contributing ranks instead of numbers.
    for (const n of [2, 3, 5]) {
      const length = 2 * n + 1;
      const chunkElems = 1;
      const plans = [...Array(n).keys()].map((r) => allReducePlan(r, n, length, chunkElems));
      const holds = [...Array(n).keys()].map((r) => Array.from({ length }, () => new Set([r])));
      for (let round = 0; round <= 2 * n - 3; round++) {
        const moves = plans.map((plan, r) => {
          const rr = plan.receive.get(round)!;
          const pred = (r - 1 + n) % n;
          return { r, rr, from: [...Array(rr.range.length).keys()].map((i) => new Set(holds[pred][rr.range.start + i])) };
        });
        for (const { r, rr, from } of moves) {
          from.forEach((set, i) => {
            const dst = holds[r][rr.range.start + i];
            if (rr.op === 'copy') dst.clear();
            for (const x of set) dst.add(x);
          });
        }
      }
      for (let r = 0; r < n; r++) for (let i = 0; i < length; i++) expect(holds[r][i].size).toBe(n);
    }
  });

  it('broadcast is a chain from the root that the last rank does not forward', () => {
    const plans = [0, 1, 2, 3].map((r) => broadcastPlan(r, 4, 2, 10, 3));
    expect(plans.map((p) => p.sendChunks)).toEqual([4, 0, 4, 4]);
    expect(plans.map((p) => p.receiveChunks)).toEqual([4, 4, 0, 4]);
    expect(plans.map((p) => [...p.receive.keys()])).toEqual([[1], [2], [], [0]]);
  });
});
