// The README's metric table comes from METRICS; this checks the classes export exactly that table.
import { describe, expect, it } from 'vitest';
import { METRIC_DEFS, metricsReference, metricsReferenceTable } from '@dtrain/shared/metrics/metric-names';
import { WorkerMetrics } from '../../worker/src/metrics/worker-metrics';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics';

async function feedAll(): Promise<Set<string>> {
  const w = new WorkerMetrics({ job: 'j', rank: 0, defaultMetrics: false });
  w.observeStep({ loss: 1, samples: 8, computeSeconds: 0.1, allreduceSeconds: 0.1, stepSeconds: 0.2, allreduceBytes: 8, epoch: 0 });
  w.setGradientNorms([{ layer: 'l', norm: 1 }]);
  const c = new CoordinatorMetrics({ job: 'j', defaultMetrics: false });
  c.onWorldFormed(0, 1);
  c.onStepReports(0, [{ rank: 0, loss: 1, samples: 8, computeSeconds: 0.1, allreduceSeconds: 0.1, stepSeconds: 0.2, allreduceBytes: 8 }]);
  c.onValidation({ epoch: 0, loss: 1, accuracy: 0.5, mse: 0.2, mae: 0.3 });
  c.onWorkerFailure(0);
  c.onEpoch(0);
  c.onCheckpoint();
  c.onStraggler(0, 1, false);
  c.onVanishingWarning('l');
  c.setGradientNorms([{ layer: 'l', norm: 1 }]);
  const names = [...(await w.registry.getMetricsAsJSON()), ...(await c.registry.getMetricsAsJSON())].map((m) => m.name);
  return new Set(names);
}

describe('metric reference', () => {
  it('every metric in the table is registered by the classes, and nothing else', async () => {
    const registered = await feedAll();
    const table = METRIC_DEFS.map((d) => d.name);
    expect([...registered].sort()).toEqual([...new Set(table)].sort());
  });

  it('follows Prometheus naming conventions', () => {
    for (const d of METRIC_DEFS) {
      expect(d.name).toMatch(/^dtrain_[a-z_]+$/);
      if (d.type === 'counter') expect(d.name, d.name).toMatch(/_total$/);
      else expect(d.name, d.name).not.toMatch(/_total$/);
      if (d.type === 'histogram') expect(d.name, d.name).toMatch(/_seconds$/);
      expect(d.name, d.name).not.toMatch(/_(ms|milliseconds|kb|mb)(_|$)/);
    }
    expect(new Set(METRIC_DEFS.map((d) => d.name)).size).toBe(METRIC_DEFS.length);
  });

  it('renders one markdown row per metric', () => {
    const rows = metricsReference();
    expect(rows).toHaveLength(METRIC_DEFS.length);
    expect(rows).toContain(
      '| `dtrain_straggler` | gauge | job, rank | 1 while the rank is flagged as a straggler, else 0. (coordinator) |',
    );
    expect(rows.find((r) => r.startsWith('| `dtrain_gradient_norm`'))).toContain('| job, rank (worker series), layer |');
    expect(metricsReferenceTable().split('\n')).toHaveLength(METRIC_DEFS.length + 2);
  });
});
