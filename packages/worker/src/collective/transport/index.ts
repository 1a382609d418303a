// Public surface of the transports: the contract and one factory (implementations stay private).
import type { TransportSecurity } from '@dtrain/shared/security/api';
import type { PeerTransport, TransportKind, TransportTls } from './api';
import { GrpcPeerTransport } from './grpc-transport';
import { TcpPeerTransport } from './tcp-transport';

export type * from './api';

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

export function createPeerTransport(kind: TransportKind, opts: PeerTransportOptions): PeerTransport {
  return kind === 'tcp' ? new TcpPeerTransport(opts) : new GrpcPeerTransport(opts.predAddress, opts.security);
}
