// 1,000 bad connection attempts against a running job do not disturb it: fired concurrently from
// three hostile processes at the coordinator and both workers' Peer ports (plaintext, another CA,
// expired certificate, wrong and missing token), every one refused and logged, and the job ends
// with bit-identical weights to an undisturbed run with the same seed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './harness/free-port';
import { lastJsonLine, runDtrain, smallMnistJob, startDtrain, tempDir, writeJob, type CliRun } from './harness/dtrain-cli';
import { attack, jobCertificates, listeningPorts, refusalLines, tlsFlags, type JobCertificates } from './harness/security';
import type { AttackKind } from './harness/bad-peer';

const KINDS: AttackKind[] = ['plaintext', 'other-ca', 'expired', 'wrong-token', 'no-token'];
const running: CliRun[] = [];
let certs: JobCertificates;
let root: string;

beforeAll(async () => {
  root = tempDir('dtrain-flood-');
  const made = await runDtrain(['certs', 'create', '--out', join(root, 'certs')]);
  expect(made.code, made.stderr).toBe(0);
  certs = await jobCertificates(join(root, 'certs'));
});
afterAll(() => { for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL'); });

interface Run { weights: Buffer; log: string; steps: unknown; attacked: number }

async function trainOnce(name: string, flood: boolean): Promise<Run> {
  const dir = join(root, name);
  const job = writeJob(tempDir('dtrain-flood-job-'), smallMnistJob({
    name: 'flood',
    training: { batchSize: 16, epochs: 3, maxSteps: 120 },
    checkpoint: { dir, everySteps: 1000, keep: 1 },
  }));
  const address = `127.0.0.1:${await freePort()}`;
  const sec = ['--join-token', certs.token];
  const coordinator = startDtrain(['coordinator', job, '--listen', address, '--workers', '2', '--json', ...tlsFlags(certs.dir, 'coordinator'), ...sec]);
  running.push(coordinator);
  await coordinator.waitFor(/waiting for 2 worker/, 240_000);
  // In the flooded run a delay stretches each step (>= 18 s of training, so the flood lands while it
  // trains); it sleeps and changes no number, so the quiet run needs none.
  const delay = flood ? ['--test-delay-ms', '150'] : [];
  const workers = [0, 1].map((r) => startDtrain(['worker', '--coordinator', address, '--local-rank', String(r),
    ...delay, ...tlsFlags(certs.dir, 'worker'), ...sec]));
  running.push(...workers);
  let attacked = 0;
  if (flood) {
    await coordinator.waitFor(/epoch 1\/\d+: \d+ step/, 300_000);
    const peers = workers.map((w) => listeningPorts(w.child.pid!));
    expect(peers.map((p) => p.length)).toEqual([1, 1]);
    const targets = [
      { target: address, service: 'coordinator' as const, count: 80 },
      { target: `127.0.0.1:${peers[0][0]}`, service: 'peer' as const, count: 60 },
      { target: `127.0.0.1:${peers[1][0]}`, service: 'peer' as const, count: 60 },
    ];
    const results = await Promise.all(targets.map((t, i) => attack(certs, { ...t, kinds: KINDS, concurrency: 25 }, join(root, `plan-${i}.json`))));
    for (const outcome of results.flat()) {
      const expected = outcome.kind === 'wrong-token' || outcome.kind === 'no-token' ? 'UNAUTHENTICATED' : 'UNAVAILABLE';
      expect(outcome.outcomes, `${outcome.kind}: ${outcome.sample}`).toEqual({ [expected]: outcome.attempts });
      attacked += outcome.attempts;
    }
    // The attack must have hit a running job, or it proves nothing.
    expect(coordinator.child.exitCode, 'the job ended before the flood did: make it longer').toBeNull();
  }
  const [done, ...exits] = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  expect(done.code, coordinator.stderr().slice(-2000)).toBe(0);
  expect(exits.map((e) => e.code)).toEqual([0, 0]);
  const checkpoint = readdirSync(dir).filter((d) => d.startsWith('step-')).sort().pop()!;
  return {
    weights: readFileSync(join(dir, checkpoint, 'weights.bin')),
    log: [coordinator.stderr(), ...workers.map((w) => w.stderr())].join('\n'),
    steps: lastJsonLine(coordinator.stdout()).steps,
    attacked,
  };
}

describe('a flood of bad peers', () => {
  it('1,000 refused attempts leave the job\'s weights bit-identical to an undisturbed run', async () => {
    const quiet = await trainOnce('quiet', false);
    const flooded = await trainOnce('flooded', true);
    expect(flooded.attacked).toBe(1000);
    expect(quiet.steps).toBe(120);
    expect(flooded.steps).toBe(120);
    expect(flooded.weights.length).toBeGreaterThan(0);
    expect(flooded.weights.equals(quiet.weights)).toBe(true);
    // Every attempt was refused and logged with its address (handshake failures may log once per
    // TLS connection attempt, so at least one line each).
    const tokenRefusals = ['coordinator', 'peer'].flatMap((s) => ['wrong-token', 'missing-token']
      .flatMap((r) => refusalLines(flooded.log, s as 'coordinator' | 'peer', r)));
    expect(tokenRefusals).toHaveLength(400);
    const handshakes = ['coordinator', 'peer'].flatMap((s) => refusalLines(flooded.log, s as 'coordinator' | 'peer', 'tls-handshake'));
    expect(handshakes.length).toBeGreaterThanOrEqual(600);
    expect(handshakes.every((l) => /from 127\.0\.0\.1:\d+: /.test(l))).toBe(true);
    expect(refusalLines(quiet.log, 'coordinator', 'tls-handshake')).toHaveLength(0);
  }, 1_200_000); // two trainings + 1,000 attempts: generous, the machine runs at load ~30
});
