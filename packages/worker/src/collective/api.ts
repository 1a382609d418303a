// Contract of the collective subsystem: ring all-reduce between workers over gRPC (proto service
// dtrain.v1.Peer). The coordinator never sees these; membership (ring, generation) comes from it.
import type { TransportSecurity } from '@dtrain/shared/security/api';
import type { TransportKind, TransportTls } from './transport/api';

export type { TransportKind, TransportTls };

export interface PeerServerOptions {
  /** Interface to bind, e.g. '0.0.0.0' or '127.0.0.1'. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Address the other workers dial (defaults to host:port, with 127.0.0.1 for 0.0.0.0). */
  advertiseHost?: string;
  /** TLS + join-token check of the server (default: plaintext, loopback only). */
  security?: TransportSecurity;
}

/** Serves dtrain.v1.Peer for this worker. Started before Join so its address can be announced. */
export interface PeerServer {
  readonly address: string; // host:port others dial
  readonly port: number;
  close(): Promise<void>;
}

export interface RingOptions {
  jobId: string;
  generation: number;
  rank: number;
  worldSize: number;
  /** Peer addresses indexed by rank. */
  ring: string[];
  /** Payload bytes per GradientChunk (pipelining grain). */
  chunkBytes: number;
  /** A collective that makes no progress for this long fails with CollectiveTimeoutError/PeerLostError. */
  timeoutMs: number;
  /**
   * Wire format of the chunks (default 'none': float32, bit-exact). 'fp16' halves the bytes on the
   * wire at ~1e-3 relative error of the sums, and |values| > 65504 become ±Inf (see half-float.ts).
   * Every rank of a ring must use the same (checked: CollectiveMismatchError field 'encoding').
   */
  compression?: 'none' | 'fp16';
  /** Credentials of the channel to the predecessor (default: plaintext, no token). */
  security?: TransportSecurity;
  /**
   * Data path between ranks (default 'grpc': a Peer/Pull call per collective). 'tcp' negotiates a
   * framed TCP connection per ring link over the Peer service (address + per-generation secret).
   * Every rank of a ring must use the same (checked: CollectiveMismatchError field 'transport').
   */
  transport?: TransportKind;
  /**
   * 'auto' (default): at N=2 with float32 chunks, a direct exchange (one hop, same bytes) instead of the two-round
   * ring, up to 1 MiB on tcp and 64 KiB on grpc. 'ring': always the ring. Every rank of a ring must use the same.
   */
  algorithm?: 'auto' | 'ring';
  /**
   * Default true: after an all-reduce of a buffer up to 256 KiB, pull the next step's chunks at once
   * (early-pull.ts), so the predecessor sends as soon as its collective starts. false: one pull per
   * collective when it starts (the A/B of bench/small-step-ring.ts). Ranks may differ.
   */
  earlyPull?: boolean;
  /** PEM CA/cert/key: when set, the 'tcp' transport speaks mutual TLS (node:tls). */
  tls?: TransportTls;
}

export interface AllReduceStats {
  /** Payload bytes this rank sent (on the wire: halved by fp16 compression). */
  bytesSent: number;
  seconds: number;
  /** Chunks that arrived before this collective started, held by its early pull (early-pull.ts). */
  earlyChunks?: number;
}

export interface Collective {
  readonly rank: number;
  readonly worldSize: number;
  /** In-place elementwise sum across all ranks; every rank ends with identical contents. */
  allReduceSum(buffer: Float32Array, step: number): Promise<AllReduceStats>;
  /** In-place: every rank ends with root's contents. */
  broadcast(buffer: Float32Array, step: number, root: number): Promise<AllReduceStats>;
  /**
   * Abandons the collective now (e.g. the coordinator announced a world change): every in-flight
   * allReduceSum/broadcast rejects with `reason` at once, streams are cancelled (neighbours fail
   * fast with PeerLostError naming this rank), and the collective is closed: later calls reject
   * with WorldAbortedError. Idempotent; a no-op after close().
   */
  abort(reason: Error): void;
  /** Closes the collective; an in-flight operation rejects with WorldAbortedError. */
  close(): Promise<void>;
}
