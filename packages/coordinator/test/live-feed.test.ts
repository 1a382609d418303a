// The live page's server side on a real HTTP server: the SSE feed sends a snapshot then every event,
// per-rank throughput is samples / step time, long runs are thinned not truncated, assets come from npm.
import { afterEach, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import type { StepProgress } from '../src/api';
import { createLivePage } from '../src/live/live-page';
import { MAX_STEP_POINTS, type LiveMessage, type LiveSnapshot } from '../src/live/live-feed';
import type { LivePage, LiveSource } from '../src/live/api';

let server: MetricsServer | null = null;
let page: LivePage | null = null;
afterEach(async () => {
  page?.close();
  await server?.close();
});

function fakeCoordinator(): EventEmitter & LiveSource {
  return Object.assign(new EventEmitter(), { jobId: 'demo-abc123' }) as EventEmitter & LiveSource;
}

function step(globalStep: number, loss: number): StepProgress {
  return {
    globalStep, totalSteps: 100, epoch: 1, epochs: 2, stepInEpoch: globalStep, stepsInEpoch: 50, loss,
    samplesPerSec: 1000, avgSamplesPerSec: 800,
  };
}

async function serve(source: LiveSource): Promise<string> {
  page = createLivePage({ source, job: 'demo' });
  server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: new Registry(), routes: page.routes });
  return server.url;
}

/** Reads SSE messages until `count` arrived. */
async function readMessages(url: string, count: number, afterFirst?: () => void): Promise<LiveMessage[]> {
  const res = await fetch(`${url}/live/feed`);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.getReader();
  const out: LiveMessage[] = [];
  let buffer = '';
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += new TextDecoder().decode(value);
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data) {
        out.push(JSON.parse(data.slice(6)) as LiveMessage);
        if (out.length === 1) afterFirst?.();
      }
    }
  }
  await reader.cancel();
  return out;
}

describe('live feed', () => {
  it('sends a snapshot of what happened so far, then each new step, rank report, event, world change and state', async () => {
    const source = fakeCoordinator();
    const url = await serve(source);
    source.emit('step', step(1, 2.5));
    const messages = await readMessages(url, 7, () => {
      source.emit('step', step(2, 2.25));
      source.emit('rank-steps', { globalStep: 1, generation: 1, ranks: [
        { rank: 0, samples: 64, loss: 2.2, computeSeconds: 0.01, allreduceSeconds: 0.004, stepSeconds: 0.016 },
        { rank: 1, samples: 64, loss: 2.3, computeSeconds: 0.02, allreduceSeconds: 0.002, stepSeconds: 0.032 },
      ] });
      source.emit('event', { job: 'demo', kind: 'worker-lost', time: '2026-01-01T00:00:00Z', generation: 1, data: { rank: 1 } });
      source.emit('world', { kind: 'lost', generation: 1, worldSize: 2, rank: 1, workerId: 'w-2', reason: 'session broke' });
      source.emit('world', { kind: 'formed', generation: 2, worldSize: 1 });
      source.emit('state', 'failed');
    });
    expect(messages.map((m) => m.type)).toEqual(['snapshot', 'step', 'ranks', 'event', 'world', 'world', 'state']);
    const snap = (messages[0] as { snapshot: LiveSnapshot }).snapshot;
    expect([snap.job, snap.jobId, snap.steps.map((s) => [s.step, s.loss, s.avgSamplesPerSec])]).toEqual(['demo', 'demo-abc123', [[1, 2.5, 800]]]);
    const ranks = (messages[2] as Extract<LiveMessage, { type: 'ranks' }>).point;
    expect(ranks.step).toBe(2);
    expect(ranks.ranks.map((r) => r.samplesPerSec)).toEqual([4000, 2000]);
    const lost = (messages[4] as Extract<LiveMessage, { type: 'world' }>).change;
    expect([lost.kind, lost.generation, lost.rank, lost.workerId]).toEqual(['lost', 1, 1, 'w-2']);
    expect((messages[6] as Extract<LiveMessage, { type: 'state' }>).state).toBe('failed');
    const state = await (await fetch(`${url}/live/state`)).json() as LiveSnapshot;
    expect([state.state, state.steps.length, state.rankSteps.length, state.events.map((e) => e.kind)]).toEqual(['failed', 2, 1, ['worker-lost']]);
    expect(state.worlds.map((w) => [w.kind, w.generation, w.worldSize])).toEqual([['lost', 1, 2], ['formed', 2, 1]]);
  });

  it('thins a long run instead of dropping its start', async () => {
    const source = fakeCoordinator();
    const url = await serve(source);
    for (let s = 1; s <= MAX_STEP_POINTS + 1; s++) source.emit('step', step(s, 1 / s));
    const state = await (await fetch(`${url}/live/state`)).json() as LiveSnapshot;
    const steps = state.steps.map((p) => p.step);
    expect(steps[0]).toBe(1);
    expect(steps[steps.length - 1]).toBe(MAX_STEP_POINTS + 1);
    expect(steps.length).toBe(MAX_STEP_POINTS / 2 + MAX_STEP_POINTS / 4 + 1);
  });

  it('serves the page and the chart library from the packages, nothing else', async () => {
    const url = await serve(fakeCoordinator());
    const html = await (await fetch(`${url}/`)).text();
    expect(html).toContain('<script src="/live/uPlot.iife.min.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = Buffer.from(await (await fetch(`${url}/live/uPlot.iife.min.js`)).arrayBuffer());
    expect(uplot.equals(readFileSync(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js')))).toBe(true);
    expect((await fetch(`${url}/live/live.js`)).status).toBe(200);
    expect((await fetch(`${url}/live/nothing.js`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });
});
