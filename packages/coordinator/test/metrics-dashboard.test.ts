// Static checks of the shipped Grafana dashboard and Prometheus config (the live check against a
// real Prometheus is test/observability-prometheus.test.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_DEFS } from '@dtrain/shared/metrics/metric-names';
import { DEFAULT_COORDINATOR_METRICS_PORT, DEFAULT_WORKER_METRICS_BASE_PORT } from '@dtrain/shared/metrics/metrics-server';
import { dashboardQueries } from '../../../test/harness/dashboard';

const ROOT = resolve(import.meta.dirname, '../../..');
const DASHBOARD = resolve(ROOT, 'deploy/grafana/dtrain-dashboard.json');

interface Dashboard {
  uid: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
  panels: { title: string; datasource: { type: string; uid: string }; targets: { datasource: { uid: string } }[] }[];
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

  it('has uid dtrain, a Prometheus datasource variable and a job variable from dtrain_steps_total', () => {
    expect(dashboard.uid).toBe('dtrain');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36); // Grafana 10 writes 37-39
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.job.type).toBe('query');
    expect(vars.job.definition).toBe('label_values(dtrain_steps_total, job)');
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets) expect(t.datasource.uid, p.title).toBe('${datasource}');
    }
  });

  it('has the required panels, all filtered by $job, naming only metrics that exist', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const required of [
      'Training loss', 'Validation accuracy', 'Samples / s', 'Step time quantiles', 'Compute vs all-reduce time',
      'All-reduce bandwidth', 'Workers and world generation', 'Failures and warnings', 'Gradient norm by layer', 'Stragglers',
    ]) expect(titles).toContain(required);

    const known = new Set(METRIC_DEFS.flatMap((d) => (d.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => d.name + s) : [d.name])));
    const queries = dashboardQueries(DASHBOARD, { job: 'J' });
    for (const q of queries) {
      expect(q.expr, q.title).toContain('job="J"');
      for (const name of q.expr.match(/\bdtrain_[a-z_]+/g) ?? []) expect(known.has(name), `${q.title}: ${name}`).toBe(true);
    }
    const quantiles = queries.filter((q) => q.title === 'Step time quantiles').map((q) => q.expr);
    expect(quantiles.map((e) => /histogram_quantile\((0\.\d+)/.exec(e)?.[1])).toEqual(['0.5', '0.9', '0.99']);
  });
});

describe('Prometheus example config', () => {
  const path = resolve(ROOT, 'deploy/prometheus/prometheus.yml');

  it('is valid for promtool and scrapes the documented default ports with honor_labels', () => {
    const out = execFileSync('promtool', ['check', 'config', path], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    const text = readFileSync(path, 'utf8');
    expect(text).toContain(`localhost:${DEFAULT_COORDINATOR_METRICS_PORT}`);
    expect(text).toContain(`localhost:${DEFAULT_WORKER_METRICS_BASE_PORT}`);
    expect(text.match(/^\s+honor_labels: true/gm)).toHaveLength(2);
  });
});
