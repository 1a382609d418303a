// A slowed worker is named as a straggler by the coordinator (log line + /metrics), the others are not.
// `--test-delay-ms LOCAL=MS` sleeps that worker MS per step and adds it to its reported compute time;
// the other ranks then wait in the all-reduce, so their compute time stays small.
import { connect, type NatsConnection } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { smallMnistJob } from './harness/dtrain-cli';
import { startNatsServer, type NatsServerHandle } from './harness/nats-server';
import { launchObserved, pollMetrics, sampleValue, samplesOf, type ObservedRun } from './harness/observability-run';

const WORKERS = 3;
const SLOW_LOCAL_RANK = 1;
const DELAY_MS = 100;
const FACTOR = 2;
const WINDOW = 5;
const JOB = 'obs-straggler';

interface StragglerEvent {
  job: string;
  kind: string;
  data: { rank: number; flagged: boolean; ratio: number };
}

describe('straggler detection on a real 3-worker run', () => {
  let observed: ObservedRun | null = null;
  let nats: NatsServerHandle | null = null;
  let nc: NatsConnection | null = null;
  afterAll(async () => {
    await observed?.stop();
    await nc?.close();
    await nats?.destroy();
  });

  it('flags the slowed rank only, in the log and on the coordinator /metrics', async () => {
    // The event must reach subscribers: listen on the job's straggler subject of a real NATS.
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const events: StragglerEvent[] = [];
    const sub = nc.subscribe(`dtrain.${JOB}.events.straggler`);
    void (async () => {
      for await (const msg of sub) events.push(JSON.parse(new TextDecoder().decode(msg.data)) as StragglerEvent);
    })();
    await nc.flush();

    observed = await launchObserved(smallMnistJob({
      name: JOB,
      training: { batchSize: 16, epochs: 100 },
      observability: { stragglerFactor: FACTOR, stragglerWindow: WINDOW },
    }), { workers: WORKERS, args: ['--test-delay-ms', `${SLOW_LOCAL_RANK}=${DELAY_MS}`, '--nats', nats.url] });
    const slow = observed.globalRankOfLocal.get(SLOW_LOCAL_RANK);
    expect(slow, `global rank of local rank ${SLOW_LOCAL_RANK}`).toBeDefined();
    const others = [...Array(WORKERS).keys()].filter((r) => r !== slow);

    const line = await observed.run.waitFor(/\[coordinator\] rank (\d+) is a straggler: compute ([\d.]+) s per step, ([\d.]+)x/, 60_000);
    expect(Number(line[1])).toBe(slow);
    expect(Number(line[2])).toBeGreaterThanOrEqual(DELAY_MS / 1000);
    expect(Number(line[3])).toBeGreaterThan(FACTOR);

    // Let a few more windows pass: the verdict must hold, and nobody else may be flagged meanwhile.
    const text = await pollMetrics(
      observed.coordinatorUrl,
      (t) => (sampleValue(t, 'dtrain_global_step') ?? 0) >= 4 * WINDOW,
      30_000,
      'global step >= 4 windows',
    );
    const straggler = new Map(samplesOf(text, 'dtrain_straggler').map((s) => [Number(s.labels.rank), s.value]));
    const ratio = new Map(samplesOf(text, 'dtrain_straggler_ratio').map((s) => [Number(s.labels.rank), s.value]));
    console.info(`straggler gauges: ${JSON.stringify([...straggler])}, ratios: ${JSON.stringify([...ratio])}`);
    expect([...straggler.keys()].sort()).toEqual([0, 1, 2]);
    expect(straggler.get(slow!)).toBe(1);
    expect(ratio.get(slow!)).toBeGreaterThan(FACTOR);
    for (const r of others) {
      expect(straggler.get(r), `rank ${r} flagged`).toBe(0);
      expect(ratio.get(r)!, `rank ${r} ratio`).toBeLessThan(1);
    }
    const stderr = observed.run.stderr();
    for (const r of others) expect(stderr).not.toMatch(new RegExp(`rank ${r} is a straggler`));
    expect(stderr).not.toMatch(/is no longer a straggler/);

    await nc.flush();
    expect(events.map((e) => [e.job, e.kind, e.data.rank, e.data.flagged])).toEqual([[JOB, 'straggler', slow, true]]);
    expect(events[0].data.ratio).toBeGreaterThan(FACTOR);

    expect(await observed.stop()).toBe(130);
    observed = null;
  });
});
