// A network partition, for real: each worker runs in its own network namespace (ip netns), wired to
// the coordinator's namespace by a veth pair on a bridge (10.7.0.0/24). Mid-run one worker's link is
// set down: its peers' collective times out and blames it, its heartbeats stop, the coordinator
// removes it and the two others go on in a new generation and finish with an exact sample ledger and
// equal replicas. The cut-off worker gives up on its coordinator after --coordinator-timeout-ms.
// Needs root (ip netns); skipped elsewhere. Names are prefixed el- (branch `elastic`).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DTRAIN_BIN, REPO_ROOT, lastJsonLine, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';
import { expectExactLedger, finalDigests, type SampleLedger } from './harness/elastic';

const IP = '/usr/sbin/ip';
const BRIDGE = 'el-br0';
const HOST_IP = '10.7.0.1';
const WORKERS = [1, 2, 3];

function ip(...args: string[]): void {
  execFileSync(IP, args, { stdio: 'pipe' });
}

function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip('netns', 'add', 'el-probe');
    ip('netns', 'del', 'el-probe');
    return true;
  } catch {
    return false;
  }
}

function teardown(): void {
  for (const i of WORKERS) {
    try { ip('netns', 'del', `el-w${i}`); } catch { /* not there */ }
    try { ip('link', 'del', `el-h${i}`); } catch { /* gone with the namespace */ }
  }
  try { ip('link', 'del', BRIDGE); } catch { /* not there */ }
}

function setup(): void {
  teardown();
  ip('link', 'add', BRIDGE, 'type', 'bridge');
  ip('addr', 'add', `${HOST_IP}/24`, 'dev', BRIDGE);
  ip('link', 'set', BRIDGE, 'up');
  for (const i of WORKERS) {
    const ns = `el-w${i}`;
    ip('netns', 'add', ns);
    ip('link', 'add', `el-h${i}`, 'type', 'veth', 'peer', 'name', `el-c${i}`);
    ip('link', 'set', `el-c${i}`, 'netns', ns);
    ip('link', 'set', `el-h${i}`, 'master', BRIDGE);
    ip('link', 'set', `el-h${i}`, 'up');
    ip('netns', 'exec', ns, IP, 'addr', 'add', `10.7.0.1${i}/24`, 'dev', `el-c${i}`);
    ip('netns', 'exec', ns, IP, 'link', 'set', `el-c${i}`, 'up');
    ip('netns', 'exec', ns, IP, 'link', 'set', 'lo', 'up');
  }
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[]): Proc {
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function waitUntil(what: string, check: () => boolean, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${context().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const procs: Proc[] = [];
const usable = canUseNetns();

afterAll(() => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (usable) teardown();
});

describe.skipIf(!usable)('elastic: network partition (ip netns)', () => {
  it('a worker whose link goes down is removed; the rest continue and finish', async () => {
    setup();
    const dir = tempDir('dtrain-partition-');
    const job = writeJob(dir, smallMnistJob({
      name: 'partition',
      seed: 11,
      training: { batchSize: 16, epochs: 4 },
      checkpoint: { dir: join(dir, 'ckpt'), everySteps: 20, keep: 2 },
      collective: { timeoutMs: 4_000 },
    }));
    // Across namespaces the addresses are not loopback, so the cluster runs as users must run one: mutual
    // TLS with certificates from `dtrain certs create` and the join token it writes.
    const certs = join(dir, 'certs');
    execFileSync(process.execPath, [DTRAIN_BIN, 'certs', 'create', '--out', certs, '--dns', HOST_IP], { stdio: 'pipe' });
    const token = readFileSync(join(certs, 'join-token'), 'utf8').trim();
    const tlsArgs = (role: 'coordinator' | 'worker') => [
      '--tls-ca', join(certs, 'ca.pem'), '--tls-cert', join(certs, `${role}.pem`),
      '--tls-key', join(certs, `${role}-key.pem`), '--join-token', token,
    ];
    const coordinator = start(process.execPath, [
      DTRAIN_BIN, 'coordinator', job, '--listen', `${HOST_IP}:0`, '--workers', '2:3', '--json', ...tlsArgs('coordinator'),
    ]);
    procs.push(coordinator);
    await waitUntil('the coordinator address', () => /--coordinator (\S+)/.test(coordinator.err()), 60_000, coordinator.err);
    const address = /--coordinator (\S+)/.exec(coordinator.err())![1];
    const workers = WORKERS.map((i) => start(IP, [
      'netns', 'exec', `el-w${i}`, process.execPath, DTRAIN_BIN, 'worker', '--coordinator', address,
      '--peer-host', `10.7.0.1${i}`, '--coordinator-timeout-ms', '5000', ...tlsArgs('worker'),
    ]));
    procs.push(...workers);
    const all = () => [coordinator, ...workers].map((p) => p.err()).join('\n');
    await waitUntil('step 20', () => workers.some((w) => /checkpoint \(periodic\) at step 20:/.test(w.err())), 180_000, all);

    // Cut worker 3 off: its end of the bridge goes down (its process and sockets stay).
    ip('link', 'set', 'el-h3', 'down');
    const cut = workers[2];
    const rest = workers.slice(0, 2);

    expect(await coordinator.exited, all()).toBe(0);
    const summary = lastJsonLine(coordinator.out()) as { status: string; workersLost?: number; sampleLedger?: SampleLedger };
    expect(summary.status).toBe('succeeded');
    expect(summary.workersLost).toBe(1);
    expectExactLedger(summary.sampleLedger);
    for (const w of rest) expect(await w.exited, w.err().slice(-3000)).toBe(0);
    const digests = rest.flatMap((w) => finalDigests(w.err()));
    expect(digests.length).toBe(2);
    expect(new Set(digests).size).toBe(1);
    for (const w of rest) expect(w.err()).toMatch(/generation \d+: rank \d\/2,/);
    // The cut-off worker never finished; it exits on its own once its coordinator stays unreachable.
    expect(await cut.exited).not.toBe(0);
    expect(finalDigests(cut.err())).toEqual([]);
  }, 300_000);
});
