import { describe, expect, it } from 'vitest';
import { sampleValue } from '@dtrain/shared/metrics/metric-set';
import { CoordinatorMetrics, type RankStepReport } from '../src/metrics/coordinator-metrics';

function report(rank: number, over: Partial<RankStepReport> = {}): RankStepReport {
  return { rank, loss: 1, samples: 32, computeSeconds: 0.01, allreduceSeconds: 0.002, stepSeconds: 0.015, allreduceBytes: 1000, ...over };
}

describe('CoordinatorMetrics', () => {
  it('aggregates rank reports into job-level values', async () => {
    const m = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
    m.onWorldFormed(1, 3);
    m.onStepReports(0, [report(0, { loss: 0.9 }), report(1, { loss: 1.2, stepSeconds: 0.04 }), report(2, { loss: 1.5 })]);
    m.onStepReports(1, [report(0, { loss: 0.3 }), report(1, { loss: 0.6 }), report(2, { loss: 0.9, allreduceBytes: 500 })]);
    m.onStepReports(1, [report(0, { loss: 99 }), report(1), report(2)]); // re-sent: ignored
    const text = await m.registry.metrics();
    const job = { job: 'j' };
    expect(sampleValue(text, 'dtrain_steps_total', job)).toBe(2);
    expect(sampleValue(text, 'dtrain_global_step', job)).toBe(1);
    expect(sampleValue(text, 'dtrain_samples_total', job)).toBe(192);
    expect(sampleValue(text, 'dtrain_allreduce_bytes_total', job)).toBe(5500);
    expect(sampleValue(text, 'dtrain_train_loss', job)).toBeCloseTo(0.6, 12);
    // 96 samples in a step whose slowest rank took 0.015 s.
    expect(sampleValue(text, 'dtrain_samples_per_second', job)).toBeCloseTo(6400, 9);
    // Every rank's report is one observation; the 0.04 s step lands above le=0.025.
    expect(sampleValue(text, 'dtrain_step_duration_seconds_count', job)).toBe(6);
    expect(sampleValue(text, 'dtrain_step_duration_seconds_bucket', { ...job, le: '0.025' })).toBe(5);
    expect(sampleValue(text, 'dtrain_workers', job)).toBe(3);
    expect(sampleValue(text, 'dtrain_world_generation', job)).toBe(1);
    expect(text).not.toMatch(/rank="/);
  });

  it('records validation, epochs, checkpoints, failures, stragglers and warnings', async () => {
    const m = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
    expect(await m.registry.metrics()).not.toContain('dtrain_validation_accuracy');
    expect(sampleValue(await m.registry.metrics(), 'dtrain_worker_failures_total')).toBe(0);
    m.onValidation({ epoch: 0, loss: 0.42, accuracy: 0.875, mae: 0.1 });
    m.onEpoch(1);
    m.onCheckpoint();
    m.onCheckpoint();
    m.onWorkerFailure(2);
    m.onStraggler(2, 2.25, true);
    m.onStraggler(0, 0.9, false);
    m.onVanishingWarning('dense_Dense1');
    m.setGradientNorms([{ layer: 'dense_Dense1', norm: 3e-9 }]);
    const text = await m.registry.metrics();
    expect(sampleValue(text, 'dtrain_validation_loss')).toBe(0.42);
    expect(sampleValue(text, 'dtrain_validation_accuracy')).toBe(0.875);
    expect(sampleValue(text, 'dtrain_validation_mae')).toBe(0.1);
    expect(text).not.toContain('dtrain_validation_mse{'); // not computed: absent, not 0
    expect(sampleValue(text, 'dtrain_epoch')).toBe(1);
    expect(sampleValue(text, 'dtrain_checkpoints_total')).toBe(2);
    expect(sampleValue(text, 'dtrain_worker_failures_total')).toBe(1);
    expect(sampleValue(text, 'dtrain_straggler', { rank: '2' })).toBe(1);
    expect(sampleValue(text, 'dtrain_straggler', { rank: '0' })).toBe(0);
    expect(sampleValue(text, 'dtrain_straggler_ratio', { rank: '2' })).toBe(2.25);
    expect(sampleValue(text, 'dtrain_vanishing_gradient_warnings_total', { layer: 'dense_Dense1', job: 'j' })).toBe(1);
    expect(sampleValue(text, 'dtrain_gradient_norm', { layer: 'dense_Dense1' })).toBe(3e-9);

    // A re-formed world drops the old ranks' straggler series.
    m.onWorldFormed(2, 2);
    const after = await m.registry.getSingleMetricAsString('dtrain_straggler');
    expect(after).not.toMatch(/rank="2"/);
    expect(sampleValue(await m.registry.metrics(), 'dtrain_world_generation')).toBe(2);
  });

  it('counts replayed steps again after the world re-forms from a checkpoint', async () => {
    const m = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
    m.onWorldFormed(1, 1);
    for (const step of [0, 1, 2]) m.onStepReports(step, [report(0)]);
    m.onWorldFormed(2, 1); // resumed from the checkpoint after step 0
    for (const step of [1, 2, 3]) m.onStepReports(step, [report(0)]);
    const text = await m.registry.metrics();
    expect(sampleValue(text, 'dtrain_steps_total')).toBe(6);
    expect(sampleValue(text, 'dtrain_global_step')).toBe(3);
  });

  it('names the rank and field of a bad report', () => {
    const m = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
    expect(() => m.onStepReports(5, [report(0), report(1, { computeSeconds: -1 })])).toThrow(/step 5: rank 1 reported computeSeconds = -1/);
    expect(() => m.onStepReports(5, [])).toThrow(/no rank reports/);
  });
});
