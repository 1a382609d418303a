// Checks the Grafana dashboard against a real Prometheus: every panel target expression, with the
// dashboard variables substituted as Grafana would, must return data.
import { readFileSync } from 'node:fs';
import { hasFiniteValue, type PrometheusHandle, type PromSeries } from './prometheus';

export interface DashboardVars {
  job: string;
  /** Grafana's $__rate_interval; default '30s'. */
  __rate_interval?: string;
  /** Other variables ($datasource, ...) by name. */
  [name: string]: string | undefined;
}

export interface DashboardQuery {
  panelId: number;
  title: string;
  refId: string;
  legend: string;
  expr: string;
}

export interface PanelQueryResult extends DashboardQuery {
  series: PromSeries[];
  /** At least one series with a finite value. */
  hasData: boolean;
}

const DEFAULT_VARS: Record<string, string> = {
  __rate_interval: '30s',
  __interval: '15s',
  __range: '5m',
  datasource: 'prometheus',
};

interface GrafanaPanel {
  id?: number;
  type?: string;
  title?: string;
  panels?: GrafanaPanel[];
  targets?: { refId?: string; expr?: string; legendFormat?: string; hide?: boolean }[];
}

/** Every (non-hidden) panel target of the dashboard, variables substituted; rows are flattened. */
export function dashboardQueries(path: string, vars: DashboardVars): DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels?: GrafanaPanel[] };
  const values: Record<string, string> = { ...DEFAULT_VARS };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) values[k] = v;

  const out: DashboardQuery[] = [];
  const visit = (panels: GrafanaPanel[]) => {
    for (const panel of panels) {
      if (panel.panels) visit(panel.panels);
      for (const target of panel.targets ?? []) {
        if (target.hide === true || target.expr === undefined) continue;
        const title = panel.title ?? `panel ${panel.id ?? '?'}`;
        out.push({
          panelId: panel.id ?? -1,
          title,
          refId: target.refId ?? '?',
          legend: target.legendFormat ?? '',
          expr: substitute(target.expr, values, `${path}: panel '${title}' target ${target.refId ?? '?'}`),
        });
      }
    }
  };
  visit(dashboard.panels ?? []);
  if (out.length === 0) throw new Error(`${path}: no panel targets with an expr`);
  return out;
}

/** Grafana variable syntaxes: $name, ${name}, ${name:format}, [[name]]. Unknown names are an error. */
function substitute(expr: string, values: Record<string, string>, where: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    const value = values[name];
    if (value === undefined) throw new Error(`${where}: unknown dashboard variable ${whole}`);
    return value;
  });
}

/**
 * Queries every panel target until each PANEL has at least one target with data (or the deadline
 * passes), then returns every target's last result. It does not throw for empty panels: the test
 * asserts, so the failure lists exactly which panels are empty.
 */
export async function verifyDashboard(
  prom: PrometheusHandle,
  path: string,
  vars: DashboardVars,
  deadlineMs: number,
): Promise<PanelQueryResult[]> {
  const queries = dashboardQueries(path, vars);
  const deadline = Date.now() + deadlineMs;
  const results = new Map<DashboardQuery, PanelQueryResult>();
  for (;;) {
    for (const q of queries) {
      if (results.get(q)?.hasData) continue;
      const series = await prom.query(q.expr);
      results.set(q, { ...q, series, hasData: hasFiniteValue(series) });
    }
    const done = panelsWithoutData([...results.values()]).length === 0;
    if (done || Date.now() > deadline) return queries.map((q) => results.get(q)!);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Titles of panels none of whose targets has data. */
export function panelsWithoutData(results: PanelQueryResult[]): string[] {
  const byPanel = new Map<number, { title: string; ok: boolean }>();
  for (const r of results) {
    const entry = byPanel.get(r.panelId) ?? { title: r.title, ok: false };
    entry.ok ||= r.hasData;
    byPanel.set(r.panelId, entry);
  }
  return [...byPanel.values()].filter((p) => !p.ok).map((p) => p.title);
}
