// Ring all-reduce / broadcast over a PeerTransport (transport/api.ts). Each rank pulls from its
// ring predecessor (the receiving rank opens the stream: 'grpc' a Peer/Pull call with a 16 MiB
// receive window, 'tcp' a PULL frame on its link's connection) and serves its successor's pull.
// A pull names (job, generation, step): the predecessor sends nothing for a collective until its
// successor asked for it, which is the per-collective "ready" handshake. Every rank always pulls
// and always serves, even when it has nothing to send, so lengths, job and generation are checked
// on every collective, and every chunk header is checked against the plan, for both transports.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import {
  ChunkSizeError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  DtrainError,
  PeerLostError,
  WorldAbortedError,
} from '@dtrain/shared/errors';
import type { TcpOpenReply } from '@dtrain/shared/proto';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type { AllReduceStats, Collective, PeerServer, RingOptions } from './api';
import {
  bytesPerElement,
  encodeChunkId,
  encodingName,
  ENCODING_FLOAT16,
  ENCODING_FLOAT32,
  type ChunkEncoding,
  type ChunkId,
} from './gradient-chunk-codec';
import { EarlyPull, EARLY_PULL_MAX_BYTES, type EarlySink } from './early-pull';
import { f32AddKernel, type F32AddKernel } from './f32-add-kernel';
import { addHalf, addHalfAndRound, copyHalf } from './half-float';
import { GrpcPeerServer, type OpenTcpCall, type PullHandler } from './peer-server';
import { allReducePlan, broadcastPlan, chunkCount, exchangePlan, type ReceiveRound, type RingPlan } from './ring-plan';
import type { ChunkHeader, ChunkSink, InboundStream, OutboundStream, PeerTransport, TransportKind } from './transport/api';
import { createPeerTransport } from './transport/index';
import { TcpListener } from './transport/tcp-transport';
import { encodeWireError, errorFromStatus, wireErrorOf } from './wire-error';

/**
 * A cancelled outgoing stream may be the successor dying, or the successor failing because of
 * someone else; wait this long for the better-attributed error to arrive from the predecessor.
 */
const LOST_GRACE_MS = 500;
/**
 * Largest buffer for the N=2 direct exchange: below it latency dominates; above, the ring is as fast
 * and cheaper (the exchange adds the whole buffer and snapshots it; the ring adds half). Measured
 * 2-4 MB, 3 interleaved runs: ring median time 7.5 vs 9.0 ms (2 MB), 15.1 vs 14.9 (4 MB); CPU
 * per rank 2.06 vs 2.27 and 4.68 vs 5.13 ms.
 */
const EXCHANGE_MAX_BYTES = 1024 * 1024;
/**
 * grpc: the exchange only for small buffers (one hop instead of two is what a small step waits for);
 * at 1 MB it was slower than the ring on grpc (see above).
 */
const GRPC_EXCHANGE_MAX_BYTES = 64 * 1024;
/** Compact the send queue once this many entries were consumed. */
const QUEUE_COMPACT_ENTRIES = 4096;

type Mismatch = ConstructorParameters<typeof CollectiveMismatchError>[0];

interface SendItem {
  round: number;
  segment: number;
  offset: number;
  length: number;
}

function validateRingOptions(opts: RingOptions): void {
  const bad: string[] = [];
  if (typeof opts.jobId !== 'string') bad.push('jobId must be a string');
  if (!Number.isSafeInteger(opts.generation) || opts.generation < 0) bad.push(`generation must be a non-negative integer, got ${opts.generation}`);
  if (!Number.isInteger(opts.worldSize) || opts.worldSize < 1) bad.push(`worldSize must be an integer >= 1, got ${opts.worldSize}`);
  if (!Number.isInteger(opts.rank) || opts.rank < 0 || opts.rank >= opts.worldSize) bad.push(`rank must be in 0..${opts.worldSize - 1}, got ${opts.rank}`);
  if (!Array.isArray(opts.ring) || opts.ring.length !== opts.worldSize) bad.push(`ring must list ${opts.worldSize} addresses, got ${Array.isArray(opts.ring) ? opts.ring.length : typeof opts.ring}`);
  if (!Number.isInteger(opts.chunkBytes) || opts.chunkBytes < 4) bad.push(`chunkBytes must be an integer >= 4, got ${opts.chunkBytes}`);
  if (!(opts.timeoutMs > 0)) bad.push(`timeoutMs must be > 0, got ${opts.timeoutMs}`);
  if (opts.compression !== undefined && opts.compression !== 'none' && opts.compression !== 'fp16') bad.push(`compression must be 'none' or 'fp16', got ${String(opts.compression)}`);
  if (opts.transport !== undefined && opts.transport !== 'grpc' && opts.transport !== 'tcp') bad.push(`transport must be 'grpc' or 'tcp', got ${String(opts.transport)}`);
  if (opts.algorithm !== undefined && opts.algorithm !== 'auto' && opts.algorithm !== 'ring') bad.push(`algorithm must be 'auto' or 'ring', got ${String(opts.algorithm)}`);
  if (opts.tls !== undefined && (!opts.tls.ca || !opts.tls.cert || !opts.tls.key)) bad.push('tls needs ca, cert and key');
  if (bad.length > 0) throw new RangeError(`invalid RingOptions: ${bad.join('; ')}`);
}

class CollectiveOp implements ChunkSink, EarlySink {
  readonly promise: Promise<AllReduceStats>;
  private resolve!: (stats: AllReduceStats) => void;
  private reject!: (err: Error) => void;
  private settled = false;
  private stream: OutboundStream | null = null;
  /** The successor replaced the early pull this op was sending on: its next pull must be a mismatch. */
  private earlyReplaced = false;
  private earlyChunks = 0;
  /** This op's chunks come on an early pull (sent when the previous step ended, or implied by it). */
  private adoptedEarly = false;
  private inbound: InboundStream | null = null;
  /** The chunk whose payload is arriving (set by header(), cleared by chunkDone()). */
  private current: { rr: ReceiveRound; offset: number; length: number; roundAfterAdd: boolean } | null = null;
  private readonly queue: SendItem[] = [];
  private queueHead = 0;
  private issued = 0;
  private completed = 0;
  private blocked = false;
  private ended = false;
  private received = 0;
  private predEnded = false;
  private readonly nextChunk = new Map<number, number>();
  private bytesSent = 0;
  private readonly startedAt = performance.now();
  private lastProgress = this.startedAt;
  private watchdog: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private readonly idBytes: Uint8Array;
  private readonly id: ChunkId;
  /** What sends read: the buffer itself, or a snapshot of it (plan.sendFromSnapshot). */
  private readonly sendData: Float32Array;
  /** Wire encoding of this collective's chunks: broadcasts are always FLOAT32 (see RingCollective). */
  readonly encoding: ChunkEncoding;
  private readonly bytesPerElement: number;
  readonly chunkElems: number;

  constructor(
    private readonly ring: RingCollective,
    readonly kind: 'all-reduce' | 'broadcast',
    readonly step: number,
    private readonly buffer: Float32Array,
    private readonly plan: RingPlan,
  ) {
    this.encoding = kind === 'all-reduce' ? ring.encoding : ENCODING_FLOAT32;
    this.bytesPerElement = bytesPerElement(this.encoding);
    this.chunkElems = ring.chunkElemsFor(this.encoding);
    this.promise = new Promise<AllReduceStats>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.id = { ...ring.idBase, step, senderRank: ring.rank };
    this.sendData = plan.sendFromSnapshot ? ring.snapshotOf(buffer) : buffer;
    this.idBytes = encodeChunkId(this.id);
  }

  get name(): string {
    return `${this.kind} step ${this.step}`;
  }

  start(transport: PeerTransport): void {
    const initial = this.plan.initialSend;
    if (initial) {
      const elems = this.chunkElems;
      const end = initial.range.start + initial.range.length;
      for (let offset = initial.range.start; offset < end; offset += elems) {
        this.queue.push({ round: initial.round, segment: initial.segment, offset, length: Math.min(elems, end - offset) });
      }
    }
    this.armWatchdog(this.ring.timeoutMs);
    const early = this.ring.takeEarly(this.step, this.buffer.length, this.encoding);
    if (early) {
      // Pulled when the previous step ended: what arrived since is replayed through the checks.
      this.inbound = early.inbound;
      this.adoptedEarly = true;
      this.earlyChunks = early.adopt(this);
    } else {
      this.inbound = transport.pull({ id: this.id, totalLength: this.buffer.length, encoding: this.encoding }, this);
    }
    this.offerPull();
  }

  /** ChunkSink: the predecessor's stream failed (its wire error, or the link itself). */
  error(failure: { code: number; details: string }): void {
    if (!this.settled) this.fail(errorFromStatus(failure, this.ring.predPeer, this.ring.ringAddresses));
  }

  /** ChunkSink: the predecessor ended this collective's stream. */
  end(): void {
    this.predEnded = true;
    if (this.settled) return;
    if (this.received < this.plan.receiveChunks) {
      this.fail(new PeerLostError(this.ring.pred, this.ring.predAddress, `stream ended after ${this.received} of ${this.plan.receiveChunks} chunks of ${this.name}`));
      return;
    }
    // The predecessor's transport opened the next step's early pull as it ended this one: it must be
    // in place before the next frame is read, not when this op settles (its own sends may lag).
    if (this.adoptedEarly && this.kind === 'all-reduce') {
      this.ring.pullEarly(this.step + 1, this.buffer.length, this.encoding, true);
    }
    this.progress();
    this.maybeDone();
  }

  /** Attaches the successor's pull for this step if one is waiting. */
  offerPull(): void {
    if (this.settled || this.stream) return;
    // An early pull is served only if it matches; otherwise its sender replaces it by a plain pull.
    const stream = this.ring.takePull(this.step, (r) => !r.early || (r.totalLength === this.buffer.length
      && (r.encoding ?? ENCODING_FLOAT32) === this.encoding));
    if (!stream) return;
    const theirs = stream.request.totalLength;
    if (theirs !== this.buffer.length) {
      this.ring.refuse(stream, 'length', this.buffer.length, theirs);
      this.fail(new CollectiveMismatchError('length', this.buffer.length, theirs, this.ring.succName));
      return;
    }
    const mine = encodingName(this.encoding);
    const theirEncoding = encodingName(stream.request.encoding ?? ENCODING_FLOAT32);
    if (theirEncoding !== mine) {
      this.ring.refuse(stream, 'encoding', mine, theirEncoding);
      this.fail(new CollectiveMismatchError('encoding', mine, theirEncoding, this.ring.succName));
      return;
    }
    if (this.earlyReplaced) {
      this.fail(new PeerLostError(this.ring.succ, this.ring.succAddress,
        `it replaced its early pull of ${this.name} after chunks were sent`));
      return;
    }
    this.stream = stream;
    stream.onCancelled(() => this.onSuccessorCancelled(stream));
    this.progress();
    this.pump();
    this.maybeDone();
  }

  private onSuccessorCancelled(stream: OutboundStream): void {
    // grpc-js emits 'cancelled' whenever the HTTP/2 stream closes, also after a normal end: once
    // everything was written and the stream ended, the successor has all it needs from us.
    if (this.settled || this.graceTimer || this.sendsComplete()) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      this.fail(new PeerLostError(this.ring.succ, this.ring.succAddress, `it cancelled its Pull of ${this.name} (process died or failed)`));
    }, LOST_GRACE_MS);
    if (stream.request.early && this.stream === stream) {
      // Its collective of this step differs from what it pulled early (length or encoding): the plain
      // pull that replaces the early one is checked, and names the mismatch within the grace period.
      this.stream = null;
      this.earlyReplaced = true;
      this.offerPull();
    }
  }

  private pump(): void {
    const stream = this.stream;
    if (!stream || this.settled) return;
    while (!this.blocked && this.queueHead < this.queue.length) {
      const item = this.queue[this.queueHead++];
      this.issued++;
      this.bytesSent += item.length * this.bytesPerElement;
      const ok = stream.write(
        {
          idBytes: this.idBytes, id: this.id, round: item.round, segment: item.segment, offset: item.offset, length: item.length,
          data: this.sendData, encoding: this.encoding,
        },
        () => {
          this.completed++;
          this.progress();
          this.maybeDone();
        },
      );
      if (!ok) {
        this.blocked = true;
        stream.onceDrain(() => {
          this.blocked = false;
          this.progress();
          this.pump();
        });
      }
    }
    if (this.queueHead >= QUEUE_COMPACT_ENTRIES && this.queueHead * 2 >= this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (!this.ended && this.issued === this.plan.sendChunks) {
      this.ended = true;
      stream.end();
    }
  }

  /** ChunkSink: a chunk header; checked before any of its payload touches the buffer. */
  header(chunk: ChunkHeader): boolean {
    if (this.settled) return false;
    const problem = this.check(chunk);
    if (problem) {
      this.fail(problem);
      return false;
    }
    const rr = this.plan.receive.get(chunk.round)!;
    // After the last add this rank owns the full sum and all-gathers it as half: it keeps the same
    // rounded value, so every replica ends bit-identical (weights digest check).
    const roundAfterAdd = rr.op === 'add' && this.plan.receive.get(rr.round + 1)?.op === 'copy';
    this.current = { rr, offset: chunk.offset, length: chunk.length, roundAfterAdd };
    return true;
  }

  /** ChunkSink: elements [at, at + data.length) of the current chunk, reduced in place. */
  payload(data: Float32Array | Uint16Array, at: number): void {
    const cur = this.current;
    if (this.settled || !cur) return;
    const n = data.length;
    const offset = cur.offset + at;
    // Half chunks are decoded while reducing, straight from the received bytes; the partial sums
    // stay float32 here and are re-quantized only when forwarded.
    if (data instanceof Uint16Array) {
      if (cur.roundAfterAdd) addHalfAndRound(this.buffer, offset, data, n);
      else if (cur.rr.op === 'add') addHalf(this.buffer, offset, data, n);
      else copyHalf(this.buffer, offset, data, n);
    } else if (cur.rr.op === 'add') {
      this.ring.addKernel.addInto(this.buffer, offset, data);
    } else {
      this.buffer.set(data, offset);
    }
  }

  /** ChunkSink: a float32 copy round's chunk is placed straight into the buffer (no copy through the transport). */
  destination(): Float32Array | null {
    const cur = this.current;
    if (this.settled || !cur || cur.rr.op !== 'copy' || this.encoding !== ENCODING_FLOAT32) return null;
    return this.buffer.subarray(cur.offset, cur.offset + cur.length);
  }

  /** ChunkSink: the current chunk is complete; forward it if the plan says so. */
  chunkDone(): void {
    const cur = this.current;
    this.current = null;
    if (this.settled || !cur) return;
    this.received++;
    this.progress();
    if (cur.rr.forward) {
      this.queue.push({ round: cur.rr.round + 1, segment: cur.rr.segment, offset: cur.offset, length: cur.length });
      this.pump();
    }
    this.maybeDone();
  }

  /** Every field of every chunk is checked against what the plan says must come next. */
  private check(chunk: ChunkHeader): DtrainError | null {
    const ring = this.ring;
    const peer = ring.predName;
    const mismatch = (field: Mismatch, expected: string | number, got: string | number) => new CollectiveMismatchError(field, expected, got, peer);
    const id = chunk.id;
    if (!id) return mismatch('job', ring.idBase.jobId, '(chunk without id)');
    if (id.jobId !== ring.idBase.jobId) return mismatch('job', ring.idBase.jobId, id.jobId);
    if (id.generation !== ring.idBase.generation) return mismatch('generation', ring.idBase.generation, id.generation);
    if (id.step !== this.step) return mismatch('step', this.step, id.step);
    if (id.senderRank !== ring.pred) return mismatch('rank', ring.pred, id.senderRank);
    const rr = this.plan.receive.get(chunk.round);
    if (!rr) return mismatch('round', `one of [${[...this.plan.receive.keys()].join(',')}]`, chunk.round);
    if (chunk.segment !== rr.segment) return mismatch('round', `round ${rr.round} segment ${rr.segment}`, `round ${chunk.round} segment ${chunk.segment}`);
    const index = this.nextChunk.get(rr.round) ?? 0;
    if (index >= chunkCount(rr.range.length, this.chunkElems)) {
      return mismatch('round', `no more chunks in round ${rr.round}`, `round ${chunk.round} offset ${chunk.offset}`);
    }
    const offset = rr.range.start + index * this.chunkElems;
    if (chunk.offset !== offset) return mismatch('round', `round ${rr.round} offset ${offset}`, `round ${chunk.round} offset ${chunk.offset}`);
    const length = Math.min(this.chunkElems, rr.range.start + rr.range.length - offset);
    if (chunk.length !== length) return mismatch('length', `${length} elements at offset ${offset}`, `${chunk.length} elements`);
    if (chunk.encoding !== this.encoding) return mismatch('encoding', encodingName(this.encoding), encodingName(chunk.encoding));
    const bytes = length * this.bytesPerElement;
    if (chunk.payloadBytes !== bytes) return new ChunkSizeError(bytes, chunk.payloadBytes, peer);
    this.nextChunk.set(rr.round, index + 1);
    return null;
  }

  private progress(): void {
    this.lastProgress = performance.now();
  }

  private armWatchdog(ms: number): void {
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (this.settled) return;
      const idle = performance.now() - this.lastProgress;
      if (idle < this.ring.timeoutMs) {
        this.armWatchdog(this.ring.timeoutMs - idle + 1);
        return;
      }
      // A successor that never asked is absent; otherwise the silent side is the predecessor.
      const blame = !this.stream || (this.received === this.plan.receiveChunks && this.predEnded) ? this.ring.succ : this.ring.pred;
      this.fail(new CollectiveTimeoutError(blame, this.ring.timeoutMs, `${this.name} on rank ${this.ring.rank}`));
    }, ms);
  }

  private sendsComplete(): boolean {
    return this.ended && this.completed === this.plan.sendChunks;
  }

  private maybeDone(): void {
    if (this.settled) return;
    if (this.received !== this.plan.receiveChunks || !this.predEnded) return;
    if (!this.stream || !this.sendsComplete()) return;
    this.settle();
    if (this.kind === 'all-reduce') {
      this.ring.pullEarly(this.step + 1, this.buffer.length, this.encoding, this.adoptedEarly);
    }
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.resolve({ bytesSent: this.bytesSent, seconds, earlyChunks: this.earlyChunks });
  }

  private settle(): void {
    this.settled = true;
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.watchdog = null;
    this.graceTimer = null;
    this.ring.opFinished(this);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settle();
    this.inbound?.cancel();
    if (this.stream && !this.stream.cancelled) {
      this.stream.fail({ code: grpc.status.ABORTED, details: encodeWireError(wireErrorOf(err)) });
    }
    this.reject(err);
    this.ring.fail(err);
  }
}

export class RingCollective implements Collective, PullHandler {
  readonly rank: number;
  readonly worldSize: number;
  readonly pred: number;
  readonly succ: number;
  readonly predAddress: string;
  readonly succAddress: string;
  readonly timeoutMs: number;
  /** All-reduce wire encoding. Broadcasts (initial weights) stay FLOAT32: replicas must start exact. */
  readonly encoding: ChunkEncoding;
  private readonly chunkBytes: number;
  readonly idBase: { jobId: string; generation: number };
  readonly ringAddresses: readonly string[];
  readonly transportKind: TransportKind;
  private readonly algorithm: 'auto' | 'ring';
  /** dst += src in float32: wasm SIMD where available (f32-add-kernel.ts). */
  readonly addKernel: F32AddKernel = f32AddKernel();
  /** Reused copy of the buffer for plans that send from a snapshot. */
  private snapshot = new Float32Array(0);
  private readonly transport: PeerTransport | null;
  /** tcp: this generation's listener, serving the successor. */
  private readonly listener: TcpListener | null;
  private active: CollectiveOp | null = null;
  private pulls: OutboundStream[] = [];
  private readonly earlyPull: boolean;
  /** The next step's pull, sent when an all-reduce ended (early-pull.ts). */
  private early: EarlyPull | null = null;
  /** Reused by every early pull (one at a time) for the chunks it holds. */
  private earlyArena = new ArrayBuffer(0);
  private failure: Error | null = null;
  private closed = false;

  constructor(private readonly server: GrpcPeerServer, opts: RingOptions) {
    validateRingOptions(opts);
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.pred = (opts.rank - 1 + opts.worldSize) % opts.worldSize;
    this.succ = (opts.rank + 1) % opts.worldSize;
    this.predAddress = opts.ring[this.pred];
    this.succAddress = opts.ring[this.succ];
    this.encoding = opts.compression === 'fp16' ? ENCODING_FLOAT16 : ENCODING_FLOAT32;
    this.chunkBytes = opts.chunkBytes;
    this.timeoutMs = opts.timeoutMs;
    this.idBase = { jobId: opts.jobId, generation: opts.generation };
    this.ringAddresses = [...opts.ring];
    this.transportKind = opts.transport ?? 'grpc';
    this.algorithm = opts.algorithm ?? 'auto';
    this.earlyPull = opts.earlyPull ?? true;
    const multi = opts.worldSize > 1;
    // security: the job's credentials cover both data paths: gRPC channels get its TLS + join token,
    // and the tcp transport's links speak mutual TLS with the same certificates.
    const security = opts.security ?? createInsecureSecurity();
    const tls = opts.tls ?? security.tlsMaterial ?? undefined;
    this.listener = multi && this.transportKind === 'tcp'
      ? new TcpListener({
        bindHost: server.bindHost, advertiseHost: server.advertiseHost, jobId: opts.jobId, generation: opts.generation,
        successor: this.succ, tls, handler: { onPull: (stream) => this.acceptPull(stream, 'tcp') },
      })
      : null;
    this.transport = multi
      ? createPeerTransport(this.transportKind, {
        predAddress: this.predAddress, jobId: opts.jobId, generation: opts.generation, rank: opts.rank, tls, security,
      })
      : null;
    server.attach(this);
  }

  /** chunkBytes is the wire payload per chunk, so fp16 chunks carry twice the elements. */
  chunkElemsFor(encoding: ChunkEncoding): number {
    return Math.floor(this.chunkBytes / bytesPerElement(encoding));
  }

  get predPeer(): { rank: number; address: string } {
    return { rank: this.pred, address: this.predAddress };
  }

  get predName(): string {
    return `rank ${this.pred} (${this.predAddress})`;
  }

  get succName(): string {
    return `rank ${this.succ} (${this.succAddress})`;
  }

  allReduceSum(buffer: Float32Array, step: number): Promise<AllReduceStats> {
    const chunkElems = this.chunkElemsFor(this.encoding);
    // Both ranks choose from the same inputs (N, encoding), and chunk headers are checked against
    // the plan, so a peer that chose otherwise fails with a named mismatch, never a wrong sum.
    // Measured: the exchange halves tcp's 1 MB time, but made grpc's slower (A/B, same minute).
    const bytes = buffer.length * 4;
    const exchange = this.worldSize === 2 && this.encoding === ENCODING_FLOAT32 && this.algorithm === 'auto'
      && bytes <= (this.transportKind === 'tcp' ? EXCHANGE_MAX_BYTES : GRPC_EXCHANGE_MAX_BYTES);
    return this.run('all-reduce', buffer, step, () =>
      exchange ? exchangePlan(buffer.length, chunkElems) : allReducePlan(this.rank, this.worldSize, buffer.length, chunkElems));
  }

  broadcast(buffer: Float32Array, step: number, root: number): Promise<AllReduceStats> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(new RangeError(`broadcast root must be in 0..${this.worldSize - 1}, got ${root}`));
    }
    return this.run('broadcast', buffer, step, () => broadcastPlan(this.rank, this.worldSize, root, buffer.length, this.chunkElemsFor(ENCODING_FLOAT32)));
  }

  private run(kind: 'all-reduce' | 'broadcast', buffer: Float32Array, step: number, plan: () => RingPlan): Promise<AllReduceStats> {
    if (this.closed) return Promise.reject(new WorldAbortedError(`collective of rank ${this.rank} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    if (!(buffer instanceof Float32Array)) return Promise.reject(new TypeError(`${kind} buffer must be a Float32Array`));
    if (!Number.isSafeInteger(step)) return Promise.reject(new RangeError(`${kind} step must be an integer, got ${step}`));
    if (this.active) return Promise.reject(new Error(`${kind} step ${step} started while ${this.active.name} is still running`));
    if (!this.transport) return Promise.resolve({ bytesSent: 0, seconds: 0 });
    const op = new CollectiveOp(this, kind, step, buffer, plan());
    this.active = op;
    op.start(this.transport);
    return op.promise;
  }

  /** A Peer/Pull call (the grpc transport's stream, or a wrong-transport peer). */
  onPull(stream: OutboundStream): void {
    this.acceptPull(stream, 'grpc');
  }

  /** OpenTcp: the successor asks where this generation's listener is; checked like a pull. */
  onOpenTcp(call: OpenTcpCall): void {
    const id = call.request.id;
    const who = `rank ${id?.senderRank ?? '?'} (${call.peer})`;
    if (id && id.jobId === this.idBase.jobId && id.generation > this.idBase.generation) {
      this.server.deferOpenTcp(call);
      if (!this.closed) this.fail(new CollectiveMismatchError('generation', this.idBase.generation, id.generation, who));
      return;
    }
    if (this.closed) return call.reply({ code: grpc.status.UNAVAILABLE, details: `rank ${this.rank} closed its collective` });
    if (this.failure) return call.reply({ code: grpc.status.ABORTED, details: encodeWireError(wireErrorOf(this.failure)) });
    const refuse = (field: Mismatch, mine: string | number, theirs: string | number, poisons: boolean): void => {
      call.reply({ code: grpc.status.FAILED_PRECONDITION, details: this.refusal(field, mine, theirs) });
      if (poisons) this.fail(new CollectiveMismatchError(field, mine, theirs, who));
    };
    if (!id) return refuse('job', this.idBase.jobId, '(OpenTcp without id)', true);
    if (id.jobId !== this.idBase.jobId) return refuse('job', this.idBase.jobId, id.jobId, true);
    if (id.generation < this.idBase.generation) return refuse('generation', this.idBase.generation, id.generation, false);
    if (id.senderRank !== this.succ) return refuse('rank', this.succ, id.senderRank, true);
    if (!this.listener) return refuse('transport', this.transportKind, 'tcp', true);
    const listener = this.listener;
    listener.ready.then(
      (address) => call.reply({ address, secret: listener.secret, tls: listener.tls } satisfies TcpOpenReply),
      (err: Error) => call.reply({ code: grpc.status.UNAVAILABLE, details: `rank ${this.rank} cannot listen for tcp: ${err.message}` }),
    );
  }

  private acceptPull(stream: OutboundStream, via: TransportKind): void {
    const next = stream.request.id;
    if (next && next.jobId === this.idBase.jobId && next.generation > this.idBase.generation) {
      // A peer of a newer world generation: this ring is stale. Keep the pull for our next ring
      // (the peer re-formed faster than us) rather than refusing it.
      this.server.defer(stream);
      if (!this.closed) {
        this.fail(new CollectiveMismatchError('generation', this.idBase.generation, next.generation, `rank ${next.senderRank} (${stream.peer})`));
      }
      return;
    }
    if (this.closed) {
      stream.fail({ code: grpc.status.UNAVAILABLE, details: `rank ${this.rank} closed its collective` });
      return;
    }
    if (this.failure) {
      stream.fail({ code: grpc.status.ABORTED, details: encodeWireError(wireErrorOf(this.failure)) });
      return;
    }
    const id = stream.request.id;
    const who = `rank ${id?.senderRank ?? '?'} (${stream.peer})`;
    const check = (field: Mismatch, mine: string | number, theirs: string | number): boolean => {
      if (mine === theirs) return false;
      this.refuse(stream, field, mine, theirs);
      this.fail(new CollectiveMismatchError(field, mine, theirs, who));
      return true;
    };
    if (!id) {
      check('job', this.idBase.jobId, '(pull without id)');
      return;
    }
    if (check('job', this.idBase.jobId, id.jobId)) return;
    if (id.generation < this.idBase.generation) {
      // A stale peer of an older generation: it must learn (refused), but this ring is fine.
      this.refuse(stream, 'generation', this.idBase.generation, id.generation);
      return;
    }
    if (check('rank', this.succ, id.senderRank)) return;
    if (check('transport', this.transportKind, via)) return;
    this.pulls.push(stream);
    stream.onCancelled(() => {
      this.pulls = this.pulls.filter((s) => s !== stream);
    });
    this.active?.offerPull();
  }

  /** Ends a pull with a mismatch status the requester turns into CollectiveMismatchError. */
  refuse(stream: OutboundStream, field: Mismatch, mine: string | number, theirs: string | number): void {
    stream.fail({ code: grpc.status.FAILED_PRECONDITION, details: this.refusal(field, mine, theirs) });
  }

  private refusal(field: Mismatch, mine: string | number, theirs: string | number): string {
    const message = `rank ${this.rank} refused the pull: ${field} is ${String(mine)} here, ${String(theirs)} in the request`;
    return encodeWireError({ code: 'CollectiveMismatchError', message, peerRank: -1, peerAddress: '', field, serverValue: String(mine), clientValue: String(theirs) });
  }

  takePull(step: number, accept: (request: OutboundStream['request']) => boolean): OutboundStream | null {
    const i = this.pulls.findIndex((s) => s.request.id?.step === step && accept(s.request));
    if (i < 0) return null;
    const [stream] = this.pulls.splice(i, 1);
    return stream;
  }

  /**
   * Sends the pull of the step expected next, when a small all-reduce ended (early-pull.ts). `implied`:
   * that all-reduce itself came on an early pull, so the predecessor opened this one already and no
   * message is sent (PullFields.implied). Once per step.
   */
  pullEarly(step: number, length: number, encoding: ChunkEncoding, implied: boolean): void {
    if (!this.earlyPull || this.closed || this.failure || !this.transport || !Number.isSafeInteger(step)) return;
    if (length * 4 > EARLY_PULL_MAX_BYTES || this.early?.step === step) return;
    if (this.earlyArena.byteLength < length * 4) this.earlyArena = new ArrayBuffer(length * 4);
    const early = new EarlyPull(step, length, encoding, this.predName, this.earlyArena);
    this.early = early;
    const id = { ...this.idBase, step, senderRank: this.rank };
    early.inbound = this.transport.pull({ id, totalLength: length, encoding, early: true, implied }, early);
  }

  /** The early pull if it was sent for this collective; otherwise it is cancelled (null). */
  takeEarly(step: number, length: number, encoding: ChunkEncoding): EarlyPull | null {
    const early = this.early;
    this.early = null;
    if (!early) return null;
    if (early.matches(step, length, encoding)) return early;
    early.discard();
    return null;
  }

  /** A copy of `buffer` for an op's sends (valid until the next op starts; one op at a time). */
  snapshotOf(buffer: Float32Array): Float32Array {
    if (this.snapshot.length < buffer.length) this.snapshot = new Float32Array(buffer.length);
    const copy = this.snapshot.subarray(0, buffer.length);
    copy.set(buffer);
    return copy;
  }

  opFinished(op: CollectiveOp): void {
    if (this.active === op) this.active = null;
  }

  /** A failed ring stays failed: later collectives and pulls get the same error until close(). */
  fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.active?.fail(err);
    const details = encodeWireError(wireErrorOf(this.failure));
    for (const stream of this.pulls.splice(0)) stream.fail({ code: grpc.status.ABORTED, details });
  }

  abort(reason: Error): void {
    if (this.closed) return;
    if (!(reason instanceof Error)) reason = new WorldAbortedError(`collective of rank ${this.rank} aborted: ${String(reason)}`);
    // fail() rejects the active op with `reason`, cancels its pull and tells the successor.
    this.fail(reason);
    this.shutDown();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.active?.fail(new WorldAbortedError(`collective of rank ${this.rank} closed during ${this.active.name}`));
    this.shutDown();
  }

  private shutDown(): void {
    this.closed = true;
    this.early?.discard();
    this.early = null;
    for (const stream of this.pulls.splice(0)) {
      stream.fail({ code: grpc.status.UNAVAILABLE, details: `rank ${this.rank} closed its collective` });
    }
    this.server.detach(this);
    this.transport?.close();
    // A failed ring tells its successor why before the link goes away (see TcpListener.close).
    const failure = this.failure ? { code: grpc.status.ABORTED, details: encodeWireError(wireErrorOf(this.failure)) } : undefined;
    this.listener?.close(failure);
  }
}

/** Attaches a ring to a started PeerServer (after rendezvous, once the ring is known). */
export function createRingCollective(server: PeerServer, opts: RingOptions): Collective {
  if (!(server instanceof GrpcPeerServer)) {
    throw new TypeError('createRingCollective needs a PeerServer from startPeerServer()');
  }
  return new RingCollective(server, opts);
}
