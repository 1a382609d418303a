// Hand-written codec of dtrain.v1.LinkRequest / LinkFrame (proto/dtrain.proto, Peer/Link): the
// messages of the one long-lived bidi stream per ring link and world generation. Wire-compatible
// with the proto (any protobuf decoder reads it). The chunk frame reuses the GradientChunk codec
// nested as LinkFrame.chunk with the same payload alignment, so the receiver still reduces from a
// view of grpc-js's buffer, without a copy; the small messages are encoded by hand too.
import type { PullRequest, PullRequest__Output } from '@dtrain/shared/proto';
import {
  DeferredChunkMessage,
  deserializeGradientChunk,
  int64VarintBytes,
  Reader,
  serializeChunkMessage,
  type IncomingChunk,
  type OutgoingChunk,
} from '../gradient-chunk-codec';
import { pullMethod } from '../peer-service';

/** What the receiving rank sends: a pull (the per-collective "ready" handshake) or its cancel. */
export type LinkRequestMessage =
  | { kind: 'pull'; pull: PullRequest__Output }
  | { kind: 'cancel'; step: number };

export type OutgoingLinkRequest = { kind: 'pull'; pull: PullRequest } | { kind: 'cancel'; step: number };

/** What the sending rank sends: a chunk, the end of a collective's stream, or its wire error. */
export type OutgoingLinkFrame =
  | { kind: 'chunk'; chunk: OutgoingChunk }
  | { kind: 'end'; step: number }
  | { kind: 'error'; step: number; code: number; details: string };

export type IncomingLinkFrame =
  | { kind: 'chunk'; chunk: IncomingChunk }
  | { kind: 'end'; step: number }
  | { kind: 'error'; step: number; code: number; details: string };

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const LINK_FRAME_CHUNK = 1;

function lenField(field: number, body: Uint8Array): Buffer {
  const len = int64VarintBytes(body.length);
  const out = Buffer.allocUnsafe(1 + len.length + body.length);
  out[0] = (field << 3) | WIRE_LEN;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

function varintField(field: number, value: number): number[] {
  return value === 0 ? [] : [(field << 3) | WIRE_VARINT, ...int64VarintBytes(value)];
}

export function serializeLinkRequest(req: OutgoingLinkRequest): Buffer {
  if (req.kind === 'pull') return lenField(1, pullMethod().requestSerialize(req.pull));
  // cancel_step = 2 is in a oneof: written even when 0 so the kind is known.
  return Buffer.from([(2 << 3) | WIRE_VARINT, ...int64VarintBytes(req.step)]);
}

export function deserializeLinkRequest(buf: Buffer): LinkRequestMessage {
  const r = new Reader(buf, buf.length);
  let result: LinkRequestMessage | null = null;
  while (r.pos < buf.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const len = r.varint();
      if (r.pos + len > buf.length) throw new Error('truncated LinkRequest');
      result = { kind: 'pull', pull: pullMethod().requestDeserialize(buf.subarray(r.pos, r.pos + len)) };
      r.pos += len;
    } else if (field === 2 && wire === WIRE_VARINT) result = { kind: 'cancel', step: r.signedVarint() };
    else r.skip(wire);
  }
  if (!result) throw new Error('LinkRequest has neither pull nor cancel_step');
  return result;
}

/**
 * What the Link's server hands grpc-js: chunk frames as a DeferredChunkMessage, written straight
 * into grpc-js's framed buffer (grpc-js only reads byteLength and calls copy(frame, 5) on what a
 * server serializer returns); the cast is that one assumption, checked by the Link tests.
 */
export function serializeLinkFrameForSend(frame: OutgoingLinkFrame): Buffer {
  if (frame.kind === 'chunk') return new DeferredChunkMessage(frame.chunk, LINK_FRAME_CHUNK) as unknown as Buffer;
  return serializeLinkFrame(frame);
}

/** The chunk frame goes through the codec's reused scratch buffer: use it before the next call. */
export function serializeLinkFrame(frame: OutgoingLinkFrame): Buffer {
  if (frame.kind === 'chunk') return serializeChunkMessage(frame.chunk, true, LINK_FRAME_CHUNK);
  if (frame.kind === 'end') return Buffer.from([(2 << 3) | WIRE_VARINT, ...int64VarintBytes(frame.step)]);
  const details = Buffer.from(frame.details, 'utf8');
  const body = Buffer.concat([
    Buffer.from([...varintField(1, frame.step), ...varintField(2, frame.code)]),
    details.length > 0 ? lenField(3, details) : Buffer.alloc(0),
  ]);
  return lenField(3, body);
}

function decodeLinkError(buf: Buffer, start: number, end: number): IncomingLinkFrame {
  const r = new Reader(buf, end);
  r.pos = start;
  const e = { kind: 'error' as const, step: 0, code: 0, details: '' };
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_VARINT) e.step = r.signedVarint();
    else if (field === 2 && wire === WIRE_VARINT) e.code = Number(BigInt.asIntN(32, BigInt(r.signedVarint())));
    else if (field === 3 && wire === WIRE_LEN) {
      const len = r.varint();
      if (r.pos + len > end) throw new Error('truncated LinkError');
      e.details = buf.toString('utf8', r.pos, r.pos + len);
      r.pos += len;
    } else r.skip(wire);
  }
  return e;
}

export function deserializeLinkFrame(buf: Buffer): IncomingLinkFrame {
  const r = new Reader(buf, buf.length);
  let result: IncomingLinkFrame | null = null;
  while (r.pos < buf.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if ((field === LINK_FRAME_CHUNK || field === 3) && wire === WIRE_LEN) {
      const len = r.varint();
      if (r.pos + len > buf.length) throw new Error('truncated LinkFrame');
      // subarray keeps the byte offset, so the chunk codec's alignment check sees real addresses.
      result = field === LINK_FRAME_CHUNK
        ? { kind: 'chunk', chunk: deserializeGradientChunk(buf.subarray(r.pos, r.pos + len)) }
        : decodeLinkError(buf, r.pos, r.pos + len);
      r.pos += len;
    } else if (field === 2 && wire === WIRE_VARINT) result = { kind: 'end', step: r.signedVarint() };
    else r.skip(wire);
  }
  if (!result) throw new Error('LinkFrame has no chunk, end_step or error');
  return result;
}
