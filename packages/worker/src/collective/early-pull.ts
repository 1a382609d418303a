// The early pull of small steps. A ring collective waits, per step, for its successor's pull (the
// "ready" handshake) before it sends: at N=2 with tiny models that costs a round trip and all the
// skew between the ranks on every step. So when a rank's small all-reduce of step S ends, it sends
// the pull for step S+1 at once (PullRequest.early), and its predecessor's chunks of S+1 may then
// arrive before this rank has computed its own gradients. They are held here (copied: transports
// reuse their receive buffers) and handed to the collective of S+1 when it starts, in arrival order,
// through the same header checks as chunks that arrive later, so a wrong step, generation, round or
// length still fails with the same named error. Bounded: only buffers up to EARLY_PULL_MAX_BYTES,
// one step ahead, at most the pulled buffer's bytes held (more is a length mismatch).
import { CollectiveMismatchError } from '@dtrain/shared/errors';
import type { ChunkHeader, ChunkSink, InboundStream, WireFailure } from './transport/api';

/** Largest fused buffer (bytes of float32) whose next step is pulled early. */
export const EARLY_PULL_MAX_BYTES = 256 * 1024;

/** One held chunk: its header and the payload bytes that arrived so far (in `arena`). */
interface HeldChunk {
  header: ChunkHeader;
  /** Byte offset in the arena. */
  at: number;
  /** Elements received so far. */
  elems: number;
  half: boolean;
  done: boolean;
}

/** What the early pull hands held chunks to: a CollectiveOp (ring-collective.ts). */
export type EarlySink = Required<Pick<ChunkSink, 'header' | 'payload' | 'chunkDone' | 'end' | 'error'>> & {
  destination(): Float32Array | null;
  /** The held data broke a bound: the op fails with this error. */
  fail(err: Error): void;
};

export class EarlyPull implements ChunkSink {
  inbound: InboundStream | null = null;
  private target: EarlySink | null = null;
  private readonly held: HeldChunk[] = [];
  private used = 0;
  private discarded = false;
  private ended = false;
  private failure: WireFailure | null = null;
  private overflow: { got: number } | null = null;
  /** A chunk whose header came before adoption and whose payload is still arriving (forwarded piecewise). */
  private partial = false;

  constructor(
    readonly step: number,
    readonly totalLength: number,
    readonly encoding: number,
    private readonly predName: string,
    /** At least totalLength * 4 bytes, owned by this pull until it is adopted or discarded. */
    private readonly arena: ArrayBuffer,
  ) {}

  /** Whether a collective (step, length, encoding) is the one this pull was sent for. */
  matches(step: number, totalLength: number, encoding: number): boolean {
    return step === this.step && totalLength === this.totalLength && encoding === this.encoding;
  }

  /**
   * Replays what arrived into `target` (header checks included), then forwards everything to it.
   * Returns how many chunks had arrived (whole or in part).
   */
  adopt(target: EarlySink): number {
    const arrived = this.held.length;
    for (const c of this.held) {
      if (!target.header(c.header)) {
        this.discarded = true; // the op failed (and cancelled the stream)
        return arrived;
      }
      if (c.elems > 0) {
        const held = c.half ? new Uint16Array(this.arena, c.at, c.elems) : new Float32Array(this.arena, c.at, c.elems);
        target.payload(held, 0);
      }
      if (c.done) target.chunkDone();
      else this.partial = true;
    }
    this.held.length = 0;
    this.target = target;
    if (this.overflow) {
      target.fail(new CollectiveMismatchError('length',
        `at most ${this.totalLength * 4} payload bytes for step ${this.step}`,
        `${this.overflow.got} bytes before the collective started`, this.predName));
    } else if (this.failure) target.error(this.failure);
    else if (this.ended) target.end();
    return arrived;
  }

  /** Not the collective this pull was for: the predecessor is told to stop. */
  discard(): void {
    this.discarded = true;
    this.held.length = 0;
    this.target = null;
    this.inbound?.cancel();
  }

  header(chunk: ChunkHeader): boolean {
    if (this.target) {
      this.partial = false;
      return this.target.header(chunk);
    }
    if (this.discarded || this.overflow || this.failure || this.ended) return false;
    const bytes = chunk.payloadBytes;
    const at = (this.used + 3) & ~3;
    // Float32 payloads of at most the whole buffer (the exchange's, or a ring round's segment).
    if (!(bytes >= 0) || at + bytes > this.totalLength * 4) {
      this.overflow = { got: this.used + bytes };
      return false;
    }
    this.used = at + bytes;
    const { id, round, segment, offset, length, encoding, payloadBytes } = chunk;
    const header: ChunkHeader = { id: id ? { ...id } : id, round, segment, offset, length, encoding, payloadBytes };
    this.held.push({ header, at, elems: 0, half: false, done: false });
    return true;
  }

  payload(data: Float32Array | Uint16Array, at: number): void {
    if (this.target) {
      this.target.payload(data, at);
      return;
    }
    const c = this.held[this.held.length - 1];
    if (this.discarded || !c || c.done) return;
    const half = data instanceof Uint16Array;
    c.half = half;
    const dst = half
      ? new Uint16Array(this.arena, c.at + at * 2, data.length)
      : new Float32Array(this.arena, c.at + at * 4, data.length);
    dst.set(data);
    c.elems = Math.max(c.elems, at + data.length);
  }

  destination(): Float32Array | null {
    // Before adoption: payload() (held in the arena). A chunk that began before adoption continues
    // through payload() (never half via destination).
    return this.target && !this.partial ? this.target.destination() : null;
  }

  chunkDone(): void {
    if (this.target) {
      this.partial = false;
      this.target.chunkDone();
      return;
    }
    const c = this.held[this.held.length - 1];
    if (c) c.done = true;
  }

  end(): void {
    if (this.target) this.target.end();
    else this.ended = true;
  }

  error(failure: WireFailure): void {
    if (this.target) this.target.error(failure);
    else this.failure ??= failure;
  }
}
