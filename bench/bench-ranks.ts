// What the benches share: ranks run as real processes, started the way `dtrain launch` starts workers
// (the allocator settings of allocator-env.ts; DTRAIN_BENCH_RANK_NODE_ARGS adds Node flags such as
// `--cpu-prof`), each printing its results as JSON lines; their TLS material and security; medians.
// Each bench had its own copy of these, and one of them had drifted (no allocator settings).
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { chooseChunkBytes } from '../packages/shared/src/collective-chunking';
import type { CertificateAuthority } from '../packages/shared/src/security/certificates';
import type { TlsMaterial, TransportSecurity } from '../packages/shared/src/security/api';
import { createInsecureSecurity, createMutualTlsSecurity } from '../packages/shared/src/security/transport-security';
import { withWorkerAllocatorEnv } from '../packages/shared/src/process/allocator-env';

export const BENCH_JOIN_TOKEN = 'bench-join-token-0123456789';

/** A rank's mutual-TLS material and join token (absent: plaintext). */
export interface RankTls {
  material: TlsMaterial;
  token: string;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The chunk size the coordinator gives a world of `ranks` ranks all on this host (collective-chunking.ts). */
export function localWorldChunkBytes(ranks: number, transport: 'grpc' | 'tcp'): number {
  return chooseChunkBytes({ transport, hosts: [{ hostname: 'local', ranks, cpus: availableParallelism() }] }).bytes;
}

/** A leaf certificate of `ca` for `rank` on loopback, with the bench's join token. */
export async function issueRankTls(ca: CertificateAuthority, rank: number): Promise<RankTls> {
  const leaf = await ca.issue({ commonName: `rank-${rank}`, names: ['localhost', '127.0.0.1'] });
  return { material: { ca: ca.cert, cert: leaf.cert, key: leaf.key }, token: BENCH_JOIN_TOKEN };
}

/**
 * The security a rank runs with: mutual TLS + token, or plaintext. Plaintext may listen on any address:
 * benches bind loopback or the slow-link bench's veths, whose namespaces reach nothing else.
 */
export function rankSecurity(tls: RankTls | undefined): TransportSecurity {
  return tls
    ? createMutualTlsSecurity(tls.material, { joinToken: tls.token })
    : createInsecureSecurity({ allowInsecureListen: true, log: () => undefined });
}

export interface RankProcess {
  /** The bench script the rank runs (tsx), its role flag and the config passed as JSON after it. */
  script: string;
  flag: string;
  config: unknown;
  /** Names the rank in a failure. */
  label: string;
  /** Command that wraps the node process (the slow-link bench: `ip netns exec NS`). */
  wrapper?: string[];
  cwd?: string;
}

/** Runs one rank to its end; resolves to the JSON lines (objects or arrays) it printed. */
export function runRankProcess(p: RankProcess): Promise<string[]> {
  const nodeArgs = (process.env.DTRAIN_BENCH_RANK_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const argv = [process.execPath, ...nodeArgs, '--import', 'tsx', p.script, p.flag, JSON.stringify(p.config)];
  const [command, ...args] = [...(p.wrapper ?? []), ...argv];
  const child = spawn(command, args, { cwd: p.cwd, stdio: ['ignore', 'pipe', 'inherit'], env: withWorkerAllocatorEnv(process.env) });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      // Only JSON lines are results; anything else (e.g. --trace-gc in DTRAIN_BENCH_RANK_NODE_ARGS) goes to stderr.
      const lines: string[] = [];
      for (const l of out.split('\n').map((x) => x.trim()).filter(Boolean)) {
        if (isJson(l)) lines.push(l);
        else process.stderr.write(`[${p.label}] ${l}\n`);
      }
      if (code !== 0 || lines.length === 0) reject(new Error(`${p.label} exited with ${code}`));
      else resolve(lines);
    });
  });
}

function isJson(line: string): boolean {
  if (!line.startsWith('{') && !line.startsWith('[')) return false;
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
