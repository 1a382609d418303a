// Helpers for the security tests: certificate sets (the job's from `dtrain certs create`, plus an
// expired one of the same CA and one of another CA), the hostile process (bad-peer.ts), and the
// ports a process listens on (read from /proc, so a test can aim at a worker's Peer port).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificateAuthority, loadCertificateAuthority } from '@dtrain/shared/security/certificates';
import type { AttackOutcome, AttackPlan, PemPair } from './bad-peer';
import { REPO_ROOT } from './dtrain-cli';

export interface JobCertificates {
  dir: string;
  ca: string;
  coordinator: PemPair;
  worker: PemPair;
  token: string;
  /** Signed by the job's CA, but expired yesterday. */
  expired: PemPair;
  /** Valid, but from a CA the job does not trust. */
  otherCa: PemPair;
}

export async function jobCertificates(dir: string): Promise<JobCertificates> {
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const ca = await loadCertificateAuthority(read('ca.pem'), read('ca-key.pem'));
  const day = 86_400_000;
  const expired = await ca.issue({
    commonName: 'expired', names: ['localhost'], notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day),
  });
  const other = await createCertificateAuthority({ commonName: 'someone else' });
  const otherCa = await other.issue({ commonName: 'dtrain-worker', names: ['localhost', '127.0.0.1'] });
  return {
    dir,
    ca: read('ca.pem'),
    coordinator: { cert: read('coordinator.pem'), key: read('coordinator-key.pem') },
    worker: { cert: read('worker.pem'), key: read('worker-key.pem') },
    token: read('join-token').trim(),
    expired,
    otherCa,
  };
}

export function tlsFlags(dir: string, role: 'coordinator' | 'worker'): string[] {
  return ['--tls-ca', join(dir, 'ca.pem'), '--tls-cert', join(dir, `${role}.pem`), '--tls-key', join(dir, `${role}-key.pem`)];
}

/** Runs bad-peer.ts in its own process and returns its outcomes per kind. */
export function attack(
  certs: JobCertificates,
  plan: Omit<AttackPlan, 'ca' | 'good' | 'otherCa' | 'expired' | 'token'>,
  planFile: string,
): Promise<AttackOutcome[]> {
  const full: AttackPlan = { ...plan, ca: certs.ca, good: certs.worker, otherCa: certs.otherCa, expired: certs.expired, token: certs.token };
  writeFileSync(planFile, JSON.stringify(full));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/harness/bad-peer.ts'), planFile], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => {
      if (code !== 0) { reject(new Error(`bad-peer exited ${code}: ${err}`)); return; }
      resolve(out.trim().split('\n').map((l) => JSON.parse(l) as AttackOutcome));
    });
  });
}

/** TCP ports `pid` listens on (IPv4 and IPv6), from /proc/<pid>/fd and /proc/net/tcp*. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* fd closed meanwhile */ }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      if (inodes.has(cols[9])) ports.add(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return [...ports];
}

/** Lines of `log` reporting a refusal of `service` for `reason`. */
export function refusalLines(log: string, service: 'coordinator' | 'peer', reason: string): string[] {
  return log.split('\n').filter((l) => l.includes(`refused ${service} connection from `) && l.includes(`: ${reason} (`));
}
