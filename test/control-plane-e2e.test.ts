// The control plane as a user drives it: a 2-worker `dtrain launch --nats`, its events followed from
// another process, `dtrain status`, `dtrain checkpoint`, and `dtrain stop` ending it cleanly with a
// final checkpoint. Real nats-server (JetStream), real processes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';
import { describeServiceRuntime, startNatsServer, type NatsServerHandle } from './harness/nats-server';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
  console.info(`nats-server: ${describeServiceRuntime()} at ${nats.url}`);
});
afterAll(async () => { await nats?.stop(); });

interface EventLine { kind: string; job: string; data: Record<string, unknown> }

describe('control plane end to end', () => {
  it('events --follow sees the job, status answers, checkpoint writes one, stop ends it with a final checkpoint', async () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    const job = writeJob(dir, smallMnistJob({
      name: 'nats-e2e',
      training: { batchSize: 16, epochs: 200 },
      checkpoint: { dir: ckpt, keep: 5 },
    }));
    const launch = startDtrain(['launch', '--workers', '2', job, '--nats', nats.url, '--json', '--no-metrics']);
    const follower = startDtrain(['events', '--follow', '--json', '--nats', nats.url, '--job', 'nats-e2e']);
    await launch.waitFor(/epoch 1\/200 step/);
    await follower.waitFor(/"kind":"world-formed"/);

    const status = await runDtrain(['status', '--json', '--nats', nats.url, '--job', 'nats-e2e']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as { state: string; workers: number; generation: number; globalStep: number };
    expect(s).toMatchObject({ state: 'running', workers: 2, generation: 1 });
    expect(s.globalStep).toBeGreaterThan(0);

    const cp = await runDtrain(['checkpoint', '--json', '--nats', nats.url, '--job', 'nats-e2e']);
    expect(cp.code, cp.stderr).toBe(0);
    const cpReply = JSON.parse(cp.stdout) as { ok: boolean; checkpoint: string };
    expect(cpReply.ok).toBe(true);
    expect(existsSync(join(cpReply.checkpoint, 'manifest.json'))).toBe(true);

    const stop = await runDtrain(['stop', '--nats', nats.url, '--job', 'nats-e2e', '--reason', 'e2e test']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('stop requested for job nats-e2e');

    const { code } = await launch.exited;
    expect(code, launch.stderr()).toBe(0);
    const summary = lastJsonLine(launch.stdout());
    expect(summary.status).toBe('stopped');
    const finalCkpt = String(summary.lastCheckpoint);
    const state = JSON.parse(readFileSync(join(finalCkpt, 'state.json'), 'utf8')) as { globalStep: number };
    // The final checkpoint is taken at the step the job stopped at.
    expect(state.globalStep).toBe(summary.steps);
    expect(finalCkpt).not.toBe(cpReply.checkpoint);

    await follower.waitFor(/"kind":"finished"/);
    follower.child.kill('SIGTERM');
    await follower.exited;
    const events = follower.stdout().trim().split('\n').map((l) => JSON.parse(l) as EventLine);
    const kinds = events.map((e) => e.kind);
    for (const k of ['started', 'world-formed', 'worker-joined', 'checkpoint-written', 'stopping', 'finished']) expect(kinds).toContain(k);
    expect(kinds.indexOf('started')).toBeLessThan(kinds.indexOf('world-formed'));
    expect(kinds.indexOf('stopping')).toBeLessThan(kinds.indexOf('finished'));
    expect(kinds.filter((k) => k === 'worker-joined')).toHaveLength(2);
    expect(events.every((e) => e.job === 'nats-e2e')).toBe(true);
    expect(events.find((e) => e.kind === 'stopping')?.data.reason).toBe('e2e test');
    expect(await waitForExit([launch.child.pid!])).toEqual([]);
  });

  it('a NATS outage during training is a logged warning: training goes on and the buffered events arrive later', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ name: 'nats-outage', training: { batchSize: 16, epochs: 4 } }));
    const launch = startDtrain(['launch', '--workers', '2', job, '--nats', nats.url, '--json', '--no-metrics']);
    await launch.waitFor(/validation after epoch 1/);
    await nats.stop();
    await launch.waitFor(/validation after epoch 3/);
    expect(launch.stderr()).toMatch(/buffering events \(up to \d+\) until it returns/);
    await nats.restart();
    const { code } = await launch.exited;
    expect(code, launch.stderr()).toBe(0);
    expect(lastJsonLine(launch.stdout()).status).toBe('succeeded');
    expect(launch.stderr()).toMatch(/NATS at nats:\/\/\S+ is back: buffered events delivered/);
    const events = await runDtrain(['events', '--json', '--nats', nats.url, '--job', 'nats-outage']);
    expect(events.code, events.stderr).toBe(0);
    const kinds = events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as EventLine).kind);
    expect(kinds.filter((k) => k === 'epoch-done')).toHaveLength(4);
    expect(kinds[kinds.length - 1]).toBe('finished');
  });

  it('status for a job nobody serves fails with a clear message', async () => {
    const r = await runDtrain(['status', '--nats', nats.url, '--job', 'no-such-job', '--timeout', '1000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no coordinator is serving job no-such-job on nats:\/\//);
  });
});
