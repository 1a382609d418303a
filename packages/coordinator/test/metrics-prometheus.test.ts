// Real Prometheus scraping the real metric classes behind real /metrics servers, and every panel of
// the Grafana dashboard queried against it. The observations are a plausible synthetic run (2 ranks,
// rank 1 twice as slow, a vanishing first layer, one worker failure) until a real training run is
// wired: the end-to-end test reuses the same harness.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import { dashboardQueries, panelsWithoutData, verifyDashboard } from '../../../test/harness/dashboard';
import { startPrometheus, type PrometheusHandle } from '../../../test/harness/prometheus';
import { WorkerMetrics } from '../../worker/src/metrics/worker-metrics';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics';
import { StragglerDetector } from '../src/health/straggler-detector';
import { VanishingGradientDetector } from '../src/health/vanishing-gradient-detector';

const DASHBOARD = resolve(import.meta.dirname, '../../../deploy/grafana/dtrain-dashboard.json');
const JOB = 'prom-test';
const RANKS = 2;
const STEP_INTERVAL_MS = 100;
const DEADLINE_MS = 30_000;

/** Synthetic but consistent training run: every process sees the same step sequence. */
class FakeRun {
  step = 0;
  readonly workers = [0, 1].map((rank) => new WorkerMetrics({ job: JOB, rank }));
  readonly coordinator = new CoordinatorMetrics({ job: JOB });
  readonly stragglers = new StragglerDetector({ factor: 1.5, window: 5 });
  readonly vanishing = new VanishingGradientDetector({ threshold: 1e-5, steps: 2 });
  private generation = 1;

  constructor() {
    this.coordinator.onWorldFormed(this.generation, RANKS);
  }

  advance(): void {
    const step = this.step++;
    const epoch = Math.floor(step / 20);
    const reports = this.workers.map((w, rank) => {
      const computeSeconds = 0.02 * (rank === 1 ? 2 : 1) * (1 + 0.1 * Math.sin(step + rank));
      const allreduceSeconds = 0.005;
      return {
        rank, loss: 2 / (1 + 0.05 * step) + 0.01 * rank, samples: 64, computeSeconds, allreduceSeconds,
        stepSeconds: Math.max(0.04, computeSeconds) + allreduceSeconds + 0.001, allreduceBytes: 3 * 1024 * 1024,
      };
    });
    for (const [rank, r] of reports.entries()) this.workers[rank].observeStep({ ...r, epoch });
    this.coordinator.onStepReports(step, reports);
    for (const s of this.stragglers.observe(step, reports.map((r) => r.computeSeconds))) {
      this.coordinator.onStraggler(s.rank, s.ratio, s.flagged);
    }
    if (step % 2 === 0) {
      const norms = [0, 1, 2].map((i) => ({ layer: `dense_Dense${i + 1}`, norm: i === 0 ? 3e-7 : 0.1 * (i + 1) }));
      for (const w of this.workers) w.setGradientNorms(norms);
      this.coordinator.setGradientNorms(norms);
      for (const warning of this.vanishing.observe(step, norms)) this.coordinator.onVanishingWarning(warning.layer);
    }
    if (step % 10 === 9) this.coordinator.onCheckpoint();
    if (step % 20 === 19) {
      this.coordinator.onEpoch(epoch + 1);
      this.coordinator.onValidation({ epoch, loss: 1 / (1 + epoch), accuracy: 0.8 + 0.01 * epoch });
    }
    if (step === 6) {
      // A worker dies and the world re-forms with the same two ranks.
      this.coordinator.onWorkerFailure(1);
      this.coordinator.onWorldFormed(++this.generation, RANKS);
      this.stragglers.reset();
    }
  }
}

describe('metrics scraped by a real Prometheus', () => {
  const servers: MetricsServer[] = [];
  let prom: PrometheusHandle | null = null;
  let timer: NodeJS.Timeout | null = null;
  afterAll(async () => {
    if (timer) clearInterval(timer);
    await prom?.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('fills every dashboard panel and reports the exact step count', async () => {
    const run = new FakeRun();
    run.advance();
    const coordinatorServer = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: run.coordinator.registry });
    servers.push(coordinatorServer);
    for (const w of run.workers) servers.push(await startMetricsServer({ host: '127.0.0.1', port: 0, registry: w.registry }));

    prom = await startPrometheus({
      targets: [
        { job: 'dtrain-coordinator', targets: [coordinatorServer.address] },
        { job: 'dtrain-workers', targets: servers.slice(1).map((s) => s.address) },
      ],
      scrapeIntervalSeconds: 1,
    });
    timer = setInterval(() => run.advance(), STEP_INTERVAL_MS);

    const results = await verifyDashboard(prom, DASHBOARD, { job: JOB }, DEADLINE_MS);
    const summary = results.map((r) => `${r.title} [${r.refId}] ${r.series.length} series: ${r.expr}`);
    expect(panelsWithoutData(results), summary.join('\n')).toEqual([]);
    expect(new Set(results.map((r) => r.title)).size).toBeGreaterThanOrEqual(10);

    // Values that must be right, not just present.
    const byExpr = (needle: string) => results.find((r) => r.expr.includes(needle) && r.hasData)!;
    const stragglerRatios = byExpr('dtrain_straggler_ratio').series;
    const ratioOf = (rank: string) => stragglerRatios.find((s) => s.metric.rank === rank)!.value;
    expect(ratioOf('1')).toBeGreaterThan(1.7);
    expect(ratioOf('0')).toBeLessThan(0.6);
    const norms = byExpr('dtrain_gradient_norm').series;
    expect(norms.find((s) => s.metric.layer === 'dense_Dense1')!.value).toBe(3e-7);
    expect(byExpr('dtrain_workers').series[0].value).toBe(RANKS);

    clearInterval(timer);
    timer = null;
    const fed = run.step;
    const coordinatorSteps = await prom.waitForData(`dtrain_steps_total{job="${JOB}", rank=""}`, DEADLINE_MS, (s) => s[0]?.value === fed);
    expect(coordinatorSteps).toHaveLength(1);
    expect(coordinatorSteps[0].metric.exported_job).toBeUndefined(); // honor_labels kept our job label
    const rankSteps = await prom.waitForData(`dtrain_steps_total{job="${JOB}", rank!=""}`, DEADLINE_MS, (s) => s.length === RANKS && s.every((x) => x.value === fed));
    expect(rankSteps.map((s) => s.metric.rank).sort()).toEqual(['0', '1']);
    const samples = await prom.query(`dtrain_samples_total{job="${JOB}", rank=""}`);
    expect(samples[0].value).toBe(fed * 64 * RANKS);
    const failures = await prom.query(`dtrain_worker_failures_total{job="${JOB}"}`);
    expect(failures.map((s) => s.value)).toEqual([1]);
    const generation = await prom.query(`dtrain_world_generation{job="${JOB}"}`);
    expect(generation[0].value).toBe(2);
    const processCpu = await prom.query(`process_cpu_seconds_total{job="${JOB}"}`);
    expect(processCpu.length).toBe(3);
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
    expect(() => dashboardQueries(DASHBOARD, { job: 'x', __rate_interval: undefined, datasource: undefined })).not.toThrow();
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
