// TransportSecurity and the certificates behind it, in one process: X.509 generation (chain, names,
// validity), the typed refusals (token, listen policy, bad material), and a real gRPC round trip over
// loopback showing a refused call never reaches its handler (a refused worker gets no job spec).
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDtrainProto, type JoinRequest__Output, type JoinResponse } from '@dtrain/shared/proto';
import { JOIN_TOKEN_METADATA_KEY, type Refusal } from '@dtrain/shared/security/api';
import { createCertificateAuthority, loadCertificateAuthority } from '@dtrain/shared/security/certificates';
import { BadJoinTokenError, InsecureListenError, TlsConfigError } from '@dtrain/shared/security/security-errors';
import { createInsecureSecurity, createMutualTlsSecurity, isLoopbackHost } from '@dtrain/shared/security/transport-security';

const TOKEN = 'a-join-token-of-this-job-0123';
const servers: grpc.Server[] = [];
afterAll(() => { for (const s of servers) s.forceShutdown(); });

describe('certificates', () => {
  it('a CA issues leaf certificates that chain to it, carry the names and the requested validity', async () => {
    const ca = await createCertificateAuthority({ commonName: 'test CA' });
    const leaf = await ca.issue({ commonName: 'w', names: ['localhost', '127.0.0.1', 'dtrain-worker-0.dtrain-workers'] });
    const caCert = new X509Certificate(ca.cert);
    const cert = new X509Certificate(leaf.cert);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, DNS:dtrain-worker-0.dtrain-workers');
    expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])); // server + client auth
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(365);
    const other = await createCertificateAuthority();
    expect(cert.verify(new X509Certificate(other.cert).publicKey)).toBe(false);

    const past = await ca.issue({ commonName: 'old', names: ['x'], notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2020, 0, 2)) });
    expect(Date.parse(new X509Certificate(past.cert).validTo)).toBe(Date.UTC(2020, 0, 2));

    // A CA reloaded from its PEM files issues certificates that chain to the same CA.
    const again = await loadCertificateAuthority(ca.cert, ca.key);
    expect(new X509Certificate((await again.issue({ commonName: 'z', names: ['z'] })).cert).verify(caCert.publicKey)).toBe(true);
  });
});

describe('TransportSecurity policy', () => {
  it('recognises loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '', '10.0.0.1', 'trainer-0', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses plaintext or token-less listening off loopback, naming the flags, unless --insecure', async () => {
    const ca = await createCertificateAuthority();
    const leaf = await ca.issue({ commonName: 'c', names: ['localhost'] });
    const plain = createInsecureSecurity();
    expect(plain.checkListen('127.0.0.1:0')).toBeNull();
    const refused = plain.checkListen('0.0.0.0:29400');
    expect(refused).toBeInstanceOf(InsecureListenError);
    expect(refused!.missing).toEqual(['tls', 'join-token']);
    expect(refused!.message).toMatch(/--tls-ca, --tls-cert and --tls-key.*DTRAIN_TLS_CA.*--join-token.*--insecure/);
    const tlsNoToken = createMutualTlsSecurity({ ca: ca.cert, cert: leaf.cert, key: leaf.key });
    expect(tlsNoToken.checkListen('10.1.2.3:1')!.missing).toEqual(['join-token']);
    expect(createMutualTlsSecurity({ ca: ca.cert, cert: leaf.cert, key: leaf.key }, { joinToken: TOKEN }).checkListen('0.0.0.0:1')).toBeNull();
    const lines: string[] = [];
    const optedOut = createInsecureSecurity({ allowInsecureListen: true, log: (l) => lines.push(l) });
    expect(optedOut.checkListen('0.0.0.0:1')).toBeNull();
    const server = new grpc.Server();
    servers.push(server);
    await optedOut.bindServer(server, '0.0.0.0:0', 'peer');
    expect(lines.join('\n')).toMatch(/WARNING: --insecure: peer listens on 0\.0\.0\.0:0 without tls and join-token/);
    await expect(plain.bindServer(new grpc.Server(), '0.0.0.0:0', 'coordinator')).rejects.toBeInstanceOf(InsecureListenError);
  });

  it('bad material and short tokens are named errors', async () => {
    const ca = await createCertificateAuthority();
    const leaf = await ca.issue({ commonName: 'c', names: ['localhost'] });
    expect(() => createMutualTlsSecurity({ ca: 'nope', cert: leaf.cert, key: leaf.key })).toThrow(TlsConfigError);
    expect(() => createMutualTlsSecurity({ ca: ca.cert, cert: leaf.cert, key: leaf.cert })).toThrow(/TLS key.*no PEM private key/);
    expect(() => createInsecureSecurity({ joinToken: 'short' })).toThrow(/at least 16 characters/);
  });

  it('checks the token: missing, wrong and right, as typed verdicts', () => {
    const sec = createInsecureSecurity({ joinToken: TOKEN });
    const md = (token?: string) => { const m = new grpc.Metadata(); if (token !== undefined) m.set(JOIN_TOKEN_METADATA_KEY, token); return m; };
    const missing = sec.checkToken(md(), 'coordinator', '/dtrain.v1.Coordinator/Join', '10.0.0.9:5000');
    expect(missing.admitted).toBe(false);
    if (!missing.admitted) {
      expect(missing.error).toBeInstanceOf(BadJoinTokenError);
      expect({ ...missing.error }).toMatchObject({ reason: 'missing-token', service: 'coordinator', remote: '10.0.0.9:5000' });
    }
    const wrong = sec.checkToken(md(`${TOKEN}x`), 'peer', '/dtrain.v1.Peer/Pull', 'r');
    expect(wrong.admitted ? null : wrong.error.reason).toBe('wrong-token');
    expect(sec.checkToken(md(TOKEN), 'peer', 'm', 'r')).toEqual({ admitted: true });
  });
});

describe('over gRPC (mutual TLS on loopback)', () => {
  it('a call with a wrong or no token is refused before the handler runs; the right one is served', async () => {
    const ca = await createCertificateAuthority();
    const pair = async () => { const l = await ca.issue({ commonName: 'p', names: ['localhost', '127.0.0.1'] }); return { ca: ca.cert, ...l }; };
    const refusals: Refusal[] = [];
    const serverSec = createMutualTlsSecurity(await pair(), { joinToken: TOKEN, log: () => undefined });
    serverSec.onRefusal((r) => refusals.push(r));
    let handled = 0;
    const server = new grpc.Server();
    servers.push(server);
    const Coordinator = loadDtrainProto().dtrain.v1.Coordinator;
    server.addService(Coordinator.service, {
      Join: (_call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>, cb: grpc.sendUnaryData<JoinResponse>) => {
        handled += 1;
        cb(null, { jobId: 'j', jobSpecJson: '{"secret":"spec"}' });
      },
      Session: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    const port = await serverSec.bindServer(server, '127.0.0.1:0', 'coordinator');
    const join = async (token: string | null): Promise<{ code: number; spec: string; details: string }> => {
      const material = await pair();
      const sec = token === null
        ? createMutualTlsSecurity(material)
        : createMutualTlsSecurity(material, { joinToken: token });
      const client = new Coordinator(`127.0.0.1:${port}`, sec.channelCredentials(), sec.channelOptions());
      return new Promise<{ code: number; spec: string; details: string }>((resolve) => {
        client.Join({ peerAddress: 'x:1' }, (err: grpc.ServiceError | null, res?: JoinResponse) => {
          client.close();
          resolve({ code: err?.code ?? 0, spec: String(res?.jobSpecJson ?? ''), details: err?.details ?? '' });
        });
      });
    };
    const wrong = await join('some-other-jobs-token-000');
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(wrong.details).toMatch(/^BadJoinTokenError: coordinator refused \/dtrain\.v1\.Coordinator\/Join from 127\.0\.0\.1:\d+: wrong join token/);
    expect(wrong.spec).toBe('');
    const none = await join(null);
    expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(handled).toBe(0);
    expect(refusals.map((r) => r.reason)).toEqual(['wrong-token', 'missing-token']);
    const right = await join(TOKEN);
    expect(right).toEqual({ code: 0, spec: '{"secret":"spec"}', details: '' });
    expect(handled).toBe(1);
  });
});
