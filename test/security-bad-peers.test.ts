// Secure clusters, end to end with real processes: `dtrain certs create` makes the job's
// certificates, `dtrain coordinator` and `dtrain worker` run mutual TLS with a join token, and a
// hostile process (harness/bad-peer.ts) is refused at the handshake (plaintext, another CA, an
// expired certificate) or before any handler runs (no or a wrong token), logged with its address
// and counted in dtrain_auth_refusals_total. A worker with a wrong token never sees the job spec.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleValue } from '@dtrain/shared/metrics/metric-set';
import { freePort } from './harness/free-port';
import { lastJsonLine, runDtrain, smallMnistJob, startDtrain, tempDir, writeJob, type CliRun } from './harness/dtrain-cli';
import { attack, jobCertificates, listeningPorts, refusalLines, tlsFlags, type JobCertificates } from './harness/security';

const running: CliRun[] = [];
afterAll(() => { for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL'); });

function start(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const run = startDtrain(args, { env });
  running.push(run);
  return run;
}

async function makeCertificates(dir: string): Promise<JobCertificates> {
  const out = join(dir, 'certs');
  const made = await runDtrain(['certs', 'create', '--out', out, '--dns', 'localhost', 'trainer-0.example']);
  expect(made.code, made.stderr).toBe(0);
  for (const f of ['ca.pem', 'ca-key.pem', 'coordinator.pem', 'coordinator-key.pem', 'worker.pem', 'worker-key.pem', 'join-token']) {
    expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600);
  }
  return jobCertificates(out);
}

describe('mutual TLS and the join token, against real processes', () => {
  it('the coordinator refuses every bad peer, logs and counts it, and admitted workers train', async () => {
    const dir = tempDir('dtrain-sec-');
    const certs = await makeCertificates(dir);
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 1, maxSteps: 12 } }));
    const [port, metricsPort] = [await freePort(), await freePort()];
    const address = `127.0.0.1:${port}`;
    const coordinator = start(['coordinator', job, '--listen', address, '--workers', '2', '--json',
      '--metrics-port', String(metricsPort), ...tlsFlags(certs.dir, 'coordinator'), '--join-token', certs.token]);
    await coordinator.waitFor(/waiting for 2 worker/, 240_000);
    expect(coordinator.stderr()).toMatch(/security: mutual TLS, join token required/);

    const outcomes = await attack(certs, {
      target: address, service: 'coordinator', kinds: ['plaintext', 'other-ca', 'expired', 'wrong-token', 'no-token'],
      count: 3, concurrency: 3,
    }, join(dir, 'plan.json'));
    const byKind = Object.fromEntries(outcomes.map((o) => [o.kind, o]));
    for (const kind of ['plaintext', 'other-ca', 'expired'] as const) {
      expect(byKind[kind].outcomes, `${kind}: ${byKind[kind].sample}`).toEqual({ UNAVAILABLE: 3 });
    }
    expect(byKind['wrong-token'].outcomes).toEqual({ UNAUTHENTICATED: 3 });
    expect(byKind['wrong-token'].sample).toMatch(/BadJoinTokenError: coordinator refused \/dtrain\.v1\.Coordinator\/Join from .*wrong join token/);
    expect(byKind['no-token'].outcomes).toEqual({ UNAUTHENTICATED: 3 });
    expect(byKind['no-token'].sample).toMatch(/no join token/);

    // Logged with the remote address and the reason; counted per reason.
    const log = coordinator.stderr();
    expect(refusalLines(log, 'coordinator', 'wrong-token')).toHaveLength(3);
    expect(refusalLines(log, 'coordinator', 'missing-token')).toHaveLength(3);
    const handshakes = refusalLines(log, 'coordinator', 'tls-handshake');
    expect(handshakes.length).toBeGreaterThanOrEqual(9);
    for (const line of handshakes) expect(line).toMatch(/from 127\.0\.0\.1:\d+: tls-handshake \(/);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(sampleValue(metrics, 'dtrain_auth_refusals_total', { service: 'coordinator', reason: 'wrong-token' })).toBe(3);
    expect(sampleValue(metrics, 'dtrain_auth_refusals_total', { service: 'coordinator', reason: 'missing-token' })).toBe(3);
    expect(sampleValue(metrics, 'dtrain_auth_refusals_total', { service: 'coordinator', reason: 'tls-handshake' })).toBe(handshakes.length);

    // A worker with a good certificate and the wrong token is refused before it learns anything.
    const intruder = start(['worker', '--coordinator', address, ...tlsFlags(certs.dir, 'worker')], {
      DTRAIN_JOIN_TOKEN: 'a-wrong-token-of-some-other-job',
    });
    // Refused for good (JoinRefusedError, exit 3: Kubernetes does not recreate it), named by the token check.
    expect((await intruder.exited).code).toBe(3);
    expect(intruder.stderr()).toMatch(/JoinRefusedError: .*BadJoinTokenError: .*wrong join token/);
    expect(intruder.stderr()).not.toMatch(/joined job/);

    // The admitted workers: one with flags, one with DTRAIN_* environment variables.
    const w0 = start(['worker', '--coordinator', address, '--local-rank', '0', ...tlsFlags(certs.dir, 'worker'), '--join-token', certs.token]);
    const w1 = start(['worker', '--coordinator', address, '--local-rank', '1'], {
      DTRAIN_TLS_CA: join(certs.dir, 'ca.pem'), DTRAIN_TLS_CERT: join(certs.dir, 'worker.pem'),
      DTRAIN_TLS_KEY: join(certs.dir, 'worker-key.pem'), DTRAIN_JOIN_TOKEN: certs.token,
    });
    const [done, e0, e1] = await Promise.all([coordinator.exited, w0.exited, w1.exited]);
    expect(done.code, coordinator.stderr().slice(-2000)).toBe(0);
    expect([e0.code, e1.code]).toEqual([0, 0]);
    expect(lastJsonLine(coordinator.stdout())).toMatchObject({ status: 'succeeded', workers: 2, steps: 12 });
  }, 600_000); // generous: several CLI processes on a machine at load ~30

  it('a worker\'s Peer port refuses bad peers, and a Pull for another job or generation by name', async () => {
    const dir = tempDir('dtrain-sec-');
    const certs = await makeCertificates(dir);
    // Long enough to attack while it trains; the test stops it.
    const job = writeJob(dir, smallMnistJob({ name: 'sec-peer', training: { batchSize: 16, epochs: 50 } }));
    const [port, metricsPort] = [await freePort(), await freePort()];
    const address = `127.0.0.1:${port}`;
    const sec = ['--join-token', certs.token];
    // 2:3: there is room for a third worker mid-training, so only the token can refuse one.
    const coordinator = start(['coordinator', job, '--listen', address, '--workers', '2:3', '--metrics-port', String(metricsPort),
      ...tlsFlags(certs.dir, 'coordinator'), ...sec]);
    const coordinatorMetric = async (name: string, labels?: Record<string, string>) =>
      sampleValue(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), name, labels) ?? 0;
    const globalStep = async () => coordinatorMetric('dtrain_global_step');
    await coordinator.waitFor(/waiting for 2:3 worker/, 240_000);
    const workers = [0, 1].map((r) => start(['worker', '--coordinator', address, '--local-rank', String(r),
      '--test-delay-ms', '20', ...tlsFlags(certs.dir, 'worker'), ...sec]));
    await coordinator.waitFor(/epoch 1\/50/, 300_000);
    const jobId = coordinator.stderr().match(/job (sec-peer-[0-9a-f]+): waiting/)?.[1];
    expect(jobId).toBeDefined();
    const rank0 = workers.find((w) => /generation \d+: rank 0\/2,/.test(w.stderr()))!;
    const ports = listeningPorts(rank0.child.pid!);
    expect(ports).toHaveLength(1); // the Peer server (no metrics port was asked for)
    const peer = `127.0.0.1:${ports[0]}`;

    const outcomes = await attack(certs, {
      target: peer, service: 'peer', kinds: ['plaintext', 'other-ca', 'expired', 'wrong-token', 'no-token'], count: 2, concurrency: 2,
    }, join(dir, 'plan.json'));
    const byKind = Object.fromEntries(outcomes.map((o) => [o.kind, o]));
    for (const kind of ['plaintext', 'other-ca', 'expired'] as const) expect(byKind[kind].outcomes, kind).toEqual({ UNAVAILABLE: 2 });
    expect(byKind['wrong-token'].outcomes).toEqual({ UNAUTHENTICATED: 2 });
    expect(byKind['wrong-token'].sample).toMatch(/BadJoinTokenError: peer refused \/dtrain\.v1\.Peer\/Pull/);
    expect(byKind['no-token'].outcomes).toEqual({ UNAUTHENTICATED: 2 });
    const workerLog = rank0.stderr();
    expect(refusalLines(workerLog, 'peer', 'wrong-token')).toHaveLength(2);
    expect(refusalLines(workerLog, 'peer', 'tls-handshake').length).toBeGreaterThanOrEqual(6);

    // A worker joining the running job (an elastic newcomer) with the wrong token or none is refused
    // at Join and never receives the spec; the world is not touched.
    const joinedBefore = await coordinatorMetric('dtrain_workers_joined_total');
    for (const token of ['a-wrong-token-of-some-other-job', undefined]) {
      const late = start(['worker', '--coordinator', address, '--local-rank', '2', ...tlsFlags(certs.dir, 'worker')],
        token ? { DTRAIN_JOIN_TOKEN: token } : {});
      expect((await late.exited).code, late.stderr()).toBe(3);
      expect(late.stderr()).toMatch(token
        ? /JoinRefusedError: .*BadJoinTokenError: coordinator refused \/dtrain\.v1\.Coordinator\/Join from .*wrong join token/
        : /JoinRefusedError: .*BadJoinTokenError: .*no join token/);
      expect(late.stderr()).not.toMatch(/joined job|generation \d+: rank/);
    }
    expect(await coordinatorMetric('dtrain_workers_joined_total')).toBe(joinedBefore);
    expect(await coordinatorMetric('dtrain_auth_refusals_total', { service: 'coordinator', reason: 'wrong-token' })).toBe(1);
    expect(await coordinatorMetric('dtrain_auth_refusals_total', { service: 'coordinator', reason: 'missing-token' })).toBe(1);
    // Refused before the Join handler ran: the controller never saw these processes.
    expect(coordinator.stderr()).not.toMatch(/refused a join from/);
    expect(coordinator.stderr().match(/worker \S+ session open/g)).toHaveLength(2);

    // Past TLS and the token: a Pull of an older generation is refused, and the ring goes on.
    const [stale] = await attack(certs, {
      target: peer, service: 'peer', kinds: ['good-token'], count: 1, concurrency: 1,
      pull: { jobId: jobId!, generation: 0, step: 0, senderRank: 1 },
    }, join(dir, 'plan-stale.json'));
    expect(stale.outcomes).toEqual({ FAILED_PRECONDITION: 1 });
    expect(stale.sample).toMatch(/CollectiveMismatchError.*generation/);
    const before = await globalStep();
    for (let i = 0; i < 1200 && (await globalStep()) < before + 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await globalStep()).toBeGreaterThanOrEqual(before + 3);

    // A Pull for another job is refused by name too (as before this work: the ring then fails loudly,
    // because only a process holding this job's certificate and token can send it).
    const [foreign] = await attack(certs, {
      target: peer, service: 'peer', kinds: ['good-token'], count: 1, concurrency: 1,
      pull: { jobId: 'another-job', generation: 1, step: 0, senderRank: 1 },
    }, join(dir, 'plan-foreign.json'));
    expect(foreign.outcomes).toEqual({ FAILED_PRECONDITION: 1 });
    expect(foreign.sample).toMatch(/CollectiveMismatchError.*job/);
    for (const r of [coordinator, ...workers]) r.child.kill('SIGKILL');
  }, 600_000);
});
