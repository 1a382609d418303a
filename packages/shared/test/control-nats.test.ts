// The NATS control plane against a real nats-server (started by the harness as a local process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneError } from '@dtrain/shared/errors';
import type { ControlRequest, EventKind, JobEvent, JobStatus } from '@dtrain/shared/control/api';
import { connectNatsBus, type NatsBus } from '@dtrain/shared/control/nats-bus';
import { followEvents, readEvents, requestControl } from '@dtrain/shared/control/control-client';
import { createControlBus } from '@dtrain/shared/control/create-control-bus';
import { freePort } from '../../../test/harness/free-port';
import { describeServiceRuntime, findNatsServerBinary, startNatsServer, type NatsServerHandle } from '../../../test/harness/nats-server';
import { EVENTS_STREAM } from '@dtrain/shared/control/events-stream';
import { connect } from 'nats';

let server: NatsServerHandle;
const openBuses: NatsBus[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  console.log(describeServiceRuntime());
});
afterAll(async () => {
  for (const bus of openBuses) await bus.close();
  await server?.destroy();
});

function event(job: string, kind: EventKind, generation: number, data: Record<string, unknown>): JobEvent {
  return { job, kind, time: new Date(Date.UTC(2026, 0, 1, 0, 0, generation)).toISOString(), generation, data };
}

async function openBus(job: string, lines: string[] = [], maxBufferedEvents?: number): Promise<NatsBus> {
  const bus = await connectNatsBus({ url: server.url, job, log: (l) => lines.push(l), maxBufferedEvents });
  openBuses.push(bus);
  return bus;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('NatsBus events', () => {
  it('are replayed from the start in order, also by a follower started after a server restart', async () => {
    const bus = await openBus('replay');
    const local: JobEvent[] = [];
    bus.onEvent((e) => local.push(e));
    const published = [
      event('replay', 'started', 0, { workers: 4, spec: { name: 'replay' } }),
      event('replay', 'world-formed', 1, { ranks: [0, 1, 2, 3] }),
      event('replay', 'epoch-done', 1, { epoch: 0, loss: 0.6931, accuracy: 0.5 }),
      event('replay', 'checkpoint-written', 1, { path: '/tmp/ckpt/replay/0001', bytes: 123456 }),
      event('replay', 'finished', 1, { epochs: 1, loss: 0.25 }),
    ];
    // Another job's events share the stream and must not leak into this job's history.
    const other = await openBus('other');
    other.publish(event('other', 'started', 0, { workers: 1 }));
    for (const e of published) bus.publish(e);
    expect(local).toEqual(published);
    expect(await bus.flush(10_000)).toBe(0);
    expect(bus.stats().delivered).toBe(5);

    expect(await readEvents(server.url, 'replay')).toEqual(published);

    bus.serveControl('replay', async () => ({ ok: true, message: 'still here' }));
    await server.restart();
    // The bus reconnects by itself, keeps publishing and serving control after the restart.
    await waitFor('the bus to see the outage and reconnect', () => bus.stats().outages === 1 && bus.stats().connected);
    expect(await requestControl(server.url, 'replay', { op: 'status' })).toEqual({ ok: true, message: 'still here' });
    bus.publish(event('replay', 'stopping', 2, { reason: 'after restart' }));
    expect(await bus.flush(10_000)).toBe(0);
    const afterRestart = await readEvents(server.url, 'replay');
    expect(afterRestart.map((e) => e.kind)).toEqual(['started', 'world-formed', 'epoch-done', 'checkpoint-written', 'finished', 'stopping']);
    expect(afterRestart.slice(0, 5)).toEqual(published);
    expect(afterRestart[5].data).toEqual({ reason: 'after restart' });
  });

  it('a live follower with fromStart=false sees only new events', async () => {
    const bus = await openBus('live');
    bus.publish(event('live', 'started', 0, { n: 1 }));
    expect(await bus.flush(10_000)).toBe(0);
    const seen: JobEvent[] = [];
    let caughtUp = false;
    const stop = await followEvents(server.url, 'live', { fromStart: false, onEvent: (e) => seen.push(e), onCaughtUp: () => { caughtUp = true; } });
    try {
      expect(caughtUp).toBe(true);
      bus.publish(event('live', 'epoch-done', 0, { epoch: 0 }));
      bus.publish(event('live', 'epoch-done', 0, { epoch: 1 }));
      await waitFor('two live events', () => seen.length >= 2);
      expect(seen.map((e) => e.data.epoch)).toEqual([0, 1]);
    } finally {
      await stop();
    }
  });
});

describe('NatsBus control request/reply', () => {
  it('status returns what the handler returns; stop and checkpoint reach the handler', async () => {
    const bus = await openBus('ctl');
    const status: JobStatus = {
      job: 'ctl', state: 'running', generation: 3, workers: 4, epoch: 2, globalStep: 1234,
      loss: 0.125, samplesPerSec: 8123.5, lastCheckpoint: '/ckpt/ctl/0002',
    };
    const seen: ControlRequest[] = [];
    bus.serveControl('ctl', async (req) => {
      seen.push(req);
      if (req.op === 'status') return { ok: true, status };
      if (req.op === 'checkpoint') return { ok: true, checkpoint: '/ckpt/ctl/0003' };
      return { ok: true, message: `stopping: ${req.reason ?? 'no reason'}` };
    });
    expect(await requestControl(server.url, 'ctl', { op: 'status' })).toEqual({ ok: true, status });
    expect(await requestControl(server.url, 'ctl', { op: 'stop', reason: 'operator' })).toEqual({ ok: true, message: 'stopping: operator' });
    expect(await requestControl(server.url, 'ctl', { op: 'checkpoint' })).toEqual({ ok: true, checkpoint: '/ckpt/ctl/0003' });
    expect(seen).toEqual([{ op: 'status' }, { op: 'stop', reason: 'operator' }, { op: 'checkpoint' }]);
  });

  it('a throwing handler becomes an ok:false reply naming the op', async () => {
    const bus = await openBus('ctl-throws');
    bus.serveControl('ctl-throws', async () => {
      throw new Error('checkpoint dir is read-only');
    });
    const reply = await requestControl(server.url, 'ctl-throws', { op: 'checkpoint' });
    expect(reply).toEqual({ ok: false, error: "control handler failed on 'checkpoint': checkpoint dir is read-only" });
  });

  it('fails clearly for a job nobody serves and for an unreachable server', async () => {
    const err = await requestControl(server.url, 'nobody', { op: 'status' }, 500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).reason).toBe('no-coordinator');
    expect((err as Error).message).toMatch(new RegExp(`^no coordinator is serving job nobody on ${server.url} \\(`));

    const deadUrl = `nats://127.0.0.1:${await freePort()}`;
    const err2 = await requestControl(deadUrl, 'x', { op: 'status' }).catch((e: unknown) => e);
    expect((err2 as ControlPlaneError).reason).toBe('unreachable');
    expect((err2 as Error).message).toContain(`cannot reach NATS at ${deadUrl}`);
    await expect(createControlBus({ natsUrl: deadUrl, job: 'x' })).rejects.toThrow(`cannot reach NATS at ${deadUrl}`);
  });
});

describe('NatsBus outage', () => {
  it('buffers events while the server is down and delivers all of them in order after it comes back', async () => {
    const lines: string[] = [];
    const bus = await openBus('outage', lines);
    const followed: JobEvent[] = [];
    const stopFollow = await followEvents(server.url, 'outage', { fromStart: true, onEvent: (e) => followed.push(e) });
    try {
      bus.publish(event('outage', 'started', 0, { i: -1 }));
      await waitFor('the first event at the follower', () => followed.length === 1);

      await server.stop();
      const K = 200;
      for (let i = 0; i < K; i++) bus.publish(event('outage', 'epoch-done', 1, { i }));
      // publish() only queued: nothing was awaited, so all K are still buffered.
      expect(bus.stats().buffered).toBeGreaterThanOrEqual(K);
      await new Promise((r) => setTimeout(r, 300));

      await server.restart();
      expect(await bus.flush(20_000)).toBe(0);
      await waitFor(`${K + 1} events at the live follower`, () => followed.length >= K + 1);
      expect(followed.slice(1).map((e) => e.data.i)).toEqual(Array.from({ length: K }, (_, i) => i));

      // A fresh reader sees each event exactly once (re-sends were de-duplicated by msgID).
      const history = await readEvents(server.url, 'outage');
      expect(history.map((e) => e.data.i)).toEqual([-1, ...Array.from({ length: K }, (_, i) => i)]);

      const warnings = lines.filter((l) => /buffering events/.test(l));
      expect(warnings).toHaveLength(1);
      expect(lines.filter((l) => /is back/.test(l))).toHaveLength(1);
      expect(bus.stats()).toMatchObject({ dropped: 0, outages: 1, buffered: 0 });
    } finally {
      await stopFollow();
    }
  });

  it('drops the oldest events beyond the buffer bound, counts them and warns once', async () => {
    const lines: string[] = [];
    const bus = await openBus('overflow', lines, 10);
    await server.stop();
    for (let i = 0; i < 25; i++) bus.publish(event('overflow', 'straggler', 0, { i }));
    await server.restart();
    expect(await bus.flush(20_000)).toBe(0);
    const history = await readEvents(server.url, 'overflow');
    // The bound covers the queue; the one event already in flight when the server went away is kept too.
    const got = history.map((e) => e.data.i as number);
    expect(got).toEqual(got.slice().sort((a, b) => a - b));
    expect(got.slice(-10)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(bus.stats().dropped).toBe(25 - got.length);
    expect(lines.filter((l) => /event buffer full/.test(l))).toHaveLength(1);
    expect(lines.find((l) => /is back/.test(l))).toContain(`${25 - got.length} events were dropped`);
  });
});

describe('NatsBus edges', () => {
  it('creates a file-backed events stream with bounded retention', async () => {
    await openBus('stream-config');
    const nc = await connect({ servers: server.url });
    try {
      const info = await (await nc.jetstreamManager()).streams.info(EVENTS_STREAM);
      expect(info.config.subjects).toEqual(['dtrain.*.events.>']);
      expect(info.config.storage).toBe('file');
      expect(info.config.max_age).toBe(7 * 24 * 3600 * 1e9);
      expect(info.config.max_msgs).toBe(1_000_000);
      expect(info.config.discard).toBe('old');
    } finally {
      await nc.close();
    }
  });

  it('publish() does not throw on data JSON cannot encode or a bad job name; close() is bounded while NATS is down', async () => {
    const lines: string[] = [];
    const bus = await connectNatsBus({ url: server.url, job: 'edges', log: (l) => lines.push(l), closeFlushTimeoutMs: 200 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    bus.publish(event('edges', 'failed', 0, circular));
    bus.publish(event('a.b', 'failed', 0, {}));
    expect(bus.stats().dropped).toBe(2);
    expect(lines[0]).toMatch(/^'failed' event dropped: .*circular/i);
    expect(lines[1]).toContain("job name 'a.b' cannot be used in a NATS subject");

    await server.stop();
    try {
      bus.publish(event('edges', 'stopping', 0, { i: 1 }));
      bus.publish(event('edges', 'stopping', 0, { i: 2 }));
      await bus.close();
      expect(lines.at(-1)).toMatch(/^closing with 2 events not delivered to NATS at nats:\/\/127\.0\.0\.1:\d+ after 200 ms$/);
    } finally {
      await server.restart();
    }
  });

  it('the harness names the install command when the binary is missing', async () => {
    expect(() => findNatsServerBinary('/nonexistent/nats-server')).toThrow('apt-get install -y nats-server');
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toThrow('apt-get install -y nats-server');
  });
});
