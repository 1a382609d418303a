// Runs the real Prometheus server (apt package, /usr/bin/prometheus) as a child process for tests:
// temp config and TSDB, a free port, readiness polling, instant queries. Never skips silently: a
// missing binary is an error that says how to install it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 250;
const STOP_GRACE_MS = 5_000;

export interface ScrapeJob {
  /** Prometheus scrape job name (dtrain's own `job` label wins: honor_labels is on). */
  job: string;
  /** host:port of each /metrics endpoint. */
  targets: string[];
}

export interface StartPrometheusOptions {
  /** Scrape jobs, or bare host:port targets (one job 'dtrain'). */
  targets: ScrapeJob[] | string[];
  scrapeIntervalSeconds?: number;
  /** Default PROMETHEUS_BIN (env) or /usr/bin/prometheus. */
  binary?: string;
}

export interface PromSeries {
  metric: Record<string, string>;
  /** NaN and +-Inf come back as such. */
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

export interface PrometheusHandle {
  url: string;
  /**
   * Instant query, now or at `atSeconds` (Unix seconds: a past instant gives repeatable answers to
   * several queries); throws with Prometheus' message for bad PromQL. A scalar comes back as one series.
   */
  query(promql: string, atSeconds?: number): Promise<PromSeries[]>;
  /** Polls until the query returns a series accepted by `accept` (default: any finite value). */
  waitForData(promql: string, deadlineMs: number, accept?: (series: PromSeries[]) => boolean): Promise<PromSeries[]>;
  /** Target health as Prometheus sees it (for diagnostics). */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

/** Anything with a finite value. */
export const hasFiniteValue = (series: PromSeries[]): boolean => series.some((s) => Number.isFinite(s.value));

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHandle> {
  const binary = options.binary ?? PROMETHEUS_BIN;
  if (!existsSync(binary)) {
    throw new Error(
      `Prometheus binary not found at ${binary}: install it with \`apt-get install -y prometheus\` ` +
        '(or set PROMETHEUS_BIN). Metrics tests need a real Prometheus and are not skipped.',
    );
  }
  const interval = options.scrapeIntervalSeconds ?? 1;
  const jobs: ScrapeJob[] = options.targets.length > 0 && typeof options.targets[0] === 'string'
    ? [{ job: 'dtrain', targets: options.targets as string[] }]
    : (options.targets as ScrapeJob[]);
  for (const j of jobs) {
    for (const t of j.targets) {
      if (!/^[^\s/:]+:\d+$/.test(t) && !/^\[[0-9a-f:]+\]:\d+$/i.test(t)) {
        throw new Error(`scrape target '${t}' of job '${j.job}' must be host:port (no scheme or path)`);
      }
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'dtrain-prom-'));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, prometheusConfig(jobs, interval));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(binary, [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  installExitHook();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let exited: { code: number | null; signal: string | null } | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve();
    });
  });
  let spawnError: Error | null = null;
  child.once('error', (err) => {
    spawnError = err;
  });

  const stop = async (): Promise<void> => {
    if (exited === null && spawnError === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Ready: /-/ready answers 200 (takes ~0.1 s here).
  const readyDeadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== null) {
      await stop();
      const e = exited as { code: number | null; signal: string | null };
      throw new Error(`prometheus exited during startup (code ${e.code}, signal ${e.signal}):\n${stderr}`);
    }
    if (spawnError !== null) {
      await stop();
      throw new Error(`cannot start ${binary}: ${(spawnError as Error).message}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > readyDeadline) {
      await stop();
      throw new Error(`prometheus on ${url} not ready after ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(50);
  }

  const query = async (promql: string, atSeconds?: number): Promise<PromSeries[]> => {
    const at = atSeconds === undefined ? '' : `&time=${atSeconds}`;
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}${at}`);
    const body = (await res.json()) as PromQueryResponse;
    if (body.status !== 'success') throw new Error(`prometheus query failed (${body.errorType ?? res.status}): ${body.error ?? ''}\n  query: ${promql}`);
    const data = body.data!;
    if (data.resultType === 'vector') {
      return (data.result as VectorSample[]).map((r) => ({ metric: r.metric, value: Number(r.value[1]), timestamp: r.value[0] }));
    }
    if (data.resultType === 'scalar') {
      const [timestamp, value] = data.result as [number, string];
      return [{ metric: {}, value: Number(value), timestamp }];
    }
    throw new Error(`prometheus query returned a ${data.resultType}, expected an instant vector: ${promql}`);
  };

  const targets = async () => {
    const res = await fetch(`${url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] } };
    return body.data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }));
  };

  const waitForData = async (promql: string, deadlineMs: number, accept = hasFiniteValue): Promise<PromSeries[]> => {
    const deadline = Date.now() + deadlineMs;
    let last: PromSeries[] = [];
    for (;;) {
      last = await query(promql);
      if (accept(last)) return last;
      if (Date.now() > deadline) {
        const health = await targets().catch(() => []);
        throw new Error(
          `no accepted data for ${promql} within ${deadlineMs} ms; last result: ${JSON.stringify(last)}; ` +
            `targets: ${JSON.stringify(health)}`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  return { url, query, waitForData, targets, stop };
}

/**
 * honor_labels keeps dtrain's own `job` label (the dtrain job name) instead of renaming it to
 * exported_job; the scrape job name is then only a grouping in the config.
 */
export function prometheusConfig(jobs: ScrapeJob[], intervalSeconds: number): string {
  const lines = [
    'global:',
    `  scrape_interval: ${intervalSeconds}s`,
    `  scrape_timeout: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    'scrape_configs:',
  ];
  for (const j of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(j.job)}`, '    honor_labels: true', '    static_configs:', `      - targets: ${JSON.stringify(j.targets)}`);
  }
  return `${lines.join('\n')}\n`;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}
interface PromQueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A crashed test must not leave Prometheus running on a shared machine.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
