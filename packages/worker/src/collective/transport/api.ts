// Contract of a ring link: how a rank receives one collective's chunks from its predecessor and
// serves its successor's. Modelled on grpc-js's Transport/Http2Transport split: the ring
// (ring-collective.ts) speaks only this contract; 'grpc' (one Peer/Link call per link and generation) and
// 'tcp' (framed chunks over one TCP/TLS connection per link and generation, negotiated over the
// Peer service) implement it. Errors cross the wire as a gRPC status code plus the wire-error
// details (wire-error.ts), whichever transport carries them, so both report the same named errors.
import type { TransportSecurity } from '@dtrain/shared/security/api';
import type { ChunkHeader, ChunkId, OutgoingChunk } from '../gradient-chunk-codec';

export type { ChunkHeader };

export type TransportKind = 'grpc' | 'tcp';

/** TLS material for the tcp transport (PEM); set whenever the job has credentials. */
export interface TransportTls {
  /** CA that signed every peer's certificate. */
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

/** The receiving rank's per-collective request: the "ready" handshake (proto PullRequest). */
export interface PullFields {
  /** senderRank is the requesting (receiving) rank; null only from a malformed request. */
  id: ChunkId | null;
  totalLength: number;
  encoding: number;
  /** Sent ahead for the step the requester expects next (proto PullRequest.early; ring-collective.ts). */
  early?: boolean;
  /**
   * Requester side only, never on the wire: an early pull that follows an early pull which ended
   * normally (END) is implied. The sender's transport opens it by itself when that stream ends (same
   * length and encoding, step + 1), so the pull costs no message; the Link and tcp transports do both
   * halves, the per-collective Pull call sends it as usual.
   */
  implied?: boolean;
}

/** A failure carried on the wire: a grpc status code and wire-error details (see wire-error.ts). */
export interface WireFailure {
  code: number;
  details: string;
}


/**
 * Where an inbound stream delivers. Per chunk: header(), then payload() for consecutive whole
 * elements (once, or in pieces as they arrive), then chunkDone(). Views passed to payload() are
 * only valid during the call (the tcp transport reuses its receive buffer).
 */
export interface ChunkSink {
  /** false: the chunk was refused (the sink failed); its payload is skipped. */
  header(chunk: ChunkHeader): boolean;
  /** `data` holds elements [at, at + data.length) of the current chunk's payload. */
  payload(data: Float32Array | Uint16Array, at: number): void;
  chunkDone(): void;
  /**
   * Optional: where the current chunk's float32 payload may be written verbatim (a copy round),
   * exactly `length` elements; null: use payload(). Asked again before every write, so a sink that
   * failed in between (null) never sees a late byte. With it, the transport calls chunkDone() only.
   */
  destination?(): Float32Array | null;
  /** The sender ended this collective's stream. */
  end(): void;
  error(failure: WireFailure): void;
}

/** The receiving side of one collective: cancel() tells the predecessor to stop sending. */
export interface InboundStream {
  cancel(): void;
}

/** The sending side of one collective, as asked for by the successor. */
export interface OutboundStream {
  readonly request: PullFields;
  /** Who asked (for error messages). */
  readonly peer: string;
  readonly cancelled: boolean;
  /** Queues a chunk; `done` runs once it was handed to the wire. false: wait for onceDrain. */
  write(chunk: OutgoingChunk, done: () => void): boolean;
  onceDrain(listener: () => void): void;
  end(): void;
  /** Ends the stream with an error the successor turns into a named error. */
  fail(failure: WireFailure): void;
  /** The successor went away (cancelled, connection lost) or, for grpc, the stream closed. */
  onCancelled(listener: () => void): void;
}

/** What a transport hands the successor's requests to. */
export interface OutboundHandler {
  onPull(stream: OutboundStream): void;
}

/** Client half of a ring link: this rank's streams from its predecessor. */
export interface PeerTransport {
  readonly kind: TransportKind;
  pull(request: PullFields, sink: ChunkSink): InboundStream;
  /** Closes connections and listeners; open inbound streams get no further callbacks. */
  close(): void;
}

/** What a transport is built from (createPeerTransport in index.ts). */
export interface PeerTransportOptions {
  /** The ring predecessor's Peer (gRPC) address. */
  predAddress: string;
  jobId: string;
  generation: number;
  /** This (receiving) rank. */
  rank: number;
  tls?: TransportTls;
  /** Credentials of the gRPC channel to the predecessor (Pull, OpenTcp): TLS + join token. */
  security?: TransportSecurity;
}
