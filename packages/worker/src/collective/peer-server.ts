// The worker's dtrain.v1.Peer server. It is started before rendezvous (its address goes into Join),
// so pulls (and OpenTcp negotiations) may arrive before a ring is attached: those wait here until
// one is. Pulls come as Peer/Pull calls (one per collective) or as requests on a successor's
// long-lived Peer/Link call (transport/grpc-link-server.ts); the ring cannot tell them apart.
import * as grpc from '@grpc/grpc-js';
import { DtrainError } from '@dtrain/shared/errors';
import type { PullRequest__Output, TcpOpenReply, TcpOpenRequest__Output } from '@dtrain/shared/proto';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type { PeerServer, PeerServerOptions } from './api';
import type { OutgoingChunk } from './gradient-chunk-codec';
import { linkMethod, openTcpMethod, PEER_SERVER_OPTIONS, pullMethod } from './peer-service';
import type { OutboundHandler, OutboundStream } from './transport/api';
import { ServerLink, type LinkCall } from './transport/grpc-link-server';
import { GrpcOutboundStream } from './transport/grpc-transport';

export type PullStream = grpc.ServerWritableStream<PullRequest__Output, OutgoingChunk>;

/** A pending OpenTcp call: its request, and how to answer it. */
export interface OpenTcpCall {
  request: TcpOpenRequest__Output;
  peer: string;
  reply(result: TcpOpenReply | { code: number; details: string }): void;
}

export interface PullHandler extends OutboundHandler {
  onOpenTcp(call: OpenTcpCall): void;
}

/** How long close() lets in-flight streams finish before cutting them. */
const SHUTDOWN_GRACE_MS = 2_000;

export class GrpcPeerServer implements PeerServer {
  private handler: PullHandler | null = null;
  private early: OutboundStream[] = [];
  private earlyOpens: OpenTcpCall[] = [];
  private closed = false;

  constructor(
    private readonly server: grpc.Server,
    /** Open Peer/Link calls of successors (ended on close(), so shutdown does not wait for them). */
    private readonly links: Set<ServerLink>,
    readonly address: string,
    readonly port: number,
    /** Where other listeners of this worker bind (the tcp transport's) and what they advertise. */
    readonly bindHost: string,
    readonly advertiseHost: string,
  ) {}

  /** Successors' Peer/Link calls open on this server (one per ring link and generation). */
  get openLinks(): number {
    return this.links.size;
  }

  /** Routes pulls to `handler` (replacing any earlier ring, e.g. of a previous generation). */
  attach(handler: PullHandler): void {
    this.handler = handler;
    const early = this.early.splice(0);
    for (const stream of early) if (!stream.cancelled) handler.onPull(stream);
    for (const call of this.earlyOpens.splice(0)) handler.onOpenTcp(call);
  }

  detach(handler: PullHandler): void {
    if (this.handler === handler) this.handler = null;
  }

  handlePull(stream: OutboundStream): void {
    if (this.handler) {
      this.handler.onPull(stream);
      return;
    }
    this.defer(stream);
  }

  handleOpenTcp(call: OpenTcpCall): void {
    if (this.handler) this.handler.onOpenTcp(call);
    else this.deferOpenTcp(call);
  }

  /** Holds a pull for the next ring attached (e.g. one of a newer world generation). */
  defer(stream: OutboundStream): void {
    this.early.push(stream);
    stream.onCancelled(() => {
      const i = this.early.indexOf(stream);
      if (i >= 0) this.early.splice(i, 1);
    });
  }

  deferOpenTcp(call: OpenTcpCall): void {
    if (this.closed) call.reply({ code: grpc.status.UNAVAILABLE, details: 'peer server closing' });
    else this.earlyOpens.push(call);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const stream of this.early.splice(0)) stream.fail({ code: grpc.status.UNAVAILABLE, details: 'peer server closing' });
    for (const call of this.earlyOpens.splice(0)) call.reply({ code: grpc.status.UNAVAILABLE, details: 'peer server closing' });
    for (const link of [...this.links]) link.close({ code: grpc.status.UNAVAILABLE, details: 'peer server closing' });
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
  const pending: OutboundStream[] = [];
  const pendingOpens: OpenTcpCall[] = [];
  const links = new Set<ServerLink>();
  const dispatch = (stream: OutboundStream): void => {
    if (peerServer) peerServer.handlePull(stream);
    else pending.push(stream);
  };
  server.addService(
    { Pull: pullMethod(), OpenTcp: openTcpMethod(), Link: linkMethod() },
    {
      Link: (call: LinkCall) => {
        links.add(new ServerLink(call, dispatch, (link) => links.delete(link)));
      },
      Pull: (stream: PullStream) => dispatch(new GrpcOutboundStream(stream)),
      OpenTcp: (
        call: grpc.ServerUnaryCall<TcpOpenRequest__Output, TcpOpenReply>,
        callback: grpc.sendUnaryData<TcpOpenReply>,
      ) => {
        const open: OpenTcpCall = {
          request: call.request,
          peer: call.getPeer(),
          reply: (result) => {
            if ('code' in result) callback({ code: result.code, details: result.details });
            else callback(null, result);
          },
        };
        if (peerServer) peerServer.handleOpenTcp(open);
        else pendingOpens.push(open);
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
  peerServer = new GrpcPeerServer(server, links, `${advertiseHost}:${port}`, port, opts.host, advertise);
  for (const stream of pending.splice(0)) peerServer.handlePull(stream);
  for (const open of pendingOpens.splice(0)) peerServer.handleOpenTcp(open);
  return peerServer;
}
