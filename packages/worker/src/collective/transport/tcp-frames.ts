// Frames of the 'tcp' transport. A frame is a fixed 56-byte little-endian header carrying the
// fields of GradientChunk/PullRequest (job, generation, step, sender rank, round, segment, offset,
// length, encoding), then the job id, then a body (chunk payload, error details, secret), each
// padded to 8 bytes, so every payload starts 8-aligned in the stream.
// The reader keeps one static receive buffer and stores stream byte S at a buffer offset congruent
// to S mod 8 (the next read lands right after any unconsumed tail, which is moved down when the
// buffer runs out): payloads can then be viewed as Float32Array/Uint16Array in place, delivered in
// whole elements as they arrive, and added straight into the fused buffer with no copy.
import { f32AddKernel, RECEIVE_SLOT_BYTES } from '../f32-add-kernel';
import { bytesPerElement, ENCODING_FLOAT16, ENCODING_FLOAT32, type ChunkEncoding } from '../gradient-chunk-codec';

export const FRAME_HELLO = 1;
export const FRAME_PULL = 2;
export const FRAME_CHUNK = 3;
export const FRAME_END = 4;
export const FRAME_ERROR = 5;
export const FRAME_CANCEL = 6;

export const FRAME_HEADER_BYTES = 56;
/** Limits that make a corrupt or hostile header a protocol error instead of a huge allocation. */
export const MAX_JOB_ID_BYTES = 4096;
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;
export const MAX_CHUNK_BODY_BYTES = 1 << 30;
/** Receive buffer size: large reads, and room for the largest control frame (a kernel receive slot). */
export const RECEIVE_BUFFER_BYTES = RECEIVE_SLOT_BYTES;
const MIN_READ_BYTES = 256 * 1024;
/**
 * Reads stop at the end of the next frame header (see FrameReader.target). Measured N=4, 20
 * iterations: copy-round payload bytes copied out of the receive buffer fell from 88% (4 MB) and
 * ~90% (16 MB) to 0%, for 10 instead of 6 reads per all-reduce at 4 MB (30 at 16 MB).
 * DTRAIN_TCP_HEADER_READS=0 turns it off (A/B benches). Not for TLS links: a TLS read ends at the end
 * of a record (16 KB), so at most that much of a payload comes with its header, while the extra
 * reads stay (N=2 16 MB mTLS, 4 runs each: median 28.6 with vs 26.5 CPU ms per rank without, noisy).
 */
const HEADER_SIZED_READS = process.env.DTRAIN_TCP_HEADER_READS !== '0';

export function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** Header fields of any frame (unused ones are 0). For PULL, `length` is the total length. */
export interface FrameHeader {
  type: number;
  jobId: string;
  generation: number;
  step: number;
  senderRank: number;
  round: number;
  segment: number;
  offset: number;
  length: number;
  encoding: number;
  bodyBytes: number;
}

/** Encodes a header plus job id (padded) into a fresh buffer. */
export function encodeFrameHeader(h: Omit<FrameHeader, 'jobId'>, jobBytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + pad8(jobBytes.length));
  out.writeUInt32LE(h.type, 0);
  out.writeUInt32LE(jobBytes.length, 4);
  out.writeUInt32LE(h.bodyBytes, 8);
  out.writeUInt32LE(h.encoding, 12);
  out.writeDoubleLE(h.generation, 16);
  out.writeDoubleLE(h.step, 24);
  out.writeInt32LE(h.senderRank, 32);
  out.writeUInt32LE(h.round, 36);
  out.writeUInt32LE(h.segment, 40);
  out.writeUInt32LE(h.offset, 44);
  out.writeUInt32LE(h.length, 48);
  out.writeUInt32LE(0, 52);
  jobBytes.copy(out, FRAME_HEADER_BYTES);
  out.fill(0, FRAME_HEADER_BYTES + jobBytes.length);
  return out;
}

/** A whole control frame (header, job id, body, padding). */
export function encodeControlFrame(h: Omit<FrameHeader, 'jobId' | 'bodyBytes'>, jobBytes: Buffer, body: Buffer): Buffer {
  const head = encodeFrameHeader({ ...h, bodyBytes: body.length }, jobBytes);
  const out = Buffer.alloc(head.length + pad8(body.length));
  head.copy(out, 0);
  body.copy(out, head.length);
  return out;
}

export const ZERO_PAD = Buffer.alloc(8);

/** What the reader hands frames to. */
export interface FrameHandler {
  /** A CHUNK header; false: skip its payload. */
  chunkHeader(h: FrameHeader): boolean;
  chunkPayload(data: Float32Array | Uint16Array, at: number): void;
  /** Where the current float32 chunk's payload bytes may land verbatim (null: chunkPayload). */
  chunkDestination?(): Float32Array | null;
  chunkDone(): void;
  /** Any other frame, with its whole body (a view valid during the call). */
  control(h: FrameHeader, body: Buffer): void;
  /** The stream is corrupt: the connection must be dropped. */
  protocolError(message: string): void;
}

export class FrameReader {
  /**
   * Not pooled: it starts 8-aligned in its ArrayBuffer, so buffer offsets are the alignment. With
   * `kernelMemory` (the chunk-receiving side) it lies in the reduction kernel's wasm memory, so
   * payloads are added from where they landed.
   */
  private readonly buf: Buffer;
  private readonly releaseBuffer: () => void;
  private start = 0;
  private end = 0;
  /** In a chunk payload: bytes of payload / padding left, element size, elements delivered. */
  private payloadLeft = 0;
  private padLeft = 0;
  private elementBytes = 4;
  private delivered = 0;
  private deliver = false;
  private inChunk = false;
  private broken = false;
  /** Payload bytes of the current chunk already placed in its destination (direct placement). */
  private placed = 0;
  private direct = false;
  /** The last target() was a view of the destination, not of buf. */
  private readingDirect = false;
  /** Header + job id bytes of the last frame: the size of the next header, most likely. */
  private headBytes = FRAME_HEADER_BYTES;

  /** See HEADER_SIZED_READS; off for TLS, whose reads end at a 16 KB record anyway. */
  private readonly headerSizedReads: boolean;

  constructor(
    private readonly handler: FrameHandler,
    opts: { kernelMemory?: boolean; headerSizedReads?: boolean } = {},
  ) {
    this.headerSizedReads = HEADER_SIZED_READS && (opts.headerSizedReads ?? true);
    const slot = opts.kernelMemory
      ? f32AddKernel().allocateReceiveBuffer(RECEIVE_BUFFER_BYTES)
      : { buffer: Buffer.allocUnsafeSlow(RECEIVE_BUFFER_BYTES), release: () => undefined };
    this.buf = slot.buffer;
    this.releaseBuffer = slot.release;
  }

  /** The connection is gone: no more reads land here; the buffer goes back to the kernel's pool. */
  release(): void {
    this.broken = true;
    this.releaseBuffer();
  }

  /** Where the next read must land (onread buffer generator). */
  target(): Buffer {
    if (this.direct && this.start === this.end && this.payloadLeft > 0) {
      // Copy round: the kernel reads the payload straight into the fused buffer (one copy less).
      const dest = this.destination();
      if (dest) {
        this.readingDirect = true;
        return dest.subarray(this.placed, this.placed + this.payloadLeft);
      }
    }
    this.readingDirect = false;
    if (this.start === this.end) {
      this.start = this.end = this.start & 7;
    } else if (this.end + MIN_READ_BYTES > this.buf.length) {
      // Move the unconsumed tail (a partial header, control frame or element) down, keeping
      // its offset mod 8.
      const to = this.start & 7;
      this.buf.copyWithin(to, this.start, this.end);
      this.end = to + (this.end - this.start);
      this.start = to;
    }
    // Read no further than the end of the next frame's header: a copy round's payload then lands in
    // its destination (above) instead of arriving in buf with its header and being copied. A sender
    // ahead of us has whole chunks queued in the socket, so an unlimited read would take most of the
    // next payload along with the rest of this one and its header. Costs one short read per frame.
    const rest = (this.inChunk ? this.payloadLeft : 0) + this.padLeft;
    const untilHeader = rest + this.headBytes - (this.end - this.start);
    if (this.headerSizedReads && untilHeader > 0) return this.buf.subarray(this.end, this.end + untilHeader);
    return this.buf.subarray(this.end);
  }

  /** `n` bytes were read into target(). */
  received(n: number): void {
    if (this.readingDirect) {
      this.readingDirect = false;
      this.placed += n;
      this.payloadLeft -= n;
      // Keep the invariant: stream byte S sits at a buffer offset congruent to S mod 8.
      this.start = this.end = (this.end + n) & 7;
    } else {
      this.end += n;
    }
    if (!this.broken) this.process();
  }

  /** Byte view of the current chunk's destination, or null (then the rest is skipped). */
  private destination(): Buffer | null {
    const d = this.handler.chunkDestination?.() ?? null;
    if (d && d.byteLength === this.placed + this.payloadLeft) {
      return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    }
    // The sink failed (or never wanted it): skip what is left of this payload.
    this.direct = false;
    this.deliver = false;
    this.padLeft += this.payloadLeft;
    this.payloadLeft = 0;
    return null;
  }

  /** For sockets that hand out their own buffers (the listener side's 'data' events): copies through target(). */
  push(data: Buffer): void {
    let at = 0;
    while (at < data.length && !this.broken) {
      const t = this.target();
      const n = Math.min(t.length, data.length - at);
      data.copy(t, 0, at, at + n);
      at += n;
      this.received(n);
    }
  }

  private fail(message: string): void {
    this.broken = true;
    this.handler.protocolError(message);
  }

  private process(): void {
    const buf = this.buf;
    for (;;) {
      if (this.broken) return;
      if (this.inChunk) {
        if (this.payloadLeft > 0 && this.direct) {
          const n = Math.min(this.payloadLeft, this.end - this.start);
          if (n === 0) return;
          const dest = this.destination();
          if (dest) {
            buf.copy(dest, this.placed, this.start, this.start + n);
            this.placed += n;
            this.payloadLeft -= n;
            this.start += n;
          }
          continue;
        }
        if (this.payloadLeft > 0) {
          const avail = Math.min(this.payloadLeft, this.end - this.start);
          const elems = Math.floor(avail / this.elementBytes);
          if (elems === 0) return;
          const bytes = elems * this.elementBytes;
          if (this.deliver) {
            const view = this.elementBytes === 4
              ? new Float32Array(buf.buffer, buf.byteOffset + this.start, elems)
              : new Uint16Array(buf.buffer, buf.byteOffset + this.start, elems);
            this.handler.chunkPayload(view, this.delivered);
          }
          this.delivered += elems;
          this.start += bytes;
          this.payloadLeft -= bytes;
          continue;
        }
        const skip = Math.min(this.padLeft, this.end - this.start);
        this.start += skip;
        this.padLeft -= skip;
        if (this.padLeft > 0) return;
        this.inChunk = false;
        if (this.deliver) this.handler.chunkDone();
        continue;
      }
      if (this.end - this.start < FRAME_HEADER_BYTES) return;
      const at = this.start;
      const type = buf.readUInt32LE(at);
      const jobBytes = buf.readUInt32LE(at + 4);
      const bodyBytes = buf.readUInt32LE(at + 8);
      if (type < FRAME_HELLO || type > FRAME_CANCEL) return this.fail(`unknown frame type ${type}`);
      if (jobBytes > MAX_JOB_ID_BYTES) return this.fail(`job id of ${jobBytes} bytes`);
      const limit = type === FRAME_CHUNK ? MAX_CHUNK_BODY_BYTES : MAX_CONTROL_BODY_BYTES;
      if (bodyBytes > limit) return this.fail(`frame type ${type} with a ${bodyBytes}-byte body`);
      const headBytes = FRAME_HEADER_BYTES + pad8(jobBytes);
      this.headBytes = headBytes;
      const whole = type === FRAME_CHUNK ? headBytes : headBytes + pad8(bodyBytes);
      if (this.end - at < whole) return;
      const h: FrameHeader = {
        type,
        jobId: buf.toString('utf8', at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + jobBytes),
        bodyBytes,
        encoding: buf.readUInt32LE(at + 12),
        generation: buf.readDoubleLE(at + 16),
        step: buf.readDoubleLE(at + 24),
        senderRank: buf.readInt32LE(at + 32),
        round: buf.readUInt32LE(at + 36),
        segment: buf.readUInt32LE(at + 40),
        offset: buf.readUInt32LE(at + 44),
        length: buf.readUInt32LE(at + 48),
      };
      this.start = at + whole;
      if (type !== FRAME_CHUNK) {
        this.handler.control(h, buf.subarray(at + headBytes, at + headBytes + bodyBytes));
        continue;
      }
      const encoding = h.encoding === ENCODING_FLOAT16 ? ENCODING_FLOAT16 : ENCODING_FLOAT32;
      this.elementBytes = bytesPerElement(encoding as ChunkEncoding);
      this.deliver = this.handler.chunkHeader(h);
      // A body that is not whole elements is only skipped (the sink refused it: ChunkSizeError).
      if (bodyBytes % this.elementBytes !== 0) this.deliver = false;
      this.inChunk = true;
      this.payloadLeft = this.deliver ? bodyBytes : 0;
      this.padLeft = this.deliver ? pad8(bodyBytes) - bodyBytes : pad8(bodyBytes);
      this.delivered = 0;
      this.placed = 0;
      const dest = this.deliver && this.elementBytes === 4 ? this.handler.chunkDestination?.() ?? null : null;
      this.direct = dest !== null && dest.byteLength === bodyBytes;
    }
  }
}
