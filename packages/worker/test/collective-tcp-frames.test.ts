// The tcp transport's frame reader: frames split at arbitrary read boundaries must come out whole,
// payloads as aligned views of whole elements, and a corrupt header must be a protocol error.
import { expect, it } from 'vitest';
import {
  encodeControlFrame, encodeFrameHeader, FRAME_CHUNK, FRAME_END, FRAME_HEADER_BYTES, FrameReader, pad8, type FrameHeader,
} from '../src/collective/transport/tcp-frames';

interface Seen {
  chunks: Array<{ h: FrameHeader; values: number[]; pieces: number }>;
  controls: FrameHeader[];
  misaligned: number;
  errors: string[];
}

function reader(seen: Seen): FrameReader {
  let cur: { h: FrameHeader; values: number[]; pieces: number } | null = null;
  return new FrameReader({
    chunkHeader: (h) => {
      cur = { h, values: [], pieces: 0 };
      return true;
    },
    chunkPayload: (data, at) => {
      if (data.byteOffset % data.BYTES_PER_ELEMENT !== 0) seen.misaligned++;
      expect(at).toBe(cur!.values.length);
      cur!.values.push(...data);
      cur!.pieces++;
    },
    chunkDone: () => {
      seen.chunks.push(cur!);
      cur = null;
    },
    control: (h) => seen.controls.push(h),
    protocolError: (m) => seen.errors.push(m),
  });
}

function chunkFrame(job: string, step: number, offset: number, values: Float32Array | Uint16Array): Buffer {
  const body = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const head = encodeFrameHeader({
    type: FRAME_CHUNK, generation: 3, step, senderRank: 1, round: 2, segment: 1, offset, length: values.length,
    encoding: values instanceof Uint16Array ? 1 : 0, bodyBytes: body.length,
  }, Buffer.from(job));
  return Buffer.concat([head, body, Buffer.alloc(pad8(body.length) - body.length)]);
}

it('reassembles chunk and control frames split at every kind of read boundary, with aligned payloads', () => {
  const f32 = Float32Array.from({ length: 1001 }, (_, i) => i * 0.5 - 7);
  const f16 = Uint16Array.from({ length: 333 }, (_, i) => (i * 97) & 0xffff);
  const end = encodeControlFrame(
    { type: FRAME_END, generation: 3, step: 9, senderRank: 1, round: 0, segment: 0, offset: 0, length: 0, encoding: 0 }, Buffer.from('job-é'), Buffer.alloc(0),
  );
  const stream = Buffer.concat([chunkFrame('job-é', 9, 5, f32), chunkFrame('job-é', 9, 1006, f16), end, chunkFrame('j', -1, 0, f32.subarray(0, 3))]);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return 1 + (seed % n);
  };
  for (const maxRead of [1, 3, 7, 64, 1000, stream.length]) {
    const seen: Seen = { chunks: [], controls: [], misaligned: 0, errors: [] };
    const r = reader(seen);
    for (let at = 0; at < stream.length;) {
      // Through the onread path: the reader chooses where each read lands, and how much it takes.
      const target = r.target();
      const n = Math.min(rand(maxRead), stream.length - at, target.length);
      stream.copy(target, 0, at, at + n);
      r.received(n);
      at += n;
    }
    expect(seen.errors).toEqual([]);
    expect(seen.misaligned).toBe(0);
    expect(seen.chunks.map((c) => [c.h.jobId, c.h.step, c.h.offset, c.h.length, c.h.encoding])).toEqual([
      ['job-é', 9, 5, 1001, 0], ['job-é', 9, 1006, 333, 1], ['j', -1, 0, 3, 0],
    ]);
    expect(seen.chunks[0].values).toEqual([...f32]);
    expect(seen.chunks[1].values).toEqual([...f16]);
    expect(seen.chunks[2].values).toEqual([...f32.subarray(0, 3)]);
    expect(seen.controls.map((h) => [h.type, h.step, h.generation, h.senderRank])).toEqual([[FRAME_END, 9, 3, 1]]);
  }
});

it('a corrupt header (unknown type, oversized job id) is a protocol error, not an allocation', () => {
  for (const [offset, value] of [[0, 99], [4, 1 << 20]] as const) {
    const seen: Seen = { chunks: [], controls: [], misaligned: 0, errors: [] };
    const frame = chunkFrame('job', 1, 0, new Float32Array(4));
    frame.writeUInt32LE(value, offset);
    reader(seen).push(frame);
    expect(seen.errors).toHaveLength(1);
    expect(seen.chunks).toEqual([]);
  }
  expect(FRAME_HEADER_BYTES % 8).toBe(0);
});

it('places float32 payloads straight into a destination when the handler gives one, and stops the moment it withdraws it', () => {
  const a = Float32Array.from({ length: 1001 }, (_, i) => i * 0.25 + 1);
  const b = Float32Array.from({ length: 777 }, (_, i) => -i - 0.5);
  const c = Float32Array.from({ length: 50 }, (_, i) => i + 1000);
  const end = encodeControlFrame(
    { type: FRAME_END, generation: 3, step: 9, senderRank: 1, round: 0, segment: 0, offset: 0, length: 0, encoding: 0 }, Buffer.from('j'), Buffer.alloc(0),
  );
  const stream = Buffer.concat([chunkFrame('j', 9, 0, a), chunkFrame('j', 9, 1001, b), chunkFrame('j', 9, 1778, c), end]);
  for (const maxRead of [1, 5, 13, 4096, stream.length]) {
    for (const withdrawAt of [Infinity, 1000]) {
      const dest = new Float32Array(1828).fill(-1);
      const done: number[] = [];
      const payloads: number[] = [];
      const controls: number[] = [];
      let current = -1;
      let received = 0;
      const r = new FrameReader({
        chunkHeader: (h) => {
          current = h.offset;
          return true;
        },
        chunkPayload: (data) => payloads.push(data.length),
        // Chunk 2 (offset 1001) goes through chunkPayload; the others are placed directly, and the
        // direct destination of chunk 1 is withdrawn after withdrawAt bytes arrived.
        chunkDestination: () => {
          if (current === 1001) return null;
          if (current === 0 && received >= withdrawAt) return null;
          const length = current === 0 ? 1001 : 50;
          return dest.subarray(current, current + length);
        },
        chunkDone: () => done.push(current),
        control: (h) => controls.push(h.type),
        protocolError: (m) => {
          throw new Error(m);
        },
      });
      let seed = 7;
      for (let at = 0; at < stream.length;) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const n = Math.min(1 + (seed % maxRead), stream.length - at);
        const target = r.target();
        const m = Math.min(n, target.length);
        stream.copy(target, 0, at, at + m);
        received = at + m;
        r.received(m);
        at += m;
      }
      expect(controls).toEqual([FRAME_END]);
      expect([...dest.subarray(1778)]).toEqual([...c]);
      // Elements of chunk 1 that came through chunkPayload (when it was withdrawn before its header).
      const viaPayload = payloads.reduce((s, x) => s + x, 0) - 777;
      if (withdrawAt === Infinity || viaPayload > 0) {
        expect(viaPayload).toBe(withdrawAt === Infinity ? 0 : 1001);
        expect(done).toEqual([0, 1001, 1778]);
        if (viaPayload === 0) expect([...dest.subarray(0, 1001)]).toEqual([...a]);
      } else {
        // Withdrawn mid-payload: the chunk is skipped (no chunkDone), nothing more was written.
        expect(done).toEqual([1001, 1778]);
        const written = dest.subarray(0, 1001).findIndex((v, i) => v !== a[i]);
        expect(written).toBeGreaterThanOrEqual(0);
        expect([...dest.subarray(written, 1001)].every((v) => v === -1)).toBe(true);
      }
      expect([...dest.subarray(1001, 1778)].every((v) => v === -1)).toBe(true);
    }
  }
});

it('stops each read at the next frame header, so a sender far ahead still has its payloads read straight into their destination', () => {
  // An add round's chunk (through chunkPayload), then a copy round's (placed), then another add.
  const payloads = [
    Float32Array.from({ length: 4096 }, (_, i) => i + 0.5), Float32Array.from({ length: 3000 }, (_, i) => -i),
    Float32Array.from({ length: 10 }, (_, i) => i * 3),
  ];
  const stream = Buffer.concat([
    chunkFrame('job-x', 4, 0, payloads[0]), chunkFrame('job-x', 4, 4096, payloads[1]), chunkFrame('job-x', 4, 7096, payloads[2]),
  ]);
  const dest = new Float32Array(7106).fill(-1);
  let current = 0;
  let length = 0;
  const r = new FrameReader({
    chunkHeader: (h) => {
      current = h.offset;
      length = h.length;
      return true;
    },
    chunkPayload: (data, at) => dest.set(data, current + at),
    chunkDestination: () => (current === 4096 ? dest.subarray(current, current + length) : null),
    chunkDone: () => undefined,
    control: () => undefined,
    protocolError: (m) => {
      throw new Error(m);
    },
  });
  let direct = 0;
  const reads: number[] = [];
  // Everything not read yet is available at every read (a socket with all chunks queued).
  for (let at = 0; at < stream.length;) {
    const target = r.target();
    const n = Math.min(target.length, stream.length - at);
    if (target.buffer === dest.buffer) direct += n;
    stream.copy(target, 0, at, at + n);
    r.received(n);
    reads.push(n);
    at += n;
  }
  expect(direct).toBe(3000 * 4);
  // The first header is read in two (its job id length is learned from it); then each read ends
  // at the end of the next header: payload 0 + header 1, payload 1 (placed), header 2, payload 2.
  const head = FRAME_HEADER_BYTES + 8;
  expect(reads).toEqual([FRAME_HEADER_BYTES, 8, 4096 * 4 + head, 3000 * 4, head, 10 * 4]);
  expect([...dest]).toEqual([...payloads[0], ...payloads[1], ...payloads[2]]);
});
