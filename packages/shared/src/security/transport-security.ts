// The two TransportSecurity variants (see api.ts): mutual TLS against the job's CA, and plaintext.
// Both check the join token on every call with a server interceptor that runs before any handler,
// and add it to every call with a client interceptor, so call sites only pass credentials along.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  JOIN_TOKEN_METADATA_KEY, type Refusal, type SecuredService, type TlsMaterial, type TokenVerdict,
  type TransportSecurity, type TransportSecurityOptions,
} from './api';
import { BadJoinTokenError, InsecureListenError, TlsConfigError } from './security-errors';

/** Hosts only this machine can reach: plaintext and token-less listening is allowed there. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.startsWith('::ffff:127.');
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return i < 0 ? address : address.slice(0, i);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

abstract class SecurityBase implements TransportSecurity {
  abstract readonly mode: 'mtls' | 'insecure';
  abstract readonly tlsMaterial: TlsMaterial | null;
  readonly joinToken: string | null;
  private readonly tokenDigest: Buffer | null;
  private readonly allowInsecureListen: boolean;
  protected readonly log: (line: string) => void;
  private readonly refusals: Refusal[] = [];
  private readonly listeners = new Set<(r: Refusal) => void>();
  private readonly watched = new WeakSet<object>();

  constructor(opts: TransportSecurityOptions) {
    if (opts.joinToken !== undefined && opts.joinToken !== null && opts.joinToken.length < 16) {
      throw new TlsConfigError('set', '--join-token', `a join token must be at least 16 characters, got ${opts.joinToken.length}`);
    }
    this.joinToken = opts.joinToken ?? null;
    this.tokenDigest = this.joinToken === null ? null : digest(this.joinToken);
    this.allowInsecureListen = opts.allowInsecureListen ?? false;
    this.log = opts.log ?? ((line) => process.stderr.write(`[security] ${line}\n`));
  }

  protected abstract baseServerCredentials(): grpc.ServerCredentials;
  abstract channelCredentials(): grpc.ChannelCredentials;

  serverCredentials(service: SecuredService): grpc.ServerCredentials {
    const base = this.baseServerCredentials();
    if (this.tokenDigest === null) return base;
    return grpc.experimental.createServerCredentialsWithInterceptors(base, [this.tokenInterceptor(service)]);
  }

  /** Options every channel of this variant needs besides the token (TLS: the SNI name). */
  protected transportChannelOptions(): grpc.ChannelOptions {
    return {};
  }

  channelOptions(base: grpc.ChannelOptions = {}): grpc.ClientOptions {
    const token = this.joinToken;
    if (token === null) return { ...base, ...this.transportChannelOptions() };
    const addToken: grpc.Interceptor = (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(JOIN_TOKEN_METADATA_KEY, token);
        next(metadata, listener);
      },
    });
    return { ...base, ...this.transportChannelOptions(), interceptors: [addToken] };
  }

  private missingOn(address: string): ('tls' | 'join-token')[] {
    const missing: ('tls' | 'join-token')[] = [];
    if (this.mode === 'insecure') missing.push('tls');
    if (this.joinToken === null) missing.push('join-token');
    return missing.length > 0 && !isLoopbackHost(hostOf(address)) ? missing : [];
  }

  checkListen(address: string): InsecureListenError | null {
    const missing = this.missingOn(address);
    return missing.length > 0 && !this.allowInsecureListen ? new InsecureListenError(address, missing) : null;
  }

  async bindServer(server: grpc.Server, address: string, service: SecuredService): Promise<number> {
    const refused = this.checkListen(address);
    if (refused) throw refused;
    const missing = this.missingOn(address);
    if (missing.length > 0) {
      this.log(`WARNING: --insecure: ${service} listens on ${address} without ${missing.join(' and ')}; `
        + 'anyone who can reach this port can join the job or read its gradients');
    }
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, this.serverCredentials(service), (err, p) => (err ? reject(err) : resolve(p)));
    });
    if (this.mode === 'mtls') this.watchHandshakes(server, service);
    return port;
  }

  checkToken(metadata: grpc.Metadata, service: SecuredService, method: string, remote: string): TokenVerdict {
    if (this.tokenDigest === null) return { admitted: true };
    const given = metadata.get(JOIN_TOKEN_METADATA_KEY)[0];
    if (given === undefined || given === '') {
      return { admitted: false, error: new BadJoinTokenError('missing-token', service, method, remote) };
    }
    const ok = timingSafeEqual(digest(typeof given === 'string' ? given : given.toString('utf8')), this.tokenDigest);
    return ok ? { admitted: true } : { admitted: false, error: new BadJoinTokenError('wrong-token', service, method, remote) };
  }

  onRefusal(listener: (refusal: Refusal) => void): () => void {
    for (const r of this.refusals) listener(r);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  describe(): string {
    const transport = this.mode === 'mtls' ? 'mutual TLS' : 'plaintext (no TLS)';
    return `${transport}, ${this.joinToken === null ? 'no join token' : 'join token required'}`;
  }

  protected refuse(refusal: Refusal): void {
    // Bounded memory under a flood: the counts live in the metric, the log has every line.
    if (this.refusals.length < 10_000) this.refusals.push(refusal);
    this.log(`refused ${refusal.service} connection from ${refusal.remote}: ${refusal.reason} (${refusal.detail})`);
    for (const l of this.listeners) l(refusal);
  }

  private tokenInterceptor(service: SecuredService): grpc.ServerInterceptor {
    return (methodDescriptor, call) => new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const verdict = this.checkToken(metadata, service, methodDescriptor.path, call.getPeer());
            if (verdict.admitted) {
              mdNext(metadata);
              return;
            }
            const e = verdict.error;
            this.refuse({ service, reason: e.reason, remote: e.remote, detail: e.method });
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: `${e.name}: ${e.message}` });
          },
        });
      },
    });
  }

  /**
   * grpc-js offers no hook for failed TLS handshakes (a plaintext client, a certificate from another
   * CA, an expired one): listen for Node's 'tlsClientError' on the HTTP/2 servers it created. They
   * are a private field; if a grpc-js upgrade renames it, say so rather than silently not logging.
   */
  private watchHandshakes(server: grpc.Server, service: SecuredService): void {
    const internals = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(internals instanceof Map)) {
      this.log('WARNING: cannot observe TLS handshakes of this grpc-js version: handshake refusals are not logged');
      return;
    }
    for (const http2Server of internals.keys() as IterableIterator<EventEmitter>) {
      if (this.watched.has(http2Server)) continue;
      this.watched.add(http2Server);
      // Read the peer address while the socket is open (net.Socket caches it): a client that hangs up
      // mid-handshake leaves no handle to ask afterwards.
      http2Server.prependListener('connection', (raw: Socket) => { void raw.remotePort; });
      http2Server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        const parent = (socket as TLSSocket & { _parent?: Socket })._parent;
        const address = socket.remoteAddress ?? parent?.remoteAddress;
        const port = socket.remotePort ?? parent?.remotePort;
        const remote = address ? `${address}:${port}` : 'unknown';
        this.refuse({ service, reason: 'tls-handshake', remote, detail: err.code ?? err.message });
      });
    }
  }
}

class InsecureSecurity extends SecurityBase {
  readonly mode = 'insecure' as const;
  readonly tlsMaterial = null;

  protected baseServerCredentials(): grpc.ServerCredentials {
    return grpc.ServerCredentials.createInsecure();
  }

  channelCredentials(): grpc.ChannelCredentials {
    return grpc.credentials.createInsecure();
  }
}

class MutualTlsSecurity extends SecurityBase {
  readonly mode = 'mtls' as const;
  private readonly ca: Buffer;
  private readonly cert: Buffer;
  private readonly key: Buffer;
  readonly tlsMaterial: TlsMaterial;

  constructor(material: TlsMaterial, opts: TransportSecurityOptions) {
    super(opts);
    this.tlsMaterial = { ...material };
    for (const what of ['ca', 'cert'] as const) {
      if (!material[what].includes('-----BEGIN CERTIFICATE-----')) throw new TlsConfigError(what, 'material', 'no PEM certificate');
    }
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(material.key)) throw new TlsConfigError('key', 'material', 'no PEM private key');
    this.ca = Buffer.from(material.ca);
    this.cert = Buffer.from(material.cert);
    this.key = Buffer.from(material.key);
  }

  protected baseServerCredentials(): grpc.ServerCredentials {
    // true: a client without a certificate signed by the job CA is refused at the handshake.
    return grpc.ServerCredentials.createSsl(this.ca, [{ private_key: this.key, cert_chain: this.cert }], true);
  }

  channelCredentials(): grpc.ChannelCredentials {
    // The chain is verified against the job CA; host names are not: peers dial pod IPs and
    // advertised names that no certificate can list in advance. Membership is "holds a certificate
    // of this job's CA" (and the join token), so that CA must be private to the job.
    return grpc.credentials.createSsl(this.ca, this.key, this.cert, { checkServerIdentity: () => undefined });
  }

  protected override transportChannelOptions(): grpc.ChannelOptions {
    // Peers are dialled by IP; an IP is not a valid TLS server name (SNI, RFC 6066): send a fixed one.
    return { 'grpc.ssl_target_name_override': 'dtrain' };
  }
}

export function createInsecureSecurity(opts: TransportSecurityOptions = {}): TransportSecurity {
  return new InsecureSecurity(opts);
}

export function createMutualTlsSecurity(material: TlsMaterial, opts: TransportSecurityOptions = {}): TransportSecurity {
  return new MutualTlsSecurity(material, opts);
}
