// The 'grpc' transport. The receiving rank is the gRPC client (16 MiB receive window on its
// channel, see peer-service.ts) and opens ONE dtrain.v1.Peer/Link bidi call to its predecessor per
// world generation; each collective is a pull request on it (no call setup, metadata, or HTTP/2
// stream per collective). The predecessor also still serves Peer/Pull (one server-streaming call
// per collective: the original data path, kept for A/B benches and older peers' refusals).
import * as grpc from '@grpc/grpc-js';
import type { PullRequest } from '@dtrain/shared/proto';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type { IncomingChunk, OutgoingChunk } from '../gradient-chunk-codec';
import type { PullStream } from '../peer-server';
import { linkMethod, PEER_CHANNEL_OPTIONS, PULL_PATH, pullMethod } from '../peer-service';
import type { ChunkSink, InboundStream, OutboundStream, PeerTransport, PullFields, WireFailure } from './api';
import type { IncomingLinkFrame, OutgoingLinkRequest } from './grpc-link-codec';

/** Open inbound collective on a link: where its frames go. */
interface LinkSink {
  sink: ChunkSink;
  done: boolean;
}

/** Steps whose collective ended or was cancelled that a link remembers: their late frames are dropped. */
const CLOSED_STEPS_KEPT = 8;

/**
 * The receiving side of the 'grpc' transport: one long-lived Peer/Link bidi call to the
 * predecessor per ring (i.e. per world generation), opened on the first pull; each collective is
 * a pull request on it, its chunks and its end/error come back as frames keyed by step. A link
 * that fails (predecessor gone) fails every open collective; the next pull opens a new call.
 */
export class GrpcPeerTransport implements PeerTransport {
  readonly kind = 'grpc' as const;
  private readonly client: grpc.Client;
  private link: grpc.ClientDuplexStream<OutgoingLinkRequest, IncomingLinkFrame> | null = null;
  private readonly open = new Map<number, LinkSink>();
  /** Recently ended or cancelled steps (newest last): frames of them still in flight are expected. */
  private readonly closedSteps: number[] = [];
  private closed = false;
  /** A/B switch for benches only: the per-collective Peer/Pull call of before the Link. */
  private readonly perCall = process.env.DTRAIN_GRPC_PULL_PER_COLLECTIVE === '1';

  constructor(predAddress: string, security: TransportSecurity = createInsecureSecurity()) {
    this.client = new grpc.Client(predAddress, security.channelCredentials(), security.channelOptions(PEER_CHANNEL_OPTIONS));
  }

  pull(request: PullFields, sink: ChunkSink): InboundStream {
    if (this.perCall) return this.pullPerCall(request, sink);
    const step = request.id?.step ?? 0;
    const entry: LinkSink = { sink, done: false };
    this.open.get(step)?.sink.error({ code: grpc.status.CANCELLED, details: `pull of step ${step} replaced` });
    this.open.set(step, entry);
    const link = this.ensureLink();
    if (!request.implied) {
      const { id, totalLength, encoding } = request;
      link.write({ kind: 'pull', pull: { id, totalLength, encoding, early: request.early ?? false } });
    }
    return {
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        if (this.open.get(step) === entry) this.open.delete(step);
        this.stepClosed(step);
        if (this.link === link && !this.closed) link.write({ kind: 'cancel', step });
      },
    };
  }

  private ensureLink(): grpc.ClientDuplexStream<OutgoingLinkRequest, IncomingLinkFrame> {
    if (this.link) return this.link;
    const m = linkMethod();
    const link = this.client.makeBidiStreamRequest<OutgoingLinkRequest, IncomingLinkFrame>(
      m.path, m.requestSerialize, m.responseDeserialize, new grpc.Metadata(), {},
    );
    this.link = link;
    link.on('data', (frame: IncomingLinkFrame) => this.onFrame(frame));
    const broken = (failure: WireFailure): void => {
      if (this.link !== link) return;
      this.link = null;
      const open = [...this.open.values()];
      this.open.clear();
      for (const entry of open) {
        if (entry.done) continue;
        entry.done = true;
        entry.sink.error(failure);
      }
    };
    link.on('error', (err: grpc.ServiceError) => broken({ code: err.code, details: err.details }));
    // The predecessor ended the call (its Peer server closing) with collectives still open.
    link.on('end', () => broken({ code: grpc.status.UNAVAILABLE, details: 'predecessor closed the link' }));
    return link;
  }

  private onFrame(frame: IncomingLinkFrame): void {
    if (frame.kind === 'chunk') {
      const chunk = frame.chunk;
      const entry = this.chunkTarget(chunk.id?.step ?? 0);
      if (!entry || entry.done || !entry.sink.header(chunk)) return;
      const payload = chunk.payload ?? chunk.halfPayload;
      if (payload) entry.sink.payload(payload, 0);
      entry.sink.chunkDone();
      return;
    }
    const entry = this.open.get(frame.step);
    if (!entry) return;
    this.open.delete(frame.step);
    this.stepClosed(frame.step);
    if (entry.done) return;
    entry.done = true;
    if (frame.kind === 'end') entry.sink.end();
    else entry.sink.error({ code: frame.code, details: frame.details });
  }

  /**
   * Where a chunk goes. Frames of a collective that ended or was cancelled may still be in flight:
   * dropped. A step this rank never pulled is the sender's fault, not the wire's: the chunk goes to the
   * oldest open collective, whose header check fails it with the named step mismatch (as on tcp,
   * where frames reach the collective in flight whatever their step), instead of vanishing into a timeout.
   */
  private chunkTarget(step: number): LinkSink | undefined {
    const entry = this.open.get(step);
    if (entry || this.closedSteps.includes(step)) return entry;
    let oldest: [number, LinkSink] | undefined;
    for (const e of this.open) if (!e[1].done && (!oldest || e[0] < oldest[0])) oldest = e;
    return oldest?.[1];
  }

  private stepClosed(step: number): void {
    this.closedSteps.push(step);
    if (this.closedSteps.length > CLOSED_STEPS_KEPT) this.closedSteps.shift();
  }

  private pullPerCall(request: PullFields, sink: ChunkSink): InboundStream {
    const method = pullMethod();
    const call = this.client.makeServerStreamRequest<PullRequest, IncomingChunk>(
      PULL_PATH,
      method.requestSerialize,
      method.responseDeserialize,
      { id: request.id, totalLength: request.totalLength, encoding: request.encoding, early: request.early ?? false },
      new grpc.Metadata(),
      {},
    );
    let done = false;
    call.on('data', (chunk: IncomingChunk) => {
      if (done || !sink.header(chunk)) return;
      const payload = chunk.payload ?? chunk.halfPayload;
      if (payload) sink.payload(payload, 0);
      sink.chunkDone();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (done) return;
      done = true;
      sink.error({ code: err.code, details: err.details });
    });
    call.on('end', () => {
      if (!done) sink.end();
    });
    return {
      cancel: () => {
        done = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.closed = true;
    const link = this.link;
    this.link = null;
    this.open.clear();
    link?.cancel();
    this.client.close();
  }
}

/** The successor's Pull call as an OutboundStream. */
export class GrpcOutboundStream implements OutboundStream {
  readonly request: PullFields;

  constructor(private readonly stream: PullStream) {
    const r = stream.request;
    this.request = { id: r.id ?? null, totalLength: r.totalLength, encoding: r.encoding ?? 0, early: r.early ?? false };
  }

  get peer(): string {
    return this.stream.getPeer();
  }

  get cancelled(): boolean {
    return this.stream.cancelled;
  }

  write(chunk: OutgoingChunk, done: () => void): boolean {
    return this.stream.write(chunk, done);
  }

  onceDrain(listener: () => void): void {
    this.stream.once('drain', listener);
  }

  end(): void {
    this.stream.end();
  }

  fail(failure: WireFailure): void {
    if (!this.stream.cancelled) this.stream.emit('error', { code: failure.code, details: failure.details });
  }

  onCancelled(listener: () => void): void {
    this.stream.on('cancelled', listener);
  }
}
