// `dtrain status|stop|events` as real processes (test/fixtures/control-cli.ts) against a real nats-server.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlRequest, JobEvent, JobStatus } from '@dtrain/shared/control/api';
import { connectNatsBus, type NatsBus } from '@dtrain/shared/control/nats-bus';
import { startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = resolve(ROOT, 'test/fixtures/control-cli.ts');
const JOB = 'cli-demo';

let server: NatsServerHandle;
let bus: NatsBus;
const requests: ControlRequest[] = [];
const status: JobStatus = {
  job: JOB, state: 'running', generation: 2, workers: 3, epoch: 4, globalStep: 987,
  loss: 0.0421, samplesPerSec: 6543.2, lastCheckpoint: '/ckpt/cli-demo/0004',
};
const published: JobEvent[] = [
  { job: JOB, kind: 'started', time: '2026-01-01T00:00:00.000Z', generation: 0, data: { workers: 3 } },
  { job: JOB, kind: 'world-formed', time: '2026-01-01T00:00:01.000Z', generation: 2, data: { ranks: [0, 1, 2] } },
  { job: JOB, kind: 'epoch-done', time: '2026-01-01T00:00:02.000Z', generation: 2, data: { epoch: 0, loss: 0.6931 } },
];

interface Run { code: number | null; stdout: string; stderr: string }

function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT, env: { ...process.env, DTRAIN_NATS_URL: '', DTRAIN_JOB: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  const done = new Promise<Run>((res) => child.on('exit', (code) => res({ code, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}
const runCli = (args: string[], env: Record<string, string> = {}): Promise<Run> => startCli(args, env).done;

beforeAll(async () => {
  server = await startNatsServer();
  bus = await connectNatsBus({ url: server.url, job: JOB, log: () => undefined });
  bus.serveControl(JOB, async (req) => {
    requests.push(req);
    if (req.op === 'status') return { ok: true, status };
    if (req.op === 'stop') return { ok: true, message: `stopping (${req.reason ?? ''})` };
    return { ok: false, error: 'unsupported' };
  });
  for (const e of published) bus.publish(e);
  expect(await bus.flush(10_000)).toBe(0);
});
afterAll(async () => {
  await bus?.close();
  await server?.destroy();
});

describe('dtrain status|stop|events', () => {
  it('events --json prints the job\'s events as JSON lines, in order', async () => {
    const run = await runCli(['events', '--nats', server.url, '--job', JOB, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((l) => JSON.parse(l) as JobEvent)).toEqual(published);
  });

  it('status prints the coordinator\'s status, human and --json (job and URL from the environment)', async () => {
    const [human, json] = await Promise.all([
      runCli(['status', '--nats', server.url, '--job', JOB]),
      runCli(['status', '--json'], { DTRAIN_NATS_URL: server.url, DTRAIN_JOB: JOB }),
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`job ${JOB}: running`);
    expect(human.stdout).toMatch(/global step: +987\n/);
    expect(human.stdout).toMatch(/samples\/s: +6,543\n/);
    expect(human.stdout).toMatch(/last checkpoint: \/ckpt\/cli-demo\/0004\n/);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(status);
  });

  it('stop makes the coordinator\'s handler see a stop with the reason', async () => {
    const before = requests.length;
    const run = await runCli(['stop', '--nats', server.url, '--job', JOB, '--reason', 'maintenance window']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`stop requested for job ${JOB}: stopping (maintenance window)\n`);
    expect(requests.slice(before)).toEqual([{ op: 'stop', reason: 'maintenance window' }]);
  });

  it('fails with a clear message when no coordinator serves the job, and on missing flags', async () => {
    const [nobody, missing] = await Promise.all([
      runCli(['status', '--nats', server.url, '--job', 'nobody', '--timeout', '500']),
      runCli(['stop']),
    ]);
    expect(nobody.code).toBe(1);
    expect(nobody.stdout).toBe('');
    expect(nobody.stderr).toMatch(new RegExp(`^dtrain status: no coordinator is serving job nobody on ${server.url} \\(`));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('dtrain stop: missing --nats URL (or DTRAIN_NATS_URL) and --job NAME (or DTRAIN_JOB)\n');
  });

  it('events --follow prints the history, then new events, until interrupted', async () => {
    const cli = startCli(['events', '--follow', '--json', '--nats', server.url, '--job', JOB]);
    const lines = () => cli.stdout().trim().split('\n').filter(Boolean);
    const deadline = Date.now() + 20_000;
    while (lines().length < published.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const live: JobEvent = { job: JOB, kind: 'checkpoint-written', time: '2026-01-01T00:00:03.000Z', generation: 2, data: { path: '/ckpt/x' } };
    bus.publish(live);
    while (lines().length < published.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    cli.child.kill('SIGTERM');
    const run = await cli.done;
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((l) => JSON.parse(l) as JobEvent)).toEqual([...published, live]);
  });
});
