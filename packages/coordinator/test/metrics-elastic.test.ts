// The elastic metrics as Prometheus renders them: lost/joined counters read 0 from the start, and
// the recovery histogram buckets each re-formation's duration.
import { describe, expect, it } from 'vitest';
import { sampleValue } from '@dtrain/shared/metrics/metric-set';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics';

describe('CoordinatorMetrics: elastic training', () => {
  it('counts lost and joined workers and buckets recovery durations', async () => {
    const m = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
    let text = await m.registry.metrics();
    expect(sampleValue(text, 'dtrain_workers_lost_total', { job: 'j' })).toBe(0);
    expect(sampleValue(text, 'dtrain_workers_joined_total', { job: 'j' })).toBe(0);
    m.onWorkerLost();
    m.onWorkerLost();
    m.onWorkerJoined();
    m.onRecovery(0.3);
    m.onRecovery(4);
    m.onWorldFormed(3, 2);
    text = await m.registry.metrics();
    expect(sampleValue(text, 'dtrain_workers_lost_total', { job: 'j' })).toBe(2);
    expect(sampleValue(text, 'dtrain_workers_joined_total', { job: 'j' })).toBe(1);
    expect(sampleValue(text, 'dtrain_recovery_seconds_count', { job: 'j' })).toBe(2);
    expect(sampleValue(text, 'dtrain_recovery_seconds_sum', { job: 'j' })).toBeCloseTo(4.3, 9);
    expect(sampleValue(text, 'dtrain_recovery_seconds_bucket', { job: 'j', le: '0.5' })).toBe(1);
    expect(sampleValue(text, 'dtrain_recovery_seconds_bucket', { job: 'j', le: '5' })).toBe(2);
    expect(sampleValue(text, 'dtrain_world_generation', { job: 'j' })).toBe(3);
    expect(sampleValue(text, 'dtrain_workers', { job: 'j' })).toBe(2);
  });
});
