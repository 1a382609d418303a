import { describe, expect, it } from 'vitest';
import { METRIC_DEFS } from '@dtrain/shared/metrics/metric-names';
import { sampleValue } from '@dtrain/shared/metrics/metric-set';
import { layerGradientNorms, layerOfVariable } from '../src/metrics/gradient-norms';
import { WorkerMetrics } from '../src/metrics/worker-metrics';

const step = { loss: 0.75, samples: 64, computeSeconds: 0.02, allreduceSeconds: 0.004, stepSeconds: 0.032, allreduceBytes: 4096, epoch: 2 };

describe('WorkerMetrics', () => {
  it('exports rank-level values with job and rank labels', async () => {
    const m = new WorkerMetrics({ job: 'mnist-a', rank: 3, defaultMetrics: false });
    m.observeStep(step);
    m.observeStep({ ...step, loss: 0.5, stepSeconds: 0.016, computeSeconds: 0.3 });
    m.setGradientNorms([{ layer: 'dense_Dense1', norm: 0.125 }, { layer: 'dense_Dense2', norm: 2.5e-7 }]);
    const text = await m.registry.metrics();
    const labels = { job: 'mnist-a', rank: '3' };
    expect(sampleValue(text, 'dtrain_steps_total', labels)).toBe(2);
    expect(sampleValue(text, 'dtrain_samples_total', labels)).toBe(128);
    expect(sampleValue(text, 'dtrain_allreduce_bytes_total', labels)).toBe(8192);
    expect(sampleValue(text, 'dtrain_train_loss', labels)).toBe(0.5);
    expect(sampleValue(text, 'dtrain_epoch', labels)).toBe(2);
    expect(sampleValue(text, 'dtrain_samples_per_second', labels)).toBe(4000);
    expect(sampleValue(text, 'dtrain_step_duration_seconds_count', labels)).toBe(2);
    expect(sampleValue(text, 'dtrain_step_duration_seconds_sum', labels)).toBeCloseTo(0.048, 12);
    // 0.02 falls in le=0.025, 0.3 only from le=0.5 upward.
    expect(sampleValue(text, 'dtrain_compute_duration_seconds_bucket', { ...labels, le: '0.025' })).toBe(1);
    expect(sampleValue(text, 'dtrain_compute_duration_seconds_bucket', { ...labels, le: '0.5' })).toBe(2);
    expect(sampleValue(text, 'dtrain_gradient_norm', { ...labels, layer: 'dense_Dense2' })).toBe(2.5e-7);
    const single = await m.registry.getSingleMetricAsString('dtrain_gradient_norm');
    expect(single).toContain('dtrain_gradient_norm{layer="dense_Dense1",job="mnist-a",rank="3"} 0.125');
  });

  it('exports only worker metrics from the table, and no loss before the first step', async () => {
    const m = new WorkerMetrics({ job: 'j', rank: 0, defaultMetrics: false });
    const before = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(before).not.toContain('dtrain_train_loss');
    expect(before).toContain('dtrain_steps_total');
    m.observeStep(step);
    m.setGradientNorms([{ layer: 'l', norm: 1 }]);
    const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
    const expected = METRIC_DEFS.filter((d) => d.sources.includes('worker')).map((d) => d.name);
    expect([...names].sort()).toEqual([...expected].sort());
  });

  it('adds the Node default metrics with the same labels', async () => {
    const m = new WorkerMetrics({ job: 'j', rank: 1 });
    // prom-client counts the user CPU since the metric was registered, and kernels account it in ticks:
    // burn 30 ms of it first, or a fast collect can read 0 (seen once in CI).
    const start = process.cpuUsage().user;
    while (process.cpuUsage().user - start < 30_000) Math.sqrt(Math.random());
    const text = await m.registry.metrics();
    expect(sampleValue(text, 'process_cpu_user_seconds_total', { job: 'j', rank: '1' })).toBeGreaterThanOrEqual(0.03);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{job="j",rank="1"\} \d+/m);
  });

  it('relabels after a rank change and rejects bad input by name', async () => {
    const m = new WorkerMetrics({ job: 'j', rank: 1, defaultMetrics: false });
    m.setRank(0);
    m.observeStep(step);
    expect(sampleValue(await m.registry.metrics(), 'dtrain_steps_total', { job: 'j', rank: '0' })).toBe(1);
    expect(() => m.observeStep({ ...step, samples: -1 })).toThrow(/samples/);
    expect(() => m.observeStep({ ...step, stepSeconds: Number.NaN })).toThrow(/stepSeconds/);
    expect(() => new WorkerMetrics({ job: 'j', rank: -2 })).toThrow(/rank/);
    expect(() => new WorkerMetrics({ job: '', rank: 0 })).toThrow(/job/);
  });
});

describe('layerGradientNorms', () => {
  it('sums kernel and bias of a layer into one L2 norm', () => {
    const fused = new Float32Array([3, 4, 0, 12, /* layer b */ 1, 1, 1, 1, /* unused */ 99]);
    const norms = layerGradientNorms(fused, [
      { layer: 'a', offset: 0, length: 2 }, // kernel: 3,4
      { layer: 'b', offset: 4, length: 4 },
      { layer: 'a', offset: 2, length: 2 }, // bias: 0,12 -> sqrt(9+16+144) = 13
    ]);
    expect(norms).toEqual([{ layer: 'a', norm: 13 }, { layer: 'b', norm: 2 }]);
  });

  it('keeps tiny norms exact (float64 accumulation)', () => {
    const fused = new Float32Array(10_000).fill(1e-20);
    const [n] = layerGradientNorms(fused, [{ layer: 'x', offset: 0, length: 10_000 }]);
    expect(n.norm / (Math.fround(1e-20) * 100)).toBeCloseTo(1, 6);
  });

  it('names the layer whose entry falls outside the buffer', () => {
    expect(() => layerGradientNorms(new Float32Array(4), [{ layer: 'dense_3', offset: 2, length: 3 }])).toThrow(/dense_3.*\[2, 5\).*4 floats/);
  });

  it('derives layer names from tfjs variable names', () => {
    expect(layerOfVariable('dense_Dense1/kernel')).toBe('dense_Dense1');
    expect(layerOfVariable('lstm/lstm_cell/bias')).toBe('lstm/lstm_cell');
    expect(layerOfVariable('w')).toBe('w');
  });
});
