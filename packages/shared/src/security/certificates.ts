// X.509 for dtrain: a job CA and the certificates it issues (ECDSA P-256, SHA-256). Generated with
// @peculiar/x509 on Node's WebCrypto rather than by shelling out to openssl, so `dtrain certs create`
// and `dtrain launch` behave the same on every machine Node runs on (no openssl binary, LibreSSL or
// Windows differences), and tests can make the odd certificates they need (expired, another CA).
import 'reflect-metadata'; // @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs it
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Clock skew between machines tolerated at the start of a certificate's validity. */
const BACKDATE_MS = 5 * 60_000;

export interface PemPair {
  cert: string;
  key: string;
}

export interface ValidityOptions {
  /** Default: now minus 5 minutes. */
  notBefore?: Date;
  /** Default: notBefore + validDays. */
  notAfter?: Date;
  /** Default 365 (CA: 3650). */
  validDays?: number;
}

export interface LeafOptions extends ValidityOptions {
  commonName: string;
  /** DNS names and IP addresses the certificate is valid for (IPs are recognised). */
  names: readonly string[];
}

export interface CertificateAuthority extends PemPair {
  /** Issues a certificate usable as TLS server and client (every dtrain process is both). */
  issue(options: LeafOptions): Promise<PemPair>;
}

function validity(opts: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.validDays ?? defaultDays) * DAY_MS);
  return { notBefore, notAfter };
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function createCertificateAuthority(
  opts: ValidityOptions & { commonName?: string } = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const { notBefore, notAfter } = validity(opts, 3650);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${opts.commonName ?? 'dtrain job CA'}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return authority(cert, keys, await keyPem(keys.privateKey));
}

function authority(caCert: x509.X509Certificate, caKeys: CryptoKeyPair, caKeyPem: string): CertificateAuthority {
  return {
    cert: caCert.toString('pem'),
    key: caKeyPem,
    async issue(options: LeafOptions): Promise<PemPair> {
      const keys = await generateKeys();
      const { notBefore, notAfter } = validity(options, 365);
      const names = options.names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }));
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${options.commonName}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension(names),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
    },
  };
}

/** A CA from its PEM certificate and PKCS#8 key (e.g. to issue more certificates from `certs create`). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
  const publicKey = await cert.publicKey.export(ALGORITHM, ['verify']);
  return authority(cert, { privateKey, publicKey } as CryptoKeyPair, keyPem);
}
