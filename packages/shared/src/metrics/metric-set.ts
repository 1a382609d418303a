// Builds prom-client metrics from the METRICS table into one Registry per process role. Worker and
// coordinator classes use it so names, help, labels and buckets come from the table only.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS, type MetricDef, type MetricKey, type MetricSource } from './metric-names';

type KeysOfType<T extends MetricDef['type']> = {
  [K in MetricKey]: (typeof METRICS)[K]['type'] extends T ? K : never;
}[MetricKey];
export type CounterKey = KeysOfType<'counter'>;
export type GaugeKey = KeysOfType<'gauge'>;
export type HistogramKey = KeysOfType<'histogram'>;

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

export interface MetricSetOptions {
  source: MetricSource;
  /** Labels put on every series of the registry, e.g. { job } or { job, rank }. */
  defaultLabels: Record<string, string>;
  /** Node/process default metrics (standard names, no prefix). Default true. */
  defaultMetrics?: boolean;
}

export class MetricSet {
  readonly registry = new Registry();
  private readonly metrics = new Map<MetricKey, AnyMetric>();
  private readonly pending = new Set<MetricKey>();

  constructor(options: MetricSetOptions) {
    for (const [label, value] of Object.entries(options.defaultLabels)) {
      if (value === '') throw new RangeError(`metric label '${label}' must not be empty`);
    }
    this.registry.setDefaultLabels(options.defaultLabels);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const def: MetricDef = METRICS[key];
      if (!def.sources.includes(options.source)) continue;
      const lazy = def.absentUntilSet === true;
      const config = { name: def.name, help: def.help, labelNames: [...def.labelNames], registers: lazy ? [] : [this.registry] };
      const metric: AnyMetric =
        def.type === 'counter' ? new Counter(config)
          : def.type === 'gauge' ? new Gauge(config)
            : new Histogram({ ...config, buckets: [...(def.buckets ?? [])] });
      this.metrics.set(key, metric);
      if (lazy) this.pending.add(key);
    }
  }

  counter(key: CounterKey): Counter<string> {
    return this.use(key) as Counter<string>;
  }

  gauge(key: GaugeKey): Gauge<string> {
    return this.use(key) as Gauge<string>;
  }

  histogram(key: HistogramKey): Histogram<string> {
    return this.use(key) as Histogram<string>;
  }

  /** Exposition text, as served on /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private use(key: MetricKey): AnyMetric {
    const metric = this.metrics.get(key);
    if (metric === undefined) throw new Error(`metric ${METRICS[key].name} is not exported by this process role`);
    if (this.pending.delete(key)) this.registry.registerMetric(metric);
    return metric;
  }
}

/** Reads a single sample from exposition text: `sampleValue(text, 'dtrain_epoch', { job: 'a' })`. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = parseLabels(match[3] ?? '');
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[4]);
  }
  return undefined;
}

function parseLabels(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2].replace(/\\(.)/g, '$1');
  return out;
}
