// The security flags `dtrain coordinator` and `dtrain worker` share, and how they become one
// TransportSecurity value: files from --tls-* (or DTRAIN_TLS_*), the token from --join-token (or
// DTRAIN_JOIN_TOKEN). All three TLS files or none; --insecure is the explicit, logged opt-out.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { TlsConfigError } from '@dtrain/shared/security/security-errors';
import { createInsecureSecurity, createMutualTlsSecurity } from '@dtrain/shared/security/transport-security';

export interface SecurityFlags {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  joinToken?: string;
  insecure?: boolean;
}

export function addSecurityOptions(command: Command): Command {
  return command
    .option('--tls-ca <file>', 'PEM CA certificate of the job (or $DTRAIN_TLS_CA)')
    .option('--tls-cert <file>', 'PEM certificate of this process, signed by the CA (or $DTRAIN_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (or $DTRAIN_TLS_KEY)')
    .option('--join-token <token>', 'the job\'s shared secret, required on every call (or $DTRAIN_JOIN_TOKEN)')
    .option('--insecure', 'allow plaintext and token-less listening on non-loopback addresses (logged)');
}

function readPem(what: 'ca' | 'cert' | 'key', path: string, source: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsConfigError(what, `${source}=${path}`, `cannot read: ${(err as Error).message}`);
  }
  const ok = what === 'key' ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) : text.includes('-----BEGIN CERTIFICATE-----');
  if (!ok) throw new TlsConfigError(what, `${source}=${path}`, `not a PEM ${what === 'key' ? 'private key' : 'certificate'}`);
  return text;
}

/** Flags win over the environment. Throws TlsConfigError for a partial or unreadable set. */
export function resolveSecurity(flags: SecurityFlags, env: NodeJS.ProcessEnv, log: (line: string) => void): TransportSecurity {
  const pick = (flag: string | undefined, name: string, envName: string): { path: string; source: string } | null => {
    if (flag) return { path: flag, source: name };
    const fromEnv = env[envName];
    return fromEnv ? { path: fromEnv, source: envName } : null;
  };
  const ca = pick(flags.tlsCa, '--tls-ca', 'DTRAIN_TLS_CA');
  const cert = pick(flags.tlsCert, '--tls-cert', 'DTRAIN_TLS_CERT');
  const key = pick(flags.tlsKey, '--tls-key', 'DTRAIN_TLS_KEY');
  const joinToken = flags.joinToken ?? (env.DTRAIN_JOIN_TOKEN || null);
  const opts = { joinToken, allowInsecureListen: Boolean(flags.insecure), log };
  const given = [ca, cert, key].filter((x) => x !== null).length;
  if (given === 0) {
    if (flags.insecure) log('WARNING: --insecure: no TLS; traffic between the processes of this job is plaintext');
    return createInsecureSecurity(opts);
  }
  if (given < 3) {
    const missing = [['--tls-ca', ca], ['--tls-cert', cert], ['--tls-key', key]].filter(([, v]) => v === null).map(([n]) => n);
    throw new TlsConfigError('set', 'flags', `--tls-ca, --tls-cert and --tls-key go together; missing ${missing.join(', ')}`);
  }
  return createMutualTlsSecurity({
    ca: readPem('ca', ca!.path, ca!.source),
    cert: readPem('cert', cert!.path, cert!.source),
    key: readPem('key', key!.path, key!.source),
  }, opts);
}
