// The 'grpc' transport: one server-streaming dtrain.v1.Peer/Pull call per collective, the
// receiving rank being the client (16 MiB receive window on its channel, see peer-service.ts).
// This is the ring's original data path moved behind the PeerTransport contract, unchanged.
import * as grpc from '@grpc/grpc-js';
import type { PullRequest } from '@dtrain/shared/proto';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type { IncomingChunk, OutgoingChunk } from '../gradient-chunk-codec';
import type { PullStream } from '../peer-server';
import { PEER_CHANNEL_OPTIONS, PULL_PATH, pullMethod } from '../peer-service';
import type { ChunkSink, InboundStream, OutboundStream, PeerTransport, PullFields, WireFailure } from './api';

export class GrpcPeerTransport implements PeerTransport {
  readonly kind = 'grpc' as const;
  private readonly client: grpc.Client;

  constructor(predAddress: string, security: TransportSecurity = createInsecureSecurity()) {
    this.client = new grpc.Client(predAddress, security.channelCredentials(), security.channelOptions(PEER_CHANNEL_OPTIONS));
  }

  pull(request: PullFields, sink: ChunkSink): InboundStream {
    const method = pullMethod();
    const call = this.client.makeServerStreamRequest<PullRequest, IncomingChunk>(
      PULL_PATH,
      method.requestSerialize,
      method.responseDeserialize,
      { id: request.id, totalLength: request.totalLength, encoding: request.encoding },
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
    this.client.close();
  }
}

/** The successor's Pull call as an OutboundStream. */
export class GrpcOutboundStream implements OutboundStream {
  readonly request: PullFields;

  constructor(private readonly stream: PullStream) {
    const r = stream.request;
    this.request = { id: r.id ?? null, totalLength: r.totalLength, encoding: r.encoding ?? 0 };
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
