// Public surface of the transports: the contract and one factory (implementations stay private).
import type { PeerTransport, PeerTransportOptions, TransportKind } from './api';
import { GrpcPeerTransport } from './grpc-transport';
import { TcpPeerTransport } from './tcp-transport';

export type * from './api';

export function createPeerTransport(kind: TransportKind, opts: PeerTransportOptions): PeerTransport {
  return kind === 'tcp' ? new TcpPeerTransport(opts) : new GrpcPeerTransport(opts.predAddress, opts.security);
}
