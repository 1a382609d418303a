// `dtrain certs create --out DIR --dns NAME...`: a CA plus coordinator and worker certificates and a
// join token, for clusters without cert-manager. Files are written 0600; the CA key is written too
// (to issue more certificates later) and should be kept off the training machines.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createCertificateAuthority } from '@dtrain/shared/security/certificates';
import { exitWith, parsePositiveInt } from '../cli-util';

interface CertsFlags {
  out: string;
  dns: string[];
  days: number;
  force?: boolean;
}

export const CERT_FILES = [
  'ca.pem', 'ca-key.pem', 'coordinator.pem', 'coordinator-key.pem', 'worker.pem', 'worker-key.pem', 'join-token',
] as const;

export function registerCertsCommand(program: Command): void {
  const certs = program.command('certs').description('TLS certificates for dtrain clusters');
  certs
    .command('create')
    .description('write a CA, coordinator and worker certificates and a join token into a folder')
    .requiredOption('--out <dir>', 'folder to write (created if missing)')
    .option('--dns <name...>', 'host names or IP addresses the certificates are valid for', [])
    .option('--days <n>', 'validity of the certificates in days', parsePositiveInt('--days'), 365)
    .option('--force', 'overwrite existing files')
    .action(async (flags: CertsFlags) => {
      mkdirSync(flags.out, { recursive: true, mode: 0o700 });
      const existing = CERT_FILES.filter((f) => existsSync(join(flags.out, f)));
      if (existing.length > 0 && !flags.force) exitWith(2, `${flags.out} already holds ${existing.join(', ')} (pass --force to overwrite)`);
      const names = [...new Set(['localhost', '127.0.0.1', ...flags.dns])];
      const ca = await createCertificateAuthority({ commonName: 'dtrain CA', validDays: Math.max(flags.days, 3650) });
      const coordinator = await ca.issue({ commonName: 'dtrain-coordinator', names, validDays: flags.days });
      const worker = await ca.issue({ commonName: 'dtrain-worker', names, validDays: flags.days });
      const files: Record<(typeof CERT_FILES)[number], string> = {
        'ca.pem': ca.cert,
        'ca-key.pem': ca.key,
        'coordinator.pem': coordinator.cert,
        'coordinator-key.pem': coordinator.key,
        'worker.pem': worker.cert,
        'worker-key.pem': worker.key,
        'join-token': `${randomBytes(24).toString('base64url')}\n`,
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(join(flags.out, name), text, { mode: 0o600 });
      process.stderr.write([
        `wrote ${CERT_FILES.join(', ')} to ${flags.out} (valid for ${names.join(', ')}; ${flags.days} days)`,
        `coordinator: dtrain coordinator JOB --tls-ca ${join(flags.out, 'ca.pem')} --tls-cert ${join(flags.out, 'coordinator.pem')} `
          + `--tls-key ${join(flags.out, 'coordinator-key.pem')}  (DTRAIN_JOIN_TOKEN=$(cat ${join(flags.out, 'join-token')}))`,
        `workers:     dtrain worker --tls-ca ${join(flags.out, 'ca.pem')} --tls-cert ${join(flags.out, 'worker.pem')} `
          + `--tls-key ${join(flags.out, 'worker-key.pem')} ...  (same DTRAIN_JOIN_TOKEN)`,
        `keep ca-key.pem off the training machines; kubectl: kubectl create secret generic dtrain-tls --from-file=${flags.out}`,
        '',
      ].join('\n'));
    });
}
