// Credentials and TLS for the NATS control plane: a token, a user and password, or a .creds file
// (JWT + NKEY seed), and TLS with an optional client certificate. Passed in as a value; the CLI
// builds it from DTRAIN_NATS_* variables. A server that refuses us is a named error, so the
// launcher can say "NATS refused our credentials" and keep training on the in-process bus.
import { readFileSync } from 'node:fs';
import { credsAuthenticator, ErrorCode, type ConnectionOptions, type NatsError } from 'nats';
import { DtrainError } from '../errors';

export interface NatsCredentials {
  token?: string;
  user?: string;
  password?: string;
  /** Path of a NATS .creds file (decentralized JWT auth). */
  credsFile?: string;
  /** TLS: CA to verify the server (PEM file), and a client certificate + key if the server verifies clients. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export type NatsAuthMethod = 'none' | 'token' | 'user-password' | 'creds-file';

/** NATS refused our credentials (or our lack of them): AUTHORIZATION_VIOLATION or an auth timeout. */
export class NatsAuthorizationError extends DtrainError {
  constructor(readonly url: string, readonly method: NatsAuthMethod, detail: string) {
    super(`NATS at ${url} refused the connection (${method === 'none' ? 'no credentials given' : `credentials: ${method}`}): ${detail}. `
      + 'Set DTRAIN_NATS_TOKEN, DTRAIN_NATS_USER + DTRAIN_NATS_PASSWORD, or DTRAIN_NATS_CREDS');
  }
}

export function authMethod(c: NatsCredentials | undefined): NatsAuthMethod {
  if (c?.credsFile) return 'creds-file';
  if (c?.user) return 'user-password';
  if (c?.token) return 'token';
  return 'none';
}

/** Connection options for nats.js; throws a DtrainError for an unreadable creds file. */
export function natsConnectOptions(c: NatsCredentials | undefined): Partial<ConnectionOptions> {
  if (!c) return {};
  const out: Partial<ConnectionOptions> = {};
  const given = [c.credsFile ? 'creds file' : null, c.user ? 'user' : null, c.token ? 'token' : null].filter(Boolean);
  if (given.length > 1) throw new DtrainError(`NATS credentials: give one of token, user/password or creds file, not ${given.join(' + ')}`);
  if (c.credsFile) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(c.credsFile);
    } catch (err) {
      throw new DtrainError(`NATS creds file ${c.credsFile} cannot be read: ${(err as Error).message}`);
    }
    out.authenticator = credsAuthenticator(bytes);
  } else if (c.user) {
    out.user = c.user;
    out.pass = c.password ?? '';
  } else if (c.token) {
    out.token = c.token;
  }
  if (c.tls) out.tls = { ...c.tls };
  return out;
}

/** DTRAIN_NATS_TOKEN | DTRAIN_NATS_USER + DTRAIN_NATS_PASSWORD | DTRAIN_NATS_CREDS, DTRAIN_NATS_TLS_CA/CERT/KEY. */
export function natsCredentialsFromEnv(env: NodeJS.ProcessEnv): NatsCredentials | undefined {
  const c: NatsCredentials = {};
  if (env.DTRAIN_NATS_TOKEN) c.token = env.DTRAIN_NATS_TOKEN;
  if (env.DTRAIN_NATS_USER) { c.user = env.DTRAIN_NATS_USER; c.password = env.DTRAIN_NATS_PASSWORD ?? ''; }
  if (env.DTRAIN_NATS_CREDS) c.credsFile = env.DTRAIN_NATS_CREDS;
  if (env.DTRAIN_NATS_TLS_CA || env.DTRAIN_NATS_TLS_CERT) {
    c.tls = { caFile: env.DTRAIN_NATS_TLS_CA, certFile: env.DTRAIN_NATS_TLS_CERT, keyFile: env.DTRAIN_NATS_TLS_KEY };
  }
  return Object.keys(c).length > 0 ? c : undefined;
}

/** The named error for a refused connection, or null when `err` is not an authorization failure. */
export function authorizationError(err: unknown, url: string, c: NatsCredentials | undefined): NatsAuthorizationError | null {
  const code = (err as NatsError | undefined)?.code;
  const text = err instanceof Error ? err.message : String(err);
  if (code === ErrorCode.AuthorizationViolation || code === ErrorCode.AuthenticationExpired || /authorization/i.test(text)) {
    return new NatsAuthorizationError(url, authMethod(c), text);
  }
  return null;
}
