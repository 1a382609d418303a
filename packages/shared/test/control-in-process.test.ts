import { describe, expect, it } from 'vitest';
import { ControlPlaneError } from '@dtrain/shared/errors';
import type { ControlRequest, JobEvent } from '@dtrain/shared/control/api';
import { InProcessBus } from '@dtrain/shared/control/in-process-bus';
import { createControlBus } from '@dtrain/shared/control/create-control-bus';
import { parseControlRequest, parseJobEvent } from '@dtrain/shared/control/wire';

const started: JobEvent = { job: 'local', kind: 'started', time: '2026-01-01T00:00:00.000Z', generation: 0, data: { workers: 2 } };
const epoch: JobEvent = { job: 'local', kind: 'epoch-done', time: '2026-01-01T00:00:01.000Z', generation: 0, data: { epoch: 0, loss: 0.5 } };

describe('InProcessBus', () => {
  it('fans events out synchronously to every listener until it unsubscribes', () => {
    const bus = new InProcessBus({ log: () => undefined });
    const a: JobEvent[] = [];
    const b: string[] = [];
    const offA = bus.onEvent((e) => a.push(e));
    bus.onEvent((e) => b.push(e.kind));
    bus.publish(started);
    expect(a).toEqual([started]);
    offA();
    bus.publish(epoch);
    expect(a).toEqual([started]);
    expect(b).toEqual(['started', 'epoch-done']);
  });

  it('a throwing listener is logged and does not stop publish or the other listeners', () => {
    const lines: string[] = [];
    const bus = new InProcessBus({ log: (l) => lines.push(l) });
    const seen: string[] = [];
    bus.onEvent(() => {
      throw new Error('display broke');
    });
    bus.onEvent((e) => seen.push(e.kind));
    bus.publish(epoch);
    expect(seen).toEqual(['epoch-done']);
    expect(lines).toEqual(["event listener threw on 'epoch-done' event: display broke"]);
  });

  it('request() reaches the handler of that job and returns its reply', async () => {
    const bus = new InProcessBus();
    const seen: ControlRequest[] = [];
    bus.serveControl('local', async (req) => {
      seen.push(req);
      return req.op === 'checkpoint' ? { ok: true, checkpoint: '/ckpt/local/0007' } : { ok: true, message: req.op };
    });
    expect(await bus.request('local', { op: 'checkpoint' })).toEqual({ ok: true, checkpoint: '/ckpt/local/0007' });
    expect(await bus.request('local', { op: 'stop', reason: 'done' })).toEqual({ ok: true, message: 'stop' });
    expect(seen).toEqual([{ op: 'checkpoint' }, { op: 'stop', reason: 'done' }]);
    const err = await bus.request('other', { op: 'status' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as Error).message).toBe('no coordinator is serving job other on the in-process bus');
  });

  it('createControlBus without a URL gives an in-process bus', async () => {
    const bus = await createControlBus({ job: 'local' });
    expect(bus).toBeInstanceOf(InProcessBus);
    await bus.close();
  });
});

describe('control wire parsing', () => {
  it('names the bad field of a malformed event or request', () => {
    expect(parseJobEvent(JSON.stringify({ ...started, kind: 'exploded' }))).toMatchObject({ ok: false });
    const bad = parseJobEvent(JSON.stringify({ ...started, kind: 'exploded' }));
    expect(bad.ok === false && bad.error).toMatch(/^invalid job event: kind: /);
    const req = parseControlRequest('{"op":"reboot"}');
    expect(req.ok === false && req.error).toMatch(/^invalid control request: op: /);
    const notJson = parseControlRequest('stop please');
    expect(notJson.ok === false && notJson.error).toMatch(/^control request is not JSON/);
    expect(parseControlRequest('{"op":"stop","reason":"x"}')).toEqual({ ok: true, value: { op: 'stop', reason: 'x' } });
  });
});
