// Typed errors of transport security. Each carries the fields a user (or a metric) needs to act:
// which service refused whom and why, which flag or file is wrong.
import { DtrainError } from '../errors';
import type { RefusalReason, SecuredService } from './api';

/** A call without the job's join token, or with another one. Sent to the caller as UNAUTHENTICATED. */
export class BadJoinTokenError extends DtrainError {
  constructor(
    readonly reason: Extract<RefusalReason, 'missing-token' | 'wrong-token'>,
    readonly service: SecuredService,
    readonly method: string,
    readonly remote: string,
  ) {
    super(`${service} refused ${method} from ${remote}: ${reason === 'missing-token'
      ? 'no join token (pass --join-token or DTRAIN_JOIN_TOKEN)'
      : 'wrong join token (every process of a job needs the same --join-token / DTRAIN_JOIN_TOKEN)'}`);
  }
}

/** TLS material that is missing, unreadable, incomplete or not PEM. */
export class TlsConfigError extends DtrainError {
  constructor(readonly what: 'ca' | 'cert' | 'key' | 'set', readonly source: string, detail: string) {
    super(`TLS ${what === 'set' ? 'configuration' : what} (${source}): ${detail}`);
  }
}

/** A plaintext or token-less listen on an address other machines can reach, without --insecure. */
export class InsecureListenError extends DtrainError {
  constructor(readonly address: string, readonly missing: readonly ('tls' | 'join-token')[]) {
    const need = missing.map((m) => (m === 'tls'
      ? '--tls-ca, --tls-cert and --tls-key (or DTRAIN_TLS_CA, DTRAIN_TLS_CERT, DTRAIN_TLS_KEY)'
      : '--join-token (or DTRAIN_JOIN_TOKEN)'));
    super(`refusing to listen on ${address} without ${missing.join(' and ')}: it is not a loopback address. `
      + `Pass ${need.join(' and ')}; \`dtrain certs create --out DIR --dns NAME\` makes certificates. `
      + 'Or pass --insecure to accept anyone who can reach this port.');
  }
}

/** A server that refused us: our certificate or token was not accepted (client side of a refusal). */
export class PeerRefusedError extends DtrainError {
  constructor(readonly address: string, readonly reason: 'tls' | 'token', detail: string) {
    super(`${address} refused this process (${reason === 'tls' ? 'TLS handshake' : 'join token'}): ${detail}`);
  }
}
