// `dtrain launch` is secure with no flag: an ephemeral CA for this job, one certificate per process
// and a random join token. The CA key never leaves this process's memory (nobody can issue more
// certificates); workers get their certificate, key and the token through a private temporary
// folder (0700, files 0600) that is removed when the launcher exits, and environment variables.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { createCertificateAuthority } from '@dtrain/shared/security/certificates';
import { createInsecureSecurity, createMutualTlsSecurity } from '@dtrain/shared/security/transport-security';

export interface LaunchSecurity {
  security: TransportSecurity;
  /** Environment of the worker process of a local rank (DTRAIN_TLS_*, DTRAIN_JOIN_TOKEN). */
  workerEnv(localRank: number): NodeJS.ProcessEnv;
  /** Removes the temporary folder (also done at process exit). */
  cleanup(): void;
}

/** Names every certificate is valid for (host names are not checked between peers; see transport-security.ts). */
function namesFor(host: string): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', host])];
}

export async function createLaunchSecurity(opts: {
  workers: number;
  host: string;
  insecure: boolean;
  log: (line: string) => void;
}): Promise<LaunchSecurity> {
  const joinToken = randomBytes(24).toString('base64url');
  if (opts.insecure) {
    opts.log('WARNING: --insecure: no TLS between the coordinator and the workers of this job');
    return {
      security: createInsecureSecurity({ joinToken, allowInsecureListen: true, log: opts.log }),
      workerEnv: () => ({ DTRAIN_JOIN_TOKEN: joinToken }),
      cleanup: () => undefined,
    };
  }
  const ca = await createCertificateAuthority({ commonName: 'dtrain launch ephemeral CA', validDays: 7 });
  const coordinator = await ca.issue({ commonName: 'dtrain-coordinator', names: namesFor(opts.host), validDays: 7 });
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-tls-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', cleanup);
  writeFileSync(join(dir, 'ca.pem'), ca.cert, { mode: 0o600 });
  for (let r = 0; r < opts.workers; r++) {
    const worker = await ca.issue({ commonName: `dtrain-worker-${r}`, names: namesFor(opts.host), validDays: 7 });
    writeFileSync(join(dir, `worker-${r}.pem`), worker.cert, { mode: 0o600 });
    writeFileSync(join(dir, `worker-${r}-key.pem`), worker.key, { mode: 0o600 });
  }
  opts.log('mutual TLS with an ephemeral CA for this job, join token required (certificates removed at exit)');
  return {
    security: createMutualTlsSecurity({ ca: ca.cert, cert: coordinator.cert, key: coordinator.key }, { joinToken, log: opts.log }),
    workerEnv: (r) => ({
      DTRAIN_TLS_CA: join(dir, 'ca.pem'),
      DTRAIN_TLS_CERT: join(dir, `worker-${r}.pem`),
      DTRAIN_TLS_KEY: join(dir, `worker-${r}-key.pem`),
      DTRAIN_JOIN_TOKEN: joinToken,
    }),
    cleanup,
  };
}
