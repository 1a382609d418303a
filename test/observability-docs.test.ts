// docs/metrics.md carries the metric reference generated from the METRICS table: it must name every
// metric and match the generated table exactly. DTRAIN_UPDATE_DOCS=1 rewrites the generated block.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_DEFS, metricsReferenceTable } from '@dtrain/shared/metrics/metric-names';
import { DEFAULT_COORDINATOR_METRICS_PORT, DEFAULT_WORKER_METRICS_BASE_PORT } from '@dtrain/shared/metrics/metrics-server';
import { REPO_ROOT } from './harness/dtrain-cli';

const DOC = resolve(REPO_ROOT, 'docs/metrics.md');
const START = '<!-- metrics-table:start (generated, do not edit) -->';
const END = '<!-- metrics-table:end -->';

function generatedBlock(doc: string): { before: string; table: string; after: string } {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`markers ${START} ... ${END} not found`);
  return { before: doc.slice(0, start + START.length), table: doc.slice(start + START.length, end).trim(), after: doc.slice(end) };
}

describe.each([DOC, resolve(REPO_ROOT, 'README.md')])('%s', (path) => {
  it('holds the generated metric reference, naming every metric', () => {
    let doc = readFileSync(path, 'utf8');
    const expected = metricsReferenceTable();
    if (process.env.DTRAIN_UPDATE_DOCS === '1') {
      const { before, after } = generatedBlock(doc);
      doc = `${before}\n${expected}\n${after}`;
      writeFileSync(path, doc);
    }
    const { table } = generatedBlock(doc);
    expect(table, 'stale: run DTRAIN_UPDATE_DOCS=1 npx vitest run test/observability-docs.test.ts').toBe(expected);
    for (const def of METRIC_DEFS) expect(table).toContain(`| \`${def.name}\` | ${def.type} |`);
    expect(table.split('\n')).toHaveLength(METRIC_DEFS.length + 2);
  });
});

describe('docs/metrics.md', () => {
  it('documents the default ports, probes, honor_labels and the dashboard', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(doc).toContain(`\`${DEFAULT_COORDINATOR_METRICS_PORT}\``);
    expect(doc).toContain(`\`${DEFAULT_WORKER_METRICS_BASE_PORT} + r\``);
    for (const needle of ['/healthz', '/readyz', 'honor_labels: true', 'deploy/prometheus/prometheus.yml', 'deploy/grafana/dtrain-dashboard.json']) {
      expect(doc).toContain(needle);
    }
    // The scrape excerpt is real exposition text of both processes.
    expect(doc).toMatch(/^dtrain_steps_total\{job="[^"]+"\} \d+$/m);
    expect(doc).toMatch(/^dtrain_steps_total\{job="[^"]+",rank="\d+"\} \d+$/m);
  });
});
