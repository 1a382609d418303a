// The worker's dtrain.v1.Peer server. It is started before rendezvous (its address goes into Join),
// so pulls may arrive before a ring is attached: those wait here until one is.
import * as grpc from '@grpc/grpc-js';
import { DtrainError } from '@dtrain/shared/errors';
import type { PullRequest__Output } from '@dtrain/shared/proto';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type { PeerServer, PeerServerOptions } from './api';
import type { OutgoingChunk } from './gradient-chunk-codec';
import { PEER_SERVER_OPTIONS, pullMethod } from './peer-service';

export type PullStream = grpc.ServerWritableStream<PullRequest__Output, OutgoingChunk>;

export interface PullHandler {
  onPull(stream: PullStream): void;
}

/** How long close() lets in-flight streams finish before cutting them. */
const SHUTDOWN_GRACE_MS = 2_000;

export class GrpcPeerServer implements PeerServer {
  private handler: PullHandler | null = null;
  private early: PullStream[] = [];
  private closed = false;

  constructor(
    private readonly server: grpc.Server,
    readonly address: string,
    readonly port: number,
  ) {}

  /** Routes pulls to `handler` (replacing any earlier ring, e.g. of a previous generation). */
  attach(handler: PullHandler): void {
    this.handler = handler;
    const early = this.early.splice(0);
    for (const stream of early) if (!stream.cancelled) handler.onPull(stream);
  }

  detach(handler: PullHandler): void {
    if (this.handler === handler) this.handler = null;
  }

  handlePull(stream: PullStream): void {
    if (this.handler) {
      this.handler.onPull(stream);
      return;
    }
    this.defer(stream);
  }

  /** Holds a pull for the next ring attached (e.g. one of a newer world generation). */
  defer(stream: PullStream): void {
    this.early.push(stream);
    stream.on('cancelled', () => {
      const i = this.early.indexOf(stream);
      if (i >= 0) this.early.splice(i, 1);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const stream of this.early.splice(0)) {
      stream.emit('error', { code: grpc.status.UNAVAILABLE, details: 'peer server closing' });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export async function startPeerServer(opts: PeerServerOptions): Promise<PeerServer> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`PeerServerOptions.port must be an integer in 0..65535, got ${opts.port}`);
  }
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  let peerServer: GrpcPeerServer | null = null;
  const pending: PullStream[] = [];
  server.addService(
    { Pull: pullMethod() },
    {
      Pull: (stream: PullStream) => {
        if (peerServer) peerServer.handlePull(stream);
        else pending.push(stream);
      },
    },
  );
  const bindHost = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    (opts.security ?? createInsecureSecurity()).bindServer(server, `${bindHost}:${opts.port}`, 'peer').then(resolve, (err: Error) => {
      reject(err instanceof DtrainError ? err : new Error(`peer server cannot bind ${opts.host}:${opts.port}: ${err.message}`));
    });
  });
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::' || opts.host === '';
  const advertise = opts.advertiseHost ?? (wildcard ? '127.0.0.1' : opts.host);
  const advertiseHost = advertise.includes(':') && !advertise.startsWith('[') ? `[${advertise}]` : advertise;
  peerServer = new GrpcPeerServer(server, `${advertiseHost}:${port}`, port);
  for (const stream of pending.splice(0)) peerServer.handlePull(stream);
  return peerServer;
}
