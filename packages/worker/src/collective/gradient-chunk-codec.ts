// Hand-written protobuf (de)serializer for dtrain.v1.GradientChunk. It is wire-compatible with
// proto/dtrain.proto (any protobuf decoder reads what it writes, and it reads any valid encoding),
// but, unlike proto-loader, it:
//   - copies the payload straight out of the Float32Array being reduced (no intermediate objects);
//   - places the payload at a 4-byte-aligned position of the buffer the receiver's grpc-js hands to
//     the deserializer, so the payload can back a Float32Array without a copy.
// grpc-js gives the deserializer `framed.subarray(5)` where `framed` is a fresh Buffer.concat()
// result (pooled ones are 8-byte aligned too), so the message starts at an address = 1 (mod 4).
// The encoder pads the CollectiveId length varint (non-minimal varints are valid protobuf) so that
// the payload lands at 3 (mod 4) within the message. The decoder checks alignment at run time and
// copies only when it is not aligned, so correctness never depends on that layout.
// With encoding FLOAT16 (opt-in wire compression) the sender converts float32 -> half straight into
// the serialized message and the receiver reduces from a Uint16Array view of the payload; the
// float32 path writes no encoding field (proto3 default 0), so its bytes are exactly as before.
import { encodeHalf } from './half-float';

/** GradientChunk.encoding / PullRequest.encoding values (proto/dtrain.proto). */
export const ENCODING_FLOAT32 = 0;
export const ENCODING_FLOAT16 = 1;
export type ChunkEncoding = typeof ENCODING_FLOAT32 | typeof ENCODING_FLOAT16;

/** Wire bytes per element of an encoding. */
export function bytesPerElement(encoding: ChunkEncoding): number {
  return encoding === ENCODING_FLOAT16 ? 2 : 4;
}

export function encodingName(encoding: number): string {
  return encoding === ENCODING_FLOAT32 ? 'FLOAT32' : encoding === ENCODING_FLOAT16 ? 'FLOAT16' : `unknown encoding ${encoding}`;
}

/** CollectiveId, as carried by every chunk and pull request. */
export interface ChunkId {
  jobId: string;
  generation: number;
  step: number;
  senderRank: number;
}

/** What the sender hands to grpc-js: a window into the buffer being reduced, serialized at write. */
export interface OutgoingChunk {
  /** Pre-encoded CollectiveId message bytes (see encodeChunkId). */
  idBytes: Uint8Array;
  /** The same CollectiveId decoded (the tcp transport frames it field by field). */
  id?: ChunkId;
  round: number;
  segment: number;
  /** Offset and length in float32 elements within `data`. */
  offset: number;
  length: number;
  data: Float32Array;
  /** Absent: FLOAT32. */
  encoding?: ChunkEncoding;
}

/** Header fields of a received chunk (proto GradientChunk without its payload), whichever transport. */
export interface ChunkHeader {
  id: ChunkId | null;
  round: number;
  segment: number;
  offset: number;
  length: number;
  /** GradientChunk.encoding as received (0 when absent). */
  encoding: number;
  payloadBytes: number;
}

export interface IncomingChunk extends ChunkHeader {
  /**
   * FLOAT32 payload (a view when aligned, else a copy); null when its size is not a multiple of 4
   * or the chunk is not FLOAT32.
   */
  payload: Float32Array | null;
  /** FLOAT16 payload as half bit patterns, same view/copy rule; null unless FLOAT16 and even-sized. */
  halfPayload: Uint16Array | null;
}

/** Counters for the wire-efficiency measurement: how often the zero-copy path was taken. */
export const codecStats = { alignedPayloads: 0, copiedPayloads: 0 };

/** Message offset (mod 4) at which grpc-js hands the message to the deserializer; see above. */
const RECEIVER_MESSAGE_ADDRESS_MOD4 = 1;
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes `value` as a varint padded to exactly `size` bytes (non-minimal, still valid protobuf). */
function writePaddedVarint(out: Uint8Array, pos: number, value: number, size: number): number {
  for (let i = 0; i < size - 1; i++) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** int64/int32 fields: negatives are 10-byte two's complement varints. */
export function int64VarintBytes(value: number): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return bytes;
}

export function encodeChunkId(id: ChunkId): Uint8Array {
  const parts: number[] = [];
  const job = Buffer.from(id.jobId, 'utf8');
  const head: number[] = [];
  if (job.length > 0) {
    head.push(0x0a, ...int64VarintBytes(job.length));
  }
  if (id.generation !== 0) parts.push(0x10, ...int64VarintBytes(id.generation));
  if (id.step !== 0) parts.push(0x18, ...int64VarintBytes(id.step));
  if (id.senderRank !== 0) parts.push(0x20, ...int64VarintBytes(id.senderRank));
  const out = new Uint8Array(head.length + job.length + parts.length);
  out.set(head, 0);
  out.set(job, head.length);
  out.set(parts, head.length + job.length);
  return out;
}

/**
 * grpc-js copies the serialized message into its own framed buffer synchronously, right after
 * calling the serializer (server-interceptors serializeMessage), and drops ours: one scratch
 * buffer, reused, saves a large allocation (and the GC it causes) per chunk. Only the grpc
 * send path may use it; anyone keeping the result must call serializeGradientChunk(chunk, false).
 */
let scratch = Buffer.allocUnsafeSlow(0);

export function serializeGradientChunk(chunk: OutgoingChunk, reuseScratch = true): Buffer {
  return serializeChunkMessage(chunk, reuseScratch, 0);
}

/**
 * Serializes `chunk` nested as field `wrapperField` (length-delimited) of an enclosing message, e.g.
 * dtrain.v1.LinkFrame.chunk, with the same alignment rule applied to the enclosing message: the
 * payload still lands 4-byte aligned where the receiver's grpc-js hands over the message.
 * 0: no wrapper (a plain GradientChunk).
 */
export function serializeChunkMessage(chunk: OutgoingChunk, reuseScratch: boolean, wrapperField: number): Buffer {
  const layout = chunkLayout(chunk, wrapperField);
  const { headerLen, payloadBytes, half } = layout;
  // The half encoder stores through a Uint16Array, so the payload must be even-aligned in memory
  // here too: start the message at an offset of its slab that makes it so (float32 copies bytes).
  const lead = half ? (4 - (headerLen % 4)) % 4 : 0;
  const total = lead + headerLen + payloadBytes;
  let out: Buffer;
  if (reuseScratch) {
    if (scratch.length < total) scratch = Buffer.allocUnsafeSlow(total);
    out = scratch.subarray(lead, total);
  } else {
    out = half ? Buffer.allocUnsafeSlow(total).subarray(lead) : Buffer.allocUnsafe(headerLen + payloadBytes);
  }
  writeChunkMessage(out, 0, chunk, layout);
  return out;
}

interface ChunkLayout {
  half: boolean;
  payloadBytes: number;
  /** Bytes before the payload, wrapper prefix included. */
  headerLen: number;
  idVarint: number;
  wrapperField: number;
  wrapperVarint: number;
}

function chunkLayout(chunk: OutgoingChunk, wrapperField: number): ChunkLayout {
  const half = chunk.encoding === ENCODING_FLOAT16;
  const payloadBytes = chunk.length * (half ? 2 : 4);
  const idLen = chunk.idBytes.length;
  let scalars = 0;
  if (chunk.round !== 0) scalars += 1 + varintSize(chunk.round);
  if (chunk.segment !== 0) scalars += 1 + varintSize(chunk.segment);
  if (chunk.offset !== 0) scalars += 1 + varintSize(chunk.offset);
  if (chunk.length !== 0) scalars += 1 + varintSize(chunk.length);
  if (half) scalars += 2;
  const payloadHeader = payloadBytes > 0 ? 1 + varintSize(payloadBytes) : 0;
  const minIdVarint = varintSize(idLen);
  // The wrapper's length varint has a fixed size (padded) that fits the largest padding below.
  const wrapperVarint = wrapperField > 0
    ? varintSize(1 + minIdVarint + 3 + idLen + scalars + payloadHeader + payloadBytes) : 0;
  const prefix = wrapperField > 0 ? 1 + wrapperVarint : 0;
  // Choose the id length varint size so the payload starts aligned at the receiver.
  let idVarint = minIdVarint;
  for (; idVarint < minIdVarint + 4; idVarint++) {
    const payloadPos = prefix + 1 + idVarint + idLen + scalars + payloadHeader;
    if ((RECEIVER_MESSAGE_ADDRESS_MOD4 + payloadPos) % 4 === 0) break;
  }
  const headerLen = prefix + 1 + idVarint + idLen + scalars + payloadHeader;
  return { half, payloadBytes, headerLen, idVarint, wrapperField, wrapperVarint };
}

/** Writes the message at out[at..]; returns its length. */
function writeChunkMessage(out: Uint8Array, at: number, chunk: OutgoingChunk, layout: ChunkLayout): number {
  const { half, payloadBytes, headerLen, wrapperField } = layout;
  let pos = at;
  if (wrapperField > 0) {
    out[pos++] = (wrapperField << 3) | WIRE_LEN;
    pos = writePaddedVarint(out, pos, headerLen - 1 - layout.wrapperVarint + payloadBytes, layout.wrapperVarint);
  }
  out[pos++] = 0x0a;
  pos = writePaddedVarint(out, pos, chunk.idBytes.length, layout.idVarint);
  out.set(chunk.idBytes, pos);
  pos += chunk.idBytes.length;
  if (chunk.round !== 0) { out[pos++] = 0x10; pos = writeVarint(out, pos, chunk.round); }
  if (chunk.segment !== 0) { out[pos++] = 0x18; pos = writeVarint(out, pos, chunk.segment); }
  if (chunk.offset !== 0) { out[pos++] = 0x20; pos = writeVarint(out, pos, chunk.offset); }
  if (chunk.length !== 0) { out[pos++] = 0x28; pos = writeVarint(out, pos, chunk.length); }
  if (half) { out[pos++] = 0x38; out[pos++] = ENCODING_FLOAT16; }
  if (payloadBytes > 0) {
    out[pos++] = 0x32;
    pos = writeVarint(out, pos, payloadBytes);
    const data = chunk.data;
    if (!half) out.set(new Uint8Array(data.buffer, data.byteOffset + chunk.offset * 4, payloadBytes), pos);
    else if ((out.byteOffset + pos) % 2 === 0) {
      encodeHalf(data, chunk.offset, chunk.length, new Uint16Array(out.buffer, out.byteOffset + pos, chunk.length));
    } else {
      const bits = new Uint16Array(chunk.length);
      encodeHalf(data, chunk.offset, chunk.length, bits);
      out.set(new Uint8Array(bits.buffer), pos);
    }
  }
  return headerLen + payloadBytes;
}

/**
 * A serialized chunk message that is written only when grpc-js copies it into its framed buffer:
 * the server's serializeMessage reads `byteLength`, allocates the frame and calls
 * `copy(frame, 5)`, and uses nothing else. Writing the header and the payload straight into that
 * frame saves one full copy of every payload on the send path (the scratch buffer's).
 */
export class DeferredChunkMessage {
  readonly byteLength: number;
  private readonly layout: ChunkLayout;

  constructor(private readonly chunk: OutgoingChunk, wrapperField: number) {
    this.layout = chunkLayout(chunk, wrapperField);
    this.byteLength = this.layout.headerLen + this.layout.payloadBytes;
  }

  get length(): number {
    return this.byteLength;
  }

  /** Buffer.copy's contract, for the whole message: copies into target at targetStart. */
  copy(target: Uint8Array, targetStart = 0): number {
    return writeChunkMessage(target, targetStart, this.chunk, this.layout);
  }

  /** A real Buffer with the same bytes (tests, or a grpc-js that reads the message otherwise). */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength);
    this.copy(out, 0);
    return out;
  }
}

/** Minimal protobuf field reader (also used by the Link codec, transport/grpc-link-codec.ts). */
export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end: number) {}

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint in GradientChunk');
      const b = this.buf[this.pos++];
      if (i < 7) result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return result;
    }
    throw new Error('varint longer than 10 bytes in GradientChunk');
  }

  /** int64/int32 with two's complement negatives. */
  signedVarint(): number {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint in GradientChunk');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) return Number(BigInt.asIntN(64, v));
    }
    throw new Error('varint longer than 10 bytes in GradientChunk');
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_I64) this.pos += 8;
    else if (wireType === WIRE_LEN) this.pos += this.varint();
    else if (wireType === WIRE_I32) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType} in GradientChunk`);
    if (this.pos > this.end) throw new Error('truncated field in GradientChunk');
  }
}

function decodeChunkId(buf: Uint8Array, start: number, end: number): ChunkId {
  const r = new Reader(buf, end);
  r.pos = start;
  const id: ChunkId = { jobId: '', generation: 0, step: 0, senderRank: 0 };
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const len = r.varint();
      id.jobId = Buffer.from(buf.buffer, buf.byteOffset + r.pos, len).toString('utf8');
      r.pos += len;
    } else if (field === 2 && wire === WIRE_VARINT) id.generation = r.signedVarint();
    else if (field === 3 && wire === WIRE_VARINT) id.step = r.signedVarint();
    else if (field === 4 && wire === WIRE_VARINT) id.senderRank = Number(BigInt.asIntN(32, BigInt(r.signedVarint())));
    else r.skip(wire);
  }
  return id;
}

export function deserializeGradientChunk(buf: Buffer): IncomingChunk {
  const r = new Reader(buf, buf.length);
  const chunk: IncomingChunk = { id: null, round: 0, segment: 0, offset: 0, length: 0, encoding: ENCODING_FLOAT32, payload: null, halfPayload: null, payloadBytes: 0 };
  let payloadPos = -1;
  while (r.pos < buf.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const len = r.varint();
      chunk.id = decodeChunkId(buf, r.pos, r.pos + len);
      r.pos += len;
    } else if (field === 2 && wire === WIRE_VARINT) chunk.round = r.varint();
    else if (field === 3 && wire === WIRE_VARINT) chunk.segment = r.varint();
    else if (field === 4 && wire === WIRE_VARINT) chunk.offset = r.varint();
    else if (field === 5 && wire === WIRE_VARINT) chunk.length = r.varint();
    else if (field === 6 && wire === WIRE_LEN) {
      chunk.payloadBytes = r.varint();
      payloadPos = r.pos;
      r.pos += chunk.payloadBytes;
    } else if (field === 7 && wire === WIRE_VARINT) chunk.encoding = r.varint();
    else r.skip(wire);
    if (r.pos > buf.length) throw new Error('truncated GradientChunk');
  }
  if (chunk.encoding === ENCODING_FLOAT16) {
    if (payloadPos < 0) chunk.halfPayload = new Uint16Array(0);
    else if (chunk.payloadBytes % 2 === 0) {
      const address = buf.byteOffset + payloadPos;
      if (address % 2 === 0) {
        chunk.halfPayload = new Uint16Array(buf.buffer, address, chunk.payloadBytes / 2);
        codecStats.alignedPayloads++;
      } else {
        chunk.halfPayload = new Uint16Array(chunk.payloadBytes / 2);
        new Uint8Array(chunk.halfPayload.buffer).set(buf.subarray(payloadPos, payloadPos + chunk.payloadBytes));
        codecStats.copiedPayloads++;
      }
    }
    return chunk;
  }
  if (chunk.encoding !== ENCODING_FLOAT32) return chunk; // unknown encoding: the ring reports it
  if (payloadPos >= 0 && chunk.payloadBytes % 4 === 0) {
    const address = buf.byteOffset + payloadPos;
    if (address % 4 === 0) {
      chunk.payload = new Float32Array(buf.buffer, address, chunk.payloadBytes / 4);
      codecStats.alignedPayloads++;
    } else {
      chunk.payload = new Float32Array(chunk.payloadBytes / 4);
      new Uint8Array(chunk.payload.buffer).set(buf.subarray(payloadPos, payloadPos + chunk.payloadBytes));
      codecStats.copiedPayloads++;
    }
  } else if (payloadPos < 0) {
    chunk.payload = new Float32Array(0);
  }
  return chunk;
}
