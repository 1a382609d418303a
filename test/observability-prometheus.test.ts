// Issue 4 end to end: a real `dtrain launch --workers 2` run scraped by a real Prometheus every second;
// every panel of the Grafana dashboard must return data, and the values must be the right ones.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dashboardQueries, panelsWithoutData, verifyDashboard } from './harness/dashboard';
import { REPO_ROOT, smallMnistJob } from './harness/dtrain-cli';
import { dtrainLines, httpStatus, launchObserved, sampleValue, samplesOf, scrape, type ObservedRun } from './harness/observability-run';
import { startPrometheus, type PrometheusHandle, type PromSeries } from './harness/prometheus';
import { CONTROL_SLOTS } from '../packages/worker/src/fused-gradients';

const DASHBOARD = resolve(REPO_ROOT, 'deploy/grafana/dtrain-dashboard.json');
const JOB = 'obs-prom';
const WORKERS = 2;
const DEADLINE_MS = 45_000;
/** 784-32-10 MLP: 784*32 + 32 + 32*10 + 10 parameters. */
const PARAMETERS = 784 * 32 + 32 + 32 * 10 + 10;

describe('a real 2-worker run scraped by a real Prometheus', () => {
  let observed: ObservedRun | null = null;
  let prom: PrometheusHandle | null = null;
  afterAll(async () => {
    await prom?.stop();
    await observed?.stop();
  });

  it('fills every dashboard panel with the right values', async () => {
    observed = await launchObserved(smallMnistJob({
      name: JOB,
      // 640 training samples / global batch 32 = 20 steps per epoch: a validation every ~second.
      dataset: { kind: 'mnist', shape: 'flat', limit: 640, testFraction: 0.05 },
      training: { batchSize: 16, epochs: 10_000 },
      observability: { gradientNormEverySteps: 1 },
    }), {
      workers: WORKERS,
      // The same small delay on both ranks: nobody is a straggler, and the run leaves CPU to Prometheus
      // on a 2-core machine instead of spinning flat out.
      args: ['--test-delay-ms', '0=15,1=15'],
    });
    const { coordinatorUrl, workerUrls } = observed;
    const targets = [coordinatorUrl, ...workerUrls.values()].map((u) => u.replace('http://', ''));
    prom = await startPrometheus({
      targets: [
        { job: 'dtrain-coordinator', targets: [targets[0]] },
        { job: 'dtrain-workers', targets: targets.slice(1) },
      ],
      scrapeIntervalSeconds: 1,
    });

    // Liveness and readiness of every process while it trains.
    for (const url of [coordinatorUrl, ...workerUrls.values()]) {
      expect(await httpStatus(`${url}/healthz`), `${url}/healthz`).toBe(200);
      expect(await httpStatus(`${url}/readyz`), `${url}/readyz`).toBe(200);
    }

    const results = await verifyDashboard(prom, DASHBOARD, { job: JOB }, DEADLINE_MS);
    const summary = results.map((r) => `${r.title} [${r.refId}] ${r.series.length} series: ${r.expr}`).join('\n');
    expect(panelsWithoutData(results), summary).toEqual([]);
    expect(new Set(results.map((r) => r.title)).size).toBeGreaterThanOrEqual(12);

    const one = async (promql: string): Promise<PromSeries> => {
      const series = await prom!.waitForData(promql, DEADLINE_MS);
      expect(series, promql).toHaveLength(1);
      expect(series[0].metric.exported_job, 'honor_labels keeps dtrain\'s job label').toBeUndefined();
      return series[0];
    };
    expect((await one(`dtrain_workers{job="${JOB}"}`)).value).toBe(WORKERS);
    expect((await one(`dtrain_world_generation{job="${JOB}"}`)).value).toBe(1);
    expect((await one(`dtrain_worker_failures_total{job="${JOB}"}`)).value).toBe(0);
    const accuracy = (await one(`dtrain_validation_accuracy{job="${JOB}"}`)).value;
    expect(accuracy).toBeGreaterThan(0);
    expect(accuracy).toBeLessThanOrEqual(1);

    // A few scrapes of each rank first (the dashboard can be complete ~2 scrapes after the first).
    await prom.waitForData(`count_over_time(dtrain_steps_total{job="${JOB}", rank!=""}[6s])`, DEADLINE_MS, (s) => s.length === WORKERS && s.every((x) => x.value >= 4));
    // The two ranks are scraped at different instants (and a rank busy in validation answers late,
    // after the scrape's timestamp), so their samples differ by the steps made in between; the
    // direct scrapes below check the within-a-step lockstep. Queried at one past instant so the three
    // answers describe the same samples; the rate is a 5 s mean, bursts between validations are faster.
    const at = Date.now() / 1000 - 1.5;
    const rankSteps = await prom.query(`dtrain_steps_total{job="${JOB}", rank!=""}`, at);
    const stamps = await prom.query(`timestamp(dtrain_steps_total{job="${JOB}", rank!=""})`, at);
    const [stepRate] = await prom.query(`rate(dtrain_steps_total{job="${JOB}", rank="0"}[5s])`, at);
    const stepsOf = (rank: string) => rankSteps.find((s) => s.metric.rank === rank)!.value;
    const stampOf = (rank: string) => stamps.find((s) => s.metric.rank === rank)!.value;
    expect(stepsOf('0')).toBeGreaterThan(0);
    const skewSeconds = Math.abs(stampOf('0') - stampOf('1'));
    expect(Math.abs(stepsOf('0') - stepsOf('1')), `skew ${skewSeconds} s at ${stepRate.value} steps/s`)
      .toBeLessThanOrEqual(2 * stepRate.value * (skewSeconds + 1) + 2);
    // One scrape of one process is one instant: these ratios are exact.
    const jobSteps = await one(`dtrain_steps_total{job="${JOB}", rank=""} - dtrain_global_step{job="${JOB}"}`);
    expect(jobSteps.value).toBe(1);
    const bytesPerStep = await prom.query(`dtrain_allreduce_bytes_total{job="${JOB}", rank!=""} / dtrain_steps_total{job="${JOB}", rank!=""}`);
    expect(bytesPerStep).toHaveLength(WORKERS);
    // Ring all-reduce: each rank sends 2 (n-1)/n of the fused float32 buffer (gradient + control slots) per step.
    const fusedBytes = 4 * (PARAMETERS + CONTROL_SLOTS);
    for (const s of bytesPerStep) expect(s.value, `rank ${s.metric.rank} bytes per step`).toBe((2 * (WORKERS - 1) / WORKERS) * fusedBytes);
    expect((await one(`dtrain_allreduce_bytes_total{job="${JOB}", rank=""}`)).value).toBeGreaterThan(0);
    const jobSamples = await one(`dtrain_samples_total{job="${JOB}", rank=""} / dtrain_steps_total{job="${JOB}", rank=""}`);
    expect(jobSamples.value).toBe(16 * WORKERS);

    // A straggler gauge for every rank from the first steps on, 0 while nobody is slow.
    const stragglers = await one(`count(dtrain_straggler{job="${JOB}"} == 0)`);
    expect(stragglers.value).toBe(WORKERS);
    const ratios = await prom.query(`dtrain_straggler_ratio{job="${JOB}"}`);
    expect(ratios.map((s) => s.metric.rank).sort()).toEqual(['0', '1']);
    // Gradient norms of both layers of the 784-32-10 MLP, on the coordinator and each rank, all equal
    // per layer (every rank holds the same all-reduced gradient).
    const norms = await prom.query(`dtrain_gradient_norm{job="${JOB}"}`);
    expect(new Set(norms.map((s) => s.metric.layer)).size).toBe(2);
    expect(norms).toHaveLength(2 * (1 + WORKERS));
    for (const s of norms) expect(s.value).toBeGreaterThan(0);

    // Direct scrapes, back to back: synchronous SGD keeps the ranks within a step of each other.
    const [c, w0, w1] = await Promise.all([coordinatorUrl, workerUrls.get(0)!, workerUrls.get(1)!].map(scrape));
    const s0 = sampleValue(w0, 'dtrain_steps_total')!;
    const s1 = sampleValue(w1, 'dtrain_steps_total')!;
    expect(Math.abs(s0 - s1)).toBeLessThanOrEqual(3);
    expect(samplesOf(w1, 'dtrain_steps_total')[0].labels).toEqual({ job: JOB, rank: '1' });
    expect(samplesOf(c, 'dtrain_steps_total')[0].labels).toEqual({ job: JOB });
    for (const url of [coordinatorUrl, ...workerUrls.values()]) expect(await httpStatus(`${url}/readyz`)).toBe(200);

    const excerpt = dtrainLines(c)
      .split('\n')
      .filter((l) => !l.startsWith('#') && !/_bucket\{/.test(l))
      .join('\n');
    console.info(`coordinator ${coordinatorUrl}/metrics (dtrain_* samples, buckets left out):\n${excerpt}\n\n` +
      `rank 1 ${workerUrls.get(1)}/metrics:\n${dtrainLines(w1).split('\n').filter((l) => !l.startsWith('#') && !/_bucket\{/.test(l)).join('\n')}`);

    expect(await observed.stop()).toBe(130);
    observed = null;
  });
});

describe('harness errors', () => {
  it('names the install command when prometheus is missing', async () => {
    await expect(startPrometheus({ targets: ['127.0.0.1:1'], binary: '/nonexistent/prometheus' })).rejects.toThrow(
      /apt-get install -y prometheus/,
    );
  });

  it('rejects targets with a scheme, and unknown dashboard variables', async () => {
    await expect(startPrometheus({ targets: ['http://127.0.0.1:9400'] })).rejects.toThrow(/host:port/);
    const queries = dashboardQueries(DASHBOARD, { job: 'j1', __rate_interval: '42s' });
    expect(queries.every((q) => !q.expr.includes('$'))).toBe(true);
    expect(queries.some((q) => q.expr.includes('[42s]'))).toBe(true);
    expect(queries.filter((q) => q.expr.includes('job="j1"'))).toHaveLength(queries.length);

    const dir = mkdtempSync(join(tmpdir(), 'dtrain-dash-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ panels: [{ id: 7, title: 'Typo', targets: [{ refId: 'B', expr: 'up{job="$jbo"}' }] }] }));
      expect(() => dashboardQueries(bad, { job: 'j1' })).toThrow(/panel 'Typo' target B: unknown dashboard variable \$jbo/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
