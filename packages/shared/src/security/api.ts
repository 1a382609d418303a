// Contract of transport security: how every dtrain gRPC server and channel is secured. Modelled on
// grpc-js server-credentials.ts: the credentials are values handed to whoever binds a server or opens
// a channel (an insecure variant and a mutual-TLS variant), so no call site decides policy itself.
// The join token rides on every call as metadata and is checked before any handler runs, so a
// process that is refused never sees the job spec nor a gradient.
import type * as grpc from '@grpc/grpc-js';
import type { BadJoinTokenError, InsecureListenError } from './security-errors';

/** Metadata key carrying the job's join token on every Coordinator and Peer call. */
export const JOIN_TOKEN_METADATA_KEY = 'x-dtrain-join-token';

/** The dtrain gRPC services; refusals are counted per service. */
export type SecuredService = 'coordinator' | 'peer';

/** Why a call or connection was refused. */
export type RefusalReason = 'missing-token' | 'wrong-token' | 'tls-handshake';

export interface Refusal {
  service: SecuredService;
  reason: RefusalReason;
  /** ip:port of the refused peer ("unknown" when the socket was gone before it could be read). */
  remote: string;
  /** The gRPC method (token refusals) or the TLS error (handshake refusals). */
  detail: string;
}

export type TokenVerdict = { admitted: true } | { admitted: false; error: BadJoinTokenError };

/** PEM text of a CA certificate, this process's certificate (chain) and its private key. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

export interface TransportSecurity {
  /** 'mtls': both ends present certificates signed by the job's CA; 'insecure': plaintext. */
  readonly mode: 'mtls' | 'insecure';
  /** The job's join token; null means calls are not token-checked (only allowed on loopback). */
  readonly joinToken: string | null;
  /** PEM CA/cert/key for transports outside gRPC (the tcp data path); null when plaintext. */
  readonly tlsMaterial: TlsMaterial | null;
  /** Credentials for a server of `service`: TLS (if any) plus the token check on every call. */
  serverCredentials(service: SecuredService): grpc.ServerCredentials;
  /** Credentials for a channel to a dtrain server. */
  channelCredentials(): grpc.ChannelCredentials;
  /** `base` plus what every call on the channel needs (the interceptor adding the join token). */
  channelOptions(base?: grpc.ChannelOptions): grpc.ClientOptions;
  /**
   * Binds `server` on `address` with serverCredentials(service) and watches its TLS handshakes, so
   * handshake refusals are logged and counted too. Refuses (InsecureListenError) a plaintext or
   * token-less listen on a non-loopback address unless the user opted out with --insecure.
   */
  bindServer(server: grpc.Server, address: string, service: SecuredService): Promise<number>;
  /** The refusal bindServer would raise for `address` (null: allowed), for CLIs to fail fast (exit 2). */
  checkListen(address: string): InsecureListenError | null;
  /** Checks the join token of a call's metadata. */
  checkToken(metadata: grpc.Metadata, service: SecuredService, method: string, remote: string): TokenVerdict;
  /** Every refusal, past ones first (replayed), then as they happen. Returns an unsubscribe. */
  onRefusal(listener: (refusal: Refusal) => void): () => void;
  /** One line for logs: mode, token on/off (never the token itself). */
  describe(): string;
}

export interface TransportSecurityOptions {
  /** The job's join token; null/undefined: calls are not token-checked (loopback only). */
  joinToken?: string | null;
  /** --insecure: allow plaintext / token-less listening on non-loopback addresses (logged). */
  allowInsecureListen?: boolean;
  /** Where refusals and the --insecure warning are logged. */
  log?: (line: string) => void;
}
